/** Drafts derived from the verifier for benchmarks: written with `makeDraft` into a scratch folder. */
import { join } from 'node:path';
import { makeDraft, type MakeDraftResult } from '../../src/models/draft-make.js';
import type { QuantizationType } from '../../src/models/gguf/quantize.js';
import { sha256File } from './machine.js';

/** One derived draft: a layer subset and/or a quantization of the verifier. */
export interface DraftSpec {
  /** Short label for tables, e.g. `q8_0`, `L0-2`, `L0-2+q4_0`. */
  readonly label: string;
  /** Layers kept (makeDraft's syntax, e.g. `0-2`); all when undefined. */
  readonly layers?: string;
  readonly quantize?: QuantizationType;
}

/** The drafts benchmarked by default: a near-perfect one (Q8_0) and two truncated ones (first 3 and first 2 layers). */
export const defaultDraftSpecs = ['q8_0', 'L0-2', 'L0-1'] as const;

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

/** Writes each draft of `specs`, made from `verifierPath`, into `dir`. */
export async function prepareDrafts(verifierPath: string, specs: readonly DraftSpec[], dir: string): Promise<PreparedDraft[]> {
  const drafts: PreparedDraft[] = [];
  for (const [i, spec] of specs.entries()) {
    const out = join(dir, `draft-${i}-${spec.label.replace(/[^\w.-]+/g, '_')}.gguf`);
    const made = await makeDraft({ from: verifierPath, out, ...(spec.layers !== undefined ? { layers: spec.layers } : {}), ...(spec.quantize ? { quantize: spec.quantize } : {}) });
    drafts.push({ spec, path: made.outPath, sha256: await sha256File(made.outPath), made });
  }
  return drafts;
}
