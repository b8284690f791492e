/**
 * Which tier answered a request, and why: decided once per request before generation
 * (docs/ARCHITECTURE.md#query-level-routing), reported in the response header `x-specroute-route`, in the final
 * chunk (`specroute.route`) and in gRPC's final message.
 */

/**
 * The three tiers:
 * - `slm`: the draft model alone;
 * - `hybrid`: the speculative pair (lossless to the verifier) with token-level escalation to the frontier;
 * - `frontier`: the whole request from the frontier model.
 */
export const tiers = ['slm', 'hybrid', 'frontier'] as const;
export type Tier = (typeof tiers)[number];

/** What a tier needs that a server may lack, naming its config key (`hybrid` always exists). */
export const tierNeeds: Readonly<Record<Exclude<Tier, 'hybrid'>, string>> = {
  slm: 'a draft (model.draft)',
  frontier: 'a frontier (escalation.frontier)',
};

/**
 * Why the request went to its tier:
 * - `request`: it named the tier; `default`: the server's `routing.default`, or `auto` with nothing to decide by;
 * - `route:<name>`: a semantic route matched; `router`: the trained router decided;
 * - `slo`: the local tiers breached their latency SLO (or their queue was full), so an `auto` request spilled to
 *   the frontier;
 * - `context`: the prompt and `max_tokens` did not fit the local context (or `routing.local.maxInputTokens`), so
 *   it went to the frontier;
 * - `cascade`: the local tier's probe was not confident enough, so the request moved to the frontier;
 * - `fallback`: the tier it was routed to could not serve it (the frontier's limits or breaker refused it, or the
 *   tier failed, before or during the stream), so another tier answered, continuing any text already sent.
 */
export type RouteReason = 'request' | 'default' | `route:${string}` | 'router' | 'slo' | 'context' | 'cascade' | 'fallback';

export interface RouteDecision {
  readonly tier: Tier;
  readonly reason: RouteReason;
  /**
   * The router's score (higher means the frontier), or the semantic route's similarity; for `slo`, the worse of
   * the local TTFT p95 and the projected wait, in milliseconds; for `cascade`, the probe's mean top-token
   * probability.
   */
  readonly score?: number;
  /** What the score was compared with (for `slo`, `ttftP95Ms`; for `cascade`, `minConfidence`). */
  readonly threshold?: number;
  /** The router file's name, or the semantic route's name. */
  readonly router?: string;
  /** Time the decision took, in milliseconds. */
  readonly latencyMs: number;
}
