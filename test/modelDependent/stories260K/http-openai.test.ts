import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../../src/main.js';
import { startTestServer } from '../../helpers/server.js';
import { escalateAfterHttp, frontierSettings, startFaultyFrontier, type FaultyFrontier } from '../../helpers/faulty-frontier.js';
import { metricValue, parsePrometheus, scrape } from '../../helpers/prometheus.js';
import { parseSse, postJson, streamedText } from '../../helpers/sse.js';
import { until, within } from '../../helpers/until.js';

const MODEL = 'stories260K';
const KEY = 'sk-test-0123456789';
const SOURCES = ['draft', 'verifier', 'bonus', 'frontier'];

/** The provenance extension as the SDK hands it through. */
interface TokenProvenance {
  source: string;
  logprob: number;
  token_ids: number[];
  draft_position?: number;
}
interface Summary {
  stats: { mode: string; drafted: number; accepted: number; acceptance_rate: number; by_position: unknown[]; verifier_passes: number; generated_tokens: number };
  tokens_by_source: Record<string, number>;
}
const ext = <T>(object: unknown): T => (object as { specroute: T }).specroute;

describe('the OpenAI API over HTTP, with the official openai client', () => {
  let server: RunningServer;
  let client: OpenAI;
  // A fake OpenAI-compatible frontier on 127.0.0.1. The server's policy never escalates (min confidence 0);
  // the escalation test turns it on per request.
  let frontier: FaultyFrontier;

  beforeAll(async () => {
    frontier = await startFaultyFrontier('ok');
    frontier.words = [' The', ' dog', ' ran', ' to', ' the', ' park', '.'];
    server = await startTestServer({
      SPECROUTE_LIMITS__MAX_CONCURRENT: '4',
      SPECROUTE_API_KEYS: KEY,
      SPECROUTE_ESCALATION__FRONTIER__BASE_URL: frontier.baseUrl,
      SPECROUTE_ESCALATION__FRONTIER__MODEL: 'frontier',
      // The frontier shares the test's event loop: ample timeouts, so a busy machine skips no span for them.
      SPECROUTE_ESCALATION__FRONTIER__FIRST_BYTE_TIMEOUT_MS: '30000',
      SPECROUTE_ESCALATION__FRONTIER__TOTAL_TIMEOUT_MS: '60000',
      SPECROUTE_ESCALATION__POLICY__MIN_CONFIDENCE: '0',
    });
    client = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await frontier?.close();
  });

  it('lists and describes the served model', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual([MODEL]);
    const model = await client.models.retrieve(MODEL);
    expect(model).toMatchObject({ id: MODEL, object: 'model', owned_by: 'specroute' });
    expect(ext<{ context_size: number }>(model).context_size).toBe(512);
    await expect(client.models.retrieve('nope')).rejects.toMatchObject({ status: 404, code: 'model_not_found', param: 'model' });
  });

  it('answers a chat completion whole, with usage and the speculation summary', async () => {
    const completion = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 24, temperature: 0 });
    expect(completion.object).toBe('chat.completion');
    expect(completion.id).toMatch(/^chatcmpl-/);
    const choice = completion.choices[0]!;
    expect(choice.message.role).toBe('assistant');
    expect(choice.message.content!.length).toBeGreaterThan(0);
    expect(['stop', 'length']).toContain(choice.finish_reason);
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
    const summary = ext<Summary & { tokens: Array<TokenProvenance & { text: string }> }>(completion);
    expect(summary.stats.mode).toBe('speculative');
    expect(Object.values(summary.tokens_by_source).reduce((a, b) => a + b, 0)).toBe(completion.usage!.completion_tokens);
    expect(summary.tokens.map((t) => t.text).join('')).toBe(choice.message.content);
  });

  it('streams a chat completion: role first, provenance on every token chunk, finish, usage with stats', async () => {
    const request = { model: MODEL, messages: [{ role: 'system' as const, content: 'You tell stories.' }, { role: 'user' as const, content: [{ type: 'text' as const, text: 'Once upon' }, { type: 'text' as const, text: ' a time' }] }], max_tokens: 40, temperature: 0 };
    const whole = await client.chat.completions.create(request);
    const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === MODEL)).toBe(true);
    const tokenChunks = chunks.filter((c) => c.choices[0]?.delta.content !== undefined && c.choices[0]?.delta.role === undefined);
    expect(tokenChunks.length).toBe(whole.usage!.completion_tokens);
    for (const chunk of tokenChunks) {
      const p = ext<TokenProvenance>(chunk);
      expect(SOURCES).toContain(p.source);
      expect(p.logprob).toBeLessThanOrEqual(0);
      expect(p.token_ids.length).toBeGreaterThan(0);
    }
    const sources = new Set(tokenChunks.map((c) => ext<TokenProvenance>(c).source));
    expect(sources.has('draft')).toBe(true);
    // Draft positions: accepted draft tokens count up from 0 within their step, and the correction or bonus that
    // ends the step sits after them; the first token and plain steps have none.
    let expected = 0;
    for (const [i, chunk] of tokenChunks.entries()) {
      const { source, draft_position: position } = ext<TokenProvenance>(chunk);
      if (source === 'draft') expect(position, `token ${i}`).toBe(expected++);
      else if (source === 'bonus' || (source === 'verifier' && position !== undefined)) {
        expect(position, `token ${i}`).toBe(expected);
        expected = 0;
      } else {
        expect(position, `token ${i}`).toBeUndefined();
        expect(expected, `token ${i}: a step's last token`).toBe(0);
      }
    }
    expect(tokenChunks.map((c) => ext<TokenProvenance>(c).draft_position).filter((p) => p !== undefined).length).toBeGreaterThan(0);
    expect(sources.has('verifier')).toBe(true);

    const finish = chunks.at(-2)!;
    expect(finish.choices[0]!.finish_reason).toBe(whole.choices[0]!.finish_reason);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(whole.usage);
    const summary = ext<Summary>(last);
    expect(summary.stats.mode).toBe('speculative');
    expect(summary.stats.drafted).toBeGreaterThan(0);
    expect(summary.stats.accepted).toBeLessThanOrEqual(summary.stats.drafted);
    expect(summary.tokens_by_source['draft']).toBe(tokenChunks.filter((c) => ext<TokenProvenance>(c).source === 'draft').length);
    // Every chunk but the last carries `usage: null`, as OpenAI's do with include_usage.
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(tokenChunks.map((c) => c.choices[0]!.delta.content).join('')).toBe(whole.choices[0]!.message.content);
  });

  it('streams and answers text completions alike, and honours max_tokens', async () => {
    const request = { model: MODEL, prompt: 'Once upon a time', max_tokens: 50, temperature: 0 };
    const whole = await client.completions.create(request);
    expect(whole.object).toBe('text_completion');
    expect(whole.id).toMatch(/^cmpl-/);
    expect(whole.choices[0]!.text).toMatch(/^, there was a little girl named Lily/);
    expect(whole.usage!.completion_tokens).toBe(50);
    expect(whole.choices[0]!.finish_reason).toBe('length');

    const stream = await client.completions.create({ ...request, stream: true });
    let text = '';
    let finish: string | null = null;
    let summary: Summary | undefined;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      text += choice?.text ?? '';
      if (choice?.finish_reason) {
        finish = choice.finish_reason;
        summary = ext<Summary>(chunk); // without include_usage, the finish chunk carries the summary
      } else expect(SOURCES).toContain(ext<TokenProvenance>(chunk).source);
    }
    expect(text).toBe(whole.choices[0]!.text);
    expect(finish).toBe('length');
    expect(summary!.stats.generated_tokens).toBe(50);
  });

  it('returns chat log-probabilities in OpenAI chat form', async () => {
    const completion = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 12, logprobs: true, top_logprobs: 3 });
    const content = completion.choices[0]!.logprobs!.content!;
    expect(content).toHaveLength(12);
    for (const entry of content) {
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.bytes).toEqual([...Buffer.from(entry.token, 'utf8')]);
      expect(entry.top_logprobs).toHaveLength(3);
      // Greedy: the chosen token is the most likely one.
      expect(entry.top_logprobs[0]!.logprob).toBeCloseTo(entry.logprob, 6);
    }
    expect(content.map((c) => c.token).join('')).toBe(completion.choices[0]!.message.content);

    const streamed = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 12, logprobs: true, stream: true });
    const tokens: string[] = [];
    for await (const chunk of streamed) for (const entry of chunk.choices[0]?.logprobs?.content ?? []) tokens.push(entry.token);
    expect(tokens.join('')).toBe(completion.choices[0]!.message.content);
  });

  it('returns completions log-probabilities in the legacy form', async () => {
    const completion = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 10, logprobs: 2 });
    const lp = completion.choices[0]!.logprobs!;
    expect(lp.tokens).toHaveLength(10);
    expect(lp.tokens!.join('')).toBe(completion.choices[0]!.text);
    expect(lp.token_logprobs!.every((l) => l <= 0)).toBe(true);
    lp.text_offset!.forEach((offset, i) => expect(offset).toBe(lp.tokens!.slice(0, i).join('').length));
    lp.top_logprobs!.forEach((top, i) => {
      expect(Object.keys(top).length).toBeGreaterThanOrEqual(1);
      expect(Object.keys(top).length).toBeLessThanOrEqual(3);
      expect(top[lp.tokens![i]!]).toBeCloseTo(lp.token_logprobs![i]!, 6);
    });
  });

  it('stops at a stop sequence, given as a string or a list', async () => {
    const free = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 40 });
    expect(free.choices[0]!.text).toContain(' Lily');
    const stopped = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 40, stop: [' Lily', 'zzz'] });
    expect(stopped.choices[0]!.text).toBe(free.choices[0]!.text.slice(0, free.choices[0]!.text.indexOf(' Lily')));
    expect(stopped.choices[0]!.finish_reason).toBe('stop');

    const chat = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Go' }], max_tokens: 40 });
    const text = chat.choices[0]!.message.content!;
    const stop = text.slice(4, 7);
    const cut = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Go' }], max_tokens: 40, stop, stream: false });
    expect(cut.choices[0]!.message.content).toBe(text.slice(0, text.indexOf(stop)));
    expect(cut.choices[0]!.finish_reason).toBe('stop');
  });

  it('reproduces a sampled completion from its seed, and varies without one', async () => {
    const topK = { top_k: 40 } as object; // an extension the SDK's types do not know
    const sample = async (seed?: number): Promise<string> =>
      (await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 40, temperature: 0.8, top_p: 0.95, ...(seed !== undefined ? { seed } : {}), ...topK })).choices[0]!.text;
    const first = await sample(42);
    expect(await sample(42)).toBe(first);
    // No seed at all: the server draws one per request. Fails if it falls back to a fixed seed (all four equal).
    const unseeded = await Promise.all([sample(), sample(), sample(), sample()]);
    expect(new Set(unseeded).size).toBeGreaterThan(1);
    // The same seed through the streaming path.
    const stream = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 40, temperature: 0.8, top_p: 0.95, seed: 42, stream: true, ...topK });
    let streamed = '';
    for await (const chunk of stream) streamed += chunk.choices[0]?.text ?? '';
    expect(streamed).toBe(first);
  });

  it('honours max_completion_tokens, per-request speculation settings and harmless OpenAI fields', async () => {
    const plain = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'developer', content: 'Be brief.' }, { role: 'user', content: 'Hi', name: 'kim' }],
      max_completion_tokens: 7,
      user: 'someone',
      presence_penalty: 0,
      frequency_penalty: 0,
      n: 1,
      logit_bias: {},
      response_format: { type: 'text' },
      metadata: { purpose: 'test' },
      store: false,
      // Extensions the SDK's types do not know.
      ...({ specroute: { speculation: false }, some_future_field: { a: 1 } } as object),
    });
    expect(plain.usage!.completion_tokens).toBe(7);
    const summary = ext<Summary>(plain);
    expect(summary.stats.mode).toBe('verifier-only');
    expect(summary.tokens_by_source).toEqual({ draft: 0, verifier: 7, bonus: 0, frontier: 0, grammar: 0 });

    // γ fixed at 2: every draft block proposes exactly two tokens. Fails if speculation never ran (no position at
    // all) or if the request's speculation settings were ignored (γ would adapt up to the server's 8).
    const fixed = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 30, ...({ specroute: { speculation: { min: 2, max: 2, adaptive: false } } } as object) });
    const stats = ext<Summary>(fixed).stats as Summary['stats'] & { by_position: Array<{ drafted: number }> };
    expect(stats.mode).toBe('speculative');
    expect(stats.drafted).toBeGreaterThan(0);
    expect(stats.by_position).toHaveLength(2);
    expect(stats.by_position[1]!.drafted).toBeGreaterThan(0);
  });

  it('refuses n > 1 with a 400 naming n, and other errors in the OpenAI shape', async () => {
    const error = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], n: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIError);
    expect(error).toMatchObject({ status: 400, param: 'n', code: 'invalid_argument', type: 'invalid_request_error' });
    await expect(client.completions.create({ model: 'gpt-4', prompt: 'x' })).rejects.toMatchObject({ status: 404, param: 'model', code: 'model_not_found' });
    await expect(client.completions.create({ model: MODEL, prompt: 'x', max_tokens: -3 })).rejects.toMatchObject({ status: 400, param: 'max_tokens' });
    const unauthenticated = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: 'sk-wrong-key-000', maxRetries: 0 });
    await expect(unauthenticated.models.list()).rejects.toMatchObject({ status: 401, code: 'unauthenticated' });
  });

  it('ends a stream that fails after its headers with an error event and no [DONE]', async () => {
    // A 1 ms deadline expires while the generation runs: the headers (and the role chunk) are already out.
    const body = { model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 400, ignore_eos: true, stream: true, specroute: { timeout_ms: 1 } };
    const response = await postJson(`${server.httpUrl}/v1/chat/completions`, body, { authorization: `Bearer ${KEY}` });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const sse = parseSse(await response.text());
    expect(sse.data).not.toContain('[DONE]');
    expect(JSON.parse(sse.data.at(-1)!)).toEqual({
      error: { message: 'the request ran past its deadline', type: 'timeout_error', param: null, code: 'deadline_exceeded' },
    });
    // The SDK turns that event into an APIError.
    const stream = await client.chat.completions.create(body as unknown as OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming);
    const failure = await (async () => {
      for await (const _ of stream);
    })().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(APIError);
    expect(failure).toMatchObject({ code: 'deadline_exceeded' });
  });

  it('serves /health, /ready and Prometheus /metrics without a key', async () => {
    expect(await (await fetch(`${server.httpUrl}/health`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${server.httpUrl}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });

    // Served as Prometheus text (the shared scrape() does not look at the content type).
    const scrapeText = async (): Promise<string> => {
      const response = await fetch(`${server.httpUrl}/metrics`);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
      return response.text();
    };
    const before = await scrapeText();
    await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 30 });
    await client.completions.create({ model: MODEL, prompt: 'x', n: 3 }).catch(() => undefined);
    const after = await scrapeText();
    const { types } = parsePrometheus(after);
    expect(types['specroute_spec_decode_num_draft_tokens_total']).toBe('counter');
    expect(metricValue(after, 'specroute_spec_decode_num_draft_tokens_total')).toBeGreaterThan(metricValue(before, 'specroute_spec_decode_num_draft_tokens_total'));
    const requests = (text: string, status: string): number => metricValue(text, 'specroute_requests_total', { transport: 'http', status });
    expect(requests(after, 'ok') - requests(before, 'ok')).toBe(1);
    expect(requests(after, 'invalid_argument') - requests(before, 'invalid_argument')).toBe(1);
  });

  it('reports each escalation in its own chunk before the frontier tokens, and counts them in the stats', async () => {
    // Unsure whenever the verifier's top probability is under 0.9: escalates often on this small model.
    const escalation = { window: 1, min_confidence: 0.9, span_tokens: 4, cooldown_tokens: 6 };
    const request = { model: MODEL, prompt: 'Once upon a time', max_tokens: 60, ignore_eos: true, specroute: { escalation } };
    const stream = await client.completions.create({ ...request, stream: true, stream_options: { include_usage: true } } as OpenAI.Completions.CompletionCreateParamsStreaming);
    const chunks: OpenAI.Completions.Completion[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const reports = chunks.flatMap((c) => {
      const report = ext<{ escalation?: { status: string; reason?: string; attempts: number; spliced_tokens: number } } | undefined>(c)?.escalation;
      return report ? [{ report, chunk: c }] : [];
    });
    const spliced = reports.filter((r) => r.report.status === 'spliced');
    expect(spliced.length).toBeGreaterThan(0);
    for (const { report, chunk } of reports) {
      expect(chunk.choices).toEqual([{ index: 0, text: '', logprobs: null, finish_reason: null }]);
      if (report.status === 'spliced') expect(report.spliced_tokens).toBeGreaterThan(0);
      else expect(report.reason).toMatch(/^request_(calls|tokens)$/);
    }
    const sourceOf = (c: OpenAI.Completions.Completion): string | undefined => ext<{ source?: string } | undefined>(c)?.source;
    expect(chunks.findIndex((c) => sourceOf(c) === 'frontier')).toBeGreaterThan(chunks.indexOf(spliced[0]!.chunk));
    const text = chunks.map((c) => c.choices[0]?.text ?? '').join('');
    expect(text).toContain(' The dog ran to');
    const summary = ext<Summary & { stats: { escalations: number } }>(chunks.at(-1));
    expect(summary.stats.escalations).toBe(spliced.length);
    expect(summary.tokens_by_source['frontier']).toBe(chunks.filter((c) => sourceOf(c) === 'frontier').length);

    const whole = await client.completions.create(request as OpenAI.Completions.CompletionCreateParamsNonStreaming);
    expect(ext<{ escalations: unknown[] }>(whole).escalations.length).toBeGreaterThan(0);
    const local = await client.completions.create({ ...request, specroute: { escalation: false } } as OpenAI.Completions.CompletionCreateParamsNonStreaming);
    expect(ext<{ escalations: unknown[]; stats: { escalations: number } }>(local)).toMatchObject({ escalations: [], stats: { escalations: 0 } });
  });
});

/** Reads a response body to its end, as text. */
async function readAll(reader: ReadableStreamDefaultReader<Uint8Array>, start = ''): Promise<string> {
  let text = start;
  const decoder = new TextDecoder();
  for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value, { stream: true });
  return text;
}

/** Reads a response body until `done(text so far)` holds; returns that text (the reader stays open). */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, done: (text: string) => boolean): Promise<string> {
  let text = '';
  const decoder = new TextDecoder();
  while (!done(text)) {
    const r = await reader.read();
    if (r.done) throw new Error(`the stream ended first: ${text}`);
    text += decoder.decode(r.value, { stream: true });
  }
  return text;
}

describe('SSE heartbeats, queueing and disconnects (one sequence, a queue of one)', () => {
  let server: RunningServer;
  // A frontier that holds each call until `release()`: a request that asks to escalate (`escalateAfterHttp`) keeps
  // the only sequence for as long as a test needs, however fast the models are. Other requests never escalate.
  let frontier: FaultyFrontier;
  const url = (): string => `${server.httpUrl}/v1/completions`;
  const long = { model: MODEL, prompt: 'Once upon a time', max_tokens: 300, ignore_eos: true, stream: true };
  const holding = { ...long, specroute: { escalation: escalateAfterHttp(0) } };

  beforeAll(async () => {
    frontier = await startFaultyFrontier('hold');
    server = await startTestServer({
      SPECROUTE_LIMITS__MAX_CONCURRENT: '1',
      SPECROUTE_LIMITS__MAX_QUEUE: '1',
      SPECROUTE_SERVER__HEARTBEAT_SECONDS: '0.02',
      // Ample for the stream that shutdown lets finish (no stream here is left to the end of the grace).
      SPECROUTE_SERVER__SHUTDOWN_GRACE_MS: '30000',
      ...frontierSettings(frontier),
    });
  });
  afterAll(async () => {
    frontier?.release(); // after a failure, let held requests go rather than wait out the grace
    await server?.close();
    await frontier?.close();
  });

  it('sends keep-alive comments to a stream waiting in the queue, and 429 with Retry-After beyond it', async () => {
    const alone = streamedText(parseSse(await (await postJson(url(), { ...long, max_tokens: 20 })).text()));

    // A holds the only sequence (its frontier call is held); B waits in the queue (its headers go out at
    // admission); C finds the queue full.
    const reached = frontier.requests.length;
    const a = await postJson(url(), holding);
    const aRest = readAll(a.body!.getReader());
    await until(() => frontier.requests.length === reached + 1, 'A holding the sequence');
    const b = await postJson(url(), { ...long, max_tokens: 20 });
    expect(b.status).toBe(200);
    await until(() => server.scheduler.queueDepth === 1, 'B queued');
    const c = await postJson(url(), long);
    expect(c.status).toBe(429);
    expect(c.headers.get('retry-after')).toBe('1');
    expect(await c.json()).toMatchObject({ error: { code: 'overloaded', type: 'rate_limit_error', param: null } });

    // B hears keep-alives while it waits; only then is A let go. Fails if a queued stream gets no heartbeat.
    const bReader = b.body!.getReader();
    const waited = await within(readUntil(bReader, (text) => text.includes(': keep-alive')), 'a keep-alive on the queued stream');
    expect(waited).not.toContain('data: ');
    frontier.release();
    const bSse = parseSse(await readAll(bReader, waited));
    expect(parseSse(await aRest).data.at(-1)).toBe('[DONE]');
    expect(bSse.comments.length).toBeGreaterThan(0);
    expect(bSse.comments.every((c) => c === ': keep-alive')).toBe(true);
    expect(streamedText(bSse)).toBe(alone);
    expect(bSse.data.at(-1)).toBe('[DONE]');
  });

  it('frees the sequence at once when a client drops a stream, and serves normally afterwards', async () => {
    const active = async (): Promise<number> => metricValue(await scrape(server.httpUrl), 'specroute_active_sequences');
    const client = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
    for (let i = 0; i < 3; i++) {
      const abort = new AbortController();
      const stream = await client.completions.create({ ...long, stream: true }, { signal: abort.signal });
      let seen = 0;
      await (async () => {
        for await (const _ of stream) if (++seen === 5) abort.abort();
      })().catch(() => undefined);
      expect(seen).toBe(5);
    }
    for (let i = 0; i < 50 && (await active()) > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await active()).toBe(0);
    const after = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 10 });
    expect(after.choices[0]!.text).toMatch(/^, there was/);
    expect(metricValue(await scrape(server.httpUrl), 'specroute_requests_total', { transport: 'http', status: 'cancelled' })).toBe(3);
  });

  it('on shutdown, reports not ready and refuses new requests with 503 while the stream in flight finishes', async () => {
    // A is held in its frontier call, so it is certainly still in flight when the server starts closing.
    const reached = frontier.requests.length;
    const a = await postJson(url(), holding);
    const rest = readAll(a.body!.getReader());
    await until(() => frontier.requests.length === reached + 1, 'A holding the sequence');
    const closing = server.close();
    const ready = await fetch(`${server.httpUrl}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'not_ready' });
    const refused = await postJson(url(), { ...long, max_tokens: 5 });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({ error: { code: 'shutting_down', type: 'server_error', param: null } });
    frontier.release(); // A goes on, and must finish whole within the grace
    expect(parseSse(await rest).data.at(-1)).toBe('[DONE]');
    await closing;
  });
});

