import type { ChatMessage, GenerationRequest } from '../../contract/generation-request.js';
import { requestSettings, wireName, type SettingGroup, type SettingSpec, type SettingValues } from '../../contract/request-settings.js';
import { invalidArgument, SpecrouteError } from '../../errors/registry.js';
import { parseResponseFormat } from '../../contract/response-format.js';
import { parseToolCalling } from '../../contract/tool-calls.js';
import type { ChatCompletionBody, CommonBody, CompletionBody, WireSettings } from './schemas.js';

/** A request body turned into the transport-free request, plus what only the response format needs. */
export interface ParsedRequest {
  readonly generation: GenerationRequest;
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly logprobs: boolean;
  readonly topLogprobs: number;
  /**
   * Renames the transport-free field names that `validate.ts` and the engine report (`max_tokens`,
   * `top_logprobs`, `speculation.min`…) to the field this request actually used.
   */
  readonly params: Readonly<Record<string, string>>;
}

/**
 * OpenAI fields that change the output and that specroute cannot honour are refused with a 400 naming them,
 * rather than silently ignored: the client would otherwise get something other than what it asked for. Their
 * neutral values (`n: 1`, `presence_penalty: 0`, `tool_choice: "none"`…) and `null` are accepted.
 */
function refuseUnsupported(body: CommonBody): void {
  if (body.n != null && body.n !== 1) {
    const hint = Number.isInteger(body.n) && body.n > 1 ? `; send ${body.n} requests instead` : '';
    throw invalidArgument('n', `n must be 1 (got ${body.n}): specroute returns one choice per request${hint}`);
  }
  for (const field of ['presence_penalty', 'frequency_penalty'] as const) {
    const value = body[field];
    if (value != null && value !== 0) throw invalidArgument(field, `${field} is not supported (only 0)`);
  }
  if (body.logit_bias != null && Object.keys(body.logit_bias).length > 0) throw invalidArgument('logit_bias', 'logit_bias is not supported');
  if (body.stream_options != null && body.stream !== true) throw invalidArgument('stream_options', 'stream_options is only allowed when stream is true');
}

function common(body: CommonBody): Omit<GenerationRequest, 'input'> & { params: Record<string, string> } {
  refuseUnsupported(body);
  const params: Record<string, string> = {};
  const sampling = settingsFrom('sampling', 'body', body as unknown as WireSettings);
  // vLLM's convention: -1 disables top-k, like 0 does here.
  if (sampling.topK === -1) sampling.topK = 0;
  const { ignoreEos } = settingsFrom('request', 'body', body as unknown as WireSettings);
  const stop = body.stop == null ? undefined : typeof body.stop === 'string' ? [body.stop] : body.stop;
  const extension = body.specroute ?? {};
  const { timeoutMs, route } = settingsFrom('request', 'extension', extension as WireSettings, params);
  const speculation = override('speculation', extension.speculation, params);
  const escalation = override('escalation', extension.escalation, params);
  const responseFormat = parseResponseFormat(body.response_format);
  return {
    model: body.model,
    ...(Object.keys(sampling).length > 0 ? { sampling } : {}),
    ...(stop !== undefined ? { stop } : {}),
    ...(speculation !== undefined ? { speculation } : {}),
    ...(escalation !== undefined ? { escalation } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(ignoreEos === true ? { ignoreEos } : {}),
    ...(route !== undefined ? { route } : {}),
    ...(responseFormat !== undefined ? { responseFormat } : {}),
    params,
  };
}

/**
 * The settings of `group` that sit at `http` in `source`, by wire name (`null` is the default, as OpenAI treats
 * it). An extension setting's errors are renamed to where it sits (`specroute.speculation.p_min`).
 */
function settingsFrom<G extends SettingGroup>(group: G, http: SettingSpec['http'], source: WireSettings, params?: Record<string, string>): Partial<SettingValues<G>> {
  const out: Record<string, number | boolean | string> = {};
  for (const [field, spec] of Object.entries(requestSettings[group]) as Array<[string, SettingSpec]>) {
    if (spec.http !== http) continue;
    if (params) params[wireName(group, spec)] = `specroute.${wireName(group, spec)}`;
    const value = source[spec.name];
    if (value != null) out[field] = value;
  }
  return out as Partial<SettingValues<G>>;
}

/** `specroute.speculation` / `specroute.escalation`: `false` turns it off, `true` or `null` keeps the server's, an object overrides. */
function override<G extends 'speculation' | 'escalation'>(group: G, value: boolean | WireSettings | null | undefined, params: Record<string, string>): Partial<SettingValues<G>> | false | undefined {
  if (value == null || value === true) return undefined;
  if (value === false) return false;
  return settingsFrom(group, 'extension', value, params);
}

function maxTokens(value: number | null | undefined, field: string, params: Record<string, string>): { maxTokens?: number } {
  if (value == null) return {};
  params['max_tokens'] = field;
  return { maxTokens: value };
}

/** `POST /v1/chat/completions` → a chat request. Text content parts are joined; other part types are refused. */
export function parseChatRequest(body: ChatCompletionBody): ParsedRequest {
  const base = common(body);
  const params = base.params;
  const toolCalling = parseToolCalling({ tools: body.tools, tool_choice: body.tool_choice });
  if (body.functions != null && body.functions.length > 0) throw invalidArgument('functions', 'functions (the deprecated form of tools) are not supported: use tools');
  if (body.function_call != null && body.function_call !== 'none') throw invalidArgument('function_call', 'function_call (the deprecated form of tool_choice) is not supported: use tool_choice');
  if (body.top_logprobs != null && body.logprobs !== true) throw invalidArgument('top_logprobs', 'top_logprobs requires logprobs to be true');
  const messages: ChatMessage[] = body.messages.map((m, i) => ({
    // OpenAI's `developer` role is the `system` role of newer models; other roles are checked by validate.ts.
    role: (m.role === 'developer' ? 'system' : m.role) as ChatMessage['role'],
    content: messageText(m.content, i),
  }));
  const logprobs = body.logprobs === true;
  const topLogprobs = body.top_logprobs ?? 0;
  // Prefer the newer name when both are given (as vLLM does).
  const limit = body.max_completion_tokens != null ? maxTokens(body.max_completion_tokens, 'max_completion_tokens', params) : maxTokens(body.max_tokens, 'max_tokens', params);
  const { params: _params, ...rest } = base;
  return {
    generation: { ...rest, input: { kind: 'chat', messages }, ...limit, ...(body.top_logprobs != null ? { topLogprobs } : {}), ...(toolCalling ? { toolCalling } : {}) },
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
    logprobs,
    topLogprobs,
    params,
  };
}

function messageText(content: ChatCompletionBody['messages'][number]['content'], i: number): string {
  if (typeof content === 'string') return content;
  return content
    .map((part, j) => {
      if (part.type !== 'text') {
        throw invalidArgument(`messages[${i}].content[${j}].type`, `messages[${i}].content[${j}].type '${part.type}' is not supported: only 'text' content parts are`);
      }
      if (typeof part.text !== 'string') throw invalidArgument(`messages[${i}].content[${j}].text`, `messages[${i}].content[${j}].text is required`);
      return part.text;
    })
    .join('');
}

/** `POST /v1/completions` → a text request. One prompt string (or a one-string array); no echo, suffix or best_of. */
export function parseCompletionRequest(body: CompletionBody): ParsedRequest {
  const base = common(body);
  const params = base.params;
  if (body.echo === true) throw invalidArgument('echo', 'echo is not supported');
  if (body.suffix != null && body.suffix !== '') throw invalidArgument('suffix', 'suffix (insertion) is not supported');
  if (body.best_of != null && body.best_of !== 1) throw invalidArgument('best_of', `best_of must be 1 (got ${body.best_of})`);
  const logprobs = body.logprobs != null;
  const topLogprobs = body.logprobs ?? 0;
  params['top_logprobs'] = 'logprobs';
  const { params: _params, ...rest } = base;
  return {
    generation: { ...rest, input: { kind: 'text', text: promptText(body.prompt) }, ...maxTokens(body.max_tokens, 'max_tokens', params), ...(body.logprobs != null ? { topLogprobs } : {}) },
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
    logprobs,
    topLogprobs,
    params,
  };
}

function promptText(prompt: CompletionBody['prompt']): string {
  if (typeof prompt === 'string') return prompt;
  if (prompt.length === 0) throw invalidArgument('prompt', 'prompt must not be empty');
  if (prompt.some((p) => typeof p !== 'string')) throw invalidArgument('prompt', 'token-id prompts are not supported; send the prompt as a string');
  if (prompt.length > 1) throw invalidArgument('prompt', `batched prompts are not supported (got ${prompt.length}); send one prompt per request`);
  return prompt[0] as string;
}

/** The same error with `param` (and the message's mention of it) renamed to the field the request used. */
export function renameParam(error: unknown, params: Readonly<Record<string, string>>): unknown {
  if (!(error instanceof SpecrouteError) || error.param === undefined) return error;
  const renamed = params[error.param];
  if (renamed === undefined) return error;
  // Every renamed field the message mentions (`speculation.min … speculation.max`), as whole names only.
  const names = Object.keys(params).sort((a, b) => b.length - a.length).map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const message = error.message.replace(new RegExp(`(?<![\\w.])(${names.join('|')})(?![\\w])`, 'g'), (name) => params[name] ?? name);
  return new SpecrouteError(error.code, message, { param: renamed, cause: error.cause });
}
