import type { TokenSource } from '../events/token-event.js';

/** What one generation measured about speculation. Reported in the final event of every stream. */
export interface SpeculationStats {
  /** `speculative`, or `verifier-only` for plain decoding. */
  readonly mode: 'speculative' | 'verifier-only';
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
   * DESIGN.md.
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

/** Collects the stats of one generation as it runs. */
export class StatsRecorder {
  drafted = 0;
  accepted = 0;
  passes = 0;
  draftBlocks = 0;
  fullyAcceptedBlocks = 0;
  generated = 0;
  draftMs = 0;
  verifyMs = 0;
  prefillMs = 0;
  readonly bySource: Record<TokenSource, number> = { draft: 0, verifier: 0, bonus: 0, frontier: 0 };
  escalations = 0;
  readonly skipped: Record<string, number> = {};
  private readonly positions: Array<{ drafted: number; accepted: number }> = [];
  private readonly start = performance.now();

  constructor(private readonly mode: SpeculationStats['mode']) {}

  /** Records one verifier pass of the speculative loop: `drafted` proposed (0 for a plain step), the first `accepted` kept. */
  block(drafted: number, accepted: number): void {
    this.passes++;
    if (drafted > 0) {
      this.draftBlocks++;
      if (accepted === drafted) this.fullyAcceptedBlocks++;
    }
    this.drafted += drafted;
    this.accepted += accepted;
    for (let i = 0; i < drafted; i++) {
      const slot = (this.positions[i] ??= { drafted: 0, accepted: 0 });
      slot.drafted++;
      if (i < accepted) slot.accepted++;
    }
  }

  finish(): SpeculationStats {
    const total = performance.now() - this.start;
    const decodeMs = Math.max(1e-9, total - this.prefillMs);
    return {
      mode: this.mode,
      drafted: this.drafted,
      accepted: this.accepted,
      acceptanceRate: this.drafted > 0 ? this.accepted / this.drafted : 0,
      meanAcceptedLength: this.passes > 0 ? this.accepted / this.passes : 0,
      tokensPerPass: this.passes > 0 ? (this.generated - this.bySource.frontier) / this.passes : 0,
      byPosition: this.positions.map((p) => ({ ...p, rate: p.drafted > 0 ? p.accepted / p.drafted : 0 })),
      verifierPasses: this.passes,
      draftBlocks: this.draftBlocks,
      fullyAcceptedBlocks: this.fullyAcceptedBlocks,
      tokensBySource: { ...this.bySource },
      escalations: this.escalations,
      escalationsSkipped: { ...this.skipped },
      generatedTokens: this.generated,
      tokensPerSecond: this.generated > 1 ? ((this.generated - 1) * 1000) / decodeMs : 0,
      timeMs: {
        total,
        prefill: this.prefillMs,
        draft: this.draftMs,
        verify: this.verifyMs,
        other: Math.max(0, total - this.prefillMs - this.draftMs - this.verifyMs),
      },
    };
  }
}
