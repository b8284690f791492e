import { describe, expect, it } from 'vitest';
import { AdaptiveDraftLength, FIRST_PAUSE_STEPS, MAX_PAUSE_STEPS, defaultDraftLength, type DraftLengthOptions } from '../../src/pipeline/adaptive-draft-length.js';

/** Drives a schedule the way the speculative loop does: each block drafts `current` tokens and keeps `keep(γ)`. */
function drive(options: DraftLengthOptions, blocks: number, keep: (gamma: number, block: number) => number): number[] {
  const schedule = new AdaptiveDraftLength(options);
  const gammas: number[] = [];
  for (let b = 0; b < blocks; b++) {
    const gamma = schedule.current;
    gammas.push(gamma);
    schedule.update(gamma, gamma === 0 ? 0 : keep(gamma, b));
  }
  return gammas;
}

describe('adaptive draft length', () => {
  it('goes +2 after a fully accepted block and −1 after a rejection, within [min, max]', () => {
    const accepted = drive({ min: 1, max: 8, initial: 4, adaptive: true }, 5, (g) => g);
    expect(accepted).toEqual([4, 6, 8, 8, 8]);
    const rejected = drive({ min: 1, max: 8, initial: 4, adaptive: true }, 6, () => 0);
    expect(rejected).toEqual([4, 3, 2, 1, 1, 1]);
    expect(drive({ min: 1, max: 8, initial: 4, adaptive: false }, 3, () => 0)).toEqual([8, 8, 8]);
  });

  it('with min 0, pauses a failing draft, probes it with one token, and doubles the pause after each failed probe', () => {
    const gammas = drive({ ...defaultDraftLength, initial: 2 }, 140, () => 0);
    const p1 = FIRST_PAUSE_STEPS;
    // 2 → 1 → 0: the pause, then a probe of one token, then a pause twice as long, …
    const expected = [2, 1, ...Array<number>(p1).fill(0), 1, ...Array<number>(2 * p1).fill(0), 1, ...Array<number>(4 * p1).fill(0), 1];
    expect(gammas.slice(0, expected.length)).toEqual(expected);
    // The pause stops growing at MAX_PAUSE_STEPS.
    const runs = gammas.join(',').split('1').map((run) => run.split(',').filter((g) => g === '0').length);
    expect(Math.max(...runs)).toBe(MAX_PAUSE_STEPS);
  });

  it('starting at γ = 0 starts with the first pause, then probes', () => {
    const pause = Array<number>(FIRST_PAUSE_STEPS).fill(0);
    expect(drive({ min: 0, max: 8, initial: 0, adaptive: true }, FIRST_PAUSE_STEPS + 3, (g) => g)).toEqual([...pause, 1, 3, 5]);
  });

  it('resumes at γ = 3 after an accepted probe, and a later failure starts again from the first pause', () => {
    const pause = Array<number>(FIRST_PAUSE_STEPS).fill(0);
    // Rejects block 0, then accepts everything: the probe after the first pause succeeds.
    expect(drive({ ...defaultDraftLength, initial: 1 }, 6 + FIRST_PAUSE_STEPS, (g, b) => (b === 0 ? 0 : g))).toEqual([1, ...pause, 1, 3, 5, 7, 8]);
    // Accepts only the probe and the two blocks after it: γ walks down from 7 to 0, and the next pause is the
    // first pause again, not twice as long (the last probe succeeded).
    const p = FIRST_PAUSE_STEPS;
    const gammas = drive({ ...defaultDraftLength, initial: 1 }, 2 * p + 12, (g, b) => (b > p && b <= p + 3 ? g : 0));
    expect(gammas).toEqual([1, ...pause, 1, 3, 5, 7, 6, 5, 4, 3, 2, 1, ...pause, 1]);
  });

  it('never drafts with max 0, and a draft that proposes nothing leaves the schedule where it was', () => {
    const never = Array<number>(3 * FIRST_PAUSE_STEPS).fill(0);
    expect(drive({ min: 0, max: 0, initial: 4, adaptive: true }, never.length, () => 0)).toEqual(never);
    expect(drive({ min: 0, max: 0, initial: 0, adaptive: false }, never.length, () => 0)).toEqual(never);
    const schedule = new AdaptiveDraftLength({ min: 1, max: 8, initial: 4, adaptive: true });
    schedule.update(0, 0);
    expect(schedule.current).toBe(4);
  });
});
