/**
 * When a model worker restarts a thread that died (docs/ARCHITECTURE.md#workers-that-recover): at once after a
 * stable run, then waiting twice as long at each failure in a row, capped; never a spin.
 */
import { describe, expect, it } from 'vitest';
import { RestartBackoff } from '../../src/workers/restart-backoff.js';

/** A backoff on a clock the test moves. */
function onClock(options: ConstructorParameters<typeof RestartBackoff>[0] = {}): { backoff: RestartBackoff; advance(ms: number): void } {
  let now = 0;
  return { backoff: new RestartBackoff(options, () => now), advance: (ms) => (now += ms) };
}

describe('RestartBackoff', () => {
  it('restarts at once after the first death, then doubles the wait while attempts keep failing, up to the cap', () => {
    const { backoff, advance } = onClock({ baseMs: 250, maxMs: 2000 });
    advance(1000);
    const delays = Array.from({ length: 7 }, () => {
      advance(10);
      return backoff.failed();
    });
    expect(delays).toEqual([0, 250, 500, 1000, 2000, 2000, 2000]);
  });

  it('counts a thread that dies soon after its load as one more failure (a crash loop backs off)', () => {
    const { backoff, advance } = onClock({ baseMs: 250, stableMs: 60_000 });
    expect(backoff.failed()).toBe(0);
    backoff.loaded();
    advance(5000); // up for 5 s: not stable
    expect(backoff.failed()).toBe(250);
    backoff.loaded();
    advance(59_999);
    expect(backoff.failed()).toBe(500);
  });

  it('starts over after a stable run: the next death restarts at once', () => {
    const { backoff, advance } = onClock({ baseMs: 250, stableMs: 60_000 });
    for (let i = 0; i < 4; i++) backoff.failed();
    backoff.loaded();
    advance(60_000);
    expect(backoff.failed()).toBe(0);
    // A failed load after that death is no stable run: it waits.
    advance(60_000);
    expect(backoff.failed()).toBe(250);
  });

  it('never overflows to a spin: after very many failures the wait is still the cap', () => {
    const { backoff } = onClock({ baseMs: 250, maxMs: 30_000 });
    let last = 0;
    for (let i = 0; i < 5000; i++) last = backoff.failed();
    expect(last).toBe(30_000);
  });
});
