import { gammaByBatchSize, stepCostsOf, type StepCosts, type StepProfile } from './step-costs.js';

/** How a `LoadGamma` starts and how far it looks. */
export interface LoadGammaOptions {
  /** The measured step costs (`batching.profile`, from `specroute profile`). */
  readonly profile: StepProfile;
  /** Largest batch size the table covers: `limits.maxConcurrent`. */
  readonly maxBatch: number;
  /** Largest γ it may recommend: the server's `speculation.max`. */
  readonly maxGamma: number;
  /**
   * Verifier passes observed between two recomputations of the table from the refined costs and α (cheap:
   * `maxBatch` × `maxGamma` evaluations of the cost model).
   *
   * Defaults to `8`.
   */
  readonly refreshEvery?: number;
  /**
   * Weight of the profile's acceptance rate, in examined draft positions, against what the served blocks show:
   * high for a measured α (`specroute profile`), low for an assumed one (a boot calibration).
   *
   * Defaults to `64`.
   */
  readonly alphaWeight?: number;
}
/** Where the table says γ 0, one ceiling in this many is a one-token probe. */
const PROBE_EVERY = 32;
/** Examined draft positions before probes slow down to `PROBE_EVERY`. */
const PROBE_POSITIONS = 32;
/** Each observation ages the older ones by this factor, so that α follows the traffic. */
const ALPHA_DECAY = 0.999;

/**
 * The γ ceiling of a step by how many sequences share it (docs/ARCHITECTURE.md#speculation-that-adapts-to-load).
 * It starts from the profile's table and is recomputed from the profile's cost curves as the served passes refine
 * them (`observeVerify`, `observeDraft`) and as the acceptance rate the steps show moves (`observeBlock`).
 */
export class LoadGamma {
  private readonly costs: StepCosts;
  private table: number[];
  private accepted: number;
  private rejected: number;
  private sinceRefresh = 0;
  private sinceProbe = 0;
  /** Draft positions the verifier examined since start (accepted ones and first rejections). */
  private positions = 0;
  private readonly refreshEvery: number;

  constructor(private readonly options: LoadGammaOptions) {
    const { profile } = options;
    this.costs = stepCostsOf(profile);
    this.table = [...profile.gammaByBatchSize];
    const weight = options.alphaWeight ?? 64;
    this.accepted = profile.alpha * weight;
    this.rejected = (1 - profile.alpha) * weight;
    this.refreshEvery = options.refreshEvery ?? 8;
  }

  /**
   * The γ ceiling for a step of `batch` sequences (the table's last entry beyond its end). Where the table says 0,
   * one call in `PROBE_EVERY` (one in 4 until `PROBE_POSITIONS` drafted positions were seen) gets 1: a one-token
   * probe, so that α keeps being measured while nothing drafts, and speculation comes back when the draft turns out
   * better than assumed.
   */
  ceiling(batch: number): number {
    const table = this.table;
    const gamma = table[Math.min(Math.max(1, batch), table.length) - 1] ?? 0;
    if (gamma > 0) return gamma;
    const every = this.positions < PROBE_POSITIONS ? 4 : PROBE_EVERY;
    return ++this.sinceProbe % every === 0 ? 1 : 0;
  }

  /** The current table: entry i is the ceiling for i + 1 sequences. */
  get gammaByBatchSize(): readonly number[] {
    return this.table;
  }

  /** The acceptance rate the table is computed for: the profile's, moved by the blocks observed since. */
  get alpha(): number {
    return this.accepted / (this.accepted + this.rejected);
  }

  /** A verifier pass over `tokens` tokens of `sequences` sequences took `ms`. */
  observeVerify(sequences: number, tokens: number, ms: number): void {
    this.costs.verify.observe(sequences, tokens, ms);
    this.tick();
  }

  /** A draft pass over `sequences` sequences (one token each) took `ms`. */
  observeDraft(sequences: number, ms: number): void {
    this.costs.draft.observe(sequences, ms);
  }

  /**
   * A speculative block: `drafted` tokens proposed, `accepted` of them kept. The positions the verifier examined are
   * the accepted ones and the first rejected one, so α is estimated as accepted / (accepted + rejections).
   */
  observeBlock(drafted: number, accepted: number): void {
    if (drafted === 0) return;
    this.positions += accepted + (accepted < drafted ? 1 : 0);
    this.accepted = this.accepted * ALPHA_DECAY + accepted;
    this.rejected = this.rejected * ALPHA_DECAY + (accepted < drafted ? 1 : 0);
  }

  private tick(): void {
    if (++this.sinceRefresh < this.refreshEvery) return;
    this.sinceRefresh = 0;
    this.table = gammaByBatchSize(this.options.maxBatch, this.alpha, this.costs, this.options.maxGamma);
  }
}
