import { z } from 'zod';

const modelFile = {
  /** llama.cpp threads. Defaults to `1` (best for small models on few cores; see DESIGN.md). */
  threads: z.number().int().min(1).max(256).default(1),
  /** Context size per sequence in tokens, capped at the model's training context. Defaults to `512`. */
  contextSize: z.number().int().min(16).default(512),
  /** Largest batch evaluated at once. Defaults to `512`. */
  batchSize: z.number().int().min(1).default(512),
  /** Layers offloaded to a GPU; 0 is CPU only. Defaults to `0`. */
  gpuLayers: z.number().int().min(0).default(0),
};

const verifierSchema = z
  .object({
    /** GGUF file, relative to `modelsDir` unless absolute. Required. */
    path: z.string().min(1),
    ...modelFile,
  })
  .strict();

const draftSchema = z
  .object({
    /** GGUF file of the draft, relative to `modelsDir` unless absolute. Give this or `derive`. */
    path: z.string().min(1).optional(),
    /**
     * Make the draft from the verifier at boot with `specroute draft make` (cached in `cacheDir`).
     * Defaults to none.
     */
    derive: z
      .object({
        /** Layers to keep, such as `0-2`. Defaults to all layers. */
        layers: z.string().optional(),
        /** Quantize to `q8_0` or `q4_0`. Defaults to none. */
        quantize: z.enum(['q8_0', 'q4_0']).optional(),
      })
      .strict()
      .optional(),
    ...modelFile,
  })
  .strict()
  .refine((d) => (d.path === undefined) !== (d.derive === undefined), { message: 'give exactly one of path and derive' });

export const configSchema = z
  .object({
    server: z
      .object({
        /** Address to listen on. Defaults to `127.0.0.1`. */
        host: z.string().default('127.0.0.1'),
        /** HTTP port (OpenAI-compatible API, health, metrics). 0 picks a free port. Defaults to `8080`. */
        port: z.number().int().min(0).max(65535).default(8080),
        /** gRPC port. 0 picks a free port; -1 disables gRPC. Defaults to `50051`. */
        grpcPort: z.number().int().min(-1).max(65535).default(50051),
        /** Largest HTTP body / gRPC message in bytes. Defaults to `1048576` (1 MiB). */
        maxBodyBytes: z.number().int().min(1024).default(1 << 20),
        /** Seconds between SSE heartbeat comments on idle streams. Defaults to `15`. */
        heartbeatSeconds: z.number().positive().default(15),
        /** On shutdown, how long streams in flight may take to finish, in ms. Defaults to `10000`. */
        shutdownGraceMs: z.number().int().min(0).default(10_000),
      })
      .strict()
      .default({}),
    /** Folder that relative model paths start from (relative to the config file's folder). Defaults to `../shared/models`. */
    modelsDir: z.string().default('../shared/models'),
    /** Where derived drafts are cached. Defaults to `<os tmpdir>/specroute-cache`. */
    cacheDir: z.string().optional(),
    model: z
      .object({
        /** The id clients send as `model`. Defaults to the verifier's file name without `.gguf`. */
        id: z.string().min(1).optional(),
        verifier: verifierSchema,
        /** The draft; `null` serves the verifier alone. Defaults to `null`. */
        draft: draftSchema.nullable().default(null),
      })
      .strict(),
    speculation: z
      .object({
        /** Smallest draft length γ. Defaults to `1`. */
        min: z.number().int().min(0).max(64).default(1),
        /** Largest draft length γ. Defaults to `8`. */
        max: z.number().int().min(0).max(64).default(8),
        /** γ of a request's first block. Defaults to `4`. */
        initial: z.number().int().min(0).max(64).default(4),
        /** Adapt γ per request to its acceptance. Defaults to `true`. */
        adaptive: z.boolean().default(true),
        /** Stop a draft block when the draft's confidence is below this. Defaults to `0`. */
        pMin: z.number().min(0).max(1).default(0),
      })
      .strict()
      .default({}),
    limits: z
      .object({
        /** Requests generating at once: one sequence each on both models. Defaults to `16`. */
        maxConcurrent: z.number().int().min(1).max(256).default(16),
        /** Requests waiting beyond those before 429 / RESOURCE_EXHAUSTED. Defaults to `64`. */
        maxQueue: z.number().int().min(0).default(64),
        /** Time limit per request in ms. Defaults to `300000`. */
        requestTimeoutMs: z.number().int().min(1).default(300_000),
        /** `max_tokens` when a request gives none. Defaults to `256`. */
        defaultMaxTokens: z.number().int().min(1).default(256),
      })
      .strict()
      .default({}),
    auth: z
      .object({
        /** Accepted API keys (Bearer header / `authorization` metadata). Empty disables auth. Defaults to `[]`. */
        apiKeys: z.array(z.string().min(8)).default([]),
      })
      .strict()
      .default({}),
  })
  .strict();

export type SpecrouteConfig = z.infer<typeof configSchema>;
