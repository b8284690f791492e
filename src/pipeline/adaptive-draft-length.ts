import type { SpeculationSettings } from '../contract/generation-request.js';
import { settingDefaults } from '../contract/request-settings.js';

/**
 * Bounds and start of the draft length γ, and whether it adapts: `speculation.min`, `max`, `initial`,
 * `adaptive` of the request settings (`src/contract/request-settings.ts`, where their ranges and defaults live).
 */
export type DraftLengthOptions = Pick<SpeculationSettings, 'min' | 'max' | 'initial' | 'adaptive'>;

/** Speculation settings: the draft length schedule and the per-position cut-off `pMin`. */
export type SpeculationOptions = SpeculationSettings;

/** The description's defaults (γ from 0 to 8, starting at 4, adaptive; no `p_min` cut-off). */
export const defaultSpeculation: SpeculationOptions = settingDefaults('speculation');

export const defaultDraftLength: DraftLengthOptions = defaultSpeculation;

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
