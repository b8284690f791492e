import type { SettingsBody } from './settings-form.js';

/** `chat`: POST /v1/chat/completions with the prompt as the user's message; `completion`: POST /v1/completions. */
export type Mode = 'chat' | 'completion';

/** What the page asks of the server for one generation. */
export interface PlaygroundRequest {
  readonly mode: Mode;
  readonly model: string;
  readonly prompt: string;
  /** Chat only: a system message before the prompt; empty for none. */
  readonly system: string;
  readonly settings: SettingsBody;
  /** OpenAI's `response_format`, or undefined for free text. */
  readonly responseFormat: Record<string, unknown> | undefined;
}

/** The endpoint path of a mode. */
export function endpoint(mode: Mode): string {
  return mode === 'chat' ? '/v1/chat/completions' : '/v1/completions';
}

/**
 * The streaming request body, as an OpenAI SDK would send it: the settings at their wire places, usage on the last
 * chunk (`stream_options.include_usage`), and the alternatives asked for in each API's own way (chat:
 * `logprobs: true` + `top_logprobs`; completions: the integer `logprobs`).
 */
export function requestBody(request: PlaygroundRequest): Record<string, unknown> {
  const { top_logprobs: topLogprobs, ...body } = request.settings.body;
  const out: Record<string, unknown> = { model: request.model, ...body, stream: true, stream_options: { include_usage: true } };
  if (request.mode === 'chat') {
    out.messages = [...(request.system ? [{ role: 'system', content: request.system }] : []), { role: 'user', content: request.prompt }];
    if (typeof topLogprobs === 'number' && topLogprobs > 0) Object.assign(out, { logprobs: true, top_logprobs: topLogprobs });
  } else {
    out.prompt = request.prompt;
    if (typeof topLogprobs === 'number' && topLogprobs > 0) out.logprobs = topLogprobs;
  }
  if (request.responseFormat) out.response_format = request.responseFormat;
  if (Object.keys(request.settings.extension).length > 0) out.specroute = request.settings.extension;
  return out;
}
