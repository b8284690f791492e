/**
 * The one transport-free event stream of a generation. HTTP (SSE) and gRPC are thin adapters over
 * `AsyncIterable<TokenEvent>`.
 */
import type { TokenLogprob } from './token-logprob.js';
import type { SpeculationStats } from './speculation-stats.js';
import type { RouteDecision, Tier } from './route-decision.js';

/**
 * Where a token came from:
 * - `draft`: proposed by the draft model and accepted by the verifier; on the `slm` tier, the draft model's own
 *   tokens, unverified (their `logprob` is then the draft's);
 * - `verifier`: the verifier's own choice with no drafted token standing for it: the correction that replaces a
 *   rejected draft token, the first token (from the prompt's pass), the token of a plain step in which nothing
 *   was drafted (adaptive γ has paused drafting, `p_min` stopped the draft before its first token, or only one
 *   token is left to generate), and every token of verifier-only decoding;
 * - `bonus`: the verifier's extra token after a draft block of at least one drafted token was accepted whole
 *   (one per fully accepted block; never after a plain step);
 * - `frontier`: spliced in from the remote frontier model;
 * - `grammar`: forced by the request's `response_format`, where its grammar allows one continuation only (a key,
 *   punctuation, the end): emitted without asking a model, and fed to the models with their next pass. Its
 *   `logprob` is 0 (certain under the constrained distribution) and it has no alternatives.
 */
export type TokenSource = 'draft' | 'verifier' | 'bonus' | 'frontier' | 'grammar';

/** Every token source, in the order reports list them. */
export const TOKEN_SOURCES: readonly TokenSource[] = ['draft', 'verifier', 'bonus', 'frontier', 'grammar'];

/** A count per token source, all zero. */
export function emptyBySource(): Record<TokenSource, number> {
  return { draft: 0, verifier: 0, bonus: 0, frontier: 0, grammar: 0 };
}

export interface TokenEventToken {
  readonly kind: 'token';
  /** Text that becomes visible with this event (may be empty while a multi-byte character or a possible stop sequence is held back). */
  readonly text: string;
  readonly tokenIds: readonly number[];
  readonly source: TokenSource;
  /** log-probability of the tokens under the verifier's raw distribution (summed when there are several). */
  readonly logprob: number;
  /** Most likely alternatives at this position under the verifier, when asked for. */
  readonly topLogprobs?: readonly TokenAlternative[];
  /**
   * Its place in the speculative step that wrote it: 0 for the first drafted token, k - 1 for the k-th; the
   * verifier's correction or bonus after k accepted draft tokens is at k. Absent where no draft stood for the
   * token (the first token, plain steps, verifier-only decoding, frontier and grammar tokens).
   */
  readonly draftPosition?: number;
  /**
   * Set on every token of a tool-call request: `text` is then a fragment of that call's `arguments` (possibly
   * empty, for the tokens that wrote the function's name), and the call's first event carries its `id` and `name`.
   */
  readonly toolCall?: { readonly index: number; readonly id?: string; readonly name?: string };
}

/**
 * An alternative at a token's position: its id, raw log-probability under the verifier, and its text as it would
 * appear in the output at that position (leading space included, OpenAI's convention for `logprobs` tokens),
 * rendered once, by the engine, for every transport.
 */
export interface TokenAlternative extends TokenLogprob {
  readonly text: string;
}

/** `tool_calls`: a tool-call request ended its call (a `stop` of its grammar). */
export type FinishReason = 'stop' | 'length' | 'tool_calls';

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
  /**
   * What this request spent on the frontier (escalated spans and whole-request calls) at the configured prices
   * (`escalation.budget.*PricePerMillion`); a failed call counts at its worst case. Set by the scheduler.
   */
  readonly frontierCost?: number;
  /**
   * Completion tokens by the tier that generated them: one tier unless a cascade or a fallback moved the request
   * (a `hybrid` request's escalated spans count as `hybrid`; `stats.tokensBySource` tells them apart). Set by the
   * scheduler.
   */
  readonly completionTokensByTier?: Readonly<Partial<Record<Tier, number>>>;
}

export interface TokenEventDone {
  readonly kind: 'done';
  readonly finishReason: FinishReason;
  readonly usage: Usage;
  readonly stats: SpeculationStats;
  /** Which tier answered, and why (added by the scheduler). */
  readonly route?: RouteDecision;
}

/**
 * The verifier was unsure and the frontier was asked to continue: `spliced` when its text went into the stream
 * (the token events that follow carry `source: 'frontier'`), `skipped` when it could not be used and local
 * decoding went on (with the reason).
 */
export interface TokenEventEscalation {
  readonly kind: 'escalation';
  readonly status: 'spliced' | 'skipped';
  /** Why it was skipped: `breaker_open`, a budget (`request_tokens`, `request_calls`, `calls_per_minute`, `cost_per_hour`), or a frontier failure (`http_error`, `rate_limited`, `connect_timeout`, `first_byte_timeout`, `total_timeout`, `network`, `malformed`, `empty`). */
  readonly reason?: string;
  readonly latencyMs: number;
  /** Frontier calls made (1 = no retry). */
  readonly attempts: number;
  /** Tokens the frontier generated, as it counts them. */
  readonly frontierTokens: number;
  /** Local tokens spliced in (after re-tokenizing the frontier's text). */
  readonly splicedTokens: number;
}

export type TokenEvent = TokenEventToken | TokenEventEscalation | TokenEventDone;
