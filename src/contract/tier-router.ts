import type { RouteDecision, Tier } from '../events/route-decision.js';
import type { GenerationRequest } from './generation-request.js';
import type { EncodedPrompt } from './generator.js';

/** The local tiers' load when a request is routed, as the scheduler sees it. */
export interface LocalLoad {
  /** Requests holding a local sequence. */
  readonly active: number;
  /** Requests waiting for one. */
  readonly queued: number;
  /** Sequences (`limits.maxConcurrent`). */
  readonly maxConcurrent: number;
  /** Requests that may wait beyond them (`limits.maxQueue`). */
  readonly maxQueue: number;
}

/** Whether a local request admitted now would be refused: every sequence taken and the queue full. */
export function localQueueFull(load: LocalLoad): boolean {
  return load.active + load.queued >= load.maxConcurrent + load.maxQueue;
}

/** What the scheduler tells the router along with an `auto` request. */
export interface RouteContext {
  readonly signal: AbortSignal;
  readonly load: LocalLoad;
  /** Whether this server has a frontier tier to spill to. */
  readonly frontier: boolean;
}

/** What the scheduler reports of local (`slm`, `hybrid`) requests, for latency SLOs. */
export type LocalObservation =
  /** A local request's first token, `ms` after admission (queueing included). */
  | { readonly kind: 'first-token'; readonly tier: Tier; readonly ms: number }
  /** A local request let go of its sequence after holding it `ms`. */
  | { readonly kind: 'served'; readonly tier: Tier; readonly ms: number };

/**
 * Cascade routing (`routing.cascade`): an `auto` request routed to a local tier first generates `probeTokens`
 * tokens unseen by the client; when the mean probability the local model gave its most likely token over them is
 * below `minConfidence`, the probe is discarded and the request moves to the frontier.
 */
export interface CascadeOptions {
  readonly probeTokens: number;
  readonly minConfidence: number;
}

/**
 * What the scheduler asks about an `auto` request: which tier should answer it. Implemented by the routing layer
 * (src/routing/: latency SLOs, semantic routes, the trained router and its threshold controller); without routing
 * configured, always `hybrid`.
 */
export interface TierRouter {
  /** The tier of a validated, tokenized `auto` request, with why and how long deciding took. */
  decide(request: GenerationRequest, prompt: EncodedPrompt, context: RouteContext): Promise<RouteDecision>;
  /** Told of local requests' latency (feeds the SLO). */
  observe?(observation: LocalObservation): void;
  /** Cascade routing for `auto` requests routed locally; none without `routing.cascade`. */
  readonly cascade?: CascadeOptions | undefined;
}
