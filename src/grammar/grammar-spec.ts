/**
 * What a request's output must match, in the form that crosses to the model workers (plain data): any JSON value
 * (`response_format: json_object`), or JSON matching a schema (its JSON text). `grammarSpecOf` derives it from the
 * request; `GrammarCompiler` turns it into XGrammar's compiled grammar for one vocabulary.
 */
export type GrammarSpec = { readonly kind: 'json' } | { readonly kind: 'json_schema'; readonly schema: string };

/** A key that is equal for equal specs: the compile cache's. */
export function grammarKey(spec: GrammarSpec): string {
  return spec.kind === 'json' ? 'json' : `json_schema:${spec.schema}`;
}
