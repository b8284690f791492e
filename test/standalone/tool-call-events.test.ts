import { describe, expect, it } from 'vitest';
import { parseToolCalling, toolCallSchema, type ToolCalling } from '../../src/contract/tool-calls.js';
import type { TokenEvent, TokenEventToken } from '../../src/events/token-event.js';
import { toolCallEvents } from '../../src/pipeline/tool-call-events.js';
import { refusal } from '../helpers/refusal.js';

const tools = [
  { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } },
  { type: 'function', function: { name: 'noop' } },
];

function token(text: string, i: number): TokenEventToken {
  return { kind: 'token', text, tokenIds: [i], source: i % 2 === 0 ? 'grammar' : 'verifier', logprob: -i };
}

function done(finishReason: 'stop' | 'length'): TokenEvent {
  return {
    kind: 'done',
    finishReason,
    usage: { promptTokens: 1, completionTokens: 1, totalTokens: 2 },
    stats: {} as never,
  };
}

async function shaped(pieces: string[], calling: ToolCalling, finish: 'stop' | 'length' = 'stop'): Promise<TokenEvent[]> {
  async function* events(): AsyncGenerator<TokenEvent> {
    for (const [i, p] of pieces.entries()) yield token(p, i);
    yield done(finish);
  }
  const out: TokenEvent[] = [];
  for await (const e of toolCallEvents(events(), calling)) out.push(e);
  return out;
}

const tokensOf = (events: TokenEvent[]): TokenEventToken[] => events.filter((e): e is TokenEventToken => e.kind === 'token');

describe('tool calls: the events of a call', () => {
  const calling = parseToolCalling({ tools, tool_choice: 'required' })!;

  it('required: the head and the closing brace are cut, the name and id lead, every token goes out once in order', async () => {
    const pieces = ['{"name":"', 'get_', 'weather', '","arguments":', '{"city":"', 'Par', 'is"}', '}'];
    const events = await shaped(pieces, calling);
    const tokens = tokensOf(events);
    expect(tokens.map((t) => t.tokenIds[0])).toEqual(pieces.map((_, i) => i));
    expect(tokens.map((t) => [t.source, t.logprob])).toEqual(pieces.map((_, i) => [i % 2 === 0 ? 'grammar' : 'verifier', -i]));
    expect(tokens.map((t) => t.text).join('')).toBe('{"city":"Paris"}');
    expect(tokens[0]!.toolCall).toEqual({ index: 0, id: expect.stringMatching(/^call_[0-9a-f]{24}$/), name: 'get_weather' });
    expect(tokens.slice(1).every((t) => t.toolCall?.id === undefined && t.toolCall?.index === 0)).toBe(true);
    const last = events[events.length - 1]!;
    expect(last.kind === 'done' && last.finishReason).toBe('tool_calls');
  });

  it('required: a call cut by max_tokens keeps all it wrote, and ends with length', async () => {
    const events = await shaped(['{"name":"noop","arguments":', '{', '}'], calling, 'length');
    expect(tokensOf(events).map((t) => t.text).join('')).toBe('{}');
    const last = events[events.length - 1]!;
    expect(last.kind === 'done' && last.finishReason).toBe('length');
  });

  it('required: a head cut before the name is complete still sends every token, naming nothing it does not know', async () => {
    const events = await shaped(['{"name":"', 'get_w'], calling, 'length');
    const tokens = tokensOf(events);
    expect(tokens).toHaveLength(2);
    expect(tokens.map((t) => t.text).join('')).toBe('');
  });

  it('named: the output is the arguments as written', async () => {
    const named = parseToolCalling({ tools, tool_choice: { type: 'function', function: { name: 'get_weather' } } })!;
    const events = await shaped(['{"city":"', 'Rome', '"}'], named);
    const tokens = tokensOf(events);
    expect(tokens.map((t) => t.text)).toEqual(['{"city":"', 'Rome', '"}']);
    expect(tokens[0]!.toolCall).toMatchObject({ index: 0, name: 'get_weather' });
    expect(tokens[1]!.toolCall).toEqual({ index: 0 });
  });
});

describe('tool calls: tools and tool_choice on the wire', () => {
  it('none, or no tools, is no tool calling; required and named are', () => {
    expect(parseToolCalling({})).toBeUndefined();
    expect(parseToolCalling({ tools, tool_choice: 'none' })).toBeUndefined();
    expect(parseToolCalling({ tools, tool_choice: 'required' })?.tools.map((t) => t.name)).toEqual(['get_weather', 'noop']);
    expect(parseToolCalling({ tools, tool_choice: { type: 'function', function: { name: 'noop' } } })?.choice).toEqual({ name: 'noop' });
  });

  it('refuses auto (also implied by tools alone), unknown names and malformed tools, naming the field', () => {
    expect(refusal(() => parseToolCalling({ tools, tool_choice: 'auto' }))).toMatchObject({ param: 'tool_choice' });
    expect(refusal(() => parseToolCalling({ tools }))).toMatchObject({ param: 'tool_choice' });
    expect(refusal(() => parseToolCalling({ tools, tool_choice: { type: 'function', function: { name: 'nope' } } }))).toMatchObject({ param: 'tool_choice.function.name' });
    expect(refusal(() => parseToolCalling({ tools: [{ type: 'retrieval' }], tool_choice: 'required' }))).toMatchObject({ param: 'tools[0].type' });
    expect(refusal(() => parseToolCalling({ tools: [{ type: 'function', function: { name: 'a b' } }], tool_choice: 'required' }))).toMatchObject({ param: 'tools[0].function.name' });
    expect(refusal(() => parseToolCalling({ tools: [{ type: 'function', function: { name: 'f', parameters: [] } }], tool_choice: 'required' }))).toMatchObject({ param: 'tools[0].function.parameters' });
    expect(refusal(() => parseToolCalling({ tools: [], tool_choice: 'required' }))).toMatchObject({ param: 'tool_choice' });
  });

  it("the grammar of a call: a named function's parameters, or one {name, arguments} branch per function", () => {
    const named = parseToolCalling({ tools, tool_choice: { type: 'function', function: { name: 'noop' } } })!;
    expect(toolCallSchema(named)).toEqual({ type: 'object', properties: {}, additionalProperties: false });
    const required = toolCallSchema(parseToolCalling({ tools, tool_choice: 'required' })!) as { anyOf: Array<{ properties: { name: unknown; arguments: unknown } }> };
    expect(required.anyOf.map((b) => b.properties.name)).toEqual([{ const: 'get_weather' }, { const: 'noop' }]);
    expect(required.anyOf[0]!.properties.arguments).toEqual(tools[0]!.function.parameters);
  });
});
