/**
 * Three replicas (`specroute serve` processes on stories260K) sharing one real `redis-server`, behind a real nginx,
 * against a frontier on 127.0.0.1 that counts every HTTP request it receives. Everything goes through the balancer
 * unless a test must reach one replica; every check reads what a client or a scraper sees.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escalateAfterHttp, startFaultyFrontier, type FaultyFrontier } from '../../helpers/faulty-frontier.js';
import { storiesConfigFile } from '../../helpers/config-file.js';
import { scratchDir } from '../../helpers/models.js';
import { startLoadBalancer, type LoadBalancer } from '../../helpers/nginx.js';
import { metricValue, scrape } from '../../helpers/prometheus.js';
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js';
import { startServe, type ServeProcess } from '../../helpers/serve-process.js';
import { parseSse, postJson, streamedText } from '../../helpers/sse.js';
import { until } from '../../helpers/until.js';

const MODEL = 'stories260K';
const PROMPT = 'Once upon a time';
const CALLS_PER_MINUTE = 10;
const KEYS = { open: 'sk-open-0123456789', limited: 'sk-limited-0123456789', later: 'sk-later-0123456789' };
const sha = (key: string): string => createHash('sha256').update(key).digest('hex');

describe('three replicas sharing Redis behind nginx', () => {
  let redis: RedisServer;
  let frontier: FaultyFrontier;
  const replicas: ServeProcess[] = [];
  let balancer: LoadBalancer;

  const complete = (url: string, key: string, body: Record<string, unknown> = {}): Promise<Response> =>
    postJson(`${url}/v1/completions`, { model: MODEL, prompt: PROMPT, max_tokens: 16, ...body }, { authorization: `Bearer ${key}` });
  /** A metric summed over the replicas (each scraped directly: /metrics is per process). */
  const total = async (name: string, labels: Record<string, string>): Promise<number> =>
    (await Promise.all(replicas.map(async (r) => metricValue(await scrape(r.url), name, labels)))).reduce((a, b) => a + b, 0);
  /** Most frontier requests received within any 60 s. */
  const busiestMinute = (): number => {
    const times = frontier.requests.map((r) => r.at).sort((a, b) => a - b);
    return Math.max(0, ...times.map((t, i) => times.filter((u, j) => j >= i && u - t < 60_000).length));
  };

  beforeAll(async () => {
    redis = await startRedisServer();
    frontier = await startFaultyFrontier('ok');
    const config = storiesConfigFile(
      `limits: { maxConcurrent: 8 }
escalation:
  frontier: { baseUrl: ${frontier.baseUrl}, model: frontier, retries: 0, connectTimeoutMs: 5000, firstByteTimeoutMs: 5000, totalTimeoutMs: 10000 }
  policy: { minConfidence: 0 }
  breaker: { failureThreshold: 1, cooldownMs: 1500, halfOpenProbes: 1 }
  budget: { callsPerMinute: ${CALLS_PER_MINUTE}, maxCallsPerRequest: 1 }
auth:
  keys:
    - { name: open, sha256: ${sha(KEYS.open)} }
    - { name: limited, keyEnv: LIMITED_KEY, requestsPerMinute: 3 }
    - { name: later, sha256: ${sha(KEYS.later)}, requestsPerMinute: 3 }
state:
  redis: { url: ${redis.url}, keyPrefix: 'replicas:', timeoutMs: 1000 }
`);
    const env = { SPECROUTE_CACHE_DIR: scratchDir(), LIMITED_KEY: KEYS.limited };
    // On a free port of 127.0.0.1, without gRPC.
    const replica = (): Promise<ServeProcess> => startServe(['--config', config, '--port', '0', '--grpc-port', '-1'], { env });
    replicas.push(await replica()); // the first derives the draft; the others reuse it
    replicas.push(...(await Promise.all([replica(), replica()])));
    balancer = await startLoadBalancer(replicas.map((r) => r.url));
    for (const replica of replicas) await until(async () => metricValue(await scrape(replica.url), 'specroute_state_redis_up') === 1, 'the replica reaches Redis');
  });
  afterAll(async () => {
    await balancer?.close();
    await Promise.all(replicas.map((r) => r.stop()));
    await frontier?.close();
    await redis?.close();
  });

  it('a breaker opened by a failure seen through one replica is open on the others within 1 s, and closes for all', async () => {
    frontier.mode = 'error500';
    const failed = await complete(replicas[0]!.url, KEYS.open, { specroute: { escalation: escalateAfterHttp(2) } });
    expect(failed.status).toBe(200); // the stream goes on with local tokens
    const opened = Date.now();
    for (const replica of replicas.slice(1)) {
      await until(async () => metricValue(await scrape(replica.url), 'specroute_frontier_breaker_state', { state: 'open' }) === 1, 'open on the other replicas', 1000);
    }
    expect(Date.now() - opened).toBeLessThan(1000);
    console.log(`[replicas] breaker open on the other replicas ${Date.now() - opened} ms after the failing response`);
    // After the cooldown one probe through another replica succeeds, and the breaker closes everywhere.
    frontier.mode = 'ok';
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect((await complete(replicas[2]!.url, KEYS.open, { specroute: { escalation: escalateAfterHttp(2) } })).status).toBe(200);
    for (const replica of replicas) {
      await until(async () => metricValue(await scrape(replica.url), 'specroute_frontier_breaker_state', { state: 'closed' }) === 1, 'closed everywhere', 1000);
    }
  });

  it(`30 concurrent requests that escalate, spread over the replicas, cause at most ${CALLS_PER_MINUTE} frontier calls in a minute`, async () => {
    const before = await Promise.all(replicas.map(async (r) => metricValue(await scrape(r.url), 'specroute_requests_total', { transport: 'http', status: 'ok' })));
    const responses = await Promise.all(
      Array.from({ length: 30 }, () => complete(balancer.url, KEYS.open, { max_tokens: 24, specroute: { escalation: escalateAfterHttp(2) } })),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(30).fill(200));
    // Each replica served some of them.
    const after = await Promise.all(replicas.map(async (r) => metricValue(await scrape(r.url), 'specroute_requests_total', { transport: 'http', status: 'ok' })));
    after.forEach((served, i) => expect(served - before[i]!).toBeGreaterThan(0));
    // The limit was met (requests asked for more calls than it allows) and held, counted at the frontier.
    expect(await total('specroute_escalations_total', { outcome: 'skipped', reason: 'calls_per_minute' })).toBeGreaterThan(0);
    expect(busiestMinute()).toBeLessThanOrEqual(CALLS_PER_MINUTE);
    expect(frontier.requests.length).toBeGreaterThan(2);
    const skipped = await total('specroute_escalations_total', { outcome: 'skipped', reason: 'calls_per_minute' });
    console.log(`[replicas] frontier calls in the busiest minute: ${busiestMinute()} (limit ${CALLS_PER_MINUTE}); escalations refused by callsPerMinute: ${skipped}; served per replica: ${after.map((n, i) => n - before[i]!).join(', ')}`);
  });

  it('a key with requestsPerMinute: 3 gets its fourth request refused with 429, whichever replica serves it', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await complete(balancer.url, KEYS.limited)).status);
    expect(statuses).toEqual([200, 200, 200]);
    // Round robin: the three went to three replicas, so no replica alone saw more than one.
    const served = await Promise.all(replicas.map(async (r) => metricValue(await scrape(r.url), 'specroute_key_requests_total', { key: 'limited', status: 'ok' })));
    expect(served).toEqual([1, 1, 1]);
    for (const replica of replicas) {
      const refused = await complete(replica.url, KEYS.limited);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await refused.json()).toEqual({
        error: { message: expect.stringContaining("'limited' is over its quota of 3 requests per minute"), type: 'rate_limit_error', param: 'requestsPerMinute', code: 'quota_exceeded' },
      });
    }
    expect(await total('specroute_key_requests_total', { key: 'limited', status: 'quota_exceeded' })).toBe(3);
  });

  it('redis-server killed during the load: every stream completes; limits fall back to each replica, and are shared again once it returns', async () => {
    const streams = Array.from({ length: 12 }, () =>
      complete(balancer.url, KEYS.open, { max_tokens: 120, ignore_eos: true, stream: true }).then(async (r) => ({ status: r.status, sse: parseSse(await r.text()) })),
    );
    await redis.kill();
    const done = await Promise.all(streams);
    for (const { status, sse } of done) {
      expect(status).toBe(200);
      expect(sse.data.at(-1)).toBe('[DONE]');
      expect(streamedText(sse).length).toBeGreaterThan(0);
    }
    // New requests meanwhile are served, each replica counting alone, and each says Redis is down.
    expect((await complete(balancer.url, KEYS.later)).status).toBe(200);
    for (const replica of replicas) expect(metricValue(await scrape(replica.url), 'specroute_state_redis_up')).toBe(0);
    expect(await total('specroute_state_local_total', {})).toBeGreaterThan(0);
    await redis.start();
    for (const replica of replicas) await until(async () => metricValue(await scrape(replica.url), 'specroute_state_redis_up') === 1, 'Redis back on every replica', 15_000);
    // Shared again: a fresh window (Redis restarted empty) of 3 requests for the key, across the replicas.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await complete(balancer.url, KEYS.later)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    for (const replica of replicas) expect(replica.stderr).toMatch(/state: Redis does not answer .*limits are this replica's own/);
  });
});
