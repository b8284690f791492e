import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../../src/main.js';
import { escalateAfterHttp, frontierSettings, startFaultyFrontier, type FaultyFrontier } from '../../helpers/faulty-frontier.js';
import { startTestServer } from '../../helpers/server.js';

/**
 * Tool calls and escalation under a grammar, over HTTP with the official openai client, on stories260K (the repo's
 * default config: a 3-layer draft) and a frontier on 127.0.0.1.
 */
const MODEL = 'stories260K';
const weather = { type: 'object', properties: { city: { type: 'string', minLength: 1, maxLength: 12 }, unit: { enum: ['c', 'f'] } }, required: ['city', 'unit'] };
const add = { type: 'object', properties: { a: { type: 'integer', minimum: 0, maximum: 99 }, b: { type: 'integer', minimum: 0, maximum: 99 } }, required: ['a', 'b'], additionalProperties: false };
const tools = [
  { type: 'function' as const, function: { name: 'get_weather', description: 'The weather in a city', parameters: weather } },
  { type: 'function' as const, function: { name: 'add', parameters: add } },
  { type: 'function' as const, function: { name: 'ping' } },
];
const ajv = new Ajv({ strict: false });
const valid = (schema: object, value: unknown): boolean => ajv.validate(schema, value);
const schemaOf: Record<string, object> = { get_weather: weather, add, ping: { type: 'object', additionalProperties: false } };
const messages = [{ role: 'user' as const, content: 'What is the weather in Paris?' }];
interface Provenance {
  source: string;
}

let server: RunningServer;
let client: OpenAI;
let frontier: FaultyFrontier;

beforeAll(async () => {
  frontier = await startFaultyFrontier('ok');
  frontier.words = [' The', ' dog', ' ran', ' to', ' the', ' park', '.'];
  server = await startTestServer({ SPECROUTE_LIMITS__MAX_CONCURRENT: '2', ...frontierSettings(frontier) });
  client = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(async () => {
  await server?.close();
  await frontier?.close();
});

describe('tool calls over HTTP (official openai client)', () => {
  it.each([0, 0.7, 1.2])('tool_choice required at temperature %s: one call of a listed function, its arguments valid, finish_reason tool_calls', async (temperature) => {
    for (const seed of [1, 2, 3]) {
      const r = await client.chat.completions.create({ model: MODEL, messages, tools, tool_choice: 'required', max_tokens: 96, temperature, seed });
      const choice = r.choices[0]!;
      expect(choice.finish_reason).toBe('tool_calls');
      expect(choice.message.content).toBeNull();
      const calls = choice.message.tool_calls!;
      expect(calls).toHaveLength(1);
      const call = calls[0]!;
      if (call.type !== 'function') throw new Error(`unexpected call type ${call.type}`);
      expect(call.id).toMatch(/^call_/);
      expect(Object.keys(schemaOf)).toContain(call.function.name);
      expect(valid(schemaOf[call.function.name]!, JSON.parse(call.function.arguments))).toBe(true);
    }
  });

  it('a named function is the one called, streaming and not, with the same call at temperature 0', async () => {
    const request = { model: MODEL, messages: [{ role: 'user' as const, content: 'Add 2 and 3.' }], tools, tool_choice: { type: 'function' as const, function: { name: 'add' } }, max_tokens: 64, temperature: 0 };
    const whole = await client.chat.completions.create(request);
    const call = whole.choices[0]!.message.tool_calls![0]!;
    if (call.type !== 'function') throw new Error('not a function call');
    expect(call.function.name).toBe('add');
    expect(valid(add, JSON.parse(call.function.arguments))).toBe(true);

    const stream = await client.chat.completions.create({ ...request, stream: true });
    const pieces: OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    const sources: string[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (choice?.delta.tool_calls) pieces.push(...choice.delta.tool_calls);
      if (choice?.delta.content) throw new Error(`content in a tool-call stream: ${choice.delta.content}`);
      if (choice?.finish_reason) finish = choice.finish_reason;
      const ext = (chunk as unknown as { specroute?: Provenance }).specroute;
      if (ext?.source) sources.push(ext.source);
    }
    expect(finish).toBe('tool_calls');
    // OpenAI's streaming shape: the first piece has the id, type and name; every piece adds arguments text.
    expect(pieces[0]).toMatchObject({ index: 0, id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'add' } });
    expect(pieces.slice(1).every((p) => p.index === 0 && p.id === undefined && p.function?.name === undefined)).toBe(true);
    expect(pieces.map((p) => p.function?.arguments ?? '').join('')).toBe(call.function.arguments);
    expect(sources).toContain('grammar'); // the keys of the arguments object are forced
  });

  it("the SDK's stream helper assembles a required call", async () => {
    const runner = client.chat.completions.stream({ model: MODEL, messages, tools, tool_choice: 'required', max_tokens: 96, temperature: 0 });
    const final = await runner.finalChatCompletion();
    const call = final.choices[0]!.message.tool_calls![0]!;
    if (call.type !== 'function') throw new Error('not a function call');
    expect(valid(schemaOf[call.function.name]!, JSON.parse(call.function.arguments))).toBe(true);
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
  });

  it('refuses auto and an unknown function, naming tool_choice', async () => {
    await expect(client.chat.completions.create({ model: MODEL, messages, tools, tool_choice: 'auto' })).rejects.toMatchObject({ status: 400, param: 'tool_choice' });
    await expect(client.chat.completions.create({ model: MODEL, messages, tools })).rejects.toMatchObject({ status: 400, param: 'tool_choice' });
    await expect(client.chat.completions.create({ model: MODEL, messages, tools, tool_choice: { type: 'function', function: { name: 'nope' } } })).rejects.toMatchObject({
      status: 400,
      param: 'tool_choice.function.name',
    });
    await expect(client.chat.completions.create({ model: MODEL, messages, tools, tool_choice: 'required', specroute: { route: 'frontier' } } as never)).rejects.toMatchObject({ status: 400, param: 'specroute.route' });
  });
});

describe('escalation under a grammar', () => {
  async function escalated(schema: object): Promise<{ content: string; escalations: Array<{ status: string; reason?: string; spliced_tokens: number }>; sources: string[] }> {
    const r = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Tell me a story.' }],
      max_tokens: 96,
      temperature: 0,
      response_format: { type: 'json_schema', json_schema: { name: 's', schema: schema as Record<string, unknown> } },
      specroute: { escalation: escalateAfterHttp(0) },
    } as never);
    const ext = (r as unknown as { specroute: { escalations: Array<{ status: string; reason?: string; spliced_tokens: number }>; tokens: Provenance[] } }).specroute;
    expect(r.choices[0]!.finish_reason).toBe('stop');
    return { content: r.choices[0]!.message.content!, escalations: ext.escalations, sources: ext.tokens.map((t) => t.source) };
  }

  it('a frontier span inside a string is spliced up to what the grammar accepts, and the JSON stays valid', async () => {
    const schema = { type: 'object', properties: { story: { type: 'string', maxLength: 16 } }, required: ['story'] };
    const { content, escalations, sources } = await escalated(schema);
    expect(escalations[0]).toMatchObject({ status: 'spliced' });
    expect(sources).toContain('frontier');
    const value = JSON.parse(content) as { story: string };
    expect(valid(schema, value)).toBe(true);
    expect(value.story.startsWith(' The dog ran to')).toBe(true); // 16 characters at most: the span was cut
  });

  it('a frontier span the grammar refuses from its first token is skipped with reason grammar', async () => {
    const schema = { type: 'object', properties: { n: { type: 'integer', minimum: 0, maximum: 999 } }, required: ['n'] };
    const { content, escalations, sources } = await escalated(schema);
    expect(escalations[0]).toMatchObject({ status: 'skipped', reason: 'grammar', spliced_tokens: 0 });
    expect(sources).not.toContain('frontier');
    expect(valid(schema, JSON.parse(content))).toBe(true);
  });
});
