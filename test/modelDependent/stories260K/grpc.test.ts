import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthCheckResponse_ServingStatus as ServingStatus, type HealthCheckResponse } from '../../../src/gen/grpc/health/v1/health_pb.js';
import { ChatRole, EscalationStatus, FinishReason, SpeculationMode, TokenSource, type GenerateResponse } from '../../../src/gen/specroute/v1/generate_pb.js';
import { PARAM_TRAILER } from '../../../src/ingress/grpc/grpc-status.js';
import { REQUEST_ID_HEADER } from '../../../src/ingress/grpc/generation-service.js';
import { startFaultyFrontier, type FaultyFrontier } from '../../helpers/faulty-frontier.js';
import { collectStream, GenerationClient, HealthClient, summarize } from '../../helpers/grpc.js';
import type { RunningServer } from '../../../src/main.js';
import { startTestServer } from '../../helpers/server.js';

const KEY = 'sk-grpc-test-0123456789';
const AUTH = { metadata: { authorization: `Bearer ${KEY}` } };
const prompt = (value: string) => ({ case: 'prompt' as const, value });

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

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

  beforeAll(async () => {
    server = await startTestServer({ SPECROUTE_API_KEYS: KEY, SPECROUTE_LIMITS__MAX_CONCURRENT: '2', SPECROUTE_LIMITS__MAX_QUEUE: '1' });
    client = new GenerationClient(`127.0.0.1:${server.grpcPort!}`);
    health = new HealthClient(`127.0.0.1:${server.grpcPort!}`);
  });
  afterAll(async () => {
    client?.close();
    health?.close();
    await server?.close();
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
    const fixed = await client.generate({ ...base, speculation: { max: 2, adaptive: false } }, AUTH);
    expect(fixed.status.code).toBe(grpc.status.OK);
    expect(summarize(fixed.messages).final!.stats!.byPosition.length).toBeLessThanOrEqual(2);
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

  it('ends a stream past its deadline with DEADLINE_EXCEEDED and frees its sequence', async () => {
    const { status, messages } = await client.generate({ model: 'stories260K', input: prompt('Once upon a time'), maxTokens: 450, ignoreEos: true }, { ...AUTH, deadlineMs: 100 });
    expect(status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(messages.some((m) => m.event.case === 'final')).toBe(false);
    await until(() => server.scheduler.activeRequests === 0 && server.engine.verifier.openSequences === 0);
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
    // max concurrent 2 + queue 1: three long streams fill the server, a fourth is refused.
    const long = () => client.start({ model: 'stories260K', input: prompt('Once upon a time'), maxTokens: 450, ignoreEos: true }, AUTH);
    const streams = [long(), long()];
    const ends = streams.map(collectStream);
    await Promise.all(streams.map((s) => firstMessages(s, 1)));
    const queued = long();
    const queuedEnd = collectStream(queued);
    await until(() => server.scheduler.queueDepth === 1);
    const refused = await client.generate({ model: 'stories260K', input: prompt('Once'), maxTokens: 5 }, AUTH);
    expect(refused.status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(refused.status.details).toMatch(/capacity/);
    expect(refused.status.metadata.get('specroute-retryable')).toEqual(['true']);
    [...streams, queued].forEach((s) => s.cancel());
    await Promise.all([...ends, queuedEnd]);
    await until(() => server.scheduler.activeRequests === 0 && server.scheduler.queueDepth === 0);
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
    server = await startTestServer({ SPECROUTE_ESCALATION__FRONTIER__BASE_URL: `${frontier.baseUrl}`, SPECROUTE_ESCALATION__FRONTIER__MODEL: 'frontier' });
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
