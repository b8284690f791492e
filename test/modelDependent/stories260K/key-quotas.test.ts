/**
 * Per-key quotas on one server (stories260K, a frontier on 127.0.0.1): tokens per minute, tiers a key may use,
 * frontier spending per day, the 429 / RESOURCE_EXHAUSTED a client gets over a quota, and metrics that name keys
 * by name only. (Quotas across replicas: replicas.test.ts.)
 */
import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { Route } from '../../../src/gen/specroute/v1/generate_pb.js';
import { startServer, type RunningServer } from '../../../src/main.js';
import { escalateAfterHttp, frontierSettings, startFaultyFrontier, type FaultyFrontier } from '../../helpers/faulty-frontier.js';
import { GenerationClient } from '../../helpers/grpc.js';
import { storiesConfigFile } from '../../helpers/config-file.js';
import { scratchDir } from '../../helpers/models.js';
import { metricValue, scrape } from '../../helpers/prometheus.js';
import { postJson } from '../../helpers/sse.js';

const MODEL = 'stories260K';
const KEYS = { tokens: 'sk-tokens-0123456789', local: 'sk-local-only-0123456789', spender: 'sk-spender-0123456789', grpc: 'sk-grpc-0123456789' };
const digest = (key: string): string => createHash('sha256').update(key).digest('hex');

describe('per-key quotas', () => {
  let frontier: FaultyFrontier;
  let server: RunningServer;
  let client: GenerationClient;
  const complete = (key: string, body: Record<string, unknown>): Promise<Response> =>
    postJson(`${server.httpUrl}/v1/completions`, { model: MODEL, prompt: 'Once upon a time', ...body }, { authorization: `Bearer ${key}` });

  beforeAll(async () => {
    frontier = await startFaultyFrontier('ok');
    const config = storiesConfigFile(
      `escalation:
  budget: { outputPricePerMillion: 1000 }
auth:
  keys:
    - { name: tokens, sha256: ${digest(KEYS.tokens)}, tokensPerMinute: 100 }
    - { name: local-only, sha256: ${digest(KEYS.local)}, tiers: [slm, hybrid] }
    - { name: spender, sha256: ${digest(KEYS.spender)}, frontierCostPerDay: 0.05 }
    - { name: grpc, keyEnv: GRPC_CLIENT_KEY, requestsPerMinute: 1 }
`);
    server = await startServer(
      loadConfig(config, { port: 0, grpcPort: 0, host: '127.0.0.1' }, { SPECROUTE_CACHE_DIR: scratchDir(), GRPC_CLIENT_KEY: KEYS.grpc, ...frontierSettings(frontier) }),
    );
    client = new GenerationClient(`127.0.0.1:${server.grpcPort!}`);
  });
  afterAll(async () => {
    client?.close();
    await server?.close();
    await frontier?.close();
  });

  it('tokensPerMinute: a request reserves its prompt and max_tokens; one that does not fit is refused naming the limit', async () => {
    const first = await complete(KEYS.tokens, { max_tokens: 60, ignore_eos: true });
    expect(first.status).toBe(200);
    const refused = await complete(KEYS.tokens, { max_tokens: 60 });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(50); // the first request leaves the window in a minute
    expect(await refused.json()).toEqual({
      error: { message: expect.stringContaining("'tokens' is over its quota of 100 tokens per minute"), type: 'rate_limit_error', param: 'tokensPerMinute', code: 'quota_exceeded' },
    });
    // What is left still fits a smaller request: the first one was settled to what it used.
    expect((await complete(KEYS.tokens, { max_tokens: 8 })).status).toBe(200);
  });

  it('tiers: a key kept off the frontier gets 403 naming route for it, and its text never reaches the frontier', async () => {
    const named = await complete(KEYS.local, { max_tokens: 4, specroute: { route: 'frontier' } });
    expect(named.status).toBe(403);
    expect(await named.json()).toEqual({ error: { message: expect.stringContaining("'local-only' may not use the frontier tier"), type: 'permission_error', param: 'specroute.route', code: 'permission_denied' } });
    const calls = frontier.requests.length;
    // A request that asks to escalate after 2 tokens: for this key, escalation is off.
    const escalating = await complete(KEYS.local, { max_tokens: 16, specroute: { escalation: escalateAfterHttp(2) } });
    expect(escalating.status).toBe(200);
    const body = (await escalating.json()) as { specroute: { stats: { escalations: number } } };
    expect(body.specroute.stats.escalations).toBe(0);
    expect(frontier.requests.length).toBe(calls);
    // The same request with a key that may escalate does reach the frontier.
    expect((await complete(KEYS.spender, { max_tokens: 16, specroute: { escalation: escalateAfterHttp(2) } })).status).toBe(200);
    expect(frontier.requests.length).toBe(calls + 1);
  });

  it('frontierCostPerDay: once spent, route: frontier is refused naming the limit, and local tiers still serve the key', async () => {
    // 8 output tokens at 1000 per million: 0.008 a call. Calls are served while the day's spending is under 0.05.
    const spent = async (): Promise<number> => metricValue(await scrape(server.httpUrl), 'specroute_key_frontier_cost_total', { key: 'spender' });
    let refused: Response | undefined;
    for (let i = 0; i < 10 && !refused; i++) {
      const before = await spent();
      const response = await complete(KEYS.spender, { max_tokens: 8, specroute: { route: 'frontier' } });
      if (response.status === 200) expect(before).toBeLessThan(0.05);
      else refused = response;
    }
    expect(refused?.status).toBe(429);
    expect(await spent()).toBeGreaterThanOrEqual(0.05);
    expect(await refused!.json()).toMatchObject({ error: { param: 'frontierCostPerDay', code: 'quota_exceeded' } });
    expect((await complete(KEYS.spender, { max_tokens: 8, specroute: { route: 'hybrid' } })).status).toBe(200);
  });

  it('over gRPC: RESOURCE_EXHAUSTED with the error code, the limit and retry-after in the trailers', async () => {
    const request = { model: MODEL, input: { case: 'prompt' as const, value: 'Once upon a time' }, maxTokens: 4, route: Route.HYBRID };
    const metadata = { authorization: `Bearer ${KEYS.grpc}` };
    expect((await client.generate(request, { metadata })).status.code).toBe(grpc.status.OK);
    const { status } = await client.generate(request, { metadata });
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toContain("'grpc' is over its quota of 1 requests per minute");
    expect(status.metadata.get('specroute-error-code')).toEqual(['quota_exceeded']);
    expect(status.metadata.get('specroute-param')).toEqual(['requestsPerMinute']);
    expect(Number(status.metadata.get('retry-after')[0])).toBeGreaterThan(0);
    expect((await client.generate(request, { metadata: { authorization: 'Bearer sk-wrong-0123456789' } })).status.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('counts requests, tokens and spending by key name, and never shows a key', async () => {
    const text = await scrape(server.httpUrl);
    expect(metricValue(text, 'specroute_key_requests_total', { key: 'tokens', status: 'ok' })).toBe(2);
    expect(metricValue(text, 'specroute_key_requests_total', { key: 'tokens', status: 'quota_exceeded' })).toBe(1);
    expect(metricValue(text, 'specroute_key_requests_total', { key: 'grpc', status: 'quota_exceeded' })).toBe(1);
    expect(metricValue(text, 'specroute_key_tokens_total', { key: 'tokens' })).toBeGreaterThan(60);
    for (const key of Object.values(KEYS)) {
      expect(text).not.toContain(key);
      expect(text).not.toContain(digest(key));
    }
  });
});
