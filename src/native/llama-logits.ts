/**
 * The addon that reads node-llama-cpp's logits in place (native-bindings/llama-logits, built by `npm ci` beside
 * the kernels; docs/ARCHITECTURE.md#reading-logits-in-place). Loaded once per thread, on first use; any failure
 * leaves the llama backend on node-llama-cpp's sampler path, which gives the same tokens, only slower.
 *
 * `SPECROUTE_NATIVE=0` or `SPECROUTE_LLAMA_LOGITS=0` turns it off; `SPECROUTE_LLAMA_LOGITS_PATH` loads another
 * build (default `native-bindings/llama-logits/build/Release/specroute_llama_logits.node` under the package root).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { packageRoot } from '../package-root.js';

/** The addon's ABI version this wrapper speaks (`kAbiVersion` in native-bindings/llama-logits/llama-logits.cc). */
const ABI_VERSION = 1;

/** The addon's exports. `context` is node-llama-cpp's native context object (`LlamaContext._ctx`). */
export interface LlamaLogitsAddon {
  readonly abiVersion: number;
  /** `null` when logits can be read through `context`, else why not. `contextSize` is the total over sequences. */
  probe(context: object, contextSize: number, sequences: number): string | null;
  /** The row's most likely tokens with log-probabilities, most likely first (lowest id on ties); returns the count. */
  top(context: object, batchIndex: number, vocabSize: number, tokens: Int32Array, logprobs: Float64Array): number;
  /** Copies the row's first `out.length` logits into `out`. */
  copy(context: object, batchIndex: number, out: Float32Array): void;
}

let loaded: { addon: LlamaLogitsAddon } | { reason: string } | undefined;

/** The addon, or why it is not in use. */
export function llamaLogitsAddon(env: NodeJS.ProcessEnv = process.env): { addon: LlamaLogitsAddon } | { reason: string } {
  loaded ??= load(env);
  return loaded;
}

function load(env: NodeJS.ProcessEnv): { addon: LlamaLogitsAddon } | { reason: string } {
  for (const name of ['SPECROUTE_NATIVE', 'SPECROUTE_LLAMA_LOGITS'] as const) {
    const mode = (env[name] ?? '').trim().toLowerCase();
    if (mode === '0' || mode === 'false' || mode === 'off') return { reason: `${name}=${env[name]}` };
  }
  const file = resolve(env.SPECROUTE_LLAMA_LOGITS_PATH || join(packageRoot(), 'native-bindings', 'llama-logits', 'build', 'Release', 'specroute_llama_logits.node'));
  if (!existsSync(file)) return { reason: `${file} not found; run \`npm run build:native\`` };
  try {
    const addon = createRequire(import.meta.url)(file) as LlamaLogitsAddon;
    if (addon?.abiVersion !== ABI_VERSION) return { reason: `${file} has ABI version ${String(addon?.abiVersion)}, expected ${ABI_VERSION}; rebuild it` };
    for (const name of ['probe', 'top', 'copy'] as const) if (typeof addon[name] !== 'function') return { reason: `${file} lacks ${name}` };
    return { addon };
  } catch (error) {
    return { reason: `cannot load ${file}: ${String((error as Error)?.message ?? error).split('\n', 1)[0]}` };
  }
}
