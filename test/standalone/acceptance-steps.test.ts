import { describe, expect, it } from 'vitest';
import { acceptDraft, sampleResidual } from '../../src/pipeline/acceptance.js';
import { Rng } from '../../src/sampling/rng.js';
import type { TokenDist } from '../../src/sampling/token-dist.js';

/**
 * The acceptance rule one decision at a time, with scripted uniforms and distributions whose probabilities are
 * exact binary fractions, so every comparison of min(1, p/q) is known. (acceptance.test.ts checks the law the
 * rule produces statistically; this file checks which uniform each step consumes and what it decides.)
 */

/** An `Rng` whose uniforms are given in advance; drawing one more than scripted fails the test. */
class ScriptedRng extends Rng {
  private at = 0;
  constructor(private readonly uniforms: readonly number[]) {
    super(0);
  }
  override next(): number {
    const u = this.uniforms[this.at++];
    if (u === undefined) throw new Error(`uniform #${this.at} was not scripted`);
    return u;
  }
  get used(): number {
    return this.at;
  }
}

const dense = (...probs: number[]): TokenDist => ({ kind: 'dense', probs: Float32Array.from(probs) });
const onehot = (token: number): TokenDist => ({ kind: 'onehot', token });

// At token 0, p = 0.5 ≥ q = 0.25: always kept. At token 1, p = 0.25 and q = 0.5: kept with probability 1/2.
// The residual max(0, p − q) = [0.25, 0, 0.25, 0] (mass 0.5): token 0 on u < 0.5, token 2 on u ≥ 0.5.
const P = dense(0.5, 0.25, 0.25, 0);
const Q = dense(0.25, 0.5, 0, 0.25);
// A verifier distribution for the bonus draw: token 1 on u < 0.5, token 2 above.
const BONUS = dense(0, 0.5, 0.5, 0);

describe('acceptDraft, step by step', () => {
  it('keeps a token whose p ≥ q without drawing, and draws the bonus from p_{γ+1} with the one uniform it uses', () => {
    const rng = new ScriptedRng([0.75]);
    expect(acceptDraft([0, 0], [Q, Q], [P, P, BONUS], rng)).toEqual({ accepted: 2, next: 2, nextSource: 'bonus' });
    expect(rng.used).toBe(1);
    // p = q exactly: still no draw for the test.
    const equal = new ScriptedRng([0.25]);
    expect(acceptDraft([1, 1], [P, P], [P, P, BONUS], equal)).toEqual({ accepted: 2, next: 1, nextSource: 'bonus' });
    expect(equal.used).toBe(1);
  });

  it('keeps a token whose p < q when u < p/q, and rejects it at u = p/q exactly', () => {
    const keep = new ScriptedRng([0.4999, 0.25]);
    expect(acceptDraft([1], [Q], [P, BONUS], keep)).toEqual({ accepted: 1, next: 1, nextSource: 'bonus' });
    expect(keep.used).toBe(2);
    // u · q = 0.5 · 0.5 = 0.25 = p: not below, so rejected; the next uniform draws from the residual.
    const reject = new ScriptedRng([0.5, 0.6]);
    expect(acceptDraft([1], [Q], [P, BONUS], reject)).toEqual({ accepted: 0, next: 2, nextSource: 'verifier' });
    expect(reject.used).toBe(2);
    const far = new ScriptedRng([0.9, 0.2]);
    expect(acceptDraft([1], [Q], [P, BONUS], far)).toEqual({ accepted: 0, next: 0, nextSource: 'verifier' });
  });

  it('stops at the first rejection: later drafted tokens are neither tested nor kept', () => {
    const rng = new ScriptedRng([0.9, 0.8]);
    expect(acceptDraft([0, 1, 0], [Q, Q, Q], [P, P, P, BONUS], rng)).toEqual({ accepted: 1, next: 2, nextSource: 'verifier' });
    expect(rng.used).toBe(2);
  });

  it('a token the verifier gives no mass is always rejected', () => {
    const rng = new ScriptedRng([0, 0.3]);
    expect(acceptDraft([3], [dense(0, 0, 0, 1)], [dense(0.5, 0.5, 0, 0), BONUS], rng)).toEqual({ accepted: 0, next: 0, nextSource: 'verifier' });
  });

  it('with nothing drafted, takes the verifier\'s own draw from p_1 and tags it verifier', () => {
    const rng = new ScriptedRng([0.6]);
    expect(acceptDraft([], [], [BONUS], rng)).toEqual({ accepted: 0, next: 2, nextSource: 'verifier' });
    expect(acceptDraft([], [], [onehot(3)], new ScriptedRng([]))).toEqual({ accepted: 0, next: 3, nextSource: 'verifier' });
  });

  it('refuses distributions that do not match the draft: γ for q, γ + 1 for p', () => {
    const rng = new ScriptedRng([]);
    expect(() => acceptDraft([1, 2], [Q], [P, P, P], rng)).toThrow('acceptDraft: expected 2 draft and 3 verifier distributions, got 1 and 3');
    expect(() => acceptDraft([1, 2], [Q, Q], [P, P], rng)).toThrow('acceptDraft: expected 2 draft and 3 verifier distributions, got 2 and 2');
    expect(() => acceptDraft([1, 2], [Q, Q], [P, P, P, P], rng)).toThrow('got 2 and 4');
    expect(() => acceptDraft([], [], [], rng)).toThrow('expected 0 draft and 1 verifier distributions, got 0 and 0');
  });
});

describe('sampleResidual: the draw after a rejection', () => {
  it('dense p and q: draws from norm(max(0, p − q)) with one uniform', () => {
    const draw = (u: number): number => sampleResidual(P, Q, new ScriptedRng([u]));
    expect([0, 0.4999, 0.5, 0.9999].map(draw)).toEqual([0, 0, 2, 2]);
  });

  it('a one-hot draft: p with the draft token\'s mass removed', () => {
    const p = dense(0.5, 0.25, 0.25);
    const draw = (u: number): number => sampleResidual(p, onehot(0), new ScriptedRng([u]));
    expect([0, 0.4999, 0.5, 0.9999].map(draw)).toEqual([1, 1, 2, 2]);
    // The draft token's own mass is never drawn, wherever it sits.
    expect(sampleResidual(dense(0.25, 0.25, 0.5), onehot(2), new ScriptedRng([0.9999]))).toBe(1);
  });

  it('a one-hot verifier: its token, without drawing', () => {
    const rng = new ScriptedRng([]);
    expect(sampleResidual(onehot(5), dense(0.5, 0.5), rng)).toBe(5);
    expect(sampleResidual(onehot(1), onehot(0), rng)).toBe(1);
    expect(rng.used).toBe(0);
  });

  it('p and q equal to the last bit (no residual mass): draws from p itself', () => {
    const p = dense(0.5, 0.5);
    expect(sampleResidual(p, dense(0.5, 0.5), new ScriptedRng([0.75]))).toBe(1);
    expect(sampleResidual(p, dense(0.5, 0.5), new ScriptedRng([0.25]))).toBe(0);
  });
});
