import type { SpeculationStats } from '../events/speculation-stats.js';
import { emptyBySource, type TokenSource } from '../events/token-event.js';

/** Collects the stats of one generation as it runs. */
export class StatsRecorder {
  drafted = 0;
  accepted = 0;
  passes = 0;
  fullyAcceptedBlocks = 0;
  generated = 0;
  draftMs = 0;
  verifyMs = 0;
  prefillMs = 0;
  readonly bySource: Record<TokenSource, number> = emptyBySource();
  escalations = 0;
  readonly skipped: Record<string, number> = {};
  private readonly positions: Array<{ drafted: number; accepted: number }> = [];
  private readonly start = performance.now();

  constructor(private readonly mode: SpeculationStats['mode']) {}

  /** Records one verifier pass of the speculative loop: `drafted` proposed (0 for a plain step), the first `accepted` kept. */
  block(drafted: number, accepted: number): void {
    this.passes++;
    if (drafted > 0 && accepted === drafted) this.fullyAcceptedBlocks++;
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
      draftBlocks: this.positions[0]?.drafted ?? 0, // every block that drafted had a token at position 1
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
