import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GlobalBudget, RequestBudget } from '../../src/escalation/budget.js';
import { MemoryWindows } from '../../src/state/sliding-windows.js';
import { CircuitBreaker } from '../../src/escalation/circuit-breaker.js';
import { Escalator } from '../../src/escalation/escalator.js';
import { defaultFrontier, FrontierClient } from '../../src/escalation/frontier-client.js';
import { FrontierError, parseRetryAfter } from '../../src/escalation/frontier-error.js';
import { defaultEscalationPolicy, WindowThresholdPolicy } from '../../src/escalation/policy.js';
import { SseParser } from '../../src/escalation/sse-parser.js';
import { startFaultyFrontier, type FaultyFrontier } from '../helpers/faulty-frontier.js';

describe('SseParser (WHATWG event-stream interpretation)', () => {
  it('handles CRLF split across chunks, comments, multi-line data, BOM, and a trailing partial event', () => {
    const p = new SseParser();
    const events = [
      ...p.push('\uFEFFdata: a\r'),
      ...p.push('\ndata:b\n: a comment\nevent: x\nid: 7\n\n'),
      ...p.push('data: one\ndata: two\r\rdata'),
      ...p.push(':  one space kept\n\ndata: never dispatched'),
    ];
    expect(events).toEqual([
      { event: 'x', data: 'a\nb', id: '7', retry: undefined },
      { event: 'message', data: 'one\ntwo', id: '7', retry: undefined },
      { event: 'message', data: ' one space kept', id: '7', retry: undefined },
    ]);
  });

  it('does not dispatch an event with no data, and reads retry', () => {
    const p = new SseParser();
    expect(p.push('event: ping\n\nretry: 250\ndata: x\n\n')).toEqual([{ event: 'message', data: 'x', id: undefined, retry: 250 }]);
  });
});

describe('CircuitBreaker', () => {
  it('opens after the threshold, half-opens after the cool-down, and a probe closes or reopens it', () => {
    let now = 0;
    const changes: string[] = [];
    const b = new CircuitBreaker({ failureThreshold: 2, cooldownMs: 1000, halfOpenProbes: 1 }, () => now, (s) => changes.push(s));
    expect(b.tryAcquire()).toBe(true);
    b.failure();
    expect(b.state).toBe('closed');
    b.failure();
    expect(b.state).toBe('open');
    expect(b.tryAcquire()).toBe(false);
    now = 999;
    expect(b.tryAcquire()).toBe(false);
    now = 1000;
    expect(b.tryAcquire()).toBe(true); // the one probe
    expect(b.tryAcquire()).toBe(false);
    b.failure();
    expect(b.state).toBe('open');
    now = 2000;
    expect(b.tryAcquire()).toBe(true);
    b.success();
    expect(b.state).toBe('closed');
    expect(changes).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);
  });
});

describe('budgets', () => {
  it('a request budget never grants more tokens or calls than configured, and refunds what was not used', () => {
    const r = new RequestBudget({ maxTokensPerRequest: 20, maxCallsPerRequest: 3 });
    expect(r.take(16)).toEqual({ maxTokens: 16 });
    r.refund(10); // the call used 6
    expect(r.take(16)).toEqual({ maxTokens: 14 });
    expect(r.take(16)).toEqual({ refused: 'request_tokens' });
    expect(r.take(1)).toEqual({ refused: 'request_tokens' });
  });

  it('the global budget caps calls per minute and cost per hour with worst-case reservations', async () => {
    let now = 0;
    const g = new GlobalBudget({ maxTokensPerRequest: 0, maxCallsPerRequest: 0, callsPerMinute: 3, maxCostPerHour: 1, inputPricePerMillion: 0, outputPricePerMillion: 100_000 }, new MemoryWindows(() => now));
    // 0.1 per output token: 10 tokens = the whole hour's budget.
    const a = await g.reserve(0, 4);
    expect('grant' in a && a.grant.maxTokens).toBe(4);
    const b = await g.reserve(0, 16);
    expect('grant' in b && b.grant.maxTokens).toBe(6); // capped by what is left of the cost
    expect(await g.reserve(0, 1)).toEqual({ refused: 'cost_per_hour' });
    if ('grant' in b) b.grant.settle({ inputTokens: 0, outputTokens: 1 }); // used 1 of 6
    const c = await g.reserve(0, 16);
    expect('grant' in c && c.grant.maxTokens).toBe(5);
    expect(await g.reserve(0, 1)).toEqual({ refused: 'calls_per_minute' });
    now = 60_001;
    expect(await g.reserve(0, 1)).toEqual({ refused: 'cost_per_hour' });
  });

  it('parses Retry-After as seconds or a date', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

describe('window threshold policy', () => {
  it('triggers on a low-confidence window, then cools down', () => {
    const p = new WindowThresholdPolicy({ ...defaultEscalationPolicy, window: 2, minConfidence: 0.5, cooldownTokens: 3 });
    const sure = { topProb: 0.9, margin: 0.85, entropy: 0.1 };
    const unsure = { topProb: 0.1, margin: 0.01, entropy: 3 };
    expect(p.observe(sure)).toBe(false);
    expect(p.observe(unsure)).toBe(false); // mean 0.5
    expect(p.observe(unsure)).toBe(true);
    p.escalated();
    expect([p.observe(unsure), p.observe(unsure), p.observe(unsure)]).toEqual([false, false, false]);
    expect(p.observe(unsure)).toBe(true);
    const entropyOnly = new WindowThresholdPolicy({ ...defaultEscalationPolicy, window: 1, minConfidence: 0, maxEntropy: 2 });
    expect(entropyOnly.observe(sure)).toBe(false);
    expect(entropyOnly.observe(unsure)).toBe(true);
    const marginOnly = new WindowThresholdPolicy({ ...defaultEscalationPolicy, window: 1, minConfidence: 0, minMargin: 0.1 });
    expect(marginOnly.observe(sure)).toBe(false);
    expect(marginOnly.observe({ topProb: 0.45, margin: 0.05, entropy: 1 })).toBe(true);
  });
});

describe('FrontierClient against a misbehaving server on 127.0.0.1', () => {
  let server: FaultyFrontier;
  beforeAll(async () => {
    server = await startFaultyFrontier();
  });
  afterAll(async () => server?.close());
  const client = (over: Partial<typeof defaultFrontier> = {}, env: NodeJS.ProcessEnv = {}) =>
    new FrontierClient({ ...defaultFrontier, baseUrl: server.baseUrl, model: 'frontier', connectTimeoutMs: 500, firstByteTimeoutMs: 300, totalTimeoutMs: 3000, retries: 2, backoffBaseMs: 10, backoffMaxMs: 50, ...over }, env);
  const request = { text: 'Once upon a time', maxTokens: 5, temperature: 0 };
  const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: FrontierError) => e);

  it('streams a continuation through /completions, with the API key from the named variable', async () => {
    server.mode = 'ok';
    server.requests.length = 0;
    const r = await client({ apiKeyEnv: 'FRONTIER_KEY' }, { FRONTIER_KEY: 'sk-frontier-1' }).continue(request);
    expect(r).toEqual({ text: ' and the cat sat on', completionTokens: 5, promptTokens: 10, attempts: 1 });
    expect(server.requests[0]).toMatchObject({ path: '/v1/completions', maxTokens: 5, authorization: 'Bearer sk-frontier-1' });
    expect(server.requests[0]!.body).toMatchObject({ prompt: 'Once upon a time', stream: true, model: 'frontier' });
  });

  it('streams the continuation piece by piece, as the frontier sends it', async () => {
    server.mode = 'ok';
    const pieces: string[] = [];
    const stream = client().stream(request);
    let next = await stream.next();
    for (; !next.done; next = await stream.next()) pieces.push(next.value);
    expect(pieces).toEqual([' and', ' the', ' cat', ' sat', ' on']);
    expect(next.value).toMatchObject({ text: pieces.join(''), completionTokens: 5, attempts: 1 });
    // A stream that breaks after its first piece ends the iteration with the failure: no retry, no repeated text.
    server.mode = 'close-mid-stream';
    server.requests.length = 0;
    const broken: string[] = [];
    const error = await (async () => {
      for await (const piece of client().stream(request)) broken.push(piece);
    })().then(() => undefined, (e: FrontierError) => e);
    expect(broken).toEqual([' and']);
    expect(error?.failure).toBe('network');
    expect(server.requests).toHaveLength(1);
  });

  it('retries 500s with backoff and gives up after the retries', async () => {
    server.mode = 'error500';
    server.requests.length = 0;
    const e = await failure(client().continue(request));
    expect(e).toMatchObject({ failure: 'http_error', statusCode: 500, isRetryable: true });
    expect(server.requests).toHaveLength(3);
  });

  it('honours Retry-After on 429, and does not wait past the total timeout', async () => {
    server.mode = 'rate-limited';
    server.retryAfter = 1;
    server.requests.length = 0;
    const started = Date.now();
    const e = await failure(client({ retries: 1, totalTimeoutMs: 5000 }).continue(request));
    expect(e).toMatchObject({ failure: 'rate_limited', statusCode: 429, retryAfterMs: 1000 });
    expect(server.requests).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    server.requests.length = 0;
    server.retryAfter = 30; // longer than the whole call may take: give up at once
    await failure(client({ retries: 3, totalTimeoutMs: 2000 }).continue(request));
    expect(server.requests).toHaveLength(1);
  });

  it('times out a hung server (first byte) and a stream that stalls or breaks midway', async () => {
    server.mode = 'hang';
    expect(await failure(client({ retries: 0 }).continue(request))).toMatchObject({ failure: 'first_byte_timeout' });
    server.mode = 'hang-mid-stream';
    expect(await failure(client({ retries: 0, totalTimeoutMs: 600 }).continue(request))).toMatchObject({ failure: 'total_timeout' });
    server.mode = 'close-mid-stream';
    expect((await failure(client({ retries: 0 }).continue(request)))?.failure).toMatch(/network|malformed/);
  });

  it('refuses malformed SSE, and falls back to chat when /completions is missing', async () => {
    server.mode = 'malformed';
    expect(await failure(client({ retries: 0 }).continue(request))).toMatchObject({ failure: 'malformed' });
    server.mode = 'no-completions';
    server.requests.length = 0;
    const c = client();
    const r = await c.continue({ ...request, chat: { messages: [{ role: 'user', content: 'Tell a story' }], replySoFar: 'Once' } });
    expect(r.text).toBe(' and the cat sat on');
    expect(server.requests.map((q) => q.path)).toEqual(['/v1/completions', '/v1/chat/completions']);
    expect(server.requests[1]!.body.messages).toEqual([
      { role: 'user', content: 'Tell a story' },
      { role: 'assistant', content: 'Once' },
    ]);
  });

  it('a connection refused is a retryable network failure', async () => {
    const e = await failure(new FrontierClient({ ...defaultFrontier, baseUrl: 'http://127.0.0.1:9/v1', model: 'x', retries: 0 }).continue(request));
    expect(e).toMatchObject({ failure: 'network', isRetryable: true });
  });
});

describe('Escalator: budgets hold exactly under concurrency, counted at the frontier', () => {
  let server: FaultyFrontier;
  beforeAll(async () => {
    server = await startFaultyFrontier('ok');
  });
  afterAll(async () => server?.close());

  it('8 concurrent requests never get more frontier tokens or calls than their budgets', async () => {
    const escalator = new Escalator(
      {
        frontier: { ...defaultFrontier, baseUrl: server.baseUrl, model: 'f' },
        breaker: { failureThreshold: 3, cooldownMs: 1000, halfOpenProbes: 1 },
        budget: { maxTokensPerRequest: 20, maxCallsPerRequest: 5, callsPerMinute: 30, maxCostPerHour: 0, inputPricePerMillion: 0, outputPricePerMillion: 0 },
        policy: { ...defaultEscalationPolicy, spanTokens: 8 },
      },
      {},
      {},
    );
    server.requests.length = 0;
    server.tokensServed = 0;
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const session = escalator.session();
        const results = [];
        for (let i = 0; i < 6; i++) results.push(await session.escalate({ text: 'x', temperature: 0, approxInputTokens: 1 }));
        return results;
      }),
    );
    // Each request: 8 + 8 + 4 tokens (20), then refused for tokens; never more than 5 calls.
    for (const results of outcomes) {
      const spliced = results.filter((r) => r.kind === 'spliced');
      expect(spliced.reduce((sum, r) => sum + (r.kind === 'spliced' ? r.frontierTokens : 0), 0)).toBe(20);
      expect(results.filter((r) => r.kind === 'skipped').every((r) => r.kind === 'skipped' && r.reason === 'request_tokens')).toBe(true);
    }
    expect(server.tokensServed).toBe(8 * 20);
    expect(server.requests).toHaveLength(8 * 3);
    expect(Math.max(...server.requests.map((r) => r.maxTokens))).toBe(8);
  });

  it('the global calls-per-minute cap holds across concurrent requests', async () => {
    const escalator = new Escalator(
      {
        frontier: { ...defaultFrontier, baseUrl: server.baseUrl, model: 'f' },
        breaker: { failureThreshold: 3, cooldownMs: 1000, halfOpenProbes: 1 },
        budget: { maxTokensPerRequest: 100, maxCallsPerRequest: 100, callsPerMinute: 10, maxCostPerHour: 0, inputPricePerMillion: 0, outputPricePerMillion: 0 },
        policy: { ...defaultEscalationPolicy, spanTokens: 2 },
      },
      {},
      {},
    );
    server.requests.length = 0;
    const outcomes = (await Promise.all(Array.from({ length: 8 }, () => Promise.all([1, 2, 3].map(() => escalator.session().escalate({ text: 'x', temperature: 0, approxInputTokens: 1 })))))).flat();
    expect(server.requests).toHaveLength(10);
    expect(outcomes.filter((o) => o.kind === 'skipped' && o.reason === 'calls_per_minute')).toHaveLength(14);
  });
});
