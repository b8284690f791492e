import { invalidArgument } from '../errors/registry.js';
import { validateSpeculation } from '../pipeline/generate-options.js';
import type { GenerationRequest } from './generation-request.js';

/** Most stop sequences per request (OpenAI's limit). */
export const MAX_STOP_SEQUENCES = 4;
/** Most top log-probabilities per token (OpenAI's limit). */
export const MAX_TOP_LOGPROBS = 20;

/**
 * Checks every field's range, naming the field by its wire name. Types are the transports' business (JSON
 * schema, protobuf); this is the one place for the rules both share.
 */
export function validateGenerationRequest(request: GenerationRequest): void {
  const { input, sampling = {} } = request;
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
  if (request.maxTokens !== undefined && (!Number.isInteger(request.maxTokens) || request.maxTokens < 1)) {
    throw invalidArgument('max_tokens', `max_tokens must be a positive integer, got ${request.maxTokens}`);
  }
  const { temperature, topP, topK, seed } = sampling;
  if (temperature !== undefined && !(Number.isFinite(temperature) && temperature >= 0 && temperature <= 2)) {
    throw invalidArgument('temperature', `temperature must be between 0 and 2, got ${temperature}`);
  }
  if (topP !== undefined && !(Number.isFinite(topP) && topP > 0 && topP <= 1)) throw invalidArgument('top_p', `top_p must be in (0, 1], got ${topP}`);
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 0)) throw invalidArgument('top_k', `top_k must be a non-negative integer, got ${topK}`);
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) {
    throw invalidArgument('seed', `seed must be an integer from 0 to 4294967295, got ${seed}`);
  }
  if (request.stop !== undefined) {
    if (request.stop.length > MAX_STOP_SEQUENCES) throw invalidArgument('stop', `stop takes at most ${MAX_STOP_SEQUENCES} sequences`);
    request.stop.forEach((s, i) => {
      if (s.length === 0) throw invalidArgument(`stop[${i}]`, 'stop sequences must not be empty');
      checkText(s, `stop[${i}]`);
    });
  }
  if (request.topLogprobs !== undefined && !(Number.isInteger(request.topLogprobs) && request.topLogprobs >= 0 && request.topLogprobs <= MAX_TOP_LOGPROBS)) {
    throw invalidArgument('top_logprobs', `top_logprobs must be an integer from 0 to ${MAX_TOP_LOGPROBS}`);
  }
  if (request.speculation) validateSpeculation(request.speculation);
  if (request.escalation) {
    const e = request.escalation;
    const unit = (v: number | undefined, key: string, max = 1): void => {
      if (v !== undefined && !(Number.isFinite(v) && v >= 0 && v <= max)) throw invalidArgument(`escalation.${key}`, `escalation.${key} must be between 0 and ${max}`);
    };
    const count = (v: number | undefined, key: string, min: number): void => {
      if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= 4096)) throw invalidArgument(`escalation.${key}`, `escalation.${key} must be an integer from ${min} to 4096`);
    };
    unit(e.minConfidence, 'min_confidence');
    unit(e.minMargin, 'min_margin');
    unit(e.maxEntropy, 'max_entropy', 100);
    count(e.window, 'window', 1);
    count(e.spanTokens, 'span_tokens', 1);
    count(e.cooldownTokens, 'cooldown_tokens', 0);
  }
  if (request.timeoutMs !== undefined && !(Number.isFinite(request.timeoutMs) && request.timeoutMs > 0)) {
    throw invalidArgument('timeout', 'the timeout must be positive');
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
