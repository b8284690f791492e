/**
 * Workers that recover (docs/ARCHITECTURE.md#workers-that-recover). A model worker's thread dies mid-stream: the
 * requests on it end with `model_unavailable` (HTTP 503 or an SSE error event in the OpenAI shape, gRPC
 * UNAVAILABLE, retryable), `/ready` and gRPC health say so until the model is loaded again on a new thread, and the
 * requests that were waiting, and the next ones, are served with the output they would have had anyway.
 *
 * The thread dies of an uncaught error (`ModelWorker.crashForTesting`), the way a bug in the worker would kill it.
 * Terminating a busy thread from outside (`Worker.terminate()`) is no test of this: it aborts the whole process
 * (node-llama-cpp's native work completes into the torn-down thread), as the architecture notes say; a thread
 * terminated while idle is tested at the end, on a `ModelWorker` alone.
 *
 * The long requests (480 tokens, `ignore_eos`) take seconds here and the thread dies within milliseconds of their
 * first tokens, so they are mid-stream; one more request waits in a frontier call held by the test (it streams two
 * tokens, then holds its sequences for as long as the test likes), so that one certainly holds a sequence opened
 * before the restart and tries it only after.
 */
import * as grpc from '@grpc/grpc-js';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../../src/main.js';
import { HealthCheckResponse_ServingStatus as ServingStatus } from '../../../src/gen/grpc/health/v1/health_pb.js';
import type { ScoreRequest } from '../../../src/backends/types.js';
import { defaultSamplingParams } from '../../../src/sampling/params.js';
import { ModelWorker } from '../../../src/workers/model-worker-client.js';
import { escalateAfterHttp, frontierSettings, startFaultyFrontier, type FaultyFrontier } from '../../helpers/faulty-frontier.js';
import { collectStream, GenerationClient, HealthClient, summarize } from '../../helpers/grpc.js';
import { modelOptions, STORIES } from '../../helpers/models.js';
import { metricValue, scrape } from '../../helpers/prometheus.js';
import { startTestServer } from '../../helpers/server.js';
import { parseSse, postJson, streamedText } from '../../helpers/sse.js';
import { until, within } from '../../helpers/until.js';

const MODEL = 'stories260K';
const PROMPT = 'Once upon a time';
/** The prompt of the request that waits out the restart, and of the one after it. */
const LATER_PROMPT = 'The little dog';
/** A request that is still generating when the thread dies: 480 tokens take seconds here. */
const LONG = { model: MODEL, prompt: PROMPT, max_tokens: 480, temperature: 0, ignore_eos: true };

/** The error a request on a dead worker ends with, in the OpenAI shape (the `role` names the model). */
const unavailable = (role: string): { message: string; type: string; param: null; code: string } => ({
  message: `the ${role} model's worker stopped and is restarting; retry the request`,
  type: 'server_error',
  param: null,
  code: 'model_unavailable',
});

/** Reads an OpenAI SDK stream to its end: the text it carried, and the error it ended with, if any. */
function readStream(stream: AsyncIterable<OpenAI.Completions.Completion>): { firstText: Promise<void>; done: Promise<{ text: string; error: unknown }> } {
  let seen: () => void = () => undefined;
  const firstText = new Promise<void>((resolve) => (seen = resolve));
  const done = (async () => {
    let text = '';
    try {
      for await (const chunk of stream) {
        text += chunk.choices[0]?.text ?? '';
        if (text) seen();
      }
      return { text, error: undefined };
    } catch (error) {
      return { text, error };
    }
  })();
  return { firstText, done };
}

describe('a model worker whose thread dies mid-stream', () => {
  let frontier: FaultyFrontier;
  let server: RunningServer;
  let openai: OpenAI;
  let client: GenerationClient;
  let health: HealthClient;
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => metricValue(await scrape(server.httpUrl), name, labels);
  const readyStatus = async (): Promise<number> => (await fetch(`${server.httpUrl}/ready`)).status;
  const servingStatus = async (): Promise<ServingStatus | undefined> => (await health.check('')).messages[0]?.status;
  const later = async (): Promise<string> => (await openai.completions.create({ model: MODEL, prompt: LATER_PROMPT, max_tokens: 32, temperature: 0 })).choices[0]!.text;
  /** Nothing is left holding a sequence or waiting for one. */
  const released = (): Promise<void> =>
    until(() => server.scheduler.activeRequests === 0 && server.scheduler.queueDepth === 0 && server.engine.verifier.openSequences === 0 && server.engine.draft!.openSequences === 0, 'every sequence freed');

  beforeAll(async () => {
    frontier = await startFaultyFrontier('hold');
    // Four requests hold sequences at once; a fifth waits in the queue.
    server = await startTestServer({ SPECROUTE_LIMITS__MAX_CONCURRENT: '4', SPECROUTE_LIMITS__MAX_QUEUE: '8', ...frontierSettings(frontier) });
    openai = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
    client = new GenerationClient(`127.0.0.1:${server.grpcPort!}`);
    health = new HealthClient(`127.0.0.1:${server.grpcPort!}`);
  });
  afterAll(async () => {
    frontier?.release();
    client?.close();
    health?.close();
    await server?.close();
    await frontier?.close();
  });

  it('the verifier: its requests end with model_unavailable (SSE event, 503, UNAVAILABLE; retryable), /ready goes 503 then 200, the queued and the next request are served', async () => {
    const reference = await later(); // greedy, before anything died
    expect(reference.length).toBeGreaterThan(0);
    expect(await readyStatus()).toBe(200);
    const failedBefore = await metric('specroute_requests_total', { status: 'model_unavailable' });

    // H holds its sequences in a frontier call after two tokens (released only after the restart).
    const held = await postJson(`${server.httpUrl}/v1/completions`, { ...LONG, stream: true, specroute: { escalation: escalateAfterHttp(2) } });
    expect(held.status).toBe(200);
    const heldBody = held.text();
    await until(() => frontier.requests.length === 1, 'H in its frontier call');
    // S streams over SSE; N waits for its whole answer, decoding with the verifier alone (its tokens come over a
    // MessagePort while the worker's decode task runs); G streams over gRPC. All three are mid-generation.
    const s = readStream(await openai.completions.create({ ...LONG, stream: true } as OpenAI.Completions.CompletionCreateParamsStreaming));
    const n = openai.completions.create({ ...LONG, specroute: { speculation: false } } as OpenAI.Completions.CompletionCreateParamsNonStreaming).catch((error: unknown) => error);
    const gStream = client.start({ model: MODEL, input: { case: 'prompt', value: PROMPT }, maxTokens: 480, temperature: 0, ignoreEos: true });
    let gFirst: () => void = () => undefined;
    const gStarted = new Promise<void>((resolve) => (gFirst = resolve));
    gStream.on('data', () => gFirst());
    const g = collectStream(gStream);
    await Promise.all([s.firstText, gStarted]);
    await until(() => server.engine.verifier.openSequences === 4, 'N holding a sequence');
    // Q waits in the queue for a sequence.
    const q = openai.completions.create({ model: MODEL, prompt: LATER_PROMPT, max_tokens: 32, temperature: 0 });
    await until(() => server.scheduler.queueDepth === 1, 'Q queued');

    await server.engine.verifier.crashForTesting();
    // Not ready from the moment the thread dies: HTTP and gRPC health agree.
    expect(await readyStatus()).toBe(503);
    expect(await servingStatus()).toBe(ServingStatus.NOT_SERVING);

    // S: the stream ends with the error event in the OpenAI shape (the SDK raises it as an APIError).
    const sEnd = await within(s.done, 'S');
    expect(sEnd.text.length).toBeGreaterThan(0);
    expect(sEnd.error).toBeInstanceOf(APIError);
    expect((sEnd.error as APIError).error).toEqual(unavailable('verifier'));
    // N: a 503 with Retry-After and the OpenAI error body.
    const nEnd = await within(n, 'N');
    expect(nEnd).toBeInstanceOf(APIError);
    expect((nEnd as APIError).status).toBe(503);
    expect((nEnd as APIError).headers?.get('retry-after')).toBe('1');
    expect((nEnd as APIError).error).toEqual(unavailable('verifier'));
    // G: UNAVAILABLE, marked retryable, after its first tokens.
    const gEnd = await within(g, 'G');
    expect(summarize(gEnd.messages).chunks).toBeGreaterThan(0);
    expect(summarize(gEnd.messages).final).toBeUndefined();
    expect(gEnd.status.code).toBe(grpc.status.UNAVAILABLE);
    expect(gEnd.status.details).toBe(unavailable('verifier').message);
    expect(gEnd.status.metadata.get('specroute-error-code')).toEqual(['model_unavailable']);
    expect(gEnd.status.metadata.get('specroute-retryable')).toEqual(['true']);

    // The model is loaded again on a new thread: ready once more.
    await until(async () => (await readyStatus()) === 200, '/ready 200 again');
    expect(await servingStatus()).toBe(ServingStatus.SERVING);
    expect(server.engine.verifier.threadsStarted).toBe(2);

    // Q waited out the restart and was served, with the text it would have had anyway.
    expect((await within(q, 'Q')).choices[0]!.text).toBe(reference);

    // H's sequence was opened on the dead thread: let its frontier call end, and its next verifier pass fails
    // rather than run on the new thread.
    frontier.release();
    const heldSse = parseSse(await within(heldBody, 'H'));
    expect(streamedText(heldSse).length).toBeGreaterThan(0);
    expect(heldSse.data).not.toContain('[DONE]');
    expect(JSON.parse(heldSse.data.at(-1)!)).toEqual({ error: unavailable('verifier') });

    // The next request is served as before, and nothing is left behind.
    expect(await later()).toBe(reference);
    await released();
    expect(await metric('specroute_requests_total', { status: 'model_unavailable' })).toBe(failedBefore + 4);
    expect(await metric('specroute_worker_restarts_total', { role: 'verifier' })).toBe(1);
    expect(await metric('specroute_worker_up', { role: 'verifier' })).toBe(1);
  });

  it('the draft: the requests drafting on it end with model_unavailable, a verifier-only request completes, /ready goes 503 then 200', async () => {
    const reference = await later();
    // D drafts on the draft worker; V decodes with the verifier alone and never touches it.
    const d = readStream(await openai.completions.create({ ...LONG, stream: true } as OpenAI.Completions.CompletionCreateParamsStreaming));
    const v = readStream(await openai.completions.create({ ...LONG, stream: true, specroute: { speculation: false } } as OpenAI.Completions.CompletionCreateParamsStreaming));
    await Promise.all([d.firstText, v.firstText]);

    await server.engine.draft!.crashForTesting();
    expect(await readyStatus()).toBe(503);

    const dEnd = await within(d.done, 'D');
    expect(dEnd.error).toBeInstanceOf(APIError);
    expect((dEnd.error as APIError).error).toEqual(unavailable('draft'));
    // V was on no dead thread: it runs to its end.
    const vEnd = await within(v.done, 'V');
    expect(vEnd.error).toBeUndefined();
    expect(vEnd.text.length).toBeGreaterThan(0);

    await until(async () => (await readyStatus()) === 200, '/ready 200 again');
    expect(server.engine.draft!.threadsStarted).toBe(2);
    expect(await later()).toBe(reference);
    await released();
    expect(await metric('specroute_worker_restarts_total', { role: 'draft' })).toBe(1);
    expect(await metric('specroute_worker_up', { role: 'draft' })).toBe(1);
  });
});

describe('a ModelWorker alone', () => {
  const request: ScoreRequest = { sampling: defaultSamplingParams }; // greedy

  it('replaces a thread terminated while idle: sequences opened before fail with model_unavailable and close quietly, open() waits for the model', async () => {
    const events: string[] = [];
    const worker = await ModelWorker.start(modelOptions(STORIES, { sequences: 2 }), 'verifier', { onEvent: (e) => events.push(e.kind) });
    try {
      const before = await worker.open();
      const [expected] = await before.evaluate(0, [1, 403, 407], 1, request);
      await worker.threadForTesting()!.terminate();
      expect(worker.available).toBe(false);
      // A call on the old sequence never reaches the new thread.
      await expect(before.evaluate(3, [600], 1, request)).rejects.toMatchObject({ code: 'model_unavailable' });
      await before.close();
      expect(worker.openSequences).toBe(0);
      // open() waits for the restart, then is served by the new thread with the same model.
      const after = await worker.open();
      expect(worker.available).toBe(true);
      expect(after.generation).toBe(1);
      expect(await after.evaluate(0, [1, 403, 407], 1, request)).toEqual([expected]);
      await after.close();
      expect(events).toEqual(['died', 'restarted']);
    } finally {
      await worker.dispose();
    }
  });

  it('does not restart once disposed: a dispose during the restart ends the calls waiting for it, and may be called twice', async () => {
    const worker = await ModelWorker.start(modelOptions(STORIES, { sequences: 1 }), 'draft');
    await worker.crashForTesting();
    const waiting = worker.open().catch((error: unknown) => error);
    await Promise.all([worker.dispose(), worker.dispose()]);
    expect(await waiting).toMatchObject({ code: 'shutting_down' });
    expect(worker.available).toBe(false);
    expect(worker.threadsStarted).toBe(1);
  });
});
