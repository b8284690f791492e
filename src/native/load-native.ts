/**
 * Loads the native scoring kernels (native-bindings/, an N-API addon), checks them against the TypeScript
 * reference on a small input, and wraps them into the `ScoringKernels` shape. Any failure throws an Error whose
 * message is a short reason for the one-line fallback notice.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import type { TokenLogprob } from '../events/token-logprob.js';
import type { ScoringKernels } from './kernels.js';
import { packageRoot } from '../package-root.js';

/** The addon's ABI version this wrapper speaks (`kAbiVersion` in native-bindings/src/addon.cc). */
const ABI_VERSION = 4;

/** The addon's raw exports (see native-bindings/src/addon.cc). */
interface NativeAddon {
  readonly abiVersion: number;
  logSumExp(logits: Float32Array): number;
  argmax(values: Float32Array): number;
  warp(logits: Float32Array, out: Float32Array, temperature: number, topK: number, topP: number, minP: number): void;
  residual(p: Float32Array, q: Float32Array, out: Float32Array): number;
  sampleDense(weights: Float32Array, u: number): number;
  topLogprobs(logits: Float32Array, logZ: number, tokens: Int32Array, logprobs: Float64Array): number;
  entropy(logits: Float32Array, logZ: number): number;
  softmaxFloat32(values: Float32Array, max: number, sum: number, out: Float32Array): void;
}

const FUNCTIONS = ['logSumExp', 'argmax', 'warp', 'residual', 'sampleDense', 'topLogprobs', 'entropy', 'softmaxFloat32'] as const;

/** Where `npm ci` / `npm run build:native` puts the addon. */
export function defaultAddonPath(): string {
  return join(packageRoot(), 'native-bindings', 'build', 'Release', 'specroute_kernels.node');
}

/**
 * Loads the addon at `path`, checks its exports and its results against `reference` on a small input, and
 * returns it as `ScoringKernels`. Throws an Error with a one-line reason when any of that fails.
 */
export function loadNativeKernels(path: string, reference: ScoringKernels): ScoringKernels {
  const file = resolve(path);
  if (!existsSync(file)) throw new Error(`${file} not found; run \`npm run build:native\``);
  let addon: NativeAddon;
  try {
    addon = createRequire(import.meta.url)(file) as NativeAddon;
  } catch (error) {
    throw new Error(`cannot load ${file}: ${firstLine(error)}`);
  }
  if (addon?.abiVersion !== ABI_VERSION) throw new Error(`${file} has ABI version ${String(addon?.abiVersion)}, expected ${ABI_VERSION}; rebuild it`);
  const missing = FUNCTIONS.filter((name) => typeof addon[name] !== 'function');
  if (missing.length > 0) throw new Error(`${file} lacks ${missing.join(', ')}`);
  const native = wrap(addon);
  try {
    selfCheck(native, reference);
  } catch (error) {
    throw new Error(`${file} failed its self-check: ${firstLine(error)}`);
  }
  return native;
}

function wrap(addon: NativeAddon): ScoringKernels {
  return {
    name: 'native',
    logSumExp: (logits) => addon.logSumExp(logits),
    argmax: (values) => addon.argmax(values),
    warp(logits, params, out) {
      if (params.temperature <= 0) return { kind: 'onehot', token: addon.argmax(logits) };
      const probs = out ?? new Float32Array(logits.length);
      addon.warp(logits, probs, params.temperature, params.topK, params.topP, params.minP);
      return { kind: 'dense', probs };
    },
    residual: (p, q, out) => addon.residual(p, q, out),
    sampleDense: (weights, u) => addon.sampleDense(weights, u),
    topLogprobs(logits, logZ, n) {
      // As the reference: at most floor(n) entries (none for n <= 0 or NaN).
      const k = Math.min(Math.floor(n), logits.length);
      if (!(k > 0)) return [];
      const tokens = new Int32Array(k);
      const logprobs = new Float64Array(k);
      const count = addon.topLogprobs(logits, logZ, tokens, logprobs);
      const best: TokenLogprob[] = [];
      for (let i = 0; i < count; i++) best.push({ token: tokens[i]!, logprob: logprobs[i]! });
      return best;
    },
    entropy: (logits, logZ) => addon.entropy(logits, logZ),
    softmaxFloat32(values, max, sum, out) {
      if (out.length !== values.length) throw new RangeError('softmaxFloat32: out must have as many entries as values');
      addon.softmaxFloat32(values, max, sum, out);
    },
  };
}

/** Every kernel once on a small input with ties, compared with the reference; throws on the first difference. */
function selfCheck(native: ScoringKernels, reference: ScoringKernels): void {
  const logits = Float32Array.from([0.5, 2, -1, 2, 0.25, -Infinity, 1.5, 0]);
  const close = (what: string, a: number, b: number): void => {
    if (!(Math.abs(a - b) <= 1e-6)) throw new Error(`${what}: ${a} ≠ ${b}`);
  };
  const same = (what: string, a: unknown, b: unknown): void => {
    if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${what}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`);
  };
  const logZ = reference.logSumExp(logits);
  close('logSumExp', native.logSumExp(logits), logZ);
  same('argmax', native.argmax(logits), reference.argmax(logits));
  const params = { temperature: 0.7, topK: 5, topP: 0.9, minP: 0.05 };
  const p = reference.warp(logits, params);
  const pn = native.warp(logits, params);
  if (p.kind !== 'dense' || pn.kind !== 'dense') throw new Error('warp: not dense');
  for (let i = 0; i < logits.length; i++) close(`warp[${i}]`, pn.probs[i]!, p.probs[i]!);
  const q = reference.warp(logits, { temperature: 1.3, topK: 0, topP: 1, minP: 0 });
  if (q.kind !== 'dense') throw new Error('warp: not dense');
  const r = new Float32Array(logits.length);
  const rn = new Float32Array(logits.length);
  close('residual', native.residual(p.probs, q.probs, rn), reference.residual(p.probs, q.probs, r));
  same('sampleDense', native.sampleDense(rn, 0.6), reference.sampleDense(r, 0.6));
  same('topLogprobs', native.topLogprobs(logits, logZ, 3), reference.topLogprobs(logits, logZ, 3));
  close('entropy', native.entropy(logits, logZ), reference.entropy(logits, logZ));
  const top = Float32Array.from([2, 2, 1.5, 0.5]);
  const [sm, smn] = [new Float32Array(4), new Float32Array(4)];
  reference.softmaxFloat32(top, 2, 3.25, sm);
  native.softmaxFloat32(top, 2, 3.25, smn);
  for (let i = 0; i < top.length; i++) close(`softmaxFloat32[${i}]`, smn[i]!, sm[i]!);
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n', 1)[0]!.trim();
}
