/** Drafts for benchmarks: derived from the verifier with `makeDraft` into a scratch folder, or files given as is. */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { makeDraft, type MakeDraftResult } from '../../src/models/draft-make.js';
import type { QuantizationType } from '../../src/models/gguf/quantize.js';
import { sha256File } from './machine.js';
import type { BenchDraft } from './plan.js';

/** One derived draft: a layer subset and/or a quantization of the verifier. */
export interface DraftSpec {
  /** Short label for tables, e.g. `q8_0`, `L0-2`, `L0-2+q4_0`. */
  readonly label: string;
  /** Layers kept (makeDraft's syntax, e.g. `0-2`); all when undefined. */
  readonly layers?: string;
  readonly quantize?: QuantizationType;
}


/**
 * Parses a draft spec: `q8_0` or `q4_0` (quantize every layer), `L<layers>` (keep layers, e.g. `L0-2`, `L0,1,4`),
 * or both joined by `+` (`L0-2+q8_0`).
 */
export function parseDraftSpec(text: string): DraftSpec {
  let layers: string | undefined;
  let quantize: QuantizationType | undefined;
  for (const part of text.split('+').map((p) => p.trim())) {
    if (part === 'q8_0' || part === 'q4_0') {
      if (quantize) throw new Error(`draft "${text}": two quantizations`);
      quantize = part;
    } else if (/^L[\d,\s-]+$/.test(part)) {
      if (layers) throw new Error(`draft "${text}": two layer lists`);
      layers = part.slice(1);
    } else {
      throw new Error(`draft "${text}": expected q8_0, q4_0, L<layers> (e.g. L0-2) or a combination with +`);
    }
  }
  return { label: text.trim(), ...(layers !== undefined ? { layers } : {}), ...(quantize ? { quantize } : {}) };
}

/** A draft written to disk. */
export interface PreparedDraft {
  readonly spec: DraftSpec;
  readonly path: string;
  readonly sha256: string;
  readonly made: MakeDraftResult;
}

/** Writes one draft of `spec`, made from `verifierPath`, into `dir` (the `index`-th of a set). */
async function prepareDraft(verifierPath: string, spec: DraftSpec, dir: string, index: number): Promise<PreparedDraft> {
  const out = join(dir, `draft-${index}-${spec.label.replace(/[^\w.-]+/g, '_')}.gguf`);
  const made = await makeDraft({ from: verifierPath, out, ...(spec.layers !== undefined ? { layers: spec.layers } : {}), ...(spec.quantize ? { quantize: spec.quantize } : {}) });
  return { spec, path: made.outPath, sha256: await sha256File(made.outPath), made };
}

/** Writes each draft of `specs`, made from `verifierPath`, into `dir`. */
export async function prepareDrafts(verifierPath: string, specs: readonly DraftSpec[], dir: string): Promise<PreparedDraft[]> {
  const drafts: PreparedDraft[] = [];
  for (const [i, spec] of specs.entries()) drafts.push(await prepareDraft(verifierPath, spec, dir, i));
  return drafts;
}

/** A derived draft, described for reports. */
function describeDerived(d: PreparedDraft, from: string): BenchDraft {
  const { made, spec } = d;
  return {
    label: spec.label,
    path: d.path,
    sha256: d.sha256,
    description:
      `made by \`draft make\` from ${basename(from)}: layers ${made.layers.join(',')} of ${made.sourceLayerCount}, ` +
      `${spec.quantize ? `${spec.quantize} (${made.quantizedTensorCount} tensors)` : 'source types'}, ${made.bytesWritten} bytes`,
  };
}

/**
 * The drafts of a benchmark: each entry is a derived-draft spec (`q8_0`, `L0-2`, `L0-2+q4_0`, made from `from`
 * into `dir`) or a GGUF file used as is (relative to `modelsDir` or the working directory).
 */
export async function benchDrafts(entries: readonly string[], options: { from: string; dir: string; modelsDir: string }): Promise<BenchDraft[]> {
  const drafts: BenchDraft[] = [];
  for (const [i, entry] of entries.entries()) {
    const file = [resolve(options.modelsDir, entry), resolve(entry)].find((p) => existsSync(p) && !/^(q[48]_0|L[\d,-]+)(\+.*)?$/.test(entry));
    if (file) {
      drafts.push({ label: basename(file).replace(/\.(gguf|onnx)$/i, ''), path: file, sha256: await sha256File(file), description: `${(await stat(file)).size} bytes, given as is` });
      continue;
    }
    drafts.push(describeDerived(await prepareDraft(options.from, parseDraftSpec(entry), options.dir, i), options.from));
  }
  return drafts;
}
