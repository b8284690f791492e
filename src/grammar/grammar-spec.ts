import type { GenerationRequest } from '../contract/generation-request.js';
import { toolCallSchema } from '../contract/tool-calls.js';

/**
 * What a request's output must match, in the form that crosses to the model workers (plain data): any JSON object
 * (`response_format: json_object`), or JSON matching a schema (its JSON text). `grammarSpecOf` derives it from the
 * request; `GrammarCompiler` turns it into XGrammar's compiled grammar for one vocabulary.
 */
export type GrammarSpec = { readonly kind: 'json' } | { readonly kind: 'json_schema'; readonly schema: string };

type Constrainable = Pick<GenerationRequest, 'responseFormat' | 'toolCalling'>;

/** Whether a request's output follows a grammar: a tool call, or a JSON response format. */
export function isConstrained(request: Constrainable): boolean {
  return request.toolCalling !== undefined || (request.responseFormat !== undefined && request.responseFormat.type !== 'text');
}

/** The grammar a request's output must follow (its tool call, or its response format); undefined for free text. */
export function grammarSpecOf(request: Constrainable): GrammarSpec | undefined {
  if (request.toolCalling) return { kind: 'json_schema', schema: JSON.stringify(toolCallSchema(request.toolCalling)) };
  const format = request.responseFormat;
  if (!format || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { kind: 'json' };
  return { kind: 'json_schema', schema: JSON.stringify(format.schema) };
}

/** A key that is equal for equal specs: the compile cache's. */
export function grammarKey(spec: GrammarSpec): string {
  return spec.kind === 'json' ? 'json' : `json_schema:${spec.schema}`;
}
