import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../../src/main.js';
import { expectRefusal, hostileHttpCases, KEY, MAX_BODY, MODEL, sendRaw } from '../../helpers/http-hostile-cases.js';
import { escalateAfterHttp, frontierSettings, startFaultyFrontier, type FaultyFrontier } from '../../helpers/faulty-frontier.js';
import { startTestServer } from '../../helpers/server.js';
import { until } from '../../helpers/until.js';
import { metricValue, scrape } from '../../helpers/prometheus.js';
import { parseSse, streamedText } from '../../helpers/sse.js';

const COMPLETIONS = '/v1/completions';

describe('hostile HTTP input while a well-formed stream runs', () => {
  let server: RunningServer;
  // The good stream escalates once, after 150 tokens, to a frontier that holds the call until every hostile case
  // has been sent: the cases certainly overlap the stream, however fast or slow generation is.
  let frontier: FaultyFrontier;
  const cases = hostileHttpCases();
  const good = { model: MODEL, prompt: 'Once upon a time', max_tokens: 400, ignore_eos: true, stream: true, stream_options: { include_usage: true }, specroute: { escalation: escalateAfterHttp(150) } };
  const post = (body: unknown): Promise<Response> =>
    fetch(`${server.httpUrl}${COMPLETIONS}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify(body) });

  beforeAll(async () => {
    frontier = await startFaultyFrontier('ok');
    server = await startTestServer({
      SPECROUTE_API_KEYS: KEY,
      SPECROUTE_SERVER__MAX_BODY_BYTES: String(MAX_BODY),
      SPECROUTE_LIMITS__MAX_CONCURRENT: '2',
      ...frontierSettings(frontier),
    });
  });
  afterAll(async () => {
    frontier?.release();
    await server?.close();
    await frontier?.close();
  });

  it(`refuses ${cases.length} malformed requests with a 4xx naming the problem, and the stream finishes intact`, async () => {
    expect(cases.length).toBeGreaterThanOrEqual(120);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    // The reference, its frontier span answered at once.
    const alone = parseSse(await (await post(good)).text());
    expect(alone.data.at(-1)).toBe('[DONE]');

    const before = await scrape(server.httpUrl);

    // The good stream, read as it comes; hostile requests go out in small concurrent batches meanwhile, the first
    // ones while it generates, the rest (on a fast machine) while its frontier call is held.
    frontier.mode = 'hold';
    const response = await post(good);
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const first = await reader.read(); // it is under way
    const decoder = new TextDecoder();
    let raw = first.done ? '' : decoder.decode(first.value, { stream: true });
    const rest = (async () => {
      for (let read = await reader.read(); !read.done; read = await reader.read()) raw += decoder.decode(read.value, { stream: true });
    })();
    for (let next = 0; next < cases.length; next += 4) {
      const batch = cases.slice(next, next + 4);
      const responses = await Promise.all(batch.map((c) => sendRaw(server.httpUrl, c, KEY)));
      batch.forEach((c, i) => expectRefusal(c, responses[i]!));
    }
    // Every case went out while the good stream was in flight: it cannot end before its frontier call does.
    expect(raw).not.toContain('data: [DONE]');
    await until(() => frontier.held === 1, 'the good stream at its frontier call');
    frontier.release();
    frontier.mode = 'ok';
    await rest;

    const streamed = parseSse(raw);
    expect(streamed.data.at(-1)).toBe('[DONE]');
    expect(streamedText(streamed)).toBe(streamedText(alone));
    expect(streamedText(streamed).length).toBeGreaterThan(500);

    // Each refusal was counted once, by its error code; only the two good streams finished ok.
    const after = await scrape(server.httpUrl);
    const counted = (text: string): number => metricValue(text, 'specroute_requests_total', { transport: 'http' });
    expect(counted(after) - counted(before)).toBe(cases.length + 1);
    expect(metricValue(after, 'specroute_requests_total', { transport: 'http', status: 'ok' })).toBe(2);
    expect(metricValue(after, 'specroute_active_sequences')).toBe(0);
  });
});
