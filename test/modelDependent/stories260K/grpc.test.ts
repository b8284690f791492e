import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthCheckResponse_ServingStatus as ServingStatus, type HealthCheckResponse } from '../../../src/gen/grpc/health/v1/health_pb.js';
import { create, toBinary } from '@bufbuild/protobuf';
import { ChatRole, EscalationStatus, FinishReason, GenerateRequestSchema, SpeculationMode, TokenSource, type GenerateResponse } from '../../../src/gen/specroute/v1/generate_pb.js';
import { PARAM_TRAILER } from '../../../src/ingress/grpc/grpc-status.js';
import { REQUEST_ID_HEADER } from '../../../src/ingress/grpc/generation-service.js';
import { escalateAfter, frontierSettings, startFaultyFrontier, type FaultyFrontier } from '../../helpers/faulty-frontier.js';
import { collectStream, GenerationClient, HealthClient, rawCall, summarize } from '../../helpers/grpc.js';
import { metricValue, scrape } from '../../helpers/prometheus.js';
import type { RunningServer } from '../../../src/main.js';
import { startTestServer } from '../../helpers/server.js';
import { until } from '../../helpers/until.js';

const KEY = 'sk-grpc-test-0123456789';
const AUTH = { metadata: { authorization: `Bearer ${KEY}` } };
const prompt = (value: string) => ({ case: 'prompt' as const, value });

/** The first `n` messages of a stream, leaving it open. */
function firstMessages(stream: grpc.ClientReadableStream<GenerateResponse>, n: number): Promise<GenerateResponse[]> {
  return new Promise((resolve, reject) => {
    const got: GenerateResponse[] = [];
    stream.on('data', (m: GenerateResponse) => {
      got.push(m);
      if (got.length === n) resolve(got);
    });
    stream.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? undefined : reject(e)));
  });
}

describe('gRPC GenerationService on stories260K (3-layer draft)', () => {
  let server: RunningServer;
  let client: GenerationClient;
  let health: HealthClient;
  // A frontier that never answers: a request that asks to escalate (`escalateAfter`) waits in its frontier call,
  // holding its sequence, until it is cancelled or its deadline passes. Other requests never escalate.
  let frontier: FaultyFrontier;
  const deadlineExceeded = async (): Promise<number> => metricValue(await scrape(server.httpUrl), 'specroute_requests_total', { transport: 'grpc', status: 'deadline_exceeded' });

  beforeAll(async () => {
    frontier = await startFaultyFrontier('hang');
    server = await startTestServer({
      SPECROUTE_API_KEYS: KEY,
      SPECROUTE_LIMITS__MAX_CONCURRENT: '2',
      SPECROUTE_LIMITS__MAX_QUEUE: '1',
      // The tests below compare greedy outputs exactly (speculative against verifier-only, and against fixed
      // text). Both models use an F32 KV cache for that: the default F16 cache rounds batched and one-by-one
      // passes differently and can flip a near-tie (docs/ARCHITECTURE.md#f16-kv-cache-and-flash-attention;
      // flash attention is always off in the llama backend).
      SPECROUTE_MODEL__VERIFIER__KV_CACHE_TYPE: 'F32',
      SPECROUTE_MODEL__DRAFT__KV_CACHE_TYPE: 'F32',
      ...frontierSettings(frontier),
    });
    client = new GenerationClient(`127.0.0.1:${server.grpcPort!}`);
    health = new HealthClient(`127.0.0.1:${server.grpcPort!}`);
  });
  afterAll(async () => {
    client?.close();
    health?.close();
    await server?.close();
    await frontier?.close();
  });

  it('streams tokens with their provenance and log-probability, then usage and speculation stats', async () => {
    const { messages, status, headers } = await client.generate({ model: 'stories260K', input: prompt('Once upon a time'), maxTokens: 60, ignoreEos: true, temperature: 0 }, AUTH);
    expect(status.code).toBe(grpc.status.OK);
    const run = summarize(messages);
    expect(run.text).toMatch(/^, there was a little girl named Lily/);
    expect(new Set(run.sources)).toEqual(new Set([TokenSource.VERIFIER, TokenSource.DRAFT, TokenSource.BONUS]));
    expect(messages.at(-1)!.event.case).toBe('final');
    for (const m of messages.slice(0, -1)) {
      expect(m.event.case).toBe('chunk');
      if (m.event.case === 'chunk') {
        expect(m.event.value.tokenIds.length).toBeGreaterThan(0);
        expect(m.event.value.logprob).toBeLessThanOrEqual(0);
      }
    }
    // Every accepted draft token and bonus carries its draft position; the first token (the prompt pass's) none.
    const chunks = messages.flatMap((m) => (m.event.case === 'chunk' ? [m.event.value] : []));
    expect(chunks[0]!.draftPosition).toBeUndefined();
    for (const chunk of chunks) if (chunk.source === TokenSource.DRAFT || chunk.source === TokenSource.BONUS) expect(chunk.draftPosition).toBeTypeOf('number');
    expect(chunks.filter((c) => c.source === TokenSource.BONUS).every((c) => c.draftPosition! > 0)).toBe(true);
    const final = run.final!;
    expect(final.id).toBe(headers?.get(REQUEST_ID_HEADER)[0]);
    expect(final.model).toBe('stories260K');
    expect(Number(final.created)).toBeGreaterThan(1_700_000_000);
    expect(final.finishReason).toBe(FinishReason.LENGTH);
    expect(final.usage!.completionTokens).toBe(60);
    expect(final.usage!.totalTokens).toBe(final.usage!.promptTokens + 60);
    const s = final.stats!;
    expect(s.mode).toBe(SpeculationMode.SPECULATIVE);
    expect(s.generatedTokens).toBe(60);
    expect(s.accepted + s.verifierPasses + 1).toBe(60);
    expect(s.acceptanceRate).toBeCloseTo(s.accepted / s.drafted, 10);
    expect(s.byPosition.reduce((sum, p) => sum + p.drafted, 0)).toBe(s.drafted);
    expect(s.byPosition.reduce((sum, p) => sum + p.accepted, 0)).toBe(s.accepted);
    expect(s.time!.totalMs).toBeGreaterThan(0);
    expect(s.time!.draftMs).toBeGreaterThan(0);
    expect(s.time!.verifyMs).toBeGreaterThan(0);
    // Token ids match the text: detokenizing them in-process gives the streamed text.
    const ids = messages.flatMap((m) => (m.event.case === 'chunk' ? m.event.value.tokenIds : []));
    expect(server.engine.tokenizer.detokenize(ids)).toBe(run.text);
  });

  it('gives the same text without speculation (verifier only), every token from the verifier', async () => {
    const base = { model: 'stories260K', input: prompt('Once upon a time'), maxTokens: 40, ignoreEos: true };
    const spec = summarize((await client.generate(base, AUTH)).messages);
    const plain = summarize((await client.generate({ ...base, speculation: { disable: true } }, AUTH)).messages);
    expect(plain.text).toBe(spec.text);
    expect(new Set(plain.sources)).toEqual(new Set([TokenSource.VERIFIER]));
    expect(plain.final!.stats!.mode).toBe(SpeculationMode.VERIFIER_ONLY);
    // γ fixed at 2: every draft block proposes exactly two tokens. Fails if speculation never ran (no position at
    // all) or if the request's speculation.max were ignored (γ would run up to the server's 8).
    const fixed = await client.generate({ ...base, speculation: { max: 2, adaptive: false } }, AUTH);
    expect(fixed.status.code).toBe(grpc.status.OK);
    const stats = summarize(fixed.messages).final!.stats!;
    expect(stats.mode).toBe(SpeculationMode.SPECULATIVE);
    expect(stats.drafted).toBeGreaterThan(0);
    expect(stats.byPosition).toHaveLength(2);
    expect(stats.byPosition[1]!.drafted).toBeGreaterThan(0);
  });

  it('takes chat messages, stop sequences, seeds and top log-probabilities', async () => {
    const chat = await client.generate(
      {
        model: 'stories260K',
        input: { case: 'chat', value: { messages: [{ role: ChatRole.SYSTEM, content: 'Tell a story.' }, { role: ChatRole.USER, content: 'Once upon a time' }] } },
        maxTokens: 20,
        topLogprobs: 3,
        temperature: 0.8,
        seed: 7,
      },
      AUTH,
    );
    expect(chat.status.code).toBe(grpc.status.OK);
    const chunks = chat.messages.flatMap((m) => (m.event.case === 'chunk' ? [m.event.value] : []));
    expect(chunks.length).toBeGreaterThan(0);
    for (const c of chunks) {
      expect(c.topLogprobs).toHaveLength(3);
      expect(c.topLogprobs[0]!.logprob).toBeGreaterThanOrEqual(c.topLogprobs[2]!.logprob);
      expect(c.topLogprobs.every((t) => typeof t.text === 'string')).toBe(true);
    }
    const again = await client.generate({ model: 'stories260K', input: { case: 'chat', value: { messages: [{ role: ChatRole.SYSTEM, content: 'Tell a story.' }, { role: ChatRole.USER, content: 'Once upon a time' }] } }, maxTokens: 20, temperature: 0.8, seed: 7 }, AUTH);
    expect(summarize(again.messages).text).toBe(summarize(chat.messages).text);

    const stopped = await client.generate({ model: 'stories260K', input: prompt('Once upon a time'), maxTokens: 60, stop: ['Lily'] }, AUTH);
    const run = summarize(stopped.messages);
    expect(run.text).toBe(', there was a little girl named ');
    expect(run.final!.finishReason).toBe(FinishReason.STOP);
  });

  it('lists the served model', async () => {
    const { messages, status } = await client.listModels(AUTH);
    expect(status.code).toBe(grpc.status.OK);
    const models = messages[0]!.models;
    expect(models.map((m) => m.id)).toEqual(['stories260K']);
    expect(models[0]!.contextSize).toBe(512);
    expect(models[0]!.draft).toMatch(/\.gguf$/);
  });

  it('refuses a missing or wrong API key with UNAUTHENTICATED', async () => {
    for (const metadata of [{}, { authorization: 'Bearer sk-wrong-key-000000' }, { authorization: KEY }] as Array<Record<string, string>>) {
      const gen = await client.generate({ model: 'stories260K', input: prompt('Once') }, { metadata });
      expect(gen.status.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(gen.status.details).toMatch(/API key/);
      expect(gen.messages).toEqual([]);
      const list = await client.listModels({ metadata });
      expect(list.status.code).toBe(grpc.status.UNAUTHENTICATED);
    }
    // Refused before the scheduler, yet counted (three Generate calls; ListModels is not a generation).
    const requests = await server.metrics.requests.get();
    expect(requests.values.find((v) => v.labels.transport === 'grpc' && v.labels.status === 'unauthenticated')?.value).toBe(3);
  });

  it('refuses invalid arguments with INVALID_ARGUMENT naming the field', async () => {
    const cases: Array<[Parameters<GenerationClient['generate']>[0], string]> = [
      [{ model: 'stories260K', input: prompt('Once'), temperature: 3 }, 'temperature'],
      [{ model: 'stories260K', input: prompt('Once'), maxTokens: 0 }, 'max_tokens'],
      [{ model: 'stories260K', input: prompt('Once'), topP: 0 }, 'top_p'],
      [{ model: 'stories260K', input: prompt('') }, 'prompt'],
      [{ model: 'stories260K' }, 'prompt'],
      [{ model: 'stories260K', input: { case: 'chat', value: { messages: [{ content: 'hi' }] } } }, 'chat.messages[0].role'],
      [{ model: 'stories260K', input: prompt('Once'), speculation: { max: 99 } }, 'speculation.max'],
      [{ model: 'stories260K', input: prompt('Once'), speculation: { pMin: 3 } }, 'speculation.p_min'],
    ];
    for (const [request, field] of cases) {
      const { status } = await client.generate(request, AUTH);
      expect(status.code, field).toBe(grpc.status.INVALID_ARGUMENT);
      expect(status.metadata.get(PARAM_TRAILER), field).toEqual([field]);
      expect(status.details, field).toContain(field.replace(/^chat\./, ''));
    }
    const unknown = await client.generate({ model: 'gpt-4', input: prompt('Once') }, AUTH);
    expect(unknown.status.code).toBe(grpc.status.NOT_FOUND);
    expect(unknown.status.details).toContain("'gpt-4'");
  });

  // The deadline tests send `grpc-timeout` as plain metadata on calls that have no deadline of their own, so the
  // client never ends them: a DEADLINE_EXCEEDED can only come from the server.
  it('ends a stream at a deadline only the server enforces, and frees its sequence', async () => {
    const counted = await deadlineExceeded();
    const reached = frontier.requests.length;
    // Three tokens, then a frontier call that never returns: only the deadline can end this stream.
    const { status, messages } = await client.generate(
      { model: 'stories260K', input: prompt('Once upon a time'), maxTokens: 450, ignoreEos: true, escalation: escalateAfter(3) },
      { ...AUTH, serverTimeout: '1S' },
    );
    // Fails if the server ignores a deadline that the client does not enforce (the call would wait forever).
    expect(status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(messages.some((m) => m.event.case === 'final')).toBe(false);
    // Fails if the work behind the call outlives it: its sequence and its frontier call must go.
    await until(() => server.scheduler.activeRequests === 0 && server.engine.verifier.openSequences === 0, 'sequence freed');
    await until(() => frontier.open === 0, 'frontier call closed');
    expect(frontier.requests.length).toBe(reached + 1);
    expect(await deadlineExceeded()).toBe(counted + 1);
  });

  it('ends a request whose deadline passes while it waits in the queue, leaving the others alone', async () => {
    const counted = await deadlineExceeded();
    const reached = frontier.requests.length;
    const hold = () => client.start({ model: 'stories260K', input: prompt('Once upon a time'), maxTokens: 450, ignoreEos: true, escalation: escalateAfter(0) }, AUTH);
    const holders = [hold(), hold()];
    const held = holders.map(collectStream);
    await until(() => frontier.requests.length === reached + 2, 'both sequences held');
    const queued = client.generate({ model: 'stories260K', input: prompt('Once upon a time'), maxTokens: 5 }, { ...AUTH, serverTimeout: '1S' });
    await until(() => server.scheduler.queueDepth === 1, 'the request queued');
    const { status, messages } = await queued;
    // Fails if a deadline does not reach a request before it has a sequence (it would wait until one frees).
    expect(status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(messages).toEqual([]);
    expect(server.scheduler.queueDepth).toBe(0);
    expect(server.scheduler.activeRequests).toBe(2);
    expect(await deadlineExceeded()).toBe(counted + 1);
    holders.forEach((s) => s.cancel());
    await Promise.all(held);
    await until(() => server.scheduler.activeRequests === 0 && server.engine.verifier.openSequences === 0, 'sequences freed');
  });

  it('refuses a call that arrives past its deadline before admitting it', async () => {
    const counted = await deadlineExceeded();
    const finished = async (): Promise<number> => metricValue(await scrape(server.httpUrl), 'specroute_requests_total', { transport: 'grpc' });
    const before = await finished();
    // `grpc-timeout: 0n`: the deadline is the moment the headers arrive, so it has passed when the handler runs.
    // Headers and message arrive together (`rawCall`), so the handler runs in the same turn as the headers, before
    // grpc-js's own 0 ms timer.
    const message = Buffer.from(toBinary(GenerateRequestSchema, create(GenerateRequestSchema, { model: 'stories260K', input: prompt('Once upon a time'), maxTokens: 5 })));
    const { status, messages } = await rawCall(client.address, message, { headers: { ...AUTH.metadata, 'grpc-timeout': '0n' } });
    // Fails if the "arrived past its deadline" check in generation-service.ts is gone: the request would be
    // admitted and end with grpc-js's own "Deadline exceeded" (or run), uncounted or counted by the scheduler.
    expect(status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(status.details).toBe('the call arrived past its deadline');
    expect(status.metadata.get('specroute-error-code')).toEqual(['deadline_exceeded']);
    expect(messages).toEqual([]);
    expect(await deadlineExceeded()).toBe(counted + 1);
    expect(await finished()).toBe(before + 1);
    expect(server.scheduler.activeRequests).toBe(0);
  });

  it('cancelling a stream stops generation at once and frees its sequence', async () => {
    const stream = client.start({ model: 'stories260K', input: prompt('Once upon a time'), maxTokens: 450, ignoreEos: true }, AUTH);
    const ended = collectStream(stream);
    await firstMessages(stream, 3);
    expect(server.scheduler.activeRequests).toBe(1);
    stream.cancel();
    expect((await ended).status.code).toBe(grpc.status.CANCELLED);
    await until(() => server.scheduler.activeRequests === 0 && server.engine.verifier.openSequences === 0);
    // And the server serves normally afterwards.
    const after = await client.generate({ model: 'stories260K', input: prompt('Once upon a time'), maxTokens: 5 }, AUTH);
    expect(after.status.code).toBe(grpc.status.OK);
  });

  it('answers RESOURCE_EXHAUSTED when every sequence and queue place is taken', async () => {
    // max concurrent 2 + queue 1: two streams hold both sequences (waiting on the frontier that never answers,
    // however fast the models are), a third waits in the queue, a fourth is refused.
    const reached = frontier.requests.length;
    const hold = () => client.start({ model: 'stories260K', input: prompt('Once upon a time'), maxTokens: 450, ignoreEos: true, escalation: escalateAfter(0) }, AUTH);
    const streams = [hold(), hold()];
    const ends = streams.map(collectStream);
    await until(() => frontier.requests.length === reached + 2, 'both sequences held');
    const queued = client.start({ model: 'stories260K', input: prompt('Once upon a time'), maxTokens: 5 }, AUTH);
    const queuedEnd = collectStream(queued);
    await until(() => server.scheduler.queueDepth === 1, 'the third request queued');
    const refused = await client.generate({ model: 'stories260K', input: prompt('Once'), maxTokens: 5 }, AUTH);
    expect(refused.status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(refused.status.details).toMatch(/capacity/);
    expect(refused.status.metadata.get('specroute-retryable')).toEqual(['true']);
    [...streams, queued].forEach((s) => s.cancel());
    await Promise.all([...ends, queuedEnd]);
    await until(() => server.scheduler.activeRequests === 0 && server.scheduler.queueDepth === 0, 'sequences and queue freed');
    await until(() => frontier.open === 0, 'frontier calls closed');
  });

  it('answers grpc.health.v1 Check and Watch, and turns NOT_SERVING at shutdown', async () => {
    for (const service of ['', 'specroute.v1.GenerationService']) {
      const { messages, status } = await health.check(service);
      expect(status.code).toBe(grpc.status.OK);
      expect(messages[0]!.status).toBe(ServingStatus.SERVING);
    }
    expect((await health.check('no.such.Service')).status.code).toBe(grpc.status.NOT_FOUND);

    const watch = health.watch('');
    const seen: ServingStatus[] = [];
    watch.on('data', (m: HealthCheckResponse) => seen.push(m.status));
    const watchEnd = collectStream(watch);
    await until(() => seen.length === 1);
    expect(seen).toEqual([ServingStatus.SERVING]);
    await server.close();
    const end = await watchEnd;
    expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    expect([grpc.status.OK, grpc.status.UNAVAILABLE]).toContain(end.status.code);
  });
});

describe('gRPC escalation to a frontier (a fake OpenAI-compatible server on 127.0.0.1)', () => {
  let frontier: FaultyFrontier;
  let server: RunningServer;
  let client: GenerationClient;

  beforeAll(async () => {
    frontier = await startFaultyFrontier('ok');
    frontier.words = [' The', ' dog', ' ran', ' to', ' the', ' park', '.'];
    server = await startTestServer({
      SPECROUTE_ESCALATION__FRONTIER__BASE_URL: `${frontier.baseUrl}`,
      SPECROUTE_ESCALATION__FRONTIER__MODEL: 'frontier',
      // The frontier shares the test's event loop: ample timeouts, so a busy machine skips no span for them.
      SPECROUTE_ESCALATION__FRONTIER__FIRST_BYTE_TIMEOUT_MS: '30000',
      SPECROUTE_ESCALATION__FRONTIER__TOTAL_TIMEOUT_MS: '60000',
    });
    client = new GenerationClient(`127.0.0.1:${server.grpcPort!}`);
  });
  afterAll(async () => {
    client?.close();
    await server?.close();
    await frontier?.close();
  });

  it('reports each escalation before the frontier tokens it splices in, and counts them in the final stats', async () => {
    // Unsure whenever the verifier's top probability is under 0.9: escalates often on this small model.
    const escalation = { window: 1, minConfidence: 0.9, spanTokens: 4, cooldownTokens: 6 };
    const { messages, status } = await client.generate({ model: 'stories260K', input: prompt('Once upon a time'), maxTokens: 60, ignoreEos: true, escalation });
    expect(status.code).toBe(grpc.status.OK);
    const escalations = messages.flatMap((m) => (m.event.case === 'escalation' ? [m.event.value] : []));
    expect(escalations.length).toBeGreaterThan(0);
    const spliced = escalations.filter((e) => e.status === EscalationStatus.SPLICED);
    const skipped = escalations.filter((e) => e.status === EscalationStatus.SKIPPED);
    expect(spliced.length).toBeGreaterThan(0);
    for (const e of spliced) {
      expect(e.reason).toBe('');
      expect(e.attempts).toBeGreaterThanOrEqual(1);
      expect(e.splicedTokens).toBeGreaterThan(0);
    }
    // Past the per-request budget (4 calls by default) escalations are skipped, saying why.
    for (const e of skipped) expect(e.reason).toMatch(/^request_(calls|tokens)$/);
    const first = messages.findIndex((m) => m.event.case === 'escalation');
    const firstFrontier = messages.findIndex((m) => m.event.case === 'chunk' && m.event.value.source === TokenSource.FRONTIER);
    expect(firstFrontier).toBeGreaterThan(first);
    const run = summarize(messages);
    expect(run.text).toContain(' The dog ran to');
    const stats = run.final!.stats!;
    expect(stats.escalations).toBe(spliced.length);
    expect(Object.values(stats.escalationsSkipped).reduce((a, b) => a + b, 0)).toBe(skipped.length);
    expect(stats.tokensBySource!.frontier).toBe(run.sources.filter((s) => s === TokenSource.FRONTIER).length);
    expect(stats.tokensBySource!.draft + stats.tokensBySource!.verifier + stats.tokensBySource!.bonus + stats.tokensBySource!.frontier).toBe(60);

    const local = await client.generate({ model: 'stories260K', input: prompt('Once upon a time'), maxTokens: 60, ignoreEos: true, escalation: { disable: true } });
    expect(local.messages.some((m) => m.event.case === 'escalation')).toBe(false);
    expect(summarize(local.messages).final!.stats!.escalations).toBe(0);
  });
});
