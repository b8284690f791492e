/**
 * Requests that end while they wait on the frontier, and a shutdown with work at every stage. A frontier that never
 * answers holds a request's sequence for as long as a test needs (`escalateAfter`: a request streams a few tokens,
 * then calls it), so nothing here races generation speed; every wait polls real state.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../../src/main.js';
import { escalateAfter, escalateAfterHttp, frontierSettings, startFaultyFrontier, type FaultyFrontier } from '../../helpers/faulty-frontier.js';
import { collectStream, GenerationClient, summarize } from '../../helpers/grpc.js';
import { metricValue, scrape } from '../../helpers/prometheus.js';
import { startTestServer } from '../../helpers/server.js';
import { parseSse, postJson, streamedText } from '../../helpers/sse.js';
import { until, within } from '../../helpers/until.js';

const MODEL = 'stories260K';
const PROMPT = 'Once upon a time';
const input = { case: 'prompt' as const, value: PROMPT };
const DEADLINE_EVENT = { error: { message: 'the request ran past its deadline', type: 'timeout_error', param: null, code: 'deadline_exceeded' } };
const SHUTDOWN_EVENT = { error: { message: 'the server is shutting down', type: 'server_error', param: null, code: 'shutting_down' } };

describe('aborts and deadlines that land during a frontier call', () => {
  let frontier: FaultyFrontier;
  let server: RunningServer;
  let client: GenerationClient;
  const completions = (): string => `${server.httpUrl}/v1/completions`;
  const metric = async (name: string, labels: Record<string, string>): Promise<number> => metricValue(await scrape(server.httpUrl), name, labels);
  /** Escalations that ended because their request did (not a frontier failure). */
  const abandonedCalls = (): Promise<number> => metric('specroute_escalations_total', { outcome: 'skipped', reason: 'cancelled' });

  beforeAll(async () => {
    frontier = await startFaultyFrontier('hang');
    server = await startTestServer({ SPECROUTE_LIMITS__MAX_CONCURRENT: '2', ...frontierSettings(frontier) });
    client = new GenerationClient(`127.0.0.1:${server.grpcPort!}`);
  });
  afterAll(async () => {
    client?.close();
    await server?.close();
    await frontier?.close();
  });

  /**
   * Each test needs a closed breaker to reach the frontier at all: a charge left by an earlier test (a failure of
   * the product) would otherwise show up here as a request that never holds.
   */
  function breakerClosedAtStart(): void {
    expect(server.engine.escalator!.breaker.state, 'the breaker at the start of the test').toBe('closed');
  }

  /** Everything the request held is let go: its place, its sequences and its connection to the frontier. */
  async function released(): Promise<void> {
    await until(() => server.scheduler.activeRequests === 0 && server.scheduler.queueDepth === 0 && server.engine.verifier.openSequences === 0, 'the sequence freed');
    await until(() => frontier.open === 0, 'the frontier call closed');
  }

  /**
   * The circuit breaker was not charged with a failure. Its threshold is 1 here (`frontierSettings`), so a single
   * charge would have opened it; an end that is the request's own (a disconnect, a deadline) is no frontier fault.
   */
  async function breakerUncharged(): Promise<void> {
    const text = await scrape(server.httpUrl);
    expect(metricValue(text, 'specroute_frontier_breaker_state', { state: 'closed' })).toBe(1);
    expect(metricValue(text, 'specroute_frontier_breaker_state', { state: 'open' })).toBe(0);
    expect(server.engine.escalator!.breaker.state).toBe('closed');
    expect(metricValue(text, 'specroute_requests_total', { status: 'internal' })).toBe(0);
  }

  /**
   * Runs `act`, which ends `count` requests over `transport` during their frontier calls (it gets the number of
   * frontier calls made before it), then checks what each left behind: everything released, the requests counted
   * with `status`, their frontier calls counted as abandoned, and the breaker uncharged.
   */
  async function endedDuringFrontierCalls(transport: 'http' | 'grpc', status: string, count: number, act: (reached: number) => Promise<void>): Promise<void> {
    breakerClosedAtStart();
    const before = await metric('specroute_requests_total', { transport, status });
    const abandoned = await abandonedCalls();
    await act(frontier.requests.length);
    await released();
    expect(await metric('specroute_requests_total', { transport, status })).toBe(before + count);
    expect(await abandonedCalls()).toBe(abandoned + count);
    await breakerUncharged();
  }

  it('a client that disconnects over HTTP: the request ends, its sequence and frontier call are freed, the breaker is not charged', async () => {
    // Fails if a disconnect does not reach a request waiting on the frontier (it would hold its sequence until
    // the frontier answered), or if the abandoned call were charged to the breaker.
    await endedDuringFrontierCalls('http', 'cancelled', 1, async (reached) => {
      const abort = new AbortController();
      const body = { model: MODEL, prompt: PROMPT, max_tokens: 200, ignore_eos: true, stream: true, specroute: { escalation: escalateAfterHttp(2) } };
      const response = await postJson(completions(), body, {}, abort.signal);
      const read = response.text().catch(() => 'aborted');
      await until(() => frontier.requests.length === reached + 1, 'the frontier call');
      abort.abort();
      expect(await read).toBe('aborted');
    });
  });

  it('a deadline over HTTP (specroute.timeout_ms): an SSE error event or a 504, the sequence freed, the breaker not charged', async () => {
    await endedDuringFrontierCalls('http', 'deadline_exceeded', 2, async (reached) => {
      // 2 s is ample to reach the frontier call (the prompt and two tokens); the deadline then lands during it.
      const body = { model: MODEL, prompt: PROMPT, max_tokens: 200, ignore_eos: true, specroute: { timeout_ms: 2000, escalation: escalateAfterHttp(2) } };
      const [streamed, whole] = await Promise.all([postJson(completions(), { ...body, stream: true }), postJson(completions(), body)]);
      expect(streamed.status).toBe(200);
      const sse = parseSse(await streamed.text());
      // Fails if a deadline does not end a request waiting on the frontier (the stream would never end), or ends
      // it without saying why.
      expect(streamedText(sse).length).toBeGreaterThan(0); // the tokens before the frontier call
      expect(sse.data).not.toContain('[DONE]');
      expect(JSON.parse(sse.data.at(-1)!)).toEqual(DEADLINE_EVENT);
      expect(whole.status).toBe(504);
      expect(await whole.json()).toEqual(DEADLINE_EVENT);
      expect(frontier.requests.length).toBe(reached + 2); // both deadlines landed during their frontier calls
    });
  });

  it('a gRPC client that cancels: CANCELLED, the sequence freed, the breaker not charged', async () => {
    await endedDuringFrontierCalls('grpc', 'cancelled', 1, async (reached) => {
      const stream = client.start({ model: MODEL, input, maxTokens: 200, ignoreEos: true, escalation: escalateAfter(2) });
      const ended = collectStream(stream);
      await until(() => frontier.requests.length === reached + 1, 'the frontier call');
      stream.cancel();
      expect((await ended).status.code).toBe(grpc.status.CANCELLED);
    });
  });

  it('a gRPC deadline only the server enforces: DEADLINE_EXCEEDED, the sequence freed, the breaker not charged', async () => {
    await endedDuringFrontierCalls('grpc', 'deadline_exceeded', 1, async (reached) => {
      // grpc-timeout as plain metadata, no client deadline: only the server can end this call.
      const { status, messages } = await client.generate({ model: MODEL, input, maxTokens: 200, ignoreEos: true, escalation: escalateAfter(2) }, { serverTimeout: '2S' });
      expect(status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      const run = summarize(messages);
      expect(run.chunks).toBeGreaterThan(0); // the tokens before the frontier call
      expect(run.final).toBeUndefined();
      expect(frontier.requests.length).toBe(reached + 1);
    });
  });
});

describe('shutdown with a request holding a sequence, requests queued and a gRPC stream in flight', () => {
  let frontier: FaultyFrontier;
  let server: RunningServer;
  let client: GenerationClient;

  beforeAll(async () => {
    frontier = await startFaultyFrontier('hang');
    server = await startTestServer({
      SPECROUTE_LIMITS__MAX_CONCURRENT: '2',
      SPECROUTE_LIMITS__MAX_QUEUE: '2',
      // None of the requests below can finish by itself; the grace only has to outlast the refusals sent at once.
      SPECROUTE_SERVER__SHUTDOWN_GRACE_MS: '1500',
      ...frontierSettings(frontier),
    });
    client = new GenerationClient(`127.0.0.1:${server.grpcPort!}`);
  });
  afterAll(async () => {
    client?.close();
    await server?.close();
    await frontier?.close();
  });

  it('ends each with its documented status (gRPC UNAVAILABLE, an SSE error event), frees everything, and neither hangs nor crashes', async () => {
    const completions = `${server.httpUrl}/v1/completions`;
    // A: an SSE stream holding a sequence in its frontier call.
    const a = await postJson(completions, { model: MODEL, prompt: PROMPT, max_tokens: 200, ignore_eos: true, stream: true, specroute: { escalation: escalateAfterHttp(0) } });
    expect(a.status).toBe(200);
    const aBody = a.text();
    // G: a gRPC stream in flight: it has streamed three tokens and waits in its frontier call.
    const g = collectStream(client.start({ model: MODEL, input, maxTokens: 200, ignoreEos: true, escalation: escalateAfter(3) }));
    await until(() => frontier.requests.length === 2, 'both sequences held');
    // Q1 (SSE, its headers sent at admission) and Q2 (gRPC) wait in the queue.
    const q1 = await postJson(completions, { model: MODEL, prompt: PROMPT, max_tokens: 5, stream: true });
    expect(q1.status).toBe(200);
    const q1Body = q1.text();
    const q2 = client.generate({ model: MODEL, input, maxTokens: 5 });
    await until(() => server.scheduler.queueDepth === 2, 'two requests queued');

    const closing = server.close();
    // While it drains, new requests are refused as the server shutting down, over both transports.
    const refusedHttp = await postJson(completions, { model: MODEL, prompt: PROMPT, max_tokens: 5 });
    expect(refusedHttp.status).toBe(503);
    expect(await refusedHttp.json()).toEqual(SHUTDOWN_EVENT);
    const refusedGrpc = await client.generate({ model: MODEL, input, maxTokens: 5 });
    expect(refusedGrpc.status.code).toBe(grpc.status.UNAVAILABLE);
    expect(refusedGrpc.status.details).toBe('the server is shutting down');

    // Fails if shutdown waits forever on requests that cannot finish, or leaves a stream without an end.
    await within(closing, 'server.close()');
    const [aSse, q1Sse, gEnd, q2End] = [parseSse(await within(aBody, 'A')), parseSse(await within(q1Body, 'Q1')), await within(g, 'G'), await within(q2, 'Q2')];
    // The SSE streams end with the shutdown's error event and no [DONE] (no client takes them for complete).
    for (const sse of [aSse, q1Sse]) {
      expect(sse.data).not.toContain('[DONE]');
      expect(JSON.parse(sse.data.at(-1)!)).toEqual(SHUTDOWN_EVENT);
    }
    expect(streamedText(q1Sse)).toBe(''); // it never had a sequence
    // The gRPC calls end UNAVAILABLE (retryable: another replica may serve them), G after its first tokens.
    for (const { status } of [gEnd, q2End]) {
      expect(status.code).toBe(grpc.status.UNAVAILABLE);
      expect(status.details).toBe('the server is shutting down');
      expect(status.metadata.get('specroute-error-code')).toEqual(['shutting_down']);
      expect(status.metadata.get('specroute-retryable')).toEqual(['true']);
    }
    const gRun = summarize(gEnd.messages);
    expect(gRun.chunks).toBeGreaterThan(0);
    expect(gRun.final).toBeUndefined();
    expect(q2End.messages).toEqual([]);

    // Nothing is left behind: no place, no queue entry, no frontier connection, no charge to the breaker.
    expect(server.scheduler.activeRequests).toBe(0);
    expect(server.scheduler.queueDepth).toBe(0);
    await until(() => frontier.open === 0, 'the frontier calls closed');
    expect(server.engine.escalator!.breaker.state).toBe('closed');
    const counted = (await server.metrics.requests.get()).values;
    const count = (transport: string, status: string): number => counted.find((v) => v.labels.transport === transport && v.labels.status === status)?.value ?? 0;
    expect([count('http', 'shutting_down'), count('grpc', 'shutting_down')]).toEqual([3, 3]);
    expect(count('http', 'internal') + count('grpc', 'internal')).toBe(0);

    // And the server is gone: both ports refuse.
    await expect(fetch(`${server.httpUrl}/health`)).rejects.toThrow();
    expect((await client.generate({ model: MODEL, input, maxTokens: 5 }, { deadlineMs: 5000 })).status.code).toBe(grpc.status.UNAVAILABLE);
  });
});

describe('shutdown with a gRPC client that stopped reading', () => {
  let server: RunningServer;
  let client: GenerationClient;

  beforeAll(async () => {
    server = await startTestServer({ SPECROUTE_SERVER__SHUTDOWN_GRACE_MS: '1000' });
    client = new GenerationClient(`127.0.0.1:${server.grpcPort!}`);
  });
  afterAll(async () => {
    client?.close();
    await server?.close();
  });

  it('ends the stream and closes, instead of waiting forever for the client to read', async () => {
    // 450 tokens with 20 alternatives each are far more than HTTP/2 flow control lets through to a client that
    // reads nothing: the server's writes stall, and the generation waits on the transport, not on the models.
    const stream = client.start({ model: MODEL, input, maxTokens: 450, ignoreEos: true, topLogprobs: 20 });
    const messages: unknown[] = [];
    stream.on('data', (m: unknown) => {
      messages.push(m);
      stream.pause(); // reads one message, then nothing
    });
    stream.on('error', () => undefined);
    const status = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
    const tokens = async (): Promise<number> => (await server.metrics.generatedTokens.get()).values.reduce((sum, v) => sum + v.value, 0);
    // Wait for the stall: tokens stop coming while the request is still active.
    let last = -1;
    await until(async () => {
      const now = await tokens();
      const stalled = now === last && now > 0;
      last = now;
      if (!stalled) await new Promise((r) => setTimeout(r, 300));
      return stalled;
    }, 'the stream stalled on its client');
    expect(server.scheduler.activeRequests).toBe(1);
    expect(await tokens()).toBeLessThan(450);

    // Fails if the drain waits on a stream stuck on its client: the scheduler's abort never reached the
    // transport's wait for the client to read, so server.close() never returned.
    await within(server.close(), 'server.close()');
    expect(server.scheduler.activeRequests).toBe(0);
    const shuttingDown = (await server.metrics.requests.get()).values.find((v) => v.labels.transport === 'grpc' && v.labels.status === 'shutting_down');
    expect(shuttingDown?.value).toBe(1);
    stream.resume();
    const end = await within(status, 'the stream status');
    expect(end.code).not.toBe(grpc.status.OK);
    expect(messages.length).toBeLessThan(450);
  });
});

describe('a consumer that stops reading between two tokens', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => server?.close());

  // Fails if a request whose consumer left before the final event is counted as `ok` (no abort is seen when the
  // consumer leaves between tokens, only the generator's return).
  it('is counted as cancelled, and its sequence is freed', async () => {
    const cancelled = metricValue(await scrape(server.httpUrl), 'specroute_requests_total', { transport: 'http', status: 'cancelled' });
    const ok = metricValue(await scrape(server.httpUrl), 'specroute_requests_total', { transport: 'http', status: 'ok' });
    const generation = await server.scheduler.admit(
      { model: MODEL, input: { kind: 'text', text: PROMPT }, maxTokens: 200, ignoreEos: true },
      { transport: 'http', signal: new AbortController().signal },
    );
    let tokens = 0;
    for await (const event of generation) if (event.kind === 'token' && ++tokens >= 3) break;
    expect(tokens).toBe(3);
    await until(() => server.scheduler.activeRequests === 0 && server.engine.verifier.openSequences === 0, 'the sequence freed');
    const text = await scrape(server.httpUrl);
    expect(metricValue(text, 'specroute_requests_total', { transport: 'http', status: 'cancelled' })).toBe(cancelled + 1);
    expect(metricValue(text, 'specroute_requests_total', { transport: 'http', status: 'ok' })).toBe(ok);
  });
});
