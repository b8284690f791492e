import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { kernels, nativeUnavailableReason, typescriptKernels as ts, type ScoringKernels, type WarpParams } from '../../src/native/kernels.js';
import { defaultAddonPath, loadNativeKernels } from '../../src/native/load-native.js';
import { sampleResidual } from '../../src/pipeline/acceptance.js';
import { Rng } from '../../src/sampling/rng.js';
import type { TokenDist } from '../../src/sampling/token-dist.js';
import { fallbackFixture, randomLogits } from '../helpers/kernels-fixture.js';

/**
 * The native scoring kernels (native-bindings/) against the TypeScript reference (src/sampling/): the same
 * numbers within 1e-6 and the same choices (kept sets, argmax, sampled tokens) at the vocabulary sizes of real
 * models, on seeded random logits and on logits full of ties. The addon is built by `npm ci`
 * (`npm run build:native`); these tests fail when it did not load.
 */
const TOLERANCE = 1e-6;
const SIZES = [512, 32000, 128256];
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function native(): ScoringKernels {
  if (kernels.name !== 'native') {
    throw new Error(`the native kernels did not load (${nativeUnavailableReason}); run \`npm run build:native\` (npm ci does it)`);
  }
  return kernels;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= max)) max = d; // NaN makes it fail
  }
  return max;
}

function dense(dist: TokenDist): Float32Array {
  if (dist.kind !== 'dense') throw new Error('expected a dense distribution');
  return dist.probs;
}

/** The indices with probability > 0, as a count and a hash, so a mismatch prints briefly. */
function keptSet(probs: Float32Array): { count: number; hash: number } {
  let count = 0;
  let hash = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i]! > 0) {
      count++;
      hash = (Math.imul(hash, 31) + i) | 0;
    }
  }
  return { count, hash };
}

/** Uniforms for sampling: seeded ones plus the ends of [0, 1). */
function uniforms(seed: number, count: number): number[] {
  const rng = new Rng(seed);
  return [0, 1 - 2 ** -53, 0.5, ...Array.from({ length: count }, () => rng.next())];
}

/** Normal logits; the same rounded to halves (many exact ties, the top included); a few -Infinity. */
function inputs(n: number): { name: string; logits: Float32Array }[] {
  const normal = randomLogits(n, new Rng(n));
  const ties = normal.map((x) => Math.round(x * 2) / 2);
  const top = ties[ts.argmax(ties)]!;
  for (let i = 7; i < n; i += Math.max(1, Math.floor(n / 5))) ties[i] = top; // several tokens share the maximum
  const masked = Float32Array.from(normal);
  for (let i = 3; i < n; i += 11) masked[i] = -Infinity; // tokens a backend left out
  return [
    { name: 'normal', logits: normal },
    { name: 'ties', logits: ties },
    { name: 'masked', logits: masked },
  ];
}

function warpParams(n: number): WarpParams[] {
  return [
    { temperature: 1, topK: 0, topP: 1, minP: 0 },
    { temperature: 0.7, topK: 0, topP: 1, minP: 0 },
    { temperature: 1e-3, topK: 0, topP: 1, minP: 0 }, // T → 0: nearly one-hot, ties share the mass
    { temperature: 1e-3, topK: 0, topP: 0.9, minP: 0 },
    { temperature: 0.8, topK: 1, topP: 1, minP: 0 },
    { temperature: 0.8, topK: 50, topP: 1, minP: 0 },
    { temperature: 1.5, topK: 0, topP: 0.9, minP: 0 },
    { temperature: 0.8, topK: 0, topP: 0.5, minP: 0 },
    { temperature: 1, topK: 40, topP: 0.95, minP: 0 },
    { temperature: 2, topK: 0, topP: 0.999, minP: 0 },
    { temperature: 1, topK: n - 1, topP: 1, minP: 0 },
    { temperature: 1, topK: n, topP: 1, minP: 0 }, // top-k off
    { temperature: 0, topK: 10, topP: 0.9, minP: 0 }, // greedy: one-hot
    { temperature: 1, topK: 0, topP: 1, minP: 0.05 }, // min-p alone
    { temperature: 0.7, topK: 40, topP: 0.95, minP: 0.1 }, // min-p after top-k and top-p
    { temperature: 1.5, topK: 0, topP: 1, minP: 1 }, // min-p 1: the top token (and its ties) only
    { temperature: 0, topK: 0, topP: 1, minP: 0.5 }, // greedy: one-hot whatever min-p says
  ];
}

describe('native scoring kernels', () => {
  it('the addon is built and loaded', () => {
    expect(kernels.name, `the native kernels did not load (${nativeUnavailableReason}); run \`npm run build:native\` (npm ci does it)`).toBe('native');
    expect(nativeUnavailableReason).toBeNull();
  });

  it('top-p measures mass within what top-k kept, renormalised, as the TypeScript kernel does', () => {
    // .4/.3/.2/.1, top-k 3, top-p .75: two tokens (.4/.9 + .3/.9 ≥ .75); top-p alone keeps three (.4 + .3 < .75).
    const tenths = Float32Array.from([0.4, 0.3, 0.2, 0.1].map(Math.log));
    const k = native();
    const kept = (params: WarpParams): number => dense(k.warp(tenths, params)).filter((p) => p > 0).length;
    expect(kept({ temperature: 1, topK: 3, topP: 0.75, minP: 0 })).toBe(2);
    expect(kept({ temperature: 1, topK: 0, topP: 0.75, minP: 0 })).toBe(3);
  });

  for (const n of SIZES) {
    describe(`vocabulary of ${n}`, () => {
      const cases = inputs(n);

      it('logSumExp, argmax, entropy and topLogprobs agree', () => {
        const k = native();
        for (const { name, logits } of cases) {
          const logZ = ts.logSumExp(logits);
          expect(Math.abs(k.logSumExp(logits) - logZ), `${name}: logSumExp`).toBeLessThanOrEqual(TOLERANCE);
          expect(k.argmax(logits), `${name}: argmax`).toBe(ts.argmax(logits));
          expect(Math.abs(k.entropy(logits, logZ) - ts.entropy(logits, logZ)), `${name}: entropy`).toBeLessThanOrEqual(TOLERANCE);
          for (const top of [1, 5, 20]) {
            const want = ts.topLogprobs(logits, logZ, top);
            const got = k.topLogprobs(logits, logZ, top);
            expect(got.map((t) => t.token), `${name}: top ${top} tokens`).toEqual(want.map((t) => t.token));
            expect(maxAbsDiff(got.map((t) => t.logprob), want.map((t) => t.logprob)), `${name}: top ${top} logprobs`).toBeLessThanOrEqual(TOLERANCE);
          }
        }
      });

      it('warp keeps the same tokens with the same probabilities, and both sample the same tokens', () => {
        const k = native();
        for (const { name, logits } of cases) {
          for (const params of warpParams(n)) {
            const what = `${name} ${JSON.stringify(params)}`;
            const want = ts.warp(logits, params);
            const got = k.warp(logits, params);
            expect(got.kind, what).toBe(want.kind);
            if (want.kind === 'onehot') {
              expect(got, what).toEqual(want);
              continue;
            }
            const [a, b] = [dense(want), dense(got)];
            expect(keptSet(b), `${what}: kept set`).toEqual(keptSet(a));
            expect(maxAbsDiff(b, a), `${what}: probabilities`).toBeLessThanOrEqual(TOLERANCE);
            for (const u of uniforms(n, 20)) {
              expect(k.sampleDense(b, u), `${what}: native draw at u=${u}`).toBe(ts.sampleDense(a, u));
              expect(k.sampleDense(a, u), `${what}: draw from the same weights at u=${u}`).toBe(ts.sampleDense(a, u));
            }
          }
        }
      });

      it('warp writes into a given array, a view or the logits themselves', () => {
        const k = native();
        const logits = cases[0]!.logits;
        const params = { temperature: 0.9, topK: 30, topP: 0.9 , minP: 0};
        const want = dense(ts.warp(logits, params));
        const buffer = new Float32Array(n + 8).fill(7);
        const view = buffer.subarray(3, 3 + n);
        expect(dense(k.warp(logits, params, view))).toBe(view);
        expect(maxAbsDiff(view, want)).toBeLessThanOrEqual(TOLERANCE);
        expect([buffer[2], buffer[n + 3]]).toEqual([7, 7]); // nothing written outside the view
        const inPlace = Float32Array.from(logits);
        k.warp(inPlace, params, inPlace);
        expect(maxAbsDiff(inPlace, want)).toBeLessThanOrEqual(TOLERANCE);
        const logitsView = new Float32Array(n + 5).subarray(5);
        logitsView.set(logits);
        expect(maxAbsDiff(dense(k.warp(logitsView, params)), want)).toBeLessThanOrEqual(TOLERANCE);
        expect(() => k.warp(logits, params, new Float32Array(n - 1))).toThrow(RangeError);
        expect(() => ts.warp(logits, params, new Float32Array(n - 1))).toThrow(RangeError);
      });

      it('residual norm(max(0, p − q)) agrees, and draws the same tokens', () => {
        const k = native();
        const rng = new Rng(n + 1);
        const p = dense(ts.warp(randomLogits(n, rng), { temperature: 0.8, topK: 0, topP: 1, minP: 0 }));
        const qs = [
          dense(ts.warp(randomLogits(n, rng), { temperature: 1, topK: 0, topP: 1, minP: 0 })),
          dense(ts.warp(randomLogits(n, rng), { temperature: 0.8, topK: 20, topP: 0.9 , minP: 0})),
          dense(ts.warp(randomLogits(n, rng), { temperature: 1, topK: 0, topP: 1, minP: 0 })).subarray(0, n >> 1), // shorter q: zeros past its end
          p, // p = q: no mass
        ];
        for (const [j, q] of qs.entries()) {
          const want = new Float32Array(n);
          const got = new Float32Array(n);
          const wantMass = ts.residual(p, q, want);
          const gotMass = k.residual(p, q, got);
          expect(Math.abs(gotMass - wantMass), `q ${j}: mass`).toBeLessThanOrEqual(TOLERANCE);
          expect(maxAbsDiff(got, want), `q ${j}: residual`).toBeLessThanOrEqual(TOLERANCE);
          expect(keptSet(got), `q ${j}: support`).toEqual(keptSet(want));
          if (wantMass > 0) for (const u of uniforms(n + j, 20)) expect(k.sampleDense(got, u), `q ${j}: draw at u=${u}`).toBe(ts.sampleDense(want, u));
          else expect(() => k.sampleDense(got, 0.5)).toThrow('sampleDense: all weights are zero');
        }
        // In place, as the acceptance rule may call it.
        const inPlace = Float32Array.from(p);
        const want = new Float32Array(n);
        ts.residual(p, qs[0]!, want);
        k.residual(inPlace, qs[0]!, inPlace);
        expect(maxAbsDiff(inPlace, want)).toBeLessThanOrEqual(TOLERANCE);
        expect(() => k.residual(p, qs[0]!, new Float32Array(n - 1))).toThrow(RangeError);
      });
    });
  }

  it('edge cases behave as the reference: empty and all -Infinity inputs, NaN, bad arguments', () => {
    const k = native();
    const allMasked = new Float32Array(64).fill(-Infinity);
    expect(k.argmax(allMasked)).toBe(ts.argmax(allMasked));
    expect(k.argmax(new Float32Array(0))).toBe(ts.argmax(new Float32Array(0)));
    expect(k.logSumExp(new Float32Array(0))).toBe(ts.logSumExp(new Float32Array(0)));
    const withNaN = Float32Array.from([1, NaN, 3, 2]);
    expect(k.argmax(withNaN)).toBe(ts.argmax(withNaN));
    expect(k.logSumExp(withNaN)).toBeNaN();
    expect(ts.logSumExp(withNaN)).toBeNaN();
    expect(k.topLogprobs(withNaN.subarray(2), 0, 0)).toEqual([]);
    expect(k.topLogprobs(Float32Array.from([1, 2]), 0, 5)).toEqual(ts.topLogprobs(Float32Array.from([1, 2]), 0, 5));
    expect(k.topLogprobs(Float32Array.from([1, 2, 3]), 0, 2.5)).toEqual(ts.topLogprobs(Float32Array.from([1, 2, 3]), 0, 2.5));
    expect(() => k.sampleDense(new Float32Array(8), 0.3)).toThrow('sampleDense: all weights are zero');
    expect(() => ts.sampleDense(new Float32Array(8), 0.3)).toThrow('sampleDense: all weights are zero');
    expect(() => k.logSumExp(new Float64Array(4) as unknown as Float32Array)).toThrow(TypeError);
    expect(() => k.warp(new Float32Array(4), { temperature: 0.5, topK: 2, topP: 'x' as unknown as number , minP: 0})).toThrow(TypeError);
  });

  it('the acceptance rule draws the same residual token with either kernels', () => {
    native();
    const n = 32000;
    const rng = new Rng(5);
    const p: TokenDist = ts.warp(randomLogits(n, rng), { temperature: 0.8, topK: 0, topP: 0.95 , minP: 0});
    const q: TokenDist = ts.warp(randomLogits(n, rng), { temperature: 0.8, topK: 0, topP: 1, minP: 0 });
    for (let seed = 0; seed < 20; seed++) {
      // sampleResidual goes through `kernels` (native here); the reference computes it by hand.
      const want = new Float32Array(n);
      ts.residual(dense(p), dense(q), want);
      expect(sampleResidual(p, q, new Rng(seed))).toBe(ts.sampleDense(want, new Rng(seed).next()));
    }
  });

  it('a missing or broken addon is refused with a one-line reason', async () => {
    expect(() => loadNativeKernels('/nonexistent/specroute_kernels.node', ts)).toThrow(/not found; run `npm run build:native`/);
    const dir = await mkdtemp(join(tmpdir(), 'specroute-kernels-'));
    try {
      const broken = join(dir, 'broken.node');
      await writeFile(broken, 'not a shared object');
      expect(() => loadNativeKernels(broken, ts)).toThrow(/^cannot load .*broken\.node: [^\n]*$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(defaultAddonPath()).toBe(join(root, 'native-bindings', 'build', 'Release', 'specroute_kernels.node'));
  });

  describe('fallback in a fresh process', () => {
    const run = promisify(execFile);
    const viteNode = join(root, 'node_modules', '.bin', 'vite-node');
    const child = join(root, 'test', 'helpers', 'kernels-fallback-child.ts');
    const env = (extra: Record<string, string>): NodeJS.ProcessEnv => {
      const base = { ...process.env };
      for (const key of ['SPECROUTE_NATIVE', 'SPECROUTE_NATIVE_PATH', 'SPECROUTE_NATIVE_NOTICE_SHOWN']) delete base[key];
      return { ...base, ...extra };
    };
    const expected = (() => {
      const { logits, params } = fallbackFixture();
      const logZ = ts.logSumExp(logits);
      const p = ts.warp(logits, params);
      const q = ts.warp(logits, { temperature: 1.7, topK: 0, topP: 1, minP: 0 });
      const residual = new Float32Array(logits.length);
      ts.residual(dense(p), dense(q), residual);
      return {
        logZ,
        argmax: ts.argmax(logits),
        probs: Array.from(dense(p)),
        top: ts.topLogprobs(logits, logZ, 3),
        entropy: ts.entropy(logits, logZ),
        residualToken: ts.sampleDense(residual, new Rng(7).next()),
      };
    })();

    it('a bogus SPECROUTE_NATIVE_PATH gives one notice on stderr and the TypeScript results', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'specroute-kernels-'));
      try {
        const bogus = join(dir, 'bogus.node');
        await writeFile(bogus, 'not a shared object');
        const { stdout, stderr } = await run(viteNode, [child], { cwd: root, env: env({ SPECROUTE_NATIVE_PATH: bogus }) });
        const notices = stderr.split('\n').filter((line) => line.startsWith('specroute:'));
        expect(notices, stderr).toHaveLength(1);
        expect(notices[0]).toMatch(/^specroute: native kernels unavailable \(cannot load .*bogus\.node: .*\); using the TypeScript kernels$/);
        const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
        expect(result).toMatchObject({ name: 'typescript', ...expected });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('SPECROUTE_NATIVE=0 uses the TypeScript kernels without a word', async () => {
      const { stdout, stderr } = await run(viteNode, [child], { cwd: root, env: env({ SPECROUTE_NATIVE: '0' }) });
      expect(stderr.split('\n').filter((line) => line.startsWith('specroute:'))).toEqual([]);
      expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toMatchObject({ name: 'typescript', reason: 'SPECROUTE_NATIVE=0', ...expected });
    });
  });
});
