/**
 * Adaptive routing against a real frontier (a second specroute on 127.0.0.1) and deliberately failing parts
 * (docs/ARCHITECTURE.md#adaptive-routing): latency SLO spill-over, the context-window fallback, the cascade, and
 * failure fallbacks that continue a stream from the text already sent. The share controller is in routing.test.ts
 * (it needs a trained router).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { startServer, type RunningServer } from '../../../src/main.js';
import { ensureDerivedDraft } from '../../../src/models/derived-draft.js';
import type { WireRoute, WireUsage } from '../../../src/streaming/openai-wire.js';
import { startFaultyFrontier, type FaultyFrontier } from '../../helpers/faulty-frontier.js';
import { GenerationClient, summarize } from '../../helpers/grpc.js';
import { MODELS_DIR, scratchDir, STORIES } from '../../helpers/models.js';
import { metricValue, scrape } from '../../helpers/prometheus.js';

const MODEL = 'stories260K';
const model = (path: string, contextSize = 512): Record<string, unknown> => ({ path, threads: 1, contextSize, kvCacheType: 'F32' });

/** One streamed completion, read chunk by chunk as a client sees it. */
interface Streamed {
  text: string;
  /** Each token chunk's source, in order. */
  sources: string[];
  tokenIds: number;
  route: WireRoute;
  usage: WireUsage;
  tokensBySource: Record<string, number>;
  header: string | null;
  chunks: number;
}

describe('adaptive routing against a real frontier on 127.0.0.1', () => {
  let dir: string;
  let draftPath: string;
  let frontier: RunningServer;
  let frontierHttp: OpenAI;
  let frontierConfig: Record<string, unknown>;

  async function serve(name: string, config: Record<string, unknown>): Promise<RunningServer> {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify({ modelsDir: MODELS_DIR, cacheDir: dir, ...config }));
    return startServer(loadConfig(file, { port: 0, grpcPort: 0, host: '127.0.0.1' }, {}));
  }

  /** The local pair (verifier and a 3-layer draft, `contextSize` each) with `frontier` behind it. */
  function pair(contextSize = 512): Record<string, unknown> {
    return { id: MODEL, verifier: model(STORIES, contextSize), draft: model(draftPath, contextSize) };
  }

  async function stream(server: RunningServer, body: Record<string, unknown>, onFirstToken?: () => void): Promise<Streamed> {
    const http = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: 'none', maxRetries: 0 });
    const { data, response } = await http.completions
      .create({ model: MODEL, temperature: 0, stream: true, stream_options: { include_usage: true }, ...body } as unknown as OpenAI.CompletionCreateParamsStreaming)
      .withResponse();
    const out: Partial<Streamed> & { sources: string[]; text: string; tokenIds: number; chunks: number } = { text: '', sources: [], tokenIds: 0, chunks: 0, header: response.headers.get('x-specroute-route') };
    for await (const chunk of data) {
      out.chunks++;
      const ext = (chunk as unknown as { specroute?: { source?: string; token_ids?: number[]; route?: WireRoute; tokens_by_source?: Record<string, number> } }).specroute;
      out.text += chunk.choices[0]?.text ?? '';
      if (ext?.source) {
        if (out.sources.length === 0) onFirstToken?.();
        out.sources.push(ext.source);
        out.tokenIds += ext.token_ids!.length;
      }
      if (ext?.route) {
        out.route = ext.route;
        out.tokensBySource = ext.tokens_by_source!;
      }
      if (chunk.usage) out.usage = chunk.usage as WireUsage;
    }
    expect(out.route, 'the stream ends with its final chunk').toBeDefined();
    expect(out.usage, 'and its usage chunk').toBeDefined();
    return out as Streamed;
  }

  /** A stream is whole: its tokens add up to its usage, by source and by tier. */
  function expectWellFormed(s: Streamed): void {
    expect(s.tokenIds).toBe(s.usage.completion_tokens);
    expect(Object.values(s.tokensBySource).reduce((a, b) => a + b, 0)).toBe(s.usage.completion_tokens);
    expect(Object.values(s.usage.completion_tokens_by_tier ?? {}).reduce((a, b) => a! + b!, 0)).toBe(s.usage.completion_tokens);
  }

  beforeAll(async () => {
    dir = scratchDir('adaptive-');
    draftPath = (await ensureDerivedDraft({ from: STORIES, out: join(dir, 'draft-0-2.gguf'), layers: '0-2' })).path;
    // The frontier: stories260K alone, greedy on an F32 cache: the same model as the local verifier.
    frontier = await serve('frontier', { model: { id: 'frontier-stories', verifier: model(STORIES) }, server: { grpcPort: -1 }, limits: { maxConcurrent: 8 } });
    frontierHttp = new OpenAI({ baseURL: `${frontier.httpUrl}/v1`, apiKey: 'none', maxRetries: 0 });
    frontierConfig = {
      frontier: { baseUrl: `${frontier.httpUrl}/v1`, model: 'frontier-stories', firstByteTimeoutMs: 30_000, totalTimeoutMs: 60_000 },
      policy: { enabled: false },
      budget: { callsPerMinute: 10_000, inputPricePerMillion: 1, outputPricePerMillion: 2 },
    };
  }, 120_000);
  afterAll(async () => {
    await frontier?.close();
  });

  it('spills a burst of auto requests to the frontier (reason slo) when one local sequence cannot keep the SLO; all complete, and single requests go local again', async () => {
    const server = await serve('slo', {
      model: pair(),
      limits: { maxConcurrent: 1, maxQueue: 64 },
      escalation: frontierConfig,
      routing: { default: 'auto', slo: { ttftP95Ms: 100, windowSeconds: 3 } },
    });
    try {
      // Long answers (256 tokens, end of text ignored) hold the one sequence for a few hundred milliseconds each.
      const body = { prompt: 'Once upon a time', max_tokens: 256, ignore_eos: true };
      // Quiet: requests one at a time go local and teach the SLO how long a request holds the sequence.
      for (let i = 0; i < 2; i++) expect((await stream(server, body)).route).toMatchObject({ tier: 'hybrid', reason: 'default' });
      const burst = await Promise.all(Array.from({ length: 8 }, () => stream(server, body)));
      for (const s of burst) {
        expectWellFormed(s);
        expect(s.usage.completion_tokens).toBe(256);
        expect(s.header).toBe(s.route.tier);
      }
      const spilled = burst.filter((s) => s.route.reason === 'slo');
      expect(spilled.length, burst.map((s) => `${s.route.tier}/${s.route.reason}`).join(' ')).toBeGreaterThanOrEqual(4);
      for (const s of spilled) {
        expect(s.route.tier).toBe('frontier');
        expect(s.route.threshold).toBe(100);
        expect(s.route.score).toBeGreaterThan(100);
        expect(new Set(s.sources)).toEqual(new Set(['frontier']));
        expect(s.usage.frontier_cost).toBeGreaterThan(0);
      }
      let text = await scrape(server.httpUrl);
      expect(metricValue(text, 'specroute_route_decisions_total', { tier: 'frontier', reason: 'slo' })).toBe(spilled.length);
      expect(metricValue(text, 'specroute_tier_requests_total', { tier: 'frontier', reason: 'slo', status: 'ok' })).toBe(spilled.length);
      // After the burst, the queued requests' slow first tokens leave the 3 s window and traffic returns.
      let local: Streamed | undefined;
      for (let attempt = 0; attempt < 40 && !local; attempt++) {
        const single = await stream(server, { prompt: 'Tom and Lily went to the park.', max_tokens: 8 });
        if (single.route.tier === 'hybrid') local = single;
        else await new Promise((r) => setTimeout(r, 250));
      }
      expect(local?.route).toMatchObject({ tier: 'hybrid', reason: 'default' });
      for (let i = 0; i < 3; i++) expect((await stream(server, { prompt: 'The little dog', max_tokens: 8 })).route.tier).toBe('hybrid');
      text = await scrape(server.httpUrl);
      expect(metricValue(text, 'specroute_slo_spilling')).toBe(0);
      expect(metricValue(text, 'specroute_tier_time_to_first_token_seconds_count', { tier: 'frontier', reason: 'slo' })).toBe(spilled.length);
    } finally {
      await server.close();
    }
  });

  it('with an SLO, sends a full queue\'s auto requests to the frontier instead of refusing them; named local ones, or any without an SLO, get 429 as before', async () => {
    // An SLO no reading breaches here: only the full queue spills.
    const server = await serve('full', { model: pair(), limits: { maxConcurrent: 1, maxQueue: 0 }, escalation: frontierConfig, routing: { default: 'auto', slo: { ttftP95Ms: 600_000 } } });
    const plain = await serve('full-plain', { model: pair(), limits: { maxConcurrent: 1, maxQueue: 0 }, escalation: frontierConfig, routing: { default: 'auto' }, server: { grpcPort: -1 } });
    try {
      const long = { prompt: 'Once upon a time', max_tokens: 256, ignore_eos: true };
      let inFlight: Promise<Streamed> | undefined;
      const started = new Promise<void>((resolve) => (inFlight = stream(server, long, resolve)));
      await started; // the one sequence is taken
      const spilled = await stream(server, { prompt: 'Tom and Lily', max_tokens: 8 });
      expect(spilled.route).toMatchObject({ tier: 'frontier', reason: 'slo' });
      const http = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: 'none', maxRetries: 0 });
      await expect(http.completions.create({ model: MODEL, prompt: 'Tom', max_tokens: 4, specroute: { route: 'hybrid' } } as OpenAI.CompletionCreateParamsNonStreaming)).rejects.toMatchObject({ status: 429, code: 'overloaded' });
      expectWellFormed(await inFlight!);
      let plainFlight: Promise<Streamed> | undefined;
      await new Promise<void>((resolve) => (plainFlight = stream(plain, long, resolve)));
      const plainHttp = new OpenAI({ baseURL: `${plain.httpUrl}/v1`, apiKey: 'none', maxRetries: 0 });
      await expect(plainHttp.completions.create({ model: MODEL, prompt: 'Tom', max_tokens: 4 })).rejects.toMatchObject({ status: 429, code: 'overloaded' });
      expectWellFormed(await plainFlight!);
    } finally {
      await server.close();
      await plain.close();
    }
  });

  it('sends an auto prompt longer than the local context to the frontier (reason context); without a frontier, or on a named tier, it is still 400 naming the field', async () => {
    const server = await serve('context', { model: pair(64), escalation: frontierConfig, routing: { default: 'auto' } });
    const bare = await serve('context-bare', { model: pair(64), routing: { default: 'auto' }, server: { grpcPort: -1 } });
    const named = await serve('context-named', { model: pair(64), escalation: frontierConfig, server: { grpcPort: -1 } });
    const capped = await serve('context-capped', { model: pair(), escalation: frontierConfig, routing: { default: 'auto', local: { maxInputTokens: 8 } }, server: { grpcPort: -1 } });
    try {
      const prompt = 'Once upon a time there was a little girl named Lily. She liked to play in the park with her friends and her dog.';
      expect(frontier.engine.encodePrompt(prompt).length).toBeGreaterThan(16);
      // llama.cpp rounds a context up (to 256 here): the local context is what the server reports.
      const local = server.engine.contextSize;
      expect(local).toBeLessThan(frontier.engine.contextSize - 40);
      let long = prompt;
      while (frontier.engine.encodePrompt(long).length <= local) long += ` ${prompt}`;
      const own = await frontierHttp.completions.create({ model: 'frontier-stories', prompt: long, max_tokens: 16, temperature: 0 });
      const got = await stream(server, { prompt: long, max_tokens: 16 });
      expect(got.route).toMatchObject({ tier: 'frontier', reason: 'context' });
      expect(got.header).toBe('frontier');
      expect(got.text).toBe(own.choices[0]!.text);
      expectWellFormed(got);
      // A request that names its tier stays on it, and so does one on a server whose default names one.
      const http = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: 'none', maxRetries: 0 });
      await expect(http.completions.create({ model: MODEL, prompt: long, max_tokens: 16, specroute: { route: 'hybrid' } } as OpenAI.CompletionCreateParamsNonStreaming)).rejects.toMatchObject({ status: 400, code: 'context_length_exceeded', param: 'prompt' });
      const namedHttp = new OpenAI({ baseURL: `${named.httpUrl}/v1`, apiKey: 'none', maxRetries: 0 });
      await expect(namedHttp.completions.create({ model: MODEL, prompt: long, max_tokens: 16 })).rejects.toMatchObject({ status: 400, code: 'context_length_exceeded', param: 'prompt' });
      expect((await stream(named, { prompt: long, max_tokens: 16, specroute: { route: 'auto' } })).route).toMatchObject({ tier: 'frontier', reason: 'context' });
      // A prompt that fits but whose max_tokens does not: the same fallback.
      const short = await stream(server, { prompt: 'Once upon a time', max_tokens: local - 2 });
      expect(short.route).toMatchObject({ tier: 'frontier', reason: 'context' });
      const bareHttp = new OpenAI({ baseURL: `${bare.httpUrl}/v1`, apiKey: 'none', maxRetries: 0 });
      await expect(bareHttp.completions.create({ model: MODEL, prompt: long, max_tokens: 16 })).rejects.toMatchObject({ status: 400, code: 'context_length_exceeded', param: 'prompt' });
      await expect(bareHttp.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: local - 2 })).rejects.toMatchObject({ status: 400, code: 'context_length_exceeded', param: 'max_tokens' });
      // routing.local.maxInputTokens caps what the local tiers take, below the context.
      expect((await stream(capped, { prompt, max_tokens: 8 })).route).toMatchObject({ tier: 'frontier', reason: 'context' });
      expect((await stream(capped, { prompt: 'Once upon', max_tokens: 8 })).route).toMatchObject({ tier: 'hybrid', reason: 'default' });
      expect(metricValue(await scrape(server.httpUrl), 'specroute_route_decisions_total', { tier: 'frontier', reason: 'context' })).toBe(2);
    } finally {
      await server.close();
      await bare.close();
      await named.close();
      await capped.close();
    }
  });

  it('cascade: confident probes stay local, the others move to the frontier, and a streaming client never receives a probe token', async () => {
    const PROBE = 4;
    const prompts = [
      'Once upon a time',
      'Tom and Lily went to the park. They',
      'The little dog was sad because',
      'One day, a girl named Sue',
      'qzx 1234 vbn !! ::',
      'SELECT name FROM users WHERE id =',
      '<html><body><div class="x">',
      'Quantum chromodynamics predicts that',
    ];
    // Each prompt's probe confidence, from the verifier's own distribution (the frontier is the same model, F32).
    const confidence = new Map<string, number>();
    for (const prompt of prompts) {
      const r = await frontierHttp.completions.create({ model: 'frontier-stories', prompt, max_tokens: PROBE, temperature: 0, logprobs: 1 });
      const top = r.choices[0]!.logprobs!.top_logprobs!.map((alts) => Math.exp(Math.max(...Object.values(alts))));
      expect(top).toHaveLength(PROBE);
      confidence.set(prompt, top.reduce((a, b) => a + b, 0) / top.length);
    }
    // A threshold in the widest gap between the sorted confidences, so both sides are clearly on their side.
    const sorted = [...confidence.values()].sort((a, b) => a - b);
    let minConfidence = 0;
    let widest = 0;
    for (let i = 2; i < sorted.length - 1; i++) {
      if (sorted[i]! - sorted[i - 1]! > widest) {
        widest = sorted[i]! - sorted[i - 1]!;
        minConfidence = (sorted[i]! + sorted[i - 1]!) / 2;
      }
    }
    expect(widest, `confidences ${sorted.map((c) => c.toFixed(3)).join(' ')}`).toBeGreaterThan(0.02);
    const server = await serve('cascade', { model: pair(), escalation: frontierConfig, routing: { default: 'auto', cascade: { probeTokens: PROBE, minConfidence } }, server: { grpcPort: -1 } });
    try {
      let moved = 0;
      for (const prompt of prompts) {
        const own = (await frontierHttp.completions.create({ model: 'frontier-stories', prompt, max_tokens: 24, temperature: 0 })).choices[0]!.text;
        const got = await stream(server, { prompt, max_tokens: 24 });
        expectWellFormed(got);
        expect(got.header, prompt).toBe(got.route.tier);
        // The whole text is one tier's answer, with no probe before it (both tiers here answer alike, so a leaked
        // probe would show as a repeated start).
        expect(got.text, prompt).toBe(own);
        if (confidence.get(prompt)! < minConfidence) {
          moved++;
          expect(got.route, prompt).toMatchObject({ tier: 'frontier', reason: 'cascade', threshold: minConfidence });
          expect(got.route.score).toBeCloseTo(confidence.get(prompt)!, 2);
          expect(new Set(got.sources), prompt).toEqual(new Set(['frontier']));
          expect(got.usage.completion_tokens_by_tier).toEqual({ frontier: got.usage.completion_tokens });
        } else {
          expect(got.route, prompt).toMatchObject({ tier: 'hybrid', reason: 'default' });
          expect(got.sources).not.toContain('frontier');
        }
      }
      expect(moved).toBeGreaterThan(0);
      expect(moved).toBeLessThan(prompts.length);
      // Logprobs the client did not ask for never reach it, though the probe needed them.
      const plain = await new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: 'none', maxRetries: 0 }).completions.create({ model: MODEL, prompt: prompts[0]!, max_tokens: 8 });
      expect(plain.choices[0]!.logprobs).toBeNull();
      const text = await scrape(server.httpUrl);
      expect(metricValue(text, 'specroute_cascade_probes_total', { outcome: 'moved' })).toBe(moved);
      expect(metricValue(text, 'specroute_cascade_probes_total', { outcome: 'stayed' })).toBe(prompts.length - moved + 1);
    } finally {
      await server.close();
    }
  });

  it('a local worker that dies mid-stream: the stream continues on the frontier from the text already sent; once the worker is back, requests stay local', async () => {
    const server = await serve('crash', { model: pair(), escalation: frontierConfig, routing: { default: 'auto' } });
    try {
      const prompt = 'Once upon a time';
      const reference = (await frontierHttp.completions.create({ model: 'frontier-stories', prompt, max_tokens: 200, temperature: 0 })).choices[0]!.text;
      // The verifier's thread dies as the client receives its first token (an uncaught error in it, as a bug would).
      const got = await stream(server, { prompt, max_tokens: 200 }, () => void server.engine.verifier.crashForTesting());
      expectWellFormed(got);
      expect(got.route).toMatchObject({ tier: 'frontier', reason: 'fallback' });
      const firstFrontier = got.sources.indexOf('frontier');
      expect(firstFrontier).toBeGreaterThan(0); // local tokens first
      expect(got.sources.slice(firstFrontier).every((s) => s === 'frontier')).toBe(true);
      expect(got.usage.completion_tokens_by_tier!.hybrid).toBeGreaterThan(0);
      expect(got.usage.completion_tokens_by_tier!.frontier).toBeGreaterThan(0);
      expect(got.usage.frontier_cost).toBeGreaterThan(0);
      // The same model continued the same greedy text: no gap, no repeat at the hand-over. (The frontier counts the
      // text sent in its own tokens, which may be fewer than were generated, so one text may run a token longer.)
      const common = Math.min(got.text.length, reference.length);
      expect(common).toBeGreaterThan(0.9 * reference.length);
      expect(got.text.slice(0, common)).toBe(reference.slice(0, common));
      const text = await scrape(server.httpUrl);
      expect(metricValue(text, 'specroute_fallbacks_total', { from: 'hybrid', to: 'frontier', phase: 'mid_stream' })).toBe(1);
      // The worker restarts with its model (docs/ARCHITECTURE.md#workers-that-recover); the next request waits for it
      // and is served locally.
      const after = await stream(server, { prompt: 'Tom and Lily', max_tokens: 16 });
      expect(after.route).toMatchObject({ tier: 'hybrid' });
      expect(after.sources).not.toContain('frontier');
      expect(metricValue(await scrape(server.httpUrl), 'specroute_worker_restarts_total', { role: 'verifier' })).toBe(1);
    } finally {
      await server.close();
    }
  });

  describe('a frontier that fails', () => {
    let faulty: FaultyFrontier;
    let server: RunningServer;
    beforeAll(async () => {
      faulty = await startFaultyFrontier('ok');
      server = await serve('faulty', {
        model: pair(),
        escalation: { frontier: { baseUrl: faulty.baseUrl, model: 'frontier', retries: 0 }, policy: { enabled: false }, breaker: { failureThreshold: 1000 }, budget: { outputPricePerMillion: 2 } },
        // Every auto request goes to the frontier (a semantic route that matches anything).
        routing: { default: 'auto', routes: [{ name: 'everything', tier: 'frontier', examples: ['Once upon a time'], threshold: -1 }] },
      });
    });
    afterAll(async () => {
      await server?.close();
      await faulty?.close();
    });

    it('mid-stream on an auto request routed to the frontier: the local pair continues from the text already sent, over HTTP and gRPC', async () => {
      faulty.mode = 'close-mid-stream';
      faulty.chunksBeforeClose = 4; // " and the cat sat": the last piece waits for its successor, so three are sent
      const got = await stream(server, { prompt: 'Once upon a time', max_tokens: 24 });
      expectWellFormed(got);
      expect(got.route).toMatchObject({ tier: 'hybrid', reason: 'fallback' });
      expect(got.text.startsWith(' and the cat')).toBe(true);
      expect(got.text.length).toBeGreaterThan(' and the cat'.length);
      const firstLocal = got.sources.findIndex((s) => s !== 'frontier');
      expect(firstLocal).toBeGreaterThan(0);
      expect(got.sources.slice(firstLocal)).not.toContain('frontier');
      expect(got.usage.completion_tokens).toBe(24);
      const sent = got.tokensBySource.frontier!;
      expect(got.usage.completion_tokens_by_tier).toEqual({ frontier: sent, hybrid: 24 - sent });
      expect(got.usage.frontier_cost).toBeGreaterThan(0); // the failed call, at its worst case
      const client = new GenerationClient(`127.0.0.1:${server.grpcPort!}`);
      try {
        const result = await client.generate({ model: MODEL, input: { case: 'prompt', value: 'Once upon a time' }, maxTokens: 24 });
        const { text, final } = summarize(result.messages);
        expect(result.status.code).toBe(grpc.status.OK);
        expect(text.startsWith(' and the cat')).toBe(true);
        expect(final?.route).toMatchObject({ tier: 'hybrid', reason: 'fallback' });
        expect(final?.usage?.completionTokens).toBe(24);
        expect(final?.usage?.completionTokensByTier).toEqual({ frontier: sent, hybrid: 24 - sent });
      } finally {
        client.close();
      }
    });

    it('before its first token: the local pair answers the whole auto request; a request that named the frontier gets 503', async () => {
      faulty.mode = 'error500';
      const local = await stream(server, { prompt: 'Once upon a time', max_tokens: 16 });
      expectWellFormed(local);
      expect(local.route).toMatchObject({ tier: 'hybrid', reason: 'fallback' });
      expect(local.sources).not.toContain('frontier');
      const http = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: 'none', maxRetries: 0 });
      await expect(http.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 4, specroute: { route: 'frontier' } } as OpenAI.CompletionCreateParamsNonStreaming)).rejects.toMatchObject({ status: 503, code: 'frontier_unavailable' });
      expect(metricValue(await scrape(server.httpUrl), 'specroute_fallbacks_total', { from: 'frontier', to: 'hybrid', phase: 'before_first_token' })).toBe(1);
    });
  });
});
