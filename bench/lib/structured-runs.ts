/**
 * One request of the structured-output bench, and a suite run: each case of the structured suite decoded by the
 * engine with or without its schema, speculative or verifier-only, timed from the call to the `done` event.
 */
import type { ValidateFunction } from 'ajv';
import type { ResponseFormat } from '../../src/contract/response-format.js';
import type { FinishReason } from '../../src/events/token-event.js';
import type { SpeculativeEngine } from '../../src/pipeline/engine.js';
import type { StructuredCase } from '../fixtures/structured-suite.js';

/** How a request is decoded: the pair (speculative) or the verifier alone, under the case's schema or free text. */
export interface StructuredArm {
  readonly mode: 'speculative' | 'verifier-only';
  readonly format: 'schema' | 'free';
}

/** Every arm, in the order a repeat runs them (reversed on odd repeats). */
export const STRUCTURED_ARMS: readonly StructuredArm[] = [
  { mode: 'verifier-only', format: 'schema' },
  { mode: 'verifier-only', format: 'free' },
  { mode: 'speculative', format: 'schema' },
  { mode: 'speculative', format: 'free' },
];

export function armLabel(arm: StructuredArm): string {
  return `${arm.mode} ${arm.format === 'schema' ? 'json_schema' : 'free text'}`;
}

/** What one request produced. */
export interface StructuredRequestRun {
  readonly case: string;
  readonly finishReason: FinishReason;
  /** `usage.completionTokens`: the tokens of the text (an end-of-sequence token is not one). */
  readonly completionTokens: number;
  /** Completion tokens whose event says `source: 'grammar'`. */
  readonly grammarTokens: number;
  /** Draft tokens proposed and accepted (`stats.drafted`, `stats.accepted`). */
  readonly drafted: number;
  readonly accepted: number;
  /** From the call to the `done` event: prompt pass, grammar set-up and decoding. */
  readonly wallMs: number;
  /** `stats.tokensBySource` as the engine reports it. */
  readonly statsBySource: Readonly<Record<string, number>>;
  readonly tokens: readonly number[];
  readonly text: string;
  /** Schema runs: whether the text parses as JSON, and whether the value validates against the schema (ajv). */
  readonly parses: boolean | null;
  readonly valid: boolean | null;
}

/** One suite run of one arm at one temperature. */
export interface StructuredSuiteRun {
  readonly requests: readonly StructuredRequestRun[];
  readonly completionTokens: number;
  readonly wallMs: number;
  /** Σ completion tokens / Σ wall time of the requests. */
  readonly tokensPerSecond: number;
  /** Σ accepted / Σ drafted (NaN when nothing was drafted). */
  readonly acceptanceRate: number;
  /** Σ grammar tokens / Σ completion tokens. */
  readonly grammarShare: number;
  readonly stop: number;
  readonly length: number;
  /** Schema runs: outputs that parse as JSON, and that validate; null for free text. */
  readonly parses: number | null;
  readonly valid: number | null;
}

export interface SuiteRunOptions {
  readonly cases: readonly StructuredCase[];
  /** A compiled validator per case, by name (ajv). */
  readonly validators: ReadonlyMap<string, ValidateFunction>;
  readonly maxTokens: number;
  readonly temperature: number;
  /** Case `i` is sampled with seed `seed + i`, in every arm. */
  readonly seed: number;
}

/** Runs one request of `c` in `arm`. */
export async function runStructuredRequest(engine: SpeculativeEngine, c: StructuredCase, arm: StructuredArm, options: Omit<SuiteRunOptions, 'cases'> & { readonly index: number }): Promise<StructuredRequestRun> {
  const prompt = engine.encodePrompt(c.prompt);
  const tokens: number[] = [];
  let text = '';
  let grammarTokens = 0;
  const responseFormat: ResponseFormat | undefined = arm.format === 'schema' ? { type: 'json_schema', name: c.name, schema: c.schema } : undefined;
  const started = performance.now();
  for await (const event of engine.generateFromTokens(prompt, {
    maxTokens: options.maxTokens,
    sampling: { temperature: options.temperature, seed: options.seed + options.index },
    ...(arm.mode === 'verifier-only' ? { speculation: false } : {}),
    ...(responseFormat ? { responseFormat } : {}),
  })) {
    if (event.kind === 'token') {
      tokens.push(...event.tokenIds);
      text += event.text;
      if (event.source === 'grammar') grammarTokens += event.tokenIds.length;
    } else if (event.kind === 'done') {
      const wallMs = performance.now() - started;
      const { parses, valid } = arm.format === 'schema' ? check(text, options.validators.get(c.name)) : { parses: null, valid: null };
      return {
        case: c.name,
        finishReason: event.finishReason,
        completionTokens: event.usage.completionTokens,
        grammarTokens,
        drafted: event.stats.drafted,
        accepted: event.stats.accepted,
        wallMs,
        statsBySource: event.stats.tokensBySource,
        tokens,
        text,
        parses,
        valid,
      };
    }
  }
  throw new Error(`${c.name}: the generation ended without a done event`);
}

function check(text: string, validate: ValidateFunction | undefined): { parses: boolean; valid: boolean } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { parses: false, valid: false };
  }
  if (!validate) throw new Error('no validator for this case');
  return { parses: true, valid: validate(value) };
}

/** Runs every case of the suite once in `arm`, one request after the other. */
export async function runStructuredSuite(engine: SpeculativeEngine, arm: StructuredArm, options: SuiteRunOptions): Promise<StructuredSuiteRun> {
  const requests: StructuredRequestRun[] = [];
  for (const [index, c] of options.cases.entries()) requests.push(await runStructuredRequest(engine, c, arm, { ...options, index }));
  const sum = (f: (r: StructuredRequestRun) => number): number => requests.reduce((n, r) => n + f(r), 0);
  const completionTokens = sum((r) => r.completionTokens);
  const wallMs = sum((r) => r.wallMs);
  const drafted = sum((r) => r.drafted);
  const schema = arm.format === 'schema';
  return {
    requests,
    completionTokens,
    wallMs,
    tokensPerSecond: (completionTokens * 1000) / wallMs,
    acceptanceRate: drafted > 0 ? sum((r) => r.accepted) / drafted : Number.NaN,
    grammarShare: completionTokens > 0 ? sum((r) => r.grammarTokens) / completionTokens : Number.NaN,
    stop: requests.filter((r) => r.finishReason === 'stop').length,
    length: requests.filter((r) => r.finishReason === 'length').length,
    parses: schema ? requests.filter((r) => r.parses).length : null,
    valid: schema ? requests.filter((r) => r.valid).length : null,
  };
}
