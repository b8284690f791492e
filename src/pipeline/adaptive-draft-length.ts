/** Bounds and start of the draft length γ. */
export interface DraftLengthOptions {
  /**
   * Smallest γ the adaptation goes down to. `0` lets it switch drafting off for a draft that keeps failing:
   * plain verifier steps, then a one-token probe (see `AdaptiveDraftLength`). A failing draft costs a pass
   * longer than a plain step for about one token, so where a batched pass is dear (CPUs) this keeps weak drafts
   * from slowing decoding below the verifier alone.
   *
   * Defaults to `0`.
   */
  min: number;
  /**
   * Largest γ. With `adaptive: false`, γ stays here. `0` turns drafting off.
   *
   * Defaults to `8`.
   */
  max: number;
  /**
   * γ of the first block.
   *
   * Defaults to `4`.
   */
  initial: number;
  /**
   * Adapt γ per request to its acceptance: +2 after a fully accepted block, −1 after a rejection (the schedule
   * Hugging Face's assisted generation uses). It depends only on acceptance, never on timing, so seeded runs
   * reproduce exactly.
   *
   * Defaults to `true`.
   */
  adaptive: boolean;
}

export const defaultDraftLength: DraftLengthOptions = { min: 0, max: 8, initial: 4, adaptive: true };

/** Plain verifier steps after γ first falls to 0, before a one-token probe. */
export const FIRST_PAUSE_STEPS = 4;
/** The pause doubles after each failed probe, up to this. */
export const MAX_PAUSE_STEPS = 64;

/**
 * The draft length of one request. With `min: 0`, γ falling to 0 starts a pause of `FIRST_PAUSE_STEPS` plain
 * verifier steps; then a block of one draft token probes the draft. An accepted probe resumes the schedule at
 * γ = 3; a rejected one pauses again, twice as long (at most `MAX_PAUSE_STEPS`).
 */
export class AdaptiveDraftLength {
  private gamma: number;
  /** Plain verifier steps left before the next probe. */
  private pause = 0;
  private lastPause = 0;
  private probing = false;

  constructor(private readonly options: DraftLengthOptions) {
    this.gamma = options.adaptive ? clamp(options.initial, options.min, options.max) : options.max;
    if (this.gamma === 0) this.startPause(false);
  }

  get current(): number {
    return this.pause > 0 ? 0 : this.gamma;
  }

  /** Records a block: `drafted` tokens proposed (0 for a plain verifier step), `accepted` of them kept. */
  update(drafted: number, accepted: number): void {
    if (this.pause > 0) {
      this.pause--;
      return;
    }
    if (!this.options.adaptive || drafted === 0) return;
    const wasProbe = this.probing;
    this.probing = false;
    this.gamma = clamp(accepted === drafted ? this.gamma + 2 : this.gamma - 1, this.options.min, this.options.max);
    if (this.gamma === 0) this.startPause(wasProbe);
  }

  private startPause(afterFailedProbe: boolean): void {
    if (!this.options.adaptive || this.options.max === 0) return;
    this.lastPause = afterFailedProbe ? Math.min(this.lastPause * 2, MAX_PAUSE_STEPS) : FIRST_PAUSE_STEPS;
    this.pause = this.lastPause;
    this.gamma = 1;
    this.probing = true;
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, value));
}
