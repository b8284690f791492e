import { describe, expect, it } from 'vitest';
import { SpecrouteError } from '../../src/errors/registry.js';
import { parseChatRequest, parseCompletionRequest, renameParam } from '../../src/ingress/http/openai-request.js';
import type { ChatCompletionBody } from '../../src/ingress/http/schemas.js';
import { validateGenerationRequest } from '../../src/scheduler/validate.js';
import { refusal } from '../helpers/refusal.js';

const chat = (extra: Partial<ChatCompletionBody> = {}): ChatCompletionBody => ({ model: 'm', messages: [{ role: 'user', content: 'Hi' }], ...extra });

describe('OpenAI request bodies → GenerationRequest', () => {
  it('maps the sampling, stop, token limit and extension fields', () => {
    const parsed = parseChatRequest(
      chat({
        messages: [{ role: 'developer', content: 'Be brief.' }, { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }],
        temperature: 0.7,
        top_p: 0.9,
        top_k: -1,
        seed: 7,
        stop: 'END',
        max_tokens: 5,
        max_completion_tokens: 9,
        logprobs: true,
        top_logprobs: 2,
        stream: true,
        stream_options: { include_usage: true },
        n: 1,
        presence_penalty: 0,
        specroute: { speculation: { max: 4, p_min: 0.2 }, escalation: false, timeout_ms: 1000 },
      }),
    );
    expect(parsed.generation).toEqual({
      model: 'm',
      input: { kind: 'chat', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'ab' }] },
      sampling: { temperature: 0.7, topP: 0.9, topK: 0, seed: 7 },
      stop: ['END'],
      maxTokens: 9,
      topLogprobs: 2,
      speculation: { max: 4, pMin: 0.2 },
      escalation: false,
      timeoutMs: 1000,
    });
    expect(parsed).toMatchObject({ stream: true, includeUsage: true, logprobs: true, topLogprobs: 2 });
    expect(parseCompletionRequest({ model: 'm', prompt: ['once'], logprobs: 0, specroute: { speculation: false } }).generation).toEqual({
      model: 'm',
      input: { kind: 'text', text: 'once' },
      topLogprobs: 0,
      speculation: false,
    });
  });

  it('refuses what it cannot honour, naming the field', () => {
    expect(refusal(() => parseChatRequest(chat({ n: 3 }))).param).toBe('n');
    expect(refusal(() => parseChatRequest(chat({ top_logprobs: 1 }))).param).toBe('top_logprobs');
    expect(refusal(() => parseChatRequest(chat({ messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }))).param).toBe('messages[0].content[0].type');
    expect(refusal(() => parseCompletionRequest({ model: 'm', prompt: ['a', 'b'] })).param).toBe('prompt');
    expect(refusal(() => parseCompletionRequest({ model: 'm', prompt: 'x', stream_options: { include_usage: true } })).param).toBe('stream_options');
  });

  it("renames the shared validator's field names to the ones the request used", () => {
    const check = (parsed: ReturnType<typeof parseChatRequest>): SpecrouteError =>
      renameParam(refusal(() => validateGenerationRequest(parsed.generation)), parsed.params) as SpecrouteError;
    const limit = check(parseChatRequest(chat({ max_completion_tokens: -1 })));
    expect(limit.param).toBe('max_completion_tokens');
    expect(limit.message).toMatch(/^max_completion_tokens /);
    const gamma = check(parseChatRequest(chat({ specroute: { speculation: { min: 6, max: 3 } } })));
    expect(gamma.param).toBe('specroute.speculation.min');
    expect(gamma.message).toBe('specroute.speculation.min (6) must not exceed specroute.speculation.max (3)');
    const top = renameParam(refusal(() => validateGenerationRequest(parseCompletionRequest({ model: 'm', prompt: 'x', logprobs: 30 }).generation)), { top_logprobs: 'logprobs' });
    expect(top).toMatchObject({ param: 'logprobs' });
  });
});
