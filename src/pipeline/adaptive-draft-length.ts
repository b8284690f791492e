/** Bounds and start of the draft length γ. */
export interface DraftLengthOptions {
  /**
   * Smallest γ the adaptation goes down to.
   *
   * Defaults to `1`.
   */
  min: number;
  /**
   * Largest γ. With `adaptive: false`, γ stays here.
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

export const defaultDraftLength: DraftLengthOptions = { min: 1, max: 8, initial: 4, adaptive: true };

export class AdaptiveDraftLength {
  private gamma: number;

  constructor(private readonly options: DraftLengthOptions) {
    this.gamma = options.adaptive ? clamp(options.initial, options.min, options.max) : options.max;
  }

  get current(): number {
    return this.gamma;
  }

  update(drafted: number, accepted: number): void {
    if (!this.options.adaptive || drafted === 0) return;
    this.gamma = clamp(accepted === drafted ? this.gamma + 2 : this.gamma - 1, this.options.min, this.options.max);
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, value));
}
