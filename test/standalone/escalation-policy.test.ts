import { describe, expect, it } from 'vitest';
import { settingDefaults } from '../../src/contract/request-settings.js';
import { defaultEscalationPolicy, WindowThresholdPolicy, type EscalationPolicyOptions, type PositionSignal } from '../../src/escalation/policy.js';

/** Only the confidence threshold on, unless the test turns others on. */
const base: EscalationPolicyOptions = { ...defaultEscalationPolicy, window: 2, minConfidence: 0, minMargin: 0, maxEntropy: 0, cooldownTokens: 0 };
const at = (topProb: number, margin = 0.5, entropy = 1): PositionSignal => ({ topProb, margin, entropy });

function observeAll(policy: WindowThresholdPolicy, signals: PositionSignal[]): boolean[] {
  return signals.map((s) => policy.observe(s));
}

describe('WindowThresholdPolicy', () => {
  it('is on by default with the request settings\' defaults', () => {
    expect(defaultEscalationPolicy).toEqual({ enabled: true, ...settingDefaults('escalation') });
    expect(Object.keys(defaultEscalationPolicy)).toEqual(expect.arrayContaining(['window', 'minConfidence', 'minMargin', 'maxEntropy', 'spanTokens', 'cooldownTokens']));
  });

  it('waits for a full window, then compares the window\'s mean confidence (strictly below triggers)', () => {
    const p = new WindowThresholdPolicy({ ...base, window: 3, minConfidence: 0.5 });
    expect(observeAll(p, [at(0.1), at(0.1)])).toEqual([false, false]);
    expect(p.observe(at(0.1))).toBe(true);
    const exact = new WindowThresholdPolicy({ ...base, window: 2, minConfidence: 0.5 });
    // Window means: (not full), 0.5, 0.5, 0.375: a mean equal to the threshold does not trigger.
    expect(observeAll(exact, [at(0.25), at(0.75), at(0.25), at(0.5)])).toEqual([false, false, false, true]);
  });

  it('slides: only the last `window` positions count', () => {
    const p = new WindowThresholdPolicy({ ...base, window: 2, minConfidence: 0.5 });
    // Means of the last two: (not full), 0.9, 0.9, 0.5, 0.1; the mean of everything seen would never drop below 0.5.
    expect(observeAll(p, [at(0.9), at(0.9), at(0.9), at(0.1), at(0.1)])).toEqual([false, false, false, false, true]);
  });

  it('triggers on a low mean margin or a high mean entropy, each only when its threshold is set', () => {
    const margin = new WindowThresholdPolicy({ ...base, window: 2, minMargin: 0.2 });
    expect(observeAll(margin, [at(0.9, 0.3), at(0.9, 0.1), at(0.9, 0.05)])).toEqual([false, false, true]);
    const entropy = new WindowThresholdPolicy({ ...base, window: 2, maxEntropy: 2 });
    expect(observeAll(entropy, [at(0.9, 0.5, 1), at(0.9, 0.5, 3), at(0.9, 0.5, 3)])).toEqual([false, false, true]);
    // Thresholds at 0 are off: nothing triggers on the worst positions.
    const off = new WindowThresholdPolicy({ ...base, window: 1 });
    expect(observeAll(off, [at(0, 0, 50), at(0, 0, 100)])).toEqual([false, false]);
  });

  it('each signal is compared with its own threshold', () => {
    // High confidence, but a margin below its threshold.
    const p = new WindowThresholdPolicy({ ...base, window: 1, minConfidence: 0.5, minMargin: 0.2, maxEntropy: 2 });
    expect(p.observe(at(0.9, 0.5, 1))).toBe(false);
    expect(p.observe(at(0.9, 0.1, 1))).toBe(true);
    expect(p.observe(at(0.9, 0.5, 2.5))).toBe(true);
    expect(p.observe(at(0.4, 0.5, 1))).toBe(true);
    // At the thresholds exactly: no trigger.
    expect(p.observe(at(0.5, 0.2, 2))).toBe(false);
  });

  it('after an escalation, stays quiet for cooldownTokens positions and starts a fresh window', () => {
    const p = new WindowThresholdPolicy({ ...base, window: 2, minConfidence: 0.5, cooldownTokens: 2 });
    expect(observeAll(p, [at(0.1), at(0.1)])).toEqual([false, true]);
    p.escalated();
    // Two positions of cool-down, then the window must fill again from what came after the escalation.
    expect(observeAll(p, [at(0.1), at(0.1), at(0.1)])).toEqual([false, false, true]);
    p.escalated();
    expect(observeAll(p, [at(0.9), at(0.9), at(0.1), at(0.1)])).toEqual([false, false, false, true]);
  });

  it('positions seen during the cool-down still enter the window', () => {
    const p = new WindowThresholdPolicy({ ...base, window: 3, minConfidence: 0.5, cooldownTokens: 2 });
    p.escalated();
    // Positions 1-2 are in the cool-down but still enter the window; position 3 completes it.
    expect(observeAll(p, [at(0.1), at(0.1), at(0.1)])).toEqual([false, false, true]);
  });

  it('with cooldownTokens 0 may trigger again on the next full window', () => {
    const p = new WindowThresholdPolicy({ ...base, window: 1, minConfidence: 0.5 });
    expect(p.observe(at(0.1))).toBe(true);
    p.escalated();
    expect(p.observe(at(0.1))).toBe(true);
  });

  it('never triggers when disabled', () => {
    const p = new WindowThresholdPolicy({ ...base, enabled: false, window: 1, minConfidence: 1, minMargin: 1, maxEntropy: 0.001 });
    expect(observeAll(p, [at(0, 0, 5), at(0, 0, 5)])).toEqual([false, false]);
  });
});
