import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { SpecrouteError } from '../../../src/errors/registry.js';
import { Route } from '../../../src/gen/specroute/v1/generate_pb.js';
import { startServer, type RunningServer } from '../../../src/main.js';
import { ensureDerivedDraft } from '../../../src/models/derived-draft.js';
import { GenerationClient, summarize } from '../../helpers/grpc.js';
import { cli, MODELS_DIR, scratchDir, STORIES } from '../../helpers/models.js';
import { metricValue, scrape } from '../../helpers/prometheus.js';
import { mulberry32 } from '../../../bench/lib/mulberry32.js';
import type { WireRoute } from '../../../src/streaming/openai-wire.js';

const MODEL = 'stories260K';
const SUITE = join(import.meta.dirname, '../../../bench/prompts/routing-agreement.jsonl');
const TARGET = 0.3;

const routeOf = (object: unknown): WireRoute => (object as { specroute: { route: WireRoute } }).specroute.route;
const model = (path: string): Record<string, unknown> => ({ path, threads: 1, contextSize: 512 });

/** `count` lines spread evenly over the suite's lines whose index is `offset` mod 3 (so over all its kinds). */
function suiteLines(offset: number, count: number): string[] {
  const lines = readFileSync(SUITE, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .filter((_, i) => i % 3 === offset);
  if (lines.length < count) throw new Error(`${SUITE} has too few lines`);
  return Array.from({ length: count }, (_, k) => lines[Math.floor((k * lines.length) / count)]!);
}

describe('query-level routing: a router trained with `router label` and `router train`, serving auto requests', () => {
  let dir: string;
  let draftPath: string;
  let frontier: RunningServer;
  let baseConfig: Record<string, unknown>;
  let routerFile: string;

  /** A server from a config written here: the local pair, the frontier, and `routing`. */
  async function serve(name: string, extra: Record<string, unknown>): Promise<RunningServer> {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify({ ...baseConfig, ...extra }));
    return startServer(loadConfig(file, { port: 0, grpcPort: 0, host: '127.0.0.1' }, {}));
  }

  beforeAll(async () => {
    dir = scratchDir('routing-');
    draftPath = (await ensureDerivedDraft({ from: STORIES, out: join(dir, 'draft-0-1.gguf'), layers: '0-1' })).path;
    const localVerifier = (await ensureDerivedDraft({ from: STORIES, out: join(dir, 'local-q4_0.gguf'), quantize: 'q4_0' })).path;
    frontier = await startServer(
      loadConfig(undefined, { port: 0, grpcPort: -1, host: '127.0.0.1' }, { SPECROUTE_MODEL__VERIFIER__PATH: STORIES, SPECROUTE_MODEL__ID: 'frontier', SPECROUTE_MODELS_DIR: MODELS_DIR }),
    );
    baseConfig = {
      modelsDir: MODELS_DIR,
      cacheDir: dir,
      model: { id: MODEL, verifier: model(localVerifier), draft: model(draftPath) },
      limits: { maxConcurrent: 4 },
      escalation: {
        frontier: { baseUrl: `${frontier.httpUrl}/v1`, model: 'frontier', firstByteTimeoutMs: 30_000, totalTimeoutMs: 60_000 },
        policy: { enabled: false },
        budget: { callsPerMinute: 100_000 },
      },
    };
    // Label 150 prompts (a third of the suite's lines), then train for the target share: the real commands, as a user runs them.
    const prompts = join(dir, 'train-prompts.jsonl');
    writeFileSync(prompts, `${suiteLines(0, 150).join('\n')}\n`);
    const labelConfig = join(dir, 'label.json');
    writeFileSync(labelConfig, JSON.stringify({ ...baseConfig, server: { grpcPort: -1 } }));
    const labelled = join(dir, 'labelled.jsonl');
    await cli(['router', 'label', '--config', labelConfig, '--prompts', prompts, '--out', labelled, '--max-tokens', '16']);
    routerFile = join(dir, 'router.json');
    await cli(['router', 'train', '--data', labelled, '--out', routerFile, '--target-frontier-share', String(TARGET), '--folds', '0']);
  }, 600_000);
  afterAll(async () => {
    await frontier?.close();
  });

  it('labels every prompt with features and each tier\'s quality, and resumes without redoing any', async () => {
    const rows = readFileSync(join(dir, 'labelled.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; quality: Record<string, number>; features: Record<string, unknown>; outputs: Record<string, string> });
    expect(rows).toHaveLength(150);
    expect(new Set(rows.map((r) => r.id)).size).toBe(150);
    for (const row of rows) {
      expect(Object.keys(row.quality).sort()).toEqual(['frontier', 'hybrid', 'slm']);
      expect(row.quality.frontier).toBe(1);
      expect((row.features.embedding as number[]).length).toBe(64);
    }
    // The local tiers do not always agree with the frontier: there is something to route.
    expect(rows.some((r) => r.quality.hybrid! < 1)).toBe(true);
    const { stdout } = await cli(['router', 'label', '--config', join(dir, 'label.json'), '--prompts', join(dir, 'train-prompts.jsonl'), '--out', join(dir, 'labelled.jsonl')]);
    expect(stdout).toMatch(/all 150 prompts .* are already in/);
  });

  it('routes auto requests with the router: every response carries the decision, and the frontier share is within 10 points of the target', async () => {
    const server = await serve('auto', { routing: { default: 'auto', router: routerFile, targetFrontierShare: TARGET } });
    try {
      const http = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: 'none', maxRetries: 0 });
      // 100 prompts the router never saw (the lines between the training ones).
      const held = suiteLines(1, 100).map((l) => JSON.parse(l) as { prompt?: string; messages?: Array<{ role: 'user' | 'system' | 'assistant'; content: string }> });
      let toFrontier = 0;
      for (const [i, p] of held.entries()) {
        const { data, response } =
          p.prompt !== undefined
            ? await http.completions.create({ model: MODEL, prompt: p.prompt, max_tokens: 8, temperature: 0 }).withResponse()
            : await http.chat.completions.create({ model: MODEL, messages: p.messages!, max_tokens: 8, temperature: 0 }).withResponse();
        const route = routeOf(data);
        expect(route.reason, `request ${i}`).toBe('router');
        expect(route.router).toBe('router.json');
        expect(route.score).toBeGreaterThanOrEqual(0);
        expect(route.tier).toBe(route.score! >= route.threshold! ? 'frontier' : 'hybrid');
        expect(response.headers.get('x-specroute-route')).toBe(route.tier);
        if (route.tier === 'frontier') toFrontier++;
      }
      expect(Math.abs(toFrontier / held.length - TARGET)).toBeLessThanOrEqual(0.1);
      const text = await scrape(server.httpUrl);
      expect(metricValue(text, 'specroute_route_decisions_total', { tier: 'frontier', reason: 'router' })).toBe(toFrontier);
      expect(metricValue(text, 'specroute_route_decisions_total', { tier: 'hybrid', reason: 'router' })).toBe(held.length - toFrontier);
      expect(metricValue(text, 'specroute_router_latency_seconds_count')).toBe(held.length);
      // gRPC carries the same decision in its final message; a request naming its tier skips the router.
      const client = new GenerationClient(`127.0.0.1:${server.grpcPort!}`);
      try {
        const auto = await client.generate({ model: MODEL, input: { case: 'prompt', value: 'Once upon a time' }, maxTokens: 4 });
        expect(summarize(auto.messages).final?.route).toMatchObject({ reason: 'router', router: 'router.json' });
        const named = await client.generate({ model: MODEL, input: { case: 'prompt', value: 'Once upon a time' }, maxTokens: 4, route: Route.SLM });
        expect(summarize(named.messages).final?.route).toMatchObject({ tier: 'slm', reason: 'request' });
      } finally {
        client.close();
      }
    } finally {
      await server.close();
    }
  });

  it('holds the frontier share within 5 points of the target over 200 requests whose mix drifts halfway (the share controller)', async () => {
    // Score a pool of prompts the router never saw, on a server whose threshold stays put (no controller).
    type Line = { prompt?: string; messages?: Array<{ role: 'user' | 'system' | 'assistant'; content: string }> };
    const pool = [...suiteLines(1, 150), ...suiteLines(2, 150)].map((l) => JSON.parse(l) as Line);
    const scorer = await serve('scorer', { routing: { default: 'auto', router: routerFile, targetFrontierShare: TARGET, controller: { enabled: false } }, server: { grpcPort: -1 } });
    let fixedThreshold: number;
    const scored: Array<{ line: Line; score: number }> = [];
    try {
      fixedThreshold = scorer.router!.threshold!;
      for (const line of pool) {
        const input = line.prompt !== undefined ? { kind: 'text' as const, text: line.prompt } : { kind: 'chat' as const, messages: line.messages! };
        const decision = await scorer.router!.decide({ model: MODEL, input, maxTokens: 1 }, scorer.engine.encode(input), { signal: new AbortController().signal, load: scorer.scheduler.load, frontier: true });
        scored.push({ line, score: decision.score! });
      }
    } finally {
      await scorer.close();
    }
    // The drift: 100 requests drawn from the whole pool, then 100 from its upper half by score (harder traffic).
    const byScore = [...scored].sort((a, b) => a.score - b.score);
    const random = mulberry32(11);
    const draw = (from: typeof scored, n: number): typeof scored => [...from].sort(() => random() - 0.5).slice(0, n);
    const sequence = [...draw(byScore, 100), ...draw(byScore.slice(byScore.length / 2), 100)];
    // The calibrated threshold alone would miss the target on this traffic.
    const fixedShare = sequence.filter((r) => r.score >= fixedThreshold).length / sequence.length;
    expect(Math.abs(fixedShare - TARGET), `share with the fixed threshold: ${fixedShare}`).toBeGreaterThan(0.05);
    const server = await serve('controlled', { routing: { default: 'auto', router: routerFile, targetFrontierShare: TARGET }, server: { grpcPort: -1 } });
    try {
      const http = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: 'none', maxRetries: 0 });
      let toFrontier = 0;
      const thresholds = new Set<number>();
      for (const { line } of sequence) {
        const data =
          line.prompt !== undefined
            ? await http.completions.create({ model: MODEL, prompt: line.prompt, max_tokens: 1, temperature: 0 })
            : await http.chat.completions.create({ model: MODEL, messages: line.messages!, max_tokens: 1, temperature: 0 });
        const route = routeOf(data);
        expect(route.reason).toBe('router');
        thresholds.add(route.threshold!);
        if (route.tier === 'frontier') toFrontier++;
      }
      const share = toFrontier / sequence.length;
      expect(Math.abs(share - TARGET), `share ${share} (fixed threshold: ${fixedShare})`).toBeLessThanOrEqual(0.05);
      expect(thresholds.size).toBeGreaterThan(10); // the threshold moved
      const text = await scrape(server.httpUrl);
      expect(metricValue(text, 'specroute_router_threshold')).toBe(server.router!.threshold);
      expect(metricValue(text, 'specroute_router_target_share')).toBe(TARGET);
      expect(Math.abs(metricValue(text, 'specroute_router_frontier_share') - TARGET)).toBeLessThan(0.25);
    } finally {
      await server.close();
    }
  });

  it('serves locally (reason fallback) an auto request the router sends to a frontier whose limits refuse it', async () => {
    const server = await serve('fallback', {
      routing: { default: 'auto', router: routerFile, targetFrontierShare: 1 },
      escalation: { ...(baseConfig.escalation as object), budget: { callsPerMinute: 0 } },
    });
    try {
      const http = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: 'none', maxRetries: 0 });
      const { data, response } = await http.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 8, temperature: 0 }).withResponse();
      expect(routeOf(data)).toMatchObject({ tier: 'hybrid', reason: 'fallback', router: 'router.json' });
      expect(response.headers.get('x-specroute-route')).toBe('hybrid');
      expect(data.choices[0]!.text.length).toBeGreaterThan(0);
      // Asked for by name, the same refusal is the client's to see.
      await expect(http.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 4, specroute: { route: 'frontier' } } as OpenAI.CompletionCreateParamsNonStreaming)).rejects.toMatchObject({ status: 429, code: 'frontier_rate_limited' });
      expect(metricValue(await scrape(server.httpUrl), 'specroute_route_decisions_total', { tier: 'hybrid', reason: 'fallback' })).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('matches semantic routes by example utterances before the router', async () => {
    const server = await serve('semantic', {
      routing: {
        default: 'auto',
        router: routerFile,
        routes: [
          { name: 'code', tier: 'frontier', examples: ['function add(a, b) { return a + b; }', 'for (let i = 0; i < n; i++) { sum += i; }'], threshold: 0.95 },
          { name: 'bedtime', tier: 'slm', examples: ['Once upon a time, there was a little girl named Lily.'], threshold: 0.97 },
        ],
      },
    });
    try {
      const http = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: 'none', maxRetries: 0 });
      const ask = async (prompt: string): Promise<WireRoute> => routeOf(await http.completions.create({ model: MODEL, prompt, max_tokens: 4, temperature: 0 }));
      const code = await ask('function add(a, b) { return a + b; }');
      expect(code).toMatchObject({ tier: 'frontier', reason: 'route:code', router: 'code', threshold: 0.95 });
      expect(code.score).toBeGreaterThan(0.99);
      expect(await ask('Once upon a time, there was a little girl named Lily.')).toMatchObject({ tier: 'slm', reason: 'route:bedtime' });
      // A chat matches on its last user message.
      const chat = await http.chat.completions.create({ model: MODEL, messages: [{ role: 'system', content: 'You write code.' }, { role: 'user', content: 'function add(a, b) { return a + b; }' }], max_tokens: 4 });
      expect(routeOf(chat)).toMatchObject({ reason: 'route:code' });
      // Nothing close enough: the router decides. (stories260K's embeddings are coarse: news text is ~0.88
      // cosine-similar to code, hence the high thresholds.)
      expect((await ask('Stocks fell sharply on Monday as investors worried about rates.')).reason).toBe('router');
      expect((await ask('Lily and Tom went to the park to play.')).reason).toBe('router');
    } finally {
      await server.close();
    }
  });

  it('refuses at boot a bad router file, an unknown feature, or a router trained for another tokenizer, naming routing.router', async () => {
    const good = JSON.parse(readFileSync(routerFile, 'utf8')) as { features: string[]; tokenizer: { fingerprint: string } };
    const variants: Array<[string, string, RegExp]> = [
      ['not-json', '{ "format": ', /not JSON/],
      ['unknown-feature', JSON.stringify({ ...good, features: [...good.features.slice(0, -1), 'prompt_vibes'] }), /'prompt_vibes' is not a known feature/],
      ['other-tokenizer', JSON.stringify({ ...good, tokenizer: { vocabSize: 32000, fingerprint: '0123456789abcdef' } }), /trained for a tokenizer with 32000 tokens/],
    ];
    for (const [name, text, message] of variants) {
      const file = join(dir, `${name}.json`);
      writeFileSync(file, text);
      const error = await serve(`bad-${name}`, { routing: { default: 'auto', router: file } }).then(
        async (server) => {
          await server.close();
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(error, name).toBeInstanceOf(SpecrouteError);
      expect((error as SpecrouteError).param, name).toBe('routing.router');
      expect((error as SpecrouteError).message, name).toMatch(message);
      expect((error as SpecrouteError).message, name).toContain(file);
    }
  });

  it('an unavailable tier named by a request is INVALID_ARGUMENT over gRPC even with routing on', async () => {
    const server = await serve('no-draft', { model: { id: MODEL, verifier: model(STORIES) }, routing: { default: 'auto', router: routerFile } });
    const client = new GenerationClient(`127.0.0.1:${server.grpcPort!}`);
    try {
      const { status } = await client.generate({ model: MODEL, input: { case: 'prompt', value: 'Once' }, maxTokens: 4, route: Route.SLM });
      expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(status.details).toContain('route');
    } finally {
      client.close();
      await server.close();
    }
  });
});
