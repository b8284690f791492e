import type { ResponseFormat } from '../contract/response-format.js';

/**
 * What a request's output must match, in the form that crosses to the model workers (plain data): any JSON value
 * (`response_format: json_object`), or JSON matching a schema (its JSON text). `grammarSpecOf` derives it from the
 * request; `GrammarCompiler` turns it into XGrammar's compiled grammar for one vocabulary.
 */
export type GrammarSpec = { readonly kind: 'json' } | { readonly kind: 'json_schema'; readonly schema: string };

/** The grammar a response format asks for; undefined for free text. */
export function grammarSpecOf(format: ResponseFormat | undefined): GrammarSpec | undefined {
  if (!format || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { kind: 'json' };
  return { kind: 'json_schema', schema: JSON.stringify(format.schema) };
}

/** A key that is equal for equal specs: the compile cache's. */
export function grammarKey(spec: GrammarSpec): string {
  return spec.kind === 'json' ? 'json' : `json_schema:${spec.schema}`;
}
