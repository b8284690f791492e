/**
 * The pure parts of adaptive routing (docs/ARCHITECTURE.md#adaptive-routing): the share controller that holds the
 * router's frontier share as traffic drifts, and the latency SLO with its hysteresis. The scheduler's moves
 * between tiers are tested against real models (test/modelDependent/stories260K/adaptive-routing.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { calibrateThreshold } from '../../src/routing/calibration.js';
import { LatencySlo } from '../../src/routing/latency-slo.js';
import { ShareController, defaultShareController } from '../../src/routing/share-controller.js';
import { mulberry32 } from '../../bench/lib/mulberry32.js';

const TARGET = 0.3;

/** 200 router scores whose mix drifts halfway: near the calibration's at first, then mostly high ones. */
function driftingScores(seed: number): { training: number[]; live: number[] } {
  const random = mulberry32(seed);
  const training = Array.from({ length: 300 }, () => random());
  const live = Array.from({ length: 200 }, (_, i) => (i < 100 ? 0.2 + random() * 0.7 : 0.5 + random() * 0.5));
  return { training, live };
}

/** The share of `live` sent to the frontier when each decision meets `threshold()` and is then observed. */
function share(live: readonly number[], threshold: () => number, observe: (score: number, toFrontier: boolean) => void = () => undefined): { all: number; halves: [number, number] } {
  let sent = 0;
  const halves: [number, number] = [0, 0];
  live.forEach((score, i) => {
    const toFrontier = score >= threshold();
    if (toFrontier) {
      sent++;
      halves[i < live.length / 2 ? 0 : 1]++;
    }
    observe(score, toFrontier);
  });
  return { all: sent / live.length, halves: [halves[0] / (live.length / 2), halves[1] / (live.length / 2)] };
}

describe('ShareController', () => {
  it('holds the share within 5 points of the target over 200 requests whose mix drifts halfway, where the calibrated threshold does not', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const { training, live } = driftingScores(seed);
      const fixed = calibrateThreshold(training, TARGET);
      const uncontrolled = share(live, () => fixed);
      // The drift is real: the calibrated threshold sends about the target at first and far more later.
      expect(uncontrolled.halves[1]).toBeGreaterThan(TARGET + 0.1);
      expect(Math.abs(uncontrolled.all - TARGET)).toBeGreaterThan(0.05);
      const controller = new ShareController(TARGET, training);
      const controlled = share(live, () => controller.threshold, (score, toFrontier) => controller.observe(score, toFrontier));
      expect(Math.abs(controlled.all - TARGET), `seed ${seed}: share ${controlled.all}`).toBeLessThanOrEqual(0.05);
      // Each half on its own stays near the target too, so the controller is not averaging two errors away.
      for (const half of controlled.halves) expect(Math.abs(half - TARGET), `seed ${seed}: halves ${controlled.halves.join(', ')}`).toBeLessThanOrEqual(0.1);
    }
  });

  it('starts at the calibrated threshold of the training scores', () => {
    const training = Array.from({ length: 100 }, (_, i) => i / 100);
    const controller = new ShareController(TARGET, training, { ...defaultShareController, window: 100 });
    expect(controller.threshold).toBe(calibrateThreshold(training, TARGET));
    expect(controller.observedShare).toBe(TARGET);
  });

  it('aims lower as the hourly cost budget runs out: whole up to half of it, none when it is spent', () => {
    let used = 0;
    const training = Array.from({ length: 100 }, (_, i) => i / 100);
    const controller = new ShareController(TARGET, training, defaultShareController, () => used);
    expect(controller.effectiveTarget).toBeCloseTo(TARGET);
    used = 0.5;
    expect(controller.effectiveTarget).toBeCloseTo(TARGET);
    used = 0.75;
    expect(controller.effectiveTarget).toBeCloseTo(TARGET / 2);
    used = 1;
    expect(controller.effectiveTarget).toBe(0);
    // With the budget spent, the next decision's threshold sends nothing to the frontier.
    controller.observe(0.5, false);
    expect(controller.threshold).toBe(Infinity);
    used = 0.75;
    const random = mulberry32(7);
    const result = share(Array.from({ length: 400 }, () => random()), () => controller.threshold, (s, f) => controller.observe(s, f));
    expect(Math.abs(result.all - TARGET / 2)).toBeLessThanOrEqual(0.05);
  });

  it('seeds its window with every evenly spaced quantile of the training scores, whatever the window', () => {
    const training = Array.from({ length: 740 }, (_, i) => i / 740);
    for (const window of [37, 50, 74, 111]) {
      const controller = new ShareController(TARGET, training, { ...defaultShareController, window });
      // With every quantile present the threshold is the training scores' own calibration, to within one step.
      expect(Math.abs(controller.threshold - calibrateThreshold(training, TARGET)), `window ${window}`).toBeLessThanOrEqual(1 / window + 1e-9);
    }
  });

  it('ignores scores that are not finite', () => {
    const controller = new ShareController(TARGET, [0.1, 0.5, 0.9]);
    const before = controller.threshold;
    controller.observe(Number.NaN, true);
    expect(controller.threshold).toBe(before);
    expect(controller.observedShare).toBe(TARGET);
  });
});

describe('LatencySlo', () => {
  const idle = { active: 0, queued: 0, maxConcurrent: 1, maxQueue: 64 };

  it('breaches when the window p95 exceeds the SLO, and recovers with hysteresis as samples leave the window', () => {
    let now = 0;
    const slo = new LatencySlo({ ttftP95Ms: 100, windowSeconds: 10, recoverRatio: 0.8 }, () => now);
    expect(slo.breached(idle)).toBe(false);
    for (let i = 0; i < 19; i++) slo.recordFirstToken(50);
    expect(slo.p95Ms).toBe(50);
    slo.recordFirstToken(500); // 1 in 20: the p95 is still 50
    expect(slo.breached(idle)).toBe(false);
    now = 1000;
    slo.recordFirstToken(500);
    slo.recordFirstToken(500); // 3 in 22: above the 95th percentile
    expect(slo.p95Ms).toBe(500);
    expect(slo.breached(idle)).toBe(true);
    // Samples between 80 and 100 ms keep it spilling (hysteresis), once the slow ones have left the window.
    now = 11_500;
    for (let i = 0; i < 20; i++) slo.recordFirstToken(90);
    expect(slo.p95Ms).toBe(90);
    expect(slo.breached(idle)).toBe(true);
    now = 22_000; // every sample has left the window
    expect(slo.p95Ms).toBe(0);
    expect(slo.breached(idle)).toBe(false);
    expect(slo.isSpilling).toBe(false);
  });

  it('projects the wait of a request admitted now from the queue and the EMA of holding times', () => {
    const slo = new LatencySlo({ ttftP95Ms: 1000, windowSeconds: 30, recoverRatio: 0.8 });
    expect(slo.projectedWaitMs({ active: 2, queued: 5, maxConcurrent: 2, maxQueue: 64 })).toBe(0); // nothing measured yet
    slo.recordServed(400);
    expect(slo.projectedWaitMs({ active: 1, queued: 0, maxConcurrent: 2, maxQueue: 64 })).toBe(0); // a sequence is free
    expect(slo.projectedWaitMs({ active: 2, queued: 3, maxConcurrent: 2, maxQueue: 64 })).toBe(800); // (3 + 1) / 2 × 400
    slo.recordServed(900); // EMA: 400 + 0.2 × 500
    expect(slo.projectedWaitMs({ active: 2, queued: 1, maxConcurrent: 2, maxQueue: 64 })).toBeCloseTo(500);
    expect(slo.breached({ active: 2, queued: 4, maxConcurrent: 2, maxQueue: 64 })).toBe(true); // 1250 > 1000
    expect(slo.breached({ active: 2, queued: 3, maxConcurrent: 2, maxQueue: 64 })).toBe(true); // 1000: not above 800, still spilling
    expect(slo.breached({ active: 2, queued: 2, maxConcurrent: 2, maxQueue: 64 })).toBe(false); // 750 < 0.8 × 1000: recovered
    expect(slo.breached({ active: 2, queued: 3, maxConcurrent: 2, maxQueue: 64 })).toBe(false); // 1000 is not above 1000
  });
});
