import { describe, expect, it } from 'vitest';
import { CircuitBreaker, defaultCircuitBreaker, type BreakerState, type CircuitBreakerOptions } from '../../src/escalation/circuit-breaker.js';

/** A breaker on a hand-driven clock, recording every state change. */
function breaker(options: Partial<CircuitBreakerOptions> = {}): { b: CircuitBreaker; changes: BreakerState[]; at: (ms: number) => void } {
  let now = 1_000_000;
  const changes: BreakerState[] = [];
  const b = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1000, halfOpenProbes: 1, ...options }, () => now, (s) => changes.push(s));
  return { b, changes, at: (ms) => (now = 1_000_000 + ms) };
}

describe('CircuitBreaker', () => {
  it('documents its defaults: 3 failures, 10 s open, 1 probe', () => {
    expect(defaultCircuitBreaker).toEqual({ failureThreshold: 3, cooldownMs: 10_000, halfOpenProbes: 1 });
  });

  it('stays closed below the threshold of consecutive failures, and a success resets the count', () => {
    const { b, changes } = breaker();
    b.failure();
    b.failure();
    b.success();
    b.failure();
    b.failure();
    expect(b.state).toBe('closed');
    expect(b.tryAcquire()).toBe(true);
    b.failure();
    expect(b.state).toBe('open');
    expect(changes).toEqual(['open']);
  });

  it('lets every call through while closed', () => {
    const { b } = breaker({ halfOpenProbes: 1 });
    expect([b.tryAcquire(), b.tryAcquire(), b.tryAcquire()]).toEqual([true, true, true]);
    b.success();
    expect(b.tryAcquire()).toBe(true);
  });

  it('a threshold of one opens on the first failure', () => {
    const { b } = breaker({ failureThreshold: 1 });
    expect(b.tryAcquire()).toBe(true);
    b.failure();
    expect(b.state).toBe('open');
    expect(b.tryAcquire()).toBe(false);
  });

  it('refuses calls while open, and half-opens once the cool-down has passed, counted from the last failure', () => {
    const { b, changes, at } = breaker({ failureThreshold: 1 });
    at(100);
    b.failure();
    at(1099);
    expect(b.tryAcquire()).toBe(false);
    expect(b.state).toBe('open');
    at(1100);
    expect(b.state).toBe('half-open');
    expect(changes).toEqual(['open', 'half-open']);
  });

  it('lets exactly halfOpenProbes calls through while half-open', () => {
    const { b, at } = breaker({ failureThreshold: 1, halfOpenProbes: 2 });
    b.failure();
    at(1000);
    expect([b.tryAcquire(), b.tryAcquire(), b.tryAcquire()]).toEqual([true, true, false]);
  });

  it('a probe\'s success closes the breaker and forgets earlier failures; a probe\'s failure reopens it at once', () => {
    const { b, changes, at } = breaker({ failureThreshold: 2 });
    b.failure();
    b.failure();
    at(1000);
    expect(b.tryAcquire()).toBe(true);
    b.failure(); // one failure in half-open is enough
    expect(b.state).toBe('open');
    at(1999);
    expect(b.state).toBe('open'); // the cool-down restarted at the probe's failure
    at(2000);
    expect(b.tryAcquire()).toBe(true); // a fresh probe: the count was reset on reopening
    b.success();
    expect(b.state).toBe('closed');
    b.failure();
    expect(b.state).toBe('closed'); // failures were forgotten: one is below the threshold of two
    expect(changes).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);
  });

  it('an abandoned probe frees its slot; abandoning nothing frees nothing', () => {
    const { b, at } = breaker({ failureThreshold: 1 });
    b.failure();
    at(1000);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    b.abandon();
    expect(b.tryAcquire()).toBe(true);
    b.abandon(); // frees the probe just taken
    b.abandon(); // no probe is out now: must not make room for a second one
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
  });

  it('abandoning while closed changes nothing', () => {
    const { b, changes } = breaker({ failureThreshold: 1 });
    b.abandon();
    expect(b.state).toBe('closed');
    expect(b.tryAcquire()).toBe(true);
    expect(changes).toEqual([]);
  });

  it('reports each change once: no repeated open on further failures, no close when already closed', () => {
    const { b, changes } = breaker({ failureThreshold: 1 });
    b.success();
    b.failure();
    b.failure();
    expect(changes).toEqual(['open']);
  });

  it('runs on the real clock by default', () => {
    const changes: BreakerState[] = [];
    const b = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 0, halfOpenProbes: 1 }, undefined, (s) => changes.push(s));
    b.failure();
    expect(b.state).toBe('half-open'); // a cool-down of 0 has always passed
    const quiet = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 60_000, halfOpenProbes: 1 });
    quiet.failure();
    expect(quiet.state).toBe('open');
    expect(changes).toEqual(['open', 'half-open']);
  });
});
