/**
 * What one benchmark run measures: a verifier, its drafts, the prompt suites, and the sweep (temperatures ×
 * speculation settings), with the baselines run in the same repeats.
 */
import type { SpeculationOptions } from '../../src/pipeline/adaptive-draft-length.js';

/** One speculation setting of the sweep. */
export interface SpecSetting {
  /** For tables: `γ=4`, `adaptive`, `γ=8 p≥0.5`. */
  readonly label: string;
  /** The fixed draft length, or undefined for the adaptive schedule. */
  readonly gamma: number | undefined;
  /** The per-position draft-confidence cut-off (`SpeculationOptions.pMin`). */
  readonly pMin: number;
  readonly speculation: Partial<SpeculationOptions>;
}

/** Options of `speculationSettings`. */
export interface SweepOptions {
  /** Fixed draft lengths γ. */
  readonly gammas: readonly number[];
  /** Add the adaptive schedule (the engine's defaults, `max` 8). */
  readonly adaptive: boolean;
  /** Draft-confidence cut-offs (`pMin`); each is crossed with every γ and the adaptive schedule. Defaults to `[0]`. */
  readonly pMins?: readonly number[];
}

/** The settings of a sweep: every γ (fixed, then adaptive) for every pMin. */
export function speculationSettings({ gammas, adaptive, pMins = [0] }: SweepOptions): SpecSetting[] {
  const settings: SpecSetting[] = [];
  for (const pMin of pMins) {
    const suffix = pMins.length > 1 || pMin !== 0 ? ` p≥${pMin}` : '';
    for (const g of gammas) {
      settings.push({ label: `γ=${g}${suffix}`, gamma: g, pMin, speculation: { adaptive: false, min: 1, initial: g, max: g, pMin } });
    }
    if (adaptive) settings.push({ label: `adaptive${suffix}`, gamma: undefined, pMin, speculation: { pMin } });
  }
  return settings;
}

/** A draft to benchmark: derived from the verifier (`q8_0`, `L0-2`…) or a file given as is. */
export interface BenchDraft {
  readonly label: string;
  readonly path: string;
  readonly sha256: string;
  /** How it was made, for the report (e.g. `layers 0-4 of 5, q8_0 (32 tensors), 489280 bytes`). */
  readonly description: string;
}

/**
 * node-llama-cpp's `DraftSequenceTokenPredictor` as a baseline: drafting at most `maxTokens` per round, the
 * verifier waiting for at least `minTokens` of them, and stopping below `minConfidence`.
 */
export interface DstpBaselineSettings {
  readonly maxTokens: number;
  readonly minTokens: number;
  readonly minConfidence: number;
}

/** One benchmark run. */
export interface BenchPlan {
  /** Short id for file names and JSON, e.g. `gamma-sweep`. */
  readonly id: string;
  readonly title: string;
  readonly verifierPath: string;
  readonly drafts: readonly BenchDraft[];
  /** Suite names (`stories`, `chat`, `structured`) or JSONL paths. */
  readonly suites: readonly string[];
  /** Prompts taken from the start of each suite. */
  readonly promptsPerSuite: number;
  readonly temperatures: readonly number[];
  readonly settings: readonly SpecSetting[];
  /** The draft decoding alone (its speed is the ceiling of what drafting costs). */
  readonly draftOnly: boolean;
  /** node-llama-cpp's own speculative decoding with the same pair, or `false`. */
  readonly dstp: DstpBaselineSettings | false;
  /** Tokens per prompt (EOS ignored). */
  readonly maxTokens: number;
  /** Interleaved repeats: every arm runs once per repeat, in an order that rotates. */
  readonly repeats: number;
  /** Threads of the verifier's contexts (engine, DSTP baseline, cost measurement). */
  readonly threads: number;
  /** Threads of the draft's contexts. */
  readonly draftThreads: number;
  /** Seed of every sampled run (each prompt set is seeded alike, so runs reproduce). */
  readonly seed: number;
}

/** The draft lengths whose verify cost the ideals need: up to the largest γ of any setting. */
export function maxDraftLength(plan: Pick<BenchPlan, 'settings'>, adaptiveMax: number): number {
  return Math.max(1, ...plan.settings.map((s) => s.gamma ?? adaptiveMax));
}
