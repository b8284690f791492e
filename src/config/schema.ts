import { z } from 'zod';
import { defaultSpeculation } from '../pipeline/generate-options.js';

const modelFile = {
  /** llama.cpp threads. Defaults to `1` (best for small models on few cores; see docs/ARCHITECTURE.md#threads). */
  threads: z.number().int().min(1).max(256).default(1),
  /** Context size per sequence in tokens, capped at the model's training context. Defaults to `512`. */
  contextSize: z.number().int().min(16).default(512),
  /** Largest batch evaluated at once. Defaults to `512`. */
  batchSize: z.number().int().min(1).default(512),
  /** Layers offloaded to a GPU; 0 is CPU only. Defaults to `0`. */
  gpuLayers: z.number().int().min(0).default(0),
  /**
   * ONNX Runtime execution providers for a `.onnx` model, most preferred first, such as `[cuda, cpu]`.
   * Defaults to `[cpu]`.
   */
  executionProviders: z.array(z.string().min(1)).min(1).default(['cpu']),
  /**
   * The GGUF whose tokenizer (and chat template) an ONNX model uses, relative to `modelsDir` unless absolute
   * (GGUF models always use their own). Defaults to `MODEL.tokenizer.gguf` beside `MODEL.onnx` (written by
   * `specroute convert`).
   */
  tokenizer: z.string().min(1).optional(),
  /**
   * llama.cpp's KV cache type for a GGUF model: `F32` computes like an ONNX conversion of the same weights,
   * `F16` halves the cache. Defaults to `F16`.
   */
  kvCacheType: z.enum(['F16', 'F32']).default('F16'),
};

const verifierSchema = z
  .object({
    /** GGUF or ONNX (`.onnx`) file, relative to `modelsDir` unless absolute. Required. */
    path: z.string().min(1),
    ...modelFile,
  })
  .strict();

const draftSchema = z
  .object({
    /** GGUF or ONNX (`.onnx`) file of the draft, relative to `modelsDir` unless absolute. Give this or `derive`. */
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
        /** Smallest draft length γ; 0 lets adaptation pause drafting and probe it again. Defaults to `0`. */
        min: z.number().int().min(0).max(64).default(defaultSpeculation.min),
        /** Largest draft length γ. Defaults to `8`. */
        max: z.number().int().min(0).max(64).default(defaultSpeculation.max),
        /** γ of a request's first block. Defaults to `4`. */
        initial: z.number().int().min(0).max(64).default(defaultSpeculation.initial),
        /** Adapt γ per request to its acceptance. Defaults to `true`. */
        adaptive: z.boolean().default(defaultSpeculation.adaptive),
        /** Stop a draft block when the draft's confidence is below this. Defaults to `0`. */
        pMin: z.number().min(0).max(1).default(defaultSpeculation.pMin),
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
    escalation: z
      .object({
        /** The frontier: any OpenAI-compatible API. Without it nothing escalates. Defaults to none. */
        frontier: z
          .object({
            /** Base URL with the version path, e.g. `https://api.openai.com/v1`. Required. */
            baseUrl: z.string().url(),
            /** The frontier's model id. Required. */
            model: z.string().min(1),
            /** Name of the environment variable holding its API key (never the key itself). Defaults to none. */
            apiKeyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional(),
            /** `completions`, `chat`, or `auto` (completions, falling back to chat). Defaults to `auto`. */
            api: z.enum(['auto', 'completions', 'chat']).default('auto'),
            /** Connect timeout, ms. Defaults to `1000`. */
            connectTimeoutMs: z.number().int().min(1).default(1000),
            /** Time to the first byte of the response body, ms. Defaults to `3000`. */
            firstByteTimeoutMs: z.number().int().min(1).default(3000),
            /** A whole escalation, retries included, ms. Defaults to `10000`. */
            totalTimeoutMs: z.number().int().min(1).default(10_000),
            /** Retries on 429, 5xx, network errors and timeouts. Defaults to `2`. */
            retries: z.number().int().min(0).max(10).default(2),
            /** First backoff (doubling, full jitter; Retry-After wins), ms. Defaults to `100`. */
            backoffBaseMs: z.number().int().min(0).default(100),
            /** Longest backoff, ms. Defaults to `2000`. */
            backoffMaxMs: z.number().int().min(0).default(2000),
          })
          .strict()
          .optional(),
        policy: z
          .object({
            /** Escalate at all (requests may turn it off). Defaults to `true`. */
            enabled: z.boolean().default(true),
            /** Sliding window, tokens. Defaults to `4`. */
            window: z.number().int().min(1).max(256).default(4),
            /** Escalate when the window's mean verifier top probability is below this; 0 disables. Defaults to `0.35`. */
            minConfidence: z.number().min(0).max(1).default(0.35),
            /** Escalate when the window's mean verifier margin (top − second probability) is below this; 0 disables. Defaults to `0`. */
            minMargin: z.number().min(0).max(1).default(0),
            /** Escalate when the window's mean verifier entropy (nats) is above this; 0 disables. Defaults to `0`. */
            maxEntropy: z.number().min(0).default(0),
            /** Most frontier tokens per escalation. Defaults to `16`. */
            spanTokens: z.number().int().min(1).max(4096).default(16),
            /** Local tokens between escalations. Defaults to `16`. */
            cooldownTokens: z.number().int().min(0).default(16),
          })
          .strict()
          .default({}),
        breaker: z
          .object({
            /** Consecutive failures that open the breaker. Defaults to `3`. */
            failureThreshold: z.number().int().min(1).default(3),
            /** Open time before probing again, ms. Defaults to `10000`. */
            cooldownMs: z.number().int().min(0).default(10_000),
            /** Probe calls while half-open. Defaults to `1`. */
            halfOpenProbes: z.number().int().min(1).default(1),
          })
          .strict()
          .default({}),
        budget: z
          .object({
            /** Frontier tokens per request. Defaults to `64`. */
            maxTokensPerRequest: z.number().int().min(0).default(64),
            /** Frontier calls per request. Defaults to `4`. */
            maxCallsPerRequest: z.number().int().min(0).default(4),
            /** Frontier calls per minute, all requests. Defaults to `60`. */
            callsPerMinute: z.number().int().min(0).default(60),
            /** Spend per hour, all requests; 0 = no cap. Defaults to `0`. */
            maxCostPerHour: z.number().min(0).default(0),
            /** Price per million input tokens. Defaults to `0`. */
            inputPricePerMillion: z.number().min(0).default(0),
            /** Price per million output tokens. Defaults to `0`. */
            outputPricePerMillion: z.number().min(0).default(0),
          })
          .strict()
          .default({}),
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
