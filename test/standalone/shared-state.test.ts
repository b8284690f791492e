/**
 * Shared state on a real `redis-server`: two `RedisConnection`s stand for two replicas. Limits hold across them
 * under concurrency (every change is one Lua script), a breaker opened through one is open through the other, the
 * routing controller's share is one, and a Redis that dies leaves each replica on its own limits until it returns.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SharedBreaker } from '../../src/escalation/shared-breaker.js';
import { GlobalBudget } from '../../src/escalation/budget.js';
import { RedisShareState } from '../../src/routing/redis-share-state.js';
import { KeyQuotas } from '../../src/scheduler/key-quotas.js';
import { RedisConnection } from '../../src/state/redis-connection.js';
import { SharedWindows } from '../../src/state/sliding-windows.js';
import { SpecrouteError } from '../../src/errors/registry.js';
import { freePort, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

const budgetOptions = { maxTokensPerRequest: 64, maxCallsPerRequest: 4, callsPerMinute: 10, maxCostPerHour: 0, inputPricePerMillion: 0, outputPricePerMillion: 0 };

describe('shared state in Redis', () => {
  let redis: RedisServer;
  const connections: RedisConnection[] = [];
  let prefix = 0;
  /** A replica's connection; each test gets its own key prefix (a deployment of its own). */
  const replica = async (keyPrefix: string, health: (up: boolean) => void = () => undefined): Promise<RedisConnection> => {
    const connection = new RedisConnection({ url: redis.url, keyPrefix, timeoutMs: 250 }, health);
    connections.push(connection);
    await until(() => connection.up, 'connected to Redis');
    return connection;
  };
  const deployment = (): string => `test${++prefix}:`;

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await Promise.all(connections.map((c) => c.dispose()));
    await redis?.close();
  });

  it('30 concurrent frontier calls through two replicas get exactly callsPerMinute grants', async () => {
    const keyPrefix = deployment();
    const [a, b] = [await replica(keyPrefix), await replica(keyPrefix)];
    const budgets = [new GlobalBudget(budgetOptions, new SharedWindows(a)), new GlobalBudget(budgetOptions, new SharedWindows(b))];
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => budgets[i % 2]!.reserve(10, 8)));
    expect(results.filter((r) => 'grant' in r)).toHaveLength(10);
    expect(results.filter((r) => 'refused' in r && r.refused === 'calls_per_minute')).toHaveLength(20);
    // A retry is a call too: none is left.
    expect(await budgets[0]!.takeRetry()).toBe(false);
  });

  it('holds the hour\'s cost across replicas, settling reservations to what was used', async () => {
    const keyPrefix = deployment();
    const options = { ...budgetOptions, callsPerMinute: 1000, maxCostPerHour: 1, outputPricePerMillion: 100_000 }; // 0.1 per token
    const a = new GlobalBudget(options, new SharedWindows(await replica(keyPrefix)));
    const b = new GlobalBudget(options, new SharedWindows(await replica(keyPrefix)));
    const first = await a.reserve(0, 6);
    expect('grant' in first && first.grant.maxTokens).toBe(6);
    const second = await b.reserve(0, 6);
    expect('grant' in second && second.grant.maxTokens).toBe(4); // what is left of 1.0 after a's 0.6
    expect(await b.reserve(0, 1)).toEqual({ refused: 'cost_per_hour' });
    if ('grant' in first) first.grant.settle({ inputTokens: 0, outputTokens: 1 }); // used 0.1 of 0.6
    await until(async () => (await b.spentLastHour()) < 0.55, 'the settlement reaches Redis');
    expect(await b.spentLastHour()).toBeCloseTo(0.5, 9);
    const third = await b.reserve(0, 9);
    expect('grant' in third && third.grant.maxTokens).toBe(5);
  });

  it('a breaker opened by failures seen through one replica is open on the other within 1 s', async () => {
    const keyPrefix = deployment();
    const options = { failureThreshold: 2, cooldownMs: 60_000, halfOpenProbes: 1 };
    const changes: string[] = [];
    const a = new SharedBreaker(await replica(keyPrefix), options);
    const b = new SharedBreaker(await replica(keyPrefix), options, (state) => changes.push(state));
    try {
      expect(await b.tryAcquire()).toBe(true);
      a.failure();
      b.failure(); // the second failure, counted with a's
      const opened = Date.now();
      await until(() => a.state === 'open', 'open on a');
      expect(await a.tryAcquire()).toBe(false);
      await until(() => b.state === 'open', 'open on b', 1000);
      expect(Date.now() - opened).toBeLessThan(1000);
      expect(changes).toEqual(['open']);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('the routing controller keeps one share and one window of scores for every replica', async () => {
    const keyPrefix = deployment();
    const options = { window: 4, smoothing: 0.5, target: 0.5 };
    const a = new RedisShareState(await replica(keyPrefix), 'router.json', options);
    const b = new RedisShareState(await replica(keyPrefix), 'router.json', options);
    expect(await a.observe(0.9, true)).toEqual({ share: 0.75, scores: [0.9] });
    expect(await b.observe(0.1, false)).toEqual({ share: 0.375, scores: [0.9, 0.1] });
    for (const score of [0.2, 0.3, 0.4]) await a.observe(score, false);
    // The window holds the last 4 scores, whoever saw them.
    expect((await b.observe(0.5, false))?.scores).toEqual([0.2, 0.3, 0.4, 0.5]);
  });

  it('a key limited to 3 requests a minute gets its fourth refused, whichever replica serves it', async () => {
    const keyPrefix = deployment();
    const key = { name: 'team-a', requestsPerMinute: 3 };
    const replicas = [new KeyQuotas(new SharedWindows(await replica(keyPrefix))), new KeyQuotas(new SharedWindows(await replica(keyPrefix)))];
    for (const i of [0, 1, 0]) await replicas[i]!.admit(key, 10);
    const refused = await replicas[1]!.admit(key, 10).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(SpecrouteError);
    expect(refused).toMatchObject({ code: 'quota_exceeded', param: 'requestsPerMinute' });
    expect((refused as SpecrouteError).retryAfterMs).toBeGreaterThan(55_000);
  });

  it('a Redis down at boot is reported once, and the replica serves from its own state meanwhile', async () => {
    const health: Array<[boolean, string | undefined]> = [];
    const connection = new RedisConnection({ url: `redis://127.0.0.1:${await freePort()}`, keyPrefix: deployment(), timeoutMs: 250 }, (up, reason) => health.push([up, reason]));
    connections.push(connection);
    await until(() => health.length > 0, 'the first attempt reported');
    expect(health[0]).toEqual([false, expect.stringContaining('ECONNREFUSED')]);
    const budget = new GlobalBudget({ ...budgetOptions, callsPerMinute: 1 }, new SharedWindows(connection));
    expect('grant' in (await budget.reserve(0, 1))).toBe(true);
    expect(await budget.reserve(0, 1)).toEqual({ refused: 'calls_per_minute' });
    await new Promise((resolve) => setTimeout(resolve, 400)); // several reconnect attempts
    expect(health).toHaveLength(1);
  });

  it('a slow Redis is waited on for timeoutMs at most: the replica answers alone meanwhile, and uses Redis again once it answers', async () => {
    const local: string[] = [];
    const a = await replica(deployment());
    const budget = new GlobalBudget(budgetOptions, new SharedWindows(a, (operation) => local.push(operation)));
    const admin = new Redis(redis.url);
    try {
      await admin.call('CLIENT', 'PAUSE', '1500', 'ALL'); // every other client's commands wait 1.5 s
      const started = Date.now();
      expect('grant' in (await budget.reserve(0, 1))).toBe(true);
      expect(Date.now() - started).toBeLessThan(1000); // one timeout (250 ms), then local answers at once
      expect(a.up).toBe(false);
      expect(local).toContain('take');
      await until(() => a.up, 'Redis answering again', 10_000);
      const before = local.length;
      expect('grant' in (await budget.reserve(0, 1))).toBe(true);
      expect(local.length).toBe(before);
    } finally {
      admin.disconnect();
    }
  });

  it('Redis killed: each replica holds its limits alone and says so; when Redis returns they are shared again', async () => {
    const keyPrefix = deployment();
    const health: boolean[] = [];
    const local: string[] = [];
    const a = await replica(keyPrefix, (up) => health.push(up));
    const budget = new GlobalBudget({ ...budgetOptions, callsPerMinute: 2 }, new SharedWindows(a, (operation) => local.push(operation)));
    expect('grant' in (await budget.reserve(0, 1))).toBe(true);
    await redis.kill();
    // No call fails because of Redis: the replica's own window answers, from zero.
    // One after another: which of concurrent calls meets the closed connection first (and falls back first) is the
    // network's order, not the array's.
    const threeInARow = async (): Promise<boolean[]> => {
      const granted: boolean[] = [];
      for (let i = 0; i < 3; i++) granted.push('grant' in (await budget.reserve(0, 1)));
      return granted;
    };
    const during = await threeInARow();
    expect(during).toEqual([true, true, false]);
    expect(local.length).toBeGreaterThan(0);
    expect(a.up).toBe(false);
    expect(health).toContain(false);
    await redis.start(); // empty, as a Redis restarted without persistence is
    await until(() => a.up, 'Redis back', 10_000);
    expect(health.at(-1)).toBe(true);
    expect(await threeInARow()).toEqual([true, true, false]);
    const b = new GlobalBudget({ ...budgetOptions, callsPerMinute: 2 }, new SharedWindows(await replica(keyPrefix)));
    expect(await b.reserve(0, 1)).toEqual({ refused: 'calls_per_minute' }); // shared again: a's two count for b
  });
});
