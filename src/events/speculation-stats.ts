import type { TokenSource } from './token-event.js';

/** What one generation measured about speculation. Reported in the final event of every stream. */
export interface SpeculationStats {
  /**
   * `speculative`; `verifier-only` for plain decoding; `draft-only` for the `slm` tier (the draft alone, so the
   * verifier's counts are 0); `frontier` for the `frontier` tier (every token from the frontier).
   */
  readonly mode: 'speculative' | 'verifier-only' | 'draft-only' | 'frontier';
  /** Draft tokens proposed. */
  readonly drafted: number;
  /** Draft tokens the verifier accepted. */
  readonly accepted: number;
  /** accepted / drafted (0 when nothing was drafted). */
  readonly acceptanceRate: number;
  /** Mean number of draft tokens accepted per verifier pass (plain verifier steps count as passes that accepted 0). */
  readonly meanAcceptedLength: number;
  /**
   * Mean number of tokens emitted per verifier pass (accepted + the correction, bonus or plain step's token): E in
   * docs/ARCHITECTURE.md#expected-tokens-and-the-ideals.
   */
  readonly tokensPerPass: number;
  /** For each draft position i (0-based): how many blocks had a token there, and how many of those were accepted. */
  readonly byPosition: ReadonlyArray<{ readonly drafted: number; readonly accepted: number; readonly rate: number }>;
  /**
   * Verifier evaluations after the prompt: one per speculative block (a draft block, or a plain verifier step
   * while drafting is paused), or one per token in plain decoding.
   */
  readonly verifierPasses: number;
  /** Verifier passes that checked at least one drafted token; `verifierPasses − draftBlocks` were plain steps. */
  readonly draftBlocks: number;
  /**
   * Draft blocks whose every drafted token was accepted. Each earns one `bonus` token, so `tokensBySource.bonus`
   * equals this unless a stop or an escalation cut a block before its bonus token.
   */
  readonly fullyAcceptedBlocks: number;
  /** Tokens emitted by source (draft, verifier, bonus, frontier; see `TokenSource`). */
  readonly tokensBySource: Readonly<Record<TokenSource, number>>;
  /** Escalations to the frontier that spliced text in. */
  readonly escalations: number;
  /** Escalations that were triggered but skipped (breaker open, budget, frontier failure), by reason. */
  readonly escalationsSkipped: Readonly<Record<string, number>>;
  /** Tokens emitted (completion tokens, before any truncation by a stop sequence). */
  readonly generatedTokens: number;
  /** generatedTokens / wall time after the first token's prefill. */
  readonly tokensPerSecond: number;
  /** Milliseconds spent waiting on the draft, on the verifier, and elsewhere (acceptance, detokenizing, streaming). */
  readonly timeMs: { readonly total: number; readonly prefill: number; readonly draft: number; readonly verify: number; readonly other: number };
}
