/**
 * The one transport-free event stream of a generation. HTTP (SSE) and gRPC are thin adapters over
 * `AsyncIterable<TokenEvent>`.
 */
import type { TokenLogprob } from '../backends/types.js';
import type { SpeculationStats } from '../pipeline/stats.js';

/**
 * Where a token came from:
 * - `draft`: proposed by the draft model and accepted by the verifier;
 * - `verifier`: chosen by the verifier itself (a corrected draft token, or plain decoding);
 * - `bonus`: the verifier's extra token after a fully accepted draft;
 * - `frontier`: spliced in from the remote frontier model.
 */
export type TokenSource = 'draft' | 'verifier' | 'bonus' | 'frontier';

export interface TokenEventToken {
  readonly kind: 'token';
  /** Text that becomes visible with this event (may be empty while a multi-byte character or a possible stop sequence is held back). */
  readonly text: string;
  readonly tokenIds: readonly number[];
  readonly source: TokenSource;
  /** log-probability of the tokens under the verifier's raw distribution (summed when there are several). */
  readonly logprob: number;
  /** Most likely alternatives at this position under the verifier, when asked for. */
  readonly topLogprobs?: readonly TokenLogprob[];
}

export type FinishReason = 'stop' | 'length';

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
}

export interface TokenEventDone {
  readonly kind: 'done';
  readonly finishReason: FinishReason;
  readonly usage: Usage;
  readonly stats: SpeculationStats;
}

export type TokenEvent = TokenEventToken | TokenEventDone;
