import type { ApiKeyRing } from './auth.js';
import type { Tokenizer } from '../backends/types.js';
import type { Metrics } from '../observability/metrics.js';
import type { Scheduler } from '../scheduler/scheduler.js';

/** A served model, as `GET /v1/models` and gRPC `ListModels` describe it. */
export interface ModelCard {
  /** The id clients put in `model`. */
  readonly id: string;
  /** Unix seconds when the server loaded it. */
  readonly created: number;
  readonly ownedBy: string;
  /** Context size per request, in tokens. */
  readonly contextSize: number;
  readonly verifier: string;
  /** The draft model file, or null when the model is served verifier-only. */
  readonly draft: string | null;
}

/** What an ingress (HTTP or gRPC) needs from the rest of the server. Transports hold no other state. */
export interface ServerContext {
  readonly scheduler: Scheduler;
  readonly metrics: Metrics;
  readonly models: readonly ModelCard[];
  /**
   * The served model's tokenizer (the verifier's: `engine.tokenizer`). HTTP needs each token's own text for
   * OpenAI `logprobs` (`token`, `top_logprobs[].token`), which token events carry only as assembled text.
   */
  readonly tokenizer: Pick<Tokenizer, 'detokenize'>;
  /** The accepted API keys (none: no authentication), and the quotas of named ones. */
  readonly keys: ApiKeyRing;
  /** Largest request body (HTTP) or message (gRPC) accepted, in bytes. */
  readonly maxBodyBytes: number;
  /** Seconds between SSE heartbeat comments on idle streams. */
  readonly heartbeatSeconds: number;
  /** Serve the playground (`/`) and the dashboard (`/dashboard`): `server.ui`. */
  readonly ui: boolean;
  /** True once models are loaded and until shutdown begins, except while a model worker restarts. */
  ready(): boolean;
}
