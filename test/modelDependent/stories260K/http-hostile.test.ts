import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../../src/main.js';
import { expectRefusal, hostileHttpCases, KEY, MAX_BODY, MODEL, sendRaw } from '../../helpers/http-hostile-cases.js';
import { startTestServer } from '../../helpers/server.js';
import { metricValue } from '../../helpers/prometheus.js';
import { parseSse, streamedText } from '../../helpers/sse.js';

const COMPLETIONS = '/v1/completions';

describe('hostile HTTP input while a well-formed stream runs', () => {
  let server: RunningServer;
  const cases = hostileHttpCases();
  const good = { model: MODEL, prompt: 'Once upon a time', max_tokens: 400, ignore_eos: true, stream: true, stream_options: { include_usage: true } };
  const post = (body: unknown): Promise<Response> =>
    fetch(`${server.httpUrl}${COMPLETIONS}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify(body) });

  beforeAll(async () => {
    server = await startTestServer({
      SPECROUTE_API_KEYS: KEY,
      SPECROUTE_SERVER__MAX_BODY_BYTES: String(MAX_BODY),
      SPECROUTE_LIMITS__MAX_CONCURRENT: '2',
    });
  });
  afterAll(async () => server?.close());

  it(`refuses ${cases.length} malformed requests with a 4xx naming the problem, and the stream finishes intact`, async () => {
    expect(cases.length).toBeGreaterThanOrEqual(120);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    const alone = parseSse(await (await post(good)).text());
    expect(alone.data.at(-1)).toBe('[DONE]');

    const scrape = async (): Promise<string> => (await fetch(`${server.httpUrl}/metrics`)).text();
    const before = await scrape();

    // The good stream, read chunk by chunk; hostile requests go out in small concurrent batches between reads.
    const response = await post(good);
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let raw = '';
    let next = 0;
    let sentWhileStreaming = 0;
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      raw += decoder.decode(read.value, { stream: true });
      if (next < cases.length) {
        const batch = cases.slice(next, next + 4);
        next += batch.length;
        const responses = await Promise.all(batch.map((c) => sendRaw(server.httpUrl, c, KEY)));
        batch.forEach((c, i) => expectRefusal(c, responses[i]!));
        if (!raw.includes('data: [DONE]')) sentWhileStreaming += batch.length;
      }
    }
    // Whatever the stream did not outlast goes out now (each still checked).
    for (; next < cases.length; next++) expectRefusal(cases[next]!, await sendRaw(server.httpUrl, cases[next]!, KEY));

    const streamed = parseSse(raw);
    expect(streamed.data.at(-1)).toBe('[DONE]');
    expect(streamedText(streamed)).toBe(streamedText(alone));
    expect(streamedText(streamed).length).toBeGreaterThan(500);
    expect(sentWhileStreaming).toBeGreaterThan(0);

    // Each refusal was counted once, by its error code; only the two good streams finished ok.
    const after = await scrape();
    const counted = (text: string): number => metricValue(text, 'specroute_requests_total', { transport: 'http' });
    expect(counted(after) - counted(before)).toBe(cases.length + 1);
    expect(metricValue(after, 'specroute_requests_total', { transport: 'http', status: 'ok' })).toBe(2);
    expect(metricValue(after, 'specroute_active_sequences')).toBe(0);
  });
});
