import { checkSettings, checkSpeculationBounds } from '../contract/check-settings.js';
import type { GenerationRequest, SpeculationSettings } from '../contract/generation-request.js';
import { invalidArgument } from '../errors/registry.js';
import { checkJsonSchema } from '../contract/json-schema-subset.js';
import { isConstrained } from '../grammar/grammar-spec.js';

/** Most stop sequences per request (OpenAI's limit). */
export const MAX_STOP_SEQUENCES = 4;

/**
 * Checks every field of a request once, at admission, naming a bad one by its wire name. Ranges come from the
 * single description (`src/contract/request-settings.ts`); types are the transports' business (JSON schema,
 * protobuf). `serverSpeculation` is the server's speculation settings, which the request's overrides are merged
 * over before `min ≤ max` is checked.
 */
export function validateGenerationRequest(request: GenerationRequest, serverSpeculation?: Partial<SpeculationSettings>): void {
  const { input } = request;
  if (typeof request.model !== 'string' || request.model.length === 0) throw invalidArgument('model', 'model is required');
  if (input.kind === 'text') {
    if (input.text.length === 0) throw invalidArgument('prompt', 'prompt must not be empty');
    checkText(input.text, 'prompt');
  } else {
    if (input.messages.length === 0) throw invalidArgument('messages', 'messages must hold at least one message');
    input.messages.forEach((m, i) => {
      if (!['system', 'user', 'assistant'].includes(m.role)) throw invalidArgument(`messages[${i}].role`, `messages[${i}].role must be one of system, user, assistant`);
      checkText(m.content, `messages[${i}].content`);
    });
  }
  checkSettings('request', { maxTokens: request.maxTokens, topLogprobs: request.topLogprobs, ignoreEos: request.ignoreEos, timeoutMs: request.timeoutMs, route: request.route });
  if (request.sampling) checkSettings('sampling', request.sampling);
  if (request.stop !== undefined) {
    if (request.stop.length > MAX_STOP_SEQUENCES) throw invalidArgument('stop', `stop takes at most ${MAX_STOP_SEQUENCES} sequences`);
    request.stop.forEach((s, i) => {
      if (s.length === 0) throw invalidArgument(`stop[${i}]`, 'stop sequences must not be empty');
      checkText(s, `stop[${i}]`);
    });
  }
  if (request.speculation) {
    checkSettings('speculation', request.speculation);
    checkSpeculationBounds({ ...serverSpeculation, ...request.speculation }, 'speculation');
  }
  if (request.escalation) checkSettings('escalation', request.escalation);
  const format = request.responseFormat;
  if (format?.type === 'json_schema') checkJsonSchema(format.schema, 'response_format.json_schema.schema');
  request.toolCalling?.tools.forEach((tool, i) => tool.parameters && checkJsonSchema(tool.parameters, `tools[${i}].function.parameters`));
  if (request.toolCalling && format !== undefined && format.type !== 'text') throw invalidArgument('tool_choice', 'a tool call cannot also follow a JSON response_format');
  if (isConstrained(request) && request.ignoreEos === true) {
    throw invalidArgument('ignore_eos', 'ignore_eos cannot be combined with a JSON response_format or a tool call: the grammar ends the text');
  }
}

/** Lone surrogates are what invalid UTF-8 becomes once decoded leniently; refuse them rather than tokenize garbage. */
function checkText(text: string, param: string): void {
  if (!isWellFormed(text)) throw invalidArgument(param, `${param} is not valid Unicode (unpaired surrogate or invalid UTF-8)`);
  if (text.includes('\u0000')) throw invalidArgument(param, `${param} contains a NUL character`);
}

function isWellFormed(text: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}
