import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { Route, SpeculationMode, TokenSource } from '../../../src/gen/specroute/v1/generate_pb.js';
import { PARAM_TRAILER } from '../../../src/ingress/grpc/grpc-status.js';
import { startServer, type RunningServer } from '../../../src/main.js';
import { ensureDerivedDraft } from '../../../src/models/derived-draft.js';
import { SpeculativeEngine } from '../../../src/pipeline/engine.js';
import { GenerationClient, summarize } from '../../helpers/grpc.js';
import { modelOptions, MODELS_DIR, scratchDir, STORIES } from '../../helpers/models.js';
import { metricValue, scrape } from '../../helpers/prometheus.js';
import type { WireRoute } from '../../../src/streaming/openai-wire.js';

const MODEL = 'stories260K';
const PROMPTS = ['Once upon a time', 'Tom and Lily went to the park. They', 'The little dog was sad because'];
const MAX_TOKENS = 32;

interface Provenance {
  source: string;
  token_ids: number[];
}
const ext = <T>(object: unknown): T => (object as { specroute: T }).specroute;

/** A server from a YAML config written here (every model on an F32 KV cache, so greedy outputs compare exactly). */
async function serve(dir: string, name: string, config: Record<string, unknown>): Promise<RunningServer> {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ modelsDir: MODELS_DIR, cacheDir: dir, limits: { maxConcurrent: 4 }, ...config }));
  return startServer(loadConfig(file, { port: 0, grpcPort: 0, host: '127.0.0.1' }, {}));
}

const model = (path: string): Record<string, unknown> => ({ path, threads: 1, contextSize: 512, kvCacheType: 'F32' });

describe('the three tiers over HTTP and gRPC, against a real frontier (a second specroute) on 127.0.0.1', () => {
  let dir: string;
  let draftPath: string;
  let frontier: RunningServer;
  let server: RunningServer;
  let bare: RunningServer;
  let http: OpenAI;
  let grpcClient: GenerationClient;
  let frontierHttp: OpenAI;

  beforeAll(async () => {
    dir = scratchDir('tiers-');
    draftPath = (await ensureDerivedDraft({ from: STORIES, out: join(dir, 'draft-0-2.gguf'), layers: '0-2' })).path;
    // The frontier: stories260K alone (verifier-only decoding).
    frontier = await serve(dir, 'frontier', { model: { id: 'frontier-stories', verifier: model(STORIES) }, server: { grpcPort: -1 } });
    // The server under test: the same verifier with a 3-layer draft, and the frontier behind it. Its escalation
    // policy never fires on its own (min confidence 0), so `hybrid` is the speculative pair alone. No boot
    // calibration: on this CPU the 3-layer draft does not pay, and the load's γ ceiling would keep it from drafting;
    // here each request drafts by its own γ, so that `hybrid` answers show draft tokens.
    server = await serve(dir, 'server', {
      model: { id: MODEL, verifier: model(STORIES), draft: model(draftPath) },
      batching: { calibrate: false },
      escalation: {
        frontier: { baseUrl: `${frontier.httpUrl}/v1`, model: 'frontier-stories', firstByteTimeoutMs: 30_000, totalTimeoutMs: 60_000 },
        policy: { minConfidence: 0 },
        budget: { callsPerMinute: 1000, inputPricePerMillion: 1, outputPricePerMillion: 2 },
      },
    });
    // A server with neither a draft nor a frontier: only `hybrid` (verifier-only) exists there.
    bare = await serve(dir, 'bare', { model: { id: MODEL, verifier: model(STORIES) } });
    http = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: 'none', maxRetries: 0 });
    frontierHttp = new OpenAI({ baseURL: `${frontier.httpUrl}/v1`, apiKey: 'none', maxRetries: 0 });
    grpcClient = new GenerationClient(`127.0.0.1:${server.grpcPort!}`);
  });
  afterAll(async () => {
    grpcClient?.close();
    await server?.close();
    await bare?.close();
    await frontier?.close();
  });

  /** One streamed completion over HTTP: its text, the sources of its token chunks, the route, the header. */
  async function streamHttp(prompt: string, route?: string): Promise<{ text: string; sources: string[]; tokenIds: number; route: WireRoute; header: string | null; usage: number }> {
    const { data, response } = await http.completions
      .create({ model: MODEL, prompt, max_tokens: MAX_TOKENS, temperature: 0, stream: true, stream_options: { include_usage: true }, ...(route ? { specroute: { route } } : {}) } as OpenAI.CompletionCreateParamsStreaming)
      .withResponse();
    let text = '';
    const sources: string[] = [];
    let tokenIds = 0;
    let summary: { route: WireRoute; tokens_by_source: Record<string, number> } | undefined;
    let usage = -1;
    for await (const chunk of data) {
      const choice = chunk.choices[0];
      if (choice && choice.text !== '' ) text += choice.text;
      const provenance = (chunk as unknown as { specroute?: Provenance & { route?: WireRoute; tokens_by_source?: Record<string, number> } }).specroute;
      if (provenance?.source) {
        sources.push(provenance.source);
        tokenIds += provenance.token_ids.length;
      }
      if (provenance?.route) summary = provenance as unknown as typeof summary;
      if (chunk.usage) usage = chunk.usage.completion_tokens;
    }
    expect(summary, 'the last chunk carries specroute.route').toBeDefined();
    expect(Object.values(summary!.tokens_by_source).reduce((a, b) => a + b, 0)).toBe(usage);
    return { text, sources, tokenIds, route: summary!.route, header: response.headers.get('x-specroute-route'), usage };
  }

  it('route "frontier" streams the frontier\'s own output, every token tagged frontier, usage counted locally', async () => {
    for (const prompt of PROMPTS) {
      const own = await frontierHttp.completions.create({ model: 'frontier-stories', prompt, max_tokens: MAX_TOKENS, temperature: 0 });
      const got = await streamHttp(prompt, 'frontier');
      expect(got.text, prompt).toBe(own.choices[0]!.text);
      expect(got.text.length).toBeGreaterThan(0);
      expect(new Set(got.sources)).toEqual(new Set(['frontier']));
      expect(got.header).toBe('frontier');
      expect(got.route).toMatchObject({ tier: 'frontier', reason: 'request' });
      // The frontier is the same model with the same tokenizer: counted locally, its completion has as many tokens.
      expect(got.usage).toBe(own.usage!.completion_tokens);
      expect(got.tokenIds).toBe(got.usage);
    }
    const text = await scrape(server.httpUrl);
    expect(metricValue(text, 'specroute_route_decisions_total', { tier: 'frontier', reason: 'request' })).toBeGreaterThanOrEqual(PROMPTS.length);
    expect(metricValue(text, 'specroute_tier_cost_total', { tier: 'frontier' })).toBeGreaterThan(0);
    expect(metricValue(text, 'specroute_tier_requests_total', { tier: 'frontier', status: 'ok' })).toBeGreaterThanOrEqual(PROMPTS.length);
  });

  it('route "slm" decodes with the draft alone: its tokens are the draft model\'s own greedy output, tagged draft', async () => {
    const draftAlone = await SpeculativeEngine.load({ verifier: modelOptions(draftPath, { kvCacheType: 'F32' }) });
    try {
      for (const prompt of PROMPTS) {
        let expected = '';
        for await (const event of draftAlone.generateFromTokens(draftAlone.encodePrompt(prompt), { maxTokens: MAX_TOKENS })) if (event.kind === 'token') expected += event.text;
        const got = await streamHttp(prompt, 'slm');
        expect(got.text, prompt).toBe(expected);
        expect(new Set(got.sources)).toEqual(new Set(['draft']));
        expect(got.header).toBe('slm');
        expect(got.route).toMatchObject({ tier: 'slm', reason: 'request' });
      }
    } finally {
      await draftAlone.dispose();
    }
    // The draft alone differs from the verifier somewhere: otherwise this test could not tell the tiers apart.
    const hybrid = await Promise.all(PROMPTS.map((p) => streamHttp(p, 'hybrid')));
    const slm = await Promise.all(PROMPTS.map((p) => streamHttp(p, 'slm')));
    expect(slm.map((s) => s.text)).not.toEqual(hybrid.map((h) => h.text));
  });

  it('route "hybrid" (and the default) is the speculative pair: the verifier\'s own greedy output', async () => {
    for (const prompt of PROMPTS) {
      const own = await frontierHttp.completions.create({ model: 'frontier-stories', prompt, max_tokens: MAX_TOKENS, temperature: 0 });
      for (const route of ['hybrid', undefined]) {
        const got = await streamHttp(prompt, route);
        expect(got.text, `${prompt} (${route ?? 'default'})`).toBe(own.choices[0]!.text);
        expect(got.sources.every((s) => ['draft', 'verifier', 'bonus'].includes(s))).toBe(true);
        expect(got.sources).toContain('draft');
        expect(got.header).toBe('hybrid');
        expect(got.route).toMatchObject({ tier: 'hybrid', reason: route ? 'request' : 'default' });
      }
    }
  });

  it('route "auto" without a router is hybrid (reason default), and a non-streaming response carries the decision too', async () => {
    const { data, response } = await http.completions.create({ model: MODEL, prompt: PROMPTS[0]!, max_tokens: 8, temperature: 0, specroute: { route: 'auto' } } as OpenAI.CompletionCreateParamsNonStreaming).withResponse();
    expect(response.headers.get('x-specroute-route')).toBe('hybrid');
    expect(ext<{ route: WireRoute }>(data).route).toMatchObject({ tier: 'hybrid', reason: 'default' });
  });

  it('all four routes over gRPC: the tier in the final message and the header, frontier text equal to the frontier\'s own', async () => {
    const prompt = PROMPTS[1]!;
    const own = await frontierHttp.completions.create({ model: 'frontier-stories', prompt, max_tokens: MAX_TOKENS, temperature: 0 });
    const cases: Array<[Route, string, string, number[]]> = [
      [Route.FRONTIER, 'frontier', 'request', [TokenSource.FRONTIER]],
      [Route.SLM, 'slm', 'request', [TokenSource.DRAFT]],
      [Route.HYBRID, 'hybrid', 'request', [TokenSource.DRAFT, TokenSource.VERIFIER, TokenSource.BONUS]],
      [Route.AUTO, 'hybrid', 'default', [TokenSource.DRAFT, TokenSource.VERIFIER, TokenSource.BONUS]],
      [Route.UNSPECIFIED, 'hybrid', 'default', [TokenSource.DRAFT, TokenSource.VERIFIER, TokenSource.BONUS]],
    ];
    for (const [route, tier, reason, sources] of cases) {
      const { status, messages, headers } = await grpcClient.generate({ model: MODEL, input: { case: 'prompt', value: prompt }, maxTokens: MAX_TOKENS, temperature: 0, route });
      expect(status.code, Route[route]).toBe(grpc.status.OK);
      const { text, sources: got, final } = summarize(messages);
      expect(final?.route, Route[route]).toMatchObject({ tier, reason });
      expect(headers?.get('specroute-route')).toEqual([tier]);
      expect(got.every((s) => sources.includes(s)), Route[route]).toBe(true);
      if (tier === 'frontier') {
        expect(text).toBe(own.choices[0]!.text);
        expect(final?.stats?.mode).toBe(SpeculationMode.FRONTIER);
      }
      if (tier === 'slm') expect(final?.stats?.mode).toBe(SpeculationMode.DRAFT_ONLY);
      if (tier === 'hybrid') expect(text).toBe(own.choices[0]!.text);
    }
  });

  it('an explicit frontier route past the frontier\'s calls-per-minute gets a retryable 429 / RESOURCE_EXHAUSTED that says why', async () => {
    const limited = await serve(dir, 'limited', {
      model: { id: MODEL, verifier: model(STORIES), draft: model(draftPath) },
      escalation: { frontier: { baseUrl: `${frontier.httpUrl}/v1`, model: 'frontier-stories' }, budget: { callsPerMinute: 1 } },
    });
    const limitedHttp = new OpenAI({ baseURL: `${limited.httpUrl}/v1`, apiKey: 'none', maxRetries: 0 });
    const limitedGrpc = new GenerationClient(`127.0.0.1:${limited.grpcPort!}`);
    try {
      const first = await limitedHttp.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 4, specroute: { route: 'frontier' } } as OpenAI.CompletionCreateParamsNonStreaming);
      expect(ext<{ route: WireRoute }>(first).route.tier).toBe('frontier');
      const refused = await limitedHttp.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 4, specroute: { route: 'frontier' } } as OpenAI.CompletionCreateParamsNonStreaming).catch((e: unknown) => e);
      expect(refused).toMatchObject({ status: 429, code: 'frontier_rate_limited', message: expect.stringContaining('calls_per_minute') });
      expect((refused as { headers: Headers }).headers.get('retry-after')).not.toBeNull();
      const { status } = await limitedGrpc.generate({ model: MODEL, input: { case: 'prompt', value: 'Once' }, maxTokens: 4, route: Route.FRONTIER });
      expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(status.details).toContain('calls_per_minute');
      // The local tiers are not the frontier's business.
      const local = await limitedHttp.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 4, specroute: { route: 'hybrid' } } as OpenAI.CompletionCreateParamsNonStreaming);
      expect(local.choices[0]!.text.length).toBeGreaterThan(0);
      const text = await scrape(limited.httpUrl);
      expect(metricValue(text, 'specroute_requests_total', { transport: 'http', status: 'frontier_rate_limited' })).toBe(1);
    } finally {
      limitedGrpc.close();
      await limited.close();
    }
  });

  it('refuses a tier the server lacks with 400 / INVALID_ARGUMENT naming route', async () => {
    const bareHttp = new OpenAI({ baseURL: `${bare.httpUrl}/v1`, apiKey: 'none', maxRetries: 0 });
    for (const route of ['slm', 'frontier']) {
      await expect(bareHttp.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 4, specroute: { route } } as OpenAI.CompletionCreateParamsNonStreaming)).rejects.toMatchObject({
        status: 400,
        param: 'specroute.route',
        message: expect.stringContaining(route === 'slm' ? 'model.draft' : 'escalation.frontier'),
      });
    }
    await expect(http.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 4, specroute: { route: 'cloud' } } as OpenAI.CompletionCreateParamsNonStreaming)).rejects.toMatchObject({
      status: 400,
      param: 'specroute.route',
      message: expect.stringContaining('one of auto, slm, hybrid, frontier'),
    });
    const bareGrpc = new GenerationClient(`127.0.0.1:${bare.grpcPort!}`);
    try {
      for (const route of [Route.SLM, Route.FRONTIER, 9 as Route]) {
        const { status, messages } = await bareGrpc.generate({ model: MODEL, input: { case: 'prompt', value: 'Once' }, maxTokens: 4, route });
        expect(status.code, String(route)).toBe(grpc.status.INVALID_ARGUMENT);
        expect(status.metadata.get(PARAM_TRAILER)).toEqual(['route']);
        expect(messages).toEqual([]);
      }
    } finally {
      bareGrpc.close();
    }
  });
});
