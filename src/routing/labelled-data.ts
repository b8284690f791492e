/**
 * Labelled routing data: JSON Lines, one prompt a line, written by `specroute router label` and read by
 * `router train` / `router eval` (docs/ARCHITECTURE.md#query-level-routing). Only what training and evaluation
 * need is checked here (id, tokenizer, features, quality); other fields (prompt, messages, expected, outputs…)
 * are kept as they are.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { SpecrouteError } from '../errors/registry.js';
import type { LocalTier } from './local-tier.js';
import type { QualityPair } from './routing-evaluation.js';
import type { TokenizerFingerprint } from '../backends/tokenizer-fingerprint.js';
import { describeTokenizer, sameTokenizer, tokenizerFingerprintSchema } from './tokenizer-fingerprint.js';
import { describeIssue } from './zod-issue.js';

const quality = z.number().min(0).max(1);

/** One labelled prompt. */
export const labelledRowSchema = z
  .object({
    id: z.union([z.string().min(1), z.number()]).transform(String),
    max_tokens: z.number().int().min(1).optional(),
    tokenizer: tokenizerFingerprintSchema,
    features: z.record(z.unknown()),
    quality: z.object({ slm: quality.optional(), hybrid: quality.optional(), frontier: quality }).passthrough(),
  })
  .passthrough();

export type LabelledRow = z.infer<typeof labelledRowSchema>;

/** Where an error about the data points (a flag, a config key); set as the error's `param`. Defaults to `--data`. */
export interface ReadLabelledDataOptions {
  readonly param?: string;
}

/**
 * Reads a JSON Lines file of labelled prompts (blank lines skipped). Throws `invalid_argument` naming the file and
 * line for unreadable files, lines that are not JSON, and rows without what training needs.
 */
export function readLabelledData(path: string, options: ReadLabelledDataOptions = {}): LabelledRow[] {
  const param = options.param ?? '--data';
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SpecrouteError('invalid_argument', `cannot read the labelled data ${path}: ${(error as Error).message}`, { param, cause: error });
  }
  return parseLabelledData(text, path, param);
}

/** The rows of JSON Lines `text`; `source` names it in errors. */
export function parseLabelledData(text: string, source: string, param = '--data'): LabelledRow[] {
  const rows: LabelledRow[] = [];
  const ids = new Map<string, number>();
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const where = `${source}:${index + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new SpecrouteError('invalid_argument', `${where}: not JSON: ${(error as Error).message}`, { param });
    }
    const parsed = labelledRowSchema.safeParse(value);
    if (!parsed.success) throw new SpecrouteError('invalid_argument', `${where}: ${describeIssue(parsed.error.issues[0]!)}`, { param });
    const earlier = ids.get(parsed.data.id);
    if (earlier !== undefined) throw new SpecrouteError('invalid_argument', `${where}: id '${parsed.data.id}' is also the id of line ${earlier}`, { param });
    ids.set(parsed.data.id, index + 1);
    rows.push(parsed.data);
  });
  if (rows.length === 0) throw new SpecrouteError('invalid_argument', `${source} holds no labelled prompts`, { param });
  return rows;
}

/** Each row's quality on `localTier` and on the frontier; a row without the local tier's quality is an error naming it. */
export function qualityPairs(rows: readonly LabelledRow[], localTier: LocalTier, param = '--data'): QualityPair[] {
  return rows.map((row) => {
    const local = row.quality[localTier];
    if (local === undefined) throw new SpecrouteError('invalid_argument', `row '${row.id}' has no quality.${localTier} (the local tier routed away from)`, { param });
    return { local, frontier: row.quality.frontier };
  });
}

/** The tokenizer every row was labelled with; rows labelled with different tokenizers are an error. */
export function commonTokenizer(rows: readonly LabelledRow[], param = '--data'): TokenizerFingerprint {
  const first = rows[0];
  if (first === undefined) throw new SpecrouteError('invalid_argument', 'no labelled prompts', { param });
  for (const row of rows) {
    if (!sameTokenizer(row.tokenizer, first.tokenizer)) {
      throw new SpecrouteError(
        'invalid_argument',
        `row '${row.id}' was labelled with a tokenizer of ${describeTokenizer(row.tokenizer)}, row '${first.id}' with ${describeTokenizer(first.tokenizer)}: one router serves one tokenizer`,
        { param },
      );
    }
  }
  return first.tokenizer;
}
