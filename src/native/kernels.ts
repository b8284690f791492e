/**
 * The vocabulary-wide scoring kernels (log-softmax normaliser, argmax, temperature/top-k/top-p warping,
 * residual and inverse-CDF sampling, top log-probabilities, entropy) behind one interface, in two
 * implementations that give the same results:
 * - `native`: the N-API addon in native-bindings/ (built by `npm ci` / `npm run build:native`);
 * - `typescript`: the reference functions in src/sampling/, always available.
 *
 * Import `kernels`: the addon when it loads, else the TypeScript kernels, with one line on stderr saying why.
 * `SPECROUTE_NATIVE=0` forces the TypeScript kernels (silently); `SPECROUTE_NATIVE=1` requires the addon
 * (importing this module throws when it cannot load); `SPECROUTE_NATIVE_PATH` loads the addon from another
 * file (default `native-bindings/build/Release/specroute_kernels.node` under the package root).
 */
import type { TokenLogprob } from '../events/token-logprob.js';
import type { Rng } from '../sampling/rng.js';
import type { WarpParams } from '../sampling/params.js';
import { entropyDense, softmaxFloat32, topLogprobsDense } from '../sampling/logprobs.js';
import { argmax, logSumExp, residualInto, sampleDense, warp, type TokenDist } from '../sampling/token-dist.js';
import { defaultAddonPath, loadNativeKernels } from './load-native.js';

export type { WarpParams };

/**
 * Kernels over whole-vocabulary arrays. Inputs are never modified unless passed again as an output; outputs are
 * written in place (no allocation besides what is returned). Both implementations agree within 1e-6 and pick
 * the same tokens (same kept sets, argmax and draws for the same uniforms).
 */
export interface ScoringKernels {
  /** Which implementation this is. */
  readonly name: 'native' | 'typescript';
  /** log Σ exp(logits): the log-softmax normaliser (`logZ`) of raw logits. */
  logSumExp(logits: Float32Array): number;
  /** Index of the largest value; the lowest index wins ties, as llama.cpp's greedy sampler does. */
  argmax(values: Float32Array): number;
  /**
   * Raw logits → the sampling distribution: temperature, then top-k, then top-p over what top-k kept,
   * renormalised, in the order (probability desc, token id asc), then min-p. `temperature <= 0` gives a one-hot distribution on the argmax.
   *
   * @param out where the probabilities go: as many entries as `logits`, or `logits` itself. Defaults to a new
   * array.
   */
  warp(logits: Float32Array, params: WarpParams, out?: Float32Array): TokenDist;
  /**
   * The speculative-sampling residual before normalisation: `out[i] = max(0, p[i] − q[i])` over `p`'s indices
   * (`q[i]` = 0 past `q`'s end). Returns its mass; draw from it with `sampleDense(out, u)` when the mass is > 0.
   *
   * @param out at least as many entries as `p`; may be `p` itself.
   */
  residual(p: Float32Array, q: Float32Array, out: Float32Array): number;
  /** Inverse-CDF draw from non-negative weights (any total) with one uniform `u` in [0, 1). Throws when all are 0. */
  sampleDense(weights: Float32Array, u: number): number;
  /**
   * The `n` most likely tokens with log-probabilities `logits[t] − logZ`, most likely first (lower id first on
   * ties).
   */
  topLogprobs(logits: Float32Array, logZ: number, n: number): TokenLogprob[];
  /** Entropy in nats of the distribution with log-probabilities `logits − logZ` (terms below e^−80 skipped). */
  entropy(logits: Float32Array, logZ: number): number;
  /**
   * `out[i] = exp(values[i] − max) / sum`, every step in float32: the probabilities llama.cpp computes from logits,
   * their max and its float32 sum of exp(logit − max). Only the native kernel reproduces node-llama-cpp's values
   * bit for bit (both call the C library's `expf`); the TypeScript one may differ by one ulp.
   *
   * @param out as many entries as `values`.
   */
  softmaxFloat32(values: Float32Array, max: number, sum: number, out: Float32Array): void;
}

/** The reference kernels: the functions of src/sampling/, unchanged. */
export const typescriptKernels: ScoringKernels = {
  name: 'typescript',
  logSumExp,
  argmax,
  warp,
  residual: residualInto,
  sampleDense,
  topLogprobs: topLogprobsDense,
  entropy: entropyDense,
  softmaxFloat32,
};

/** Set once this process (or the thread that started this one) printed the fallback notice. */
const NOTICE_SHOWN_ENV = 'SPECROUTE_NATIVE_NOTICE_SHOWN';
let noticeShown = false;

/** One line on stderr, once per process: worker threads started after it inherit the mark and stay quiet. */
function noticeOnce(reason: string): void {
  if (noticeShown || process.env[NOTICE_SHOWN_ENV] === '1') return;
  noticeShown = true;
  process.env[NOTICE_SHOWN_ENV] = '1';
  process.stderr.write(`specroute: native kernels unavailable (${reason}); using the TypeScript kernels\n`);
}

function selectKernels(env: NodeJS.ProcessEnv): { kernels: ScoringKernels; error: string | null } {
  const mode = (env.SPECROUTE_NATIVE ?? '').trim().toLowerCase();
  if (mode === '0' || mode === 'false' || mode === 'off') return { kernels: typescriptKernels, error: 'SPECROUTE_NATIVE=0' };
  const path = env.SPECROUTE_NATIVE_PATH || defaultAddonPath();
  try {
    return { kernels: loadNativeKernels(path, typescriptKernels), error: null };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (mode === '1' || mode === 'true' || mode === 'on') {
      throw new Error(`specroute: SPECROUTE_NATIVE=1 but the native kernels did not load (${reason}); run \`npm run build:native\``);
    }
    noticeOnce(reason);
    return { kernels: typescriptKernels, error: reason };
  }
}

const selected = selectKernels(process.env);

/** The kernels to use: `native` when the addon loaded, else `typescript`. */
export const kernels: ScoringKernels = selected.kernels;

/** Why the native kernels are not in use (`null` when they are). */
export const nativeUnavailableReason: string | null = selected.error;

/** Draws a token from `dist` (inverse CDF with one uniform from `rng`; a one-hot draws nothing). */
export function sampleFrom(dist: TokenDist, rng: Rng): number {
  return dist.kind === 'onehot' ? dist.token : kernels.sampleDense(dist.probs, rng.next());
}
