import { z } from 'zod';
import { defaultModelLoadOptions } from '../backends/types.js';
import { speculationBoundsHold } from '../contract/check-settings.js';
import { requestSettings, type SettingGroup, type SettingSpec } from '../contract/request-settings.js';
import { defaultBudget } from '../escalation/budget.js';
import { defaultRedis } from '../state/redis-connection.js';
import { tiers } from '../events/route-decision.js';
import { defaultCircuitBreaker } from '../escalation/circuit-breaker.js';
import { defaultFrontier } from '../escalation/frontier-client.js';
import { defaultEscalationPolicy } from '../escalation/policy.js';
import { defaultLatencySlo } from '../routing/latency-slo.js';
import { defaultShareController } from '../routing/share-controller.js';
import type { StepProfile } from '../pipeline/step-costs.js';
import { defaultBatching } from '../pipeline/lock-step.js';

type Settings = typeof requestSettings;
type SchemaOf<S> = S extends { kind: 'boolean' } ? z.ZodDefault<z.ZodBoolean> : S extends { kind: 'enum'; values: readonly (infer V extends string)[] } ? z.ZodDefault<z.ZodType<V>> : S extends { default: number } ? z.ZodDefault<z.ZodNumber> : z.ZodOptional<z.ZodNumber>;

/**
 * A request setting as a config key: the same type, range and default, from the single description
 * (`src/contract/request-settings.ts`; the description's `config` names the key, and a test checks they agree).
 */
export function settingSchema<S extends SettingSpec>(spec: S): SchemaOf<S> {
  if (spec.kind === 'boolean') return z.boolean().default(spec.default) as SchemaOf<S>;
  if (spec.kind === 'enum') return z.enum(spec.values as [string, ...string[]]).default(spec.default) as unknown as SchemaOf<S>;
  let n = z.number();
  if (spec.kind === 'integer') n = n.int();
  n = spec.minExclusive ? n.gt(spec.min) : n.min(spec.min);
  if (spec.max !== undefined) n = n.max(spec.max);
  return (spec.default === undefined ? n.optional() : n.default(spec.default)) as SchemaOf<S>;
}

/** The settings of a group that the config may set a default for (those with a `config` key). */
type Configurable<G extends SettingGroup> = { [P in keyof Settings[G] as Settings[G][P] extends { config: string } ? P : never]: SchemaOf<Settings[G][P]> };

/** Config keys for every setting of `group` that has a server-wide default, each under its field name. */
function groupSchema<G extends SettingGroup>(group: G): Configurable<G> {
  const specs = Object.entries(requestSettings[group]) as Array<[string, SettingSpec]>;
  return Object.fromEntries(specs.filter(([, spec]) => spec.config !== undefined).map(([field, spec]) => [field, settingSchema(spec)])) as Configurable<G>;
}

const modelFile = {
  /** llama.cpp threads. Defaults to `1` (best for small models on few cores; see docs/ARCHITECTURE.md#threads). */
  threads: z.number().int().min(1).max(256).default(defaultModelLoadOptions.threads),
  /** Context size per sequence in tokens, capped at the model's training context. Defaults to `512`. */
  contextSize: z.number().int().min(16).default(defaultModelLoadOptions.contextSize),
  /** Largest batch evaluated at once. Defaults to `512`. */
  batchSize: z.number().int().min(1).default(defaultModelLoadOptions.batchSize),
  /** Layers offloaded to a GPU; 0 is CPU only. Defaults to `0`. */
  gpuLayers: z.number().int().min(0).default(defaultModelLoadOptions.gpuLayers),
  /**
   * ONNX Runtime execution providers for a `.onnx` model, most preferred first, such as `[cuda, cpu]`.
   * Defaults to `[cpu]`.
   */
  executionProviders: z.array(z.string().min(1)).min(1).default(['cpu']),
  /**
   * The GGUF whose tokenizer (and chat template) an ONNX model uses, relative to `modelsDir` unless absolute, or a
   * URI like `path` (GGUF models always use their own). Defaults to `MODEL.tokenizer.gguf` beside `MODEL.onnx`
   * (written by `specroute convert`); an ONNX model given by URI needs it set.
   */
  tokenizer: z.string().min(1).optional(),
  /**
   * llama.cpp's KV cache type for a GGUF model. `F32` keeps greedy output the same whatever the load (batch
   * composition cannot flip a near-tie) and computes like an ONNX conversion of the same weights; `F16` halves the
   * cache's memory at that price (docs/ARCHITECTURE.md#greedy-output-under-load). Defaults to `F32`.
   */
  kvCacheType: z.enum(['F16', 'F32']).default('F32'),
};

const verifierSchema = z
  .object({
    /**
     * GGUF or ONNX (`.onnx`) file, relative to `modelsDir` unless absolute, or a URI fetched into `cacheDir` at
     * boot: `hf:OWNER/REPO[:REVISION]/PATH/TO/FILE` (a Hugging Face file; `HF_ENDPOINT`, `HF_TOKEN`) or an
     * `https://` URL (optionally `#sha256=HEX`). Required.
     */
    path: z.string().min(1),
    ...modelFile,
  })
  .strict();

const draftSchema = z
  .object({
    /** GGUF or ONNX (`.onnx`) file of the draft, relative to `modelsDir` unless absolute, or a URI like the verifier's. Give this or `derive`. */
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

/**
 * A pass's measured time: `tokens` evaluated in it over `sequences` (default: min(tokens, 16); for the draft:
 * sequences, one token each), `ms` it took.
 */
const passTimePointSchema = z.object({ tokens: z.number().int().min(1), ms: z.number().positive(), sequences: z.number().int().min(1).optional() }).strict();

/**
 * The step costs `specroute profile` measured (src/pipeline/step-costs.ts): `alpha`, the pair's acceptance rate;
 * `verify`, a verifier pass by its tokens; `draft`, a draft pass by its sequences (absent without a draft);
 * `gammaByBatchSize`, the recommended draft length for 1, 2, … sequences in a step (the last entry holds beyond).
 */
export const stepProfileSchema: z.ZodType<StepProfile, z.ZodTypeDef, unknown> = z
  .object({
    alpha: z.number().min(0).max(1),
    verify: z.array(passTimePointSchema).min(1),
    draft: z.array(passTimePointSchema).min(1).optional(),
    gammaByBatchSize: z.array(z.number().int().min(0).max(64)).min(1),
    /** Where and when it was measured (informative). */
    machine: z.string().optional(),
    measuredAt: z.string().optional(),
  })
  .strict();


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
        /** Serve the web playground at `/` and the live dashboard at `/dashboard` (no API key needed to load them). Defaults to `true`. */
        ui: z.boolean().default(true),
      })
      .strict()
      .default({}),
    /** Folder that relative model paths start from (relative to the config file's folder). Defaults to `../shared/models`. */
    modelsDir: z.string().default('../shared/models'),
    /**
     * Where derived drafts are cached and models named by URI are downloaded (under `models/`), relative to the
     * config file's folder. Defaults to `<os tmpdir>/specroute-cache`.
     */
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
    /** Server-wide sampling defaults: `temperature`, `topK`, `topP`, `minP` (the request settings of the same names). */
    sampling: z.object(groupSchema('sampling')).strict().default({}),
    /** Server-wide speculation defaults: `min`, `max`, `initial`, `adaptive`, `pMin`. */
    speculation: z
      .object(groupSchema('speculation'))
      .strict()
      .refine(speculationBoundsHold, { message: 'min must not exceed max', path: ['min'] })
      .default({}),
    /** How requests share the models' passes (docs/ARCHITECTURE.md#lock-step-steps). */
    batching: z
      .object({
        /**
         * Lock-step steps: every request drafts in the same batched draft passes and is verified in one verifier pass
         * per step. `false` lets each request run its own draft→verify cycle (the requests' passes then batch only
         * when they happen to coincide). Defaults to `true`.
         */
        lockStep: z.boolean().default(defaultBatching.lockStep),
        /** Most prompt tokens of one request evaluated in one pass, so that a long prompt never freezes a step. Defaults to `128`. */
        prefillChunk: z.number().int().min(1).max(65_536).default(defaultBatching.prefillChunk),
        /**
         * How long a pass waits for requests still busy on the main thread (a slow client, text assembly) before it
         * starts without them, in ms. Defaults to `2`.
         */
        gatherMs: z.number().min(0).max(1000).default(defaultBatching.gatherMs),
        /**
         * Speculation that adapts to load: the measured step costs of this machine and model pair, as
         * `specroute profile --write` writes them. Without one, the costs are learned from the first passes.
         * Defaults to none.
         */
        profile: stepProfileSchema.nullable().default(null),
        /**
         * Without a profile, measure the step costs at boot through the workers (a fraction of a second on small
         * models; seconds on large ones), so that speculation adapts to load all the same. Defaults to `true`.
         */
        calibrate: z.boolean().default(defaultBatching.calibrate),
      })
      .strict()
      .default({}),
    limits: z
      .object({
        /** Requests generating at once: one sequence each on both models. Defaults to `16`. */
        maxConcurrent: z.number().int().min(1).max(256).default(16),
        /** Requests waiting beyond those before 429 / RESOURCE_EXHAUSTED. Defaults to `64`. */
        maxQueue: z.number().int().min(0).default(64),
        /** `requestTimeoutMs` (the request setting `timeout_ms`) and `defaultMaxTokens` (`max_tokens`). */
        requestTimeoutMs: settingSchema(requestSettings.request.timeoutMs),
        defaultMaxTokens: settingSchema(requestSettings.request.maxTokens),
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
            api: z.enum(['auto', 'completions', 'chat']).default(defaultFrontier.api),
            /** Connect timeout, ms. Defaults to `1000`. */
            connectTimeoutMs: z.number().int().min(1).default(defaultFrontier.connectTimeoutMs),
            /** Time to the first byte of the response body, ms. Defaults to `3000`. */
            firstByteTimeoutMs: z.number().int().min(1).default(defaultFrontier.firstByteTimeoutMs),
            /** A whole escalation, retries included, ms. Defaults to `10000`. */
            totalTimeoutMs: z.number().int().min(1).default(defaultFrontier.totalTimeoutMs),
            /** Retries on 429, 5xx, network errors and timeouts. Defaults to `2`. */
            retries: z.number().int().min(0).max(10).default(defaultFrontier.retries),
            /** First backoff (doubling, full jitter; Retry-After wins), ms. Defaults to `100`. */
            backoffBaseMs: z.number().int().min(0).default(defaultFrontier.backoffBaseMs),
            /** Longest backoff, ms. Defaults to `2000`. */
            backoffMaxMs: z.number().int().min(0).default(defaultFrontier.backoffMaxMs),
          })
          .strict()
          .optional(),
        policy: z
          .object({
            /** Escalate at all (requests may turn it off). Defaults to `true`. */
            enabled: z.boolean().default(defaultEscalationPolicy.enabled),
            /** `window`, `minConfidence`, `minMargin`, `maxEntropy`, `spanTokens`, `cooldownTokens`: the request settings `escalation.*`. */
            ...groupSchema('escalation'),
          })
          .strict()
          .default({}),
        breaker: z
          .object({
            /** Consecutive failures that open the breaker. Defaults to `3`. */
            failureThreshold: z.number().int().min(1).default(defaultCircuitBreaker.failureThreshold),
            /** Open time before probing again, ms. Defaults to `10000`. */
            cooldownMs: z.number().int().min(0).default(defaultCircuitBreaker.cooldownMs),
            /** Probe calls while half-open. Defaults to `1`. */
            halfOpenProbes: z.number().int().min(1).default(defaultCircuitBreaker.halfOpenProbes),
          })
          .strict()
          .default({}),
        budget: z
          .object({
            /** Frontier tokens per request. Defaults to `64`. */
            maxTokensPerRequest: z.number().int().min(0).default(defaultBudget.maxTokensPerRequest),
            /** Frontier calls per request. Defaults to `4`. */
            maxCallsPerRequest: z.number().int().min(0).default(defaultBudget.maxCallsPerRequest),
            /** Frontier calls per minute, all requests. Defaults to `60`. */
            callsPerMinute: z.number().int().min(0).default(defaultBudget.callsPerMinute),
            /** Spend per hour, all requests; 0 = no cap. Defaults to `0`. */
            maxCostPerHour: z.number().min(0).default(defaultBudget.maxCostPerHour),
            /** Price per million input tokens. Defaults to `0`. */
            inputPricePerMillion: z.number().min(0).default(defaultBudget.inputPricePerMillion),
            /** Price per million output tokens. Defaults to `0`. */
            outputPricePerMillion: z.number().min(0).default(defaultBudget.outputPricePerMillion),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    /** Query-level routing: which tier answers each request (docs/ARCHITECTURE.md#query-level-routing). */
    routing: z
      .object({
        /** The route of a request that names none: `auto`, `slm`, `hybrid` or `frontier`. Defaults to `hybrid`. */
        default: settingSchema(requestSettings.request.route),
        /**
         * A router file written by `specroute router train`, relative to the config file's folder unless absolute:
         * decides `auto` requests that no semantic route matched. Defaults to none (`auto` means `hybrid`).
         */
        router: z.string().min(1).optional(),
        /**
         * Re-derive the router's threshold so that this share of its training prompts would go to the frontier
         * (the quantile of the scores stored in the router file). Defaults to the threshold in the file.
         */
        targetFrontierShare: z.number().min(0).max(1).optional(),
        /**
         * Semantic routes, checked before the router: a request whose prompt embedding is at least `threshold`
         * cosine-similar to one of a route's `examples` goes to its `tier` (the most similar route wins).
         * Defaults to `[]`.
         */
        routes: z
          .array(
            z
              .object({
                /** The route's name, reported as the reason `route:<name>`. */
                name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'),
                /** The tier its requests go to. */
                tier: z.enum(tiers),
                /** Example prompts (at least one). */
                examples: z.array(z.string().min(1)).min(1),
                /** Least cosine similarity to an example that matches. Defaults to `0.8`. */
                threshold: z.number().min(-1).max(1).default(0.8),
              })
              .strict(),
          )
          .default([])
          .refine((routes) => new Set(routes.map((r) => r.name)).size === routes.length, { message: 'route names must be unique' }),
        /**
         * The share controller (docs/ARCHITECTURE.md#adaptive-routing): with `targetFrontierShare`, the router's
         * threshold becomes the quantile of recent scores that holds the share, corrected by the observed share's
         * EMA, and lowered as the hourly cost budget (`escalation.budget.maxCostPerHour`) runs out.
         */
        controller: z
          .object({
            /** Whether the threshold adapts. Defaults to `true`. */
            enabled: z.boolean().default(defaultShareController.enabled),
            /** Recent router scores the threshold is a quantile of. Defaults to `50`. */
            window: z.number().int().min(2).default(defaultShareController.window),
            /** Weight of each decision in the EMA of the observed share. Defaults to `0.1`. */
            smoothing: z.number().gt(0).max(1).default(defaultShareController.smoothing),
          })
          .strict()
          .default({}),
        /**
         * A latency SLO for the local tiers: while their TTFT p95 over the window, or the projected queue wait,
         * exceeds `ttftP95Ms`, new `auto` requests spill to the frontier (reason `slo`). Defaults to none.
         */
        slo: z
          .object({
            /** The local tiers' TTFT p95 that must not be exceeded, in milliseconds. Required. */
            ttftP95Ms: z.number().gt(0),
            /** The sliding window of the p95, in seconds. Defaults to `30`. */
            windowSeconds: z.number().gt(0).default(defaultLatencySlo.windowSeconds),
            /** Traffic returns when both readings fall below `recoverRatio × ttftP95Ms`. Defaults to `0.8`. */
            recoverRatio: z.number().gt(0).max(1).default(defaultLatencySlo.recoverRatio),
          })
          .strict()
          .optional(),
        /**
         * Cascade: an `auto` request routed locally first generates `probeTokens` unseen tokens; when the local
         * model's mean top-token probability over them is below `minConfidence`, the request moves to the frontier
         * (reason `cascade`). Defaults to none.
         */
        cascade: z
          .object({
            /** Tokens in the probe. Defaults to `8`. */
            probeTokens: z.number().int().min(1).default(8),
            /** The least mean top-token probability that keeps the request local. Required. */
            minConfidence: z.number().gt(0).max(1),
          })
          .strict()
          .optional(),
        /** What the local tiers take. */
        local: z
          .object({
            /**
             * Most prompt tokens (chat template applied) a local tier takes; a longer prompt goes to the frontier
             * (reason `context`) like one that overflows the context. Defaults to the context.
             */
            maxInputTokens: z.number().int().min(1).optional(),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    auth: z
      .object({
        /**
         * Accepted API keys without limits (Bearer header / `authorization` metadata). With these and `keys` both
         * empty, there is no authentication. Defaults to `[]`.
         */
        apiKeys: z.array(z.string().min(8)).default([]),
        /**
         * API keys with names and quotas (docs/ARCHITECTURE.md#shared-state). A limit left out is no limit; with
         * `state.redis` the quotas hold across replicas. Over a quota: 429 with `Retry-After` naming the limit.
         * Defaults to `[]`.
         */
        keys: z
          .array(
            z
              .object({
                /** The key's name in metrics and errors (never the key itself). Required. */
                name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'),
                /** The environment variable that holds the key. Give this or `sha256`. */
                keyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name').optional(),
                /** The key's SHA-256 digest, lowercase hex (`printf %s "$KEY" | sha256sum`). Give this or `keyEnv`. */
                sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits').optional(),
                /** Requests per minute. Defaults to no limit. */
                requestsPerMinute: z.number().int().min(0).optional(),
                /** Tokens per minute: each request reserves its prompt and max_tokens, settled at its end. Defaults to no limit. */
                tokensPerMinute: z.number().int().min(0).optional(),
                /** Frontier spending per day (sliding 24 h) at `escalation.budget`'s prices. Defaults to no limit. */
                frontierCostPerDay: z.number().min(0).optional(),
                /** The tiers the key may use. Defaults to all. */
                tiers: z.array(z.enum(tiers)).min(1).optional(),
              })
              .strict()
              .refine((k) => (k.keyEnv === undefined) !== (k.sha256 === undefined), { message: 'give exactly one of keyEnv and sha256' }),
          )
          .default([])
          .refine((keys) => new Set(keys.map((k) => k.name)).size === keys.length, { message: 'key names must be unique' }),
      })
      .strict()
      .default({}),
    /**
     * State that replicas share (docs/ARCHITECTURE.md#shared-state). Without it, every limit is this process's own.
     */
    state: z
      .object({
        /**
         * A Redis that holds the frontier's calls per minute and cost per hour, its circuit breaker, the routing
         * controller's share and threshold, and per-key quotas, for every replica that names it. Redis down or slow:
         * each replica uses its own state until Redis answers again; no request fails because of it.
         */
        redis: z
          .object({
            /** `redis://[user:password@]host:port[/db]`. Required. */
            url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL'),
            /** Prefix of every key (replicas that share limits share it). Defaults to `specroute:`. */
            keyPrefix: z.string().default(defaultRedis.keyPrefix),
            /** Longest wait for one Redis command before using this replica's own state, in ms. Defaults to `250`. */
            timeoutMs: z.number().int().min(1).default(defaultRedis.timeoutMs),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({}),
  })
  .strict();

export type SpecrouteConfig = z.infer<typeof configSchema>;
