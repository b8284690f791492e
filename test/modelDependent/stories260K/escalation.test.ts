import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Escalator } from '../../../src/escalation/escalator.js';
import { defaultFrontier } from '../../../src/escalation/frontier-client.js';
import { defaultEscalationPolicy } from '../../../src/escalation/policy.js';
import type { TokenEvent, TokenEventDone, TokenEventEscalation } from '../../../src/events/token-event.js';
import { SpeculativeEngine } from '../../../src/pipeline/engine.js';
import { startFaultyFrontier, type FaultyFrontier, type FrontierMode } from '../../helpers/faulty-frontier.js';
import { makeDraftWithCli, modelOptions, scratchDir, STORIES } from '../../helpers/models.js';

interface Run {
  text: string;
  tokens: number;
  sources: Record<string, number>;
  escalations: TokenEventEscalation[];
  done: TokenEventDone;
}

async function collect(events: AsyncIterable<TokenEvent>): Promise<Run> {
  const run = { text: '', tokens: 0, sources: {} as Record<string, number>, escalations: [] as TokenEventEscalation[], done: undefined as TokenEventDone | undefined };
  for await (const e of events) {
    if (e.kind === 'token') {
      run.text += e.text;
      run.tokens += e.tokenIds.length;
      run.sources[e.source] = (run.sources[e.source] ?? 0) + e.tokenIds.length;
    } else if (e.kind === 'escalation') run.escalations.push(e);
    else run.done = e;
  }
  if (!run.done) throw new Error('no done event');
  return run as Run;
}

describe('escalation on stories260K (3-layer draft) against a frontier on 127.0.0.1', () => {
  let frontier: FaultyFrontier;
  let engine: SpeculativeEngine;
  let escalator: Escalator;
  const breakerChanges: string[] = [];

  beforeAll(async () => {
    frontier = await startFaultyFrontier('ok');
    frontier.words = [' The', ' dog', ' ran', ' to', ' the', ' park', '.'];
    escalator = new Escalator(
      {
        frontier: { ...defaultFrontier, baseUrl: frontier.baseUrl, model: 'frontier', connectTimeoutMs: 300, firstByteTimeoutMs: 300, totalTimeoutMs: 800, retries: 1, backoffBaseMs: 10, backoffMaxMs: 20 },
        breaker: { failureThreshold: 2, cooldownMs: 400, halfOpenProbes: 1 },
        budget: { maxTokensPerRequest: 1000, maxCallsPerRequest: 1000, callsPerMinute: 10_000, maxCostPerHour: 0, inputPricePerMillion: 0, outputPricePerMillion: 0 },
        // Unsure whenever the verifier's top probability is under 0.9: escalates often on this small model.
        policy: { ...defaultEscalationPolicy, window: 1, minConfidence: 0.9, spanTokens: 4, cooldownTokens: 6 },
      },
      { breakerChanged: (s) => breakerChanges.push(s) },
      {},
    );
    const draft = await makeDraftWithCli(scratchDir(), 'l3', STORIES, ['--layers', '0-2']);
    engine = await SpeculativeEngine.load({ verifier: modelOptions(STORIES, { sequences: 2 }), draft: modelOptions(draft, { sequences: 2 }), escalator });
  });
  afterAll(async () => {
    await engine?.dispose();
    await frontier?.close();
  });

  const run = (options: { speculation?: false; escalation?: false | { minConfidence: number } } = {}) =>
    collect(engine.generateFromTokens(engine.encodePrompt('Once upon a time'), { maxTokens: 80, ignoreEos: true, ...options }));

  it('splices frontier text into the stream, tagged frontier, scored by the verifier', async () => {
    frontier.mode = 'ok';
    frontier.requests.length = 0;
    for (const speculation of [undefined, false] as const) {
      const r = await run(speculation === false ? { speculation } : {});
      expect(r.escalations.length).toBeGreaterThan(0);
      expect(r.escalations.every((e) => e.status === 'spliced')).toBe(true);
      expect(r.sources.frontier).toBeGreaterThan(0);
      expect(r.text).toContain(' The dog ran to');
      expect(r.tokens).toBe(80);
      expect(r.done.stats.tokensBySource.frontier).toBe(r.sources.frontier);
      expect(r.done.stats.escalations).toBe(r.escalations.length);
    }
    // The frontier saw the text so far as a raw continuation.
    expect(String(frontier.requests[0]!.body.prompt)).toMatch(/^Once upon a time/);
    // Per-request opt-out.
    const local = await run({ escalation: false });
    expect(local.escalations).toHaveLength(0);
    expect(local.sources.frontier ?? 0).toBe(0);
  });

  const faults: FrontierMode[] = ['error500', 'rate-limited', 'hang', 'hang-mid-stream', 'close-mid-stream', 'malformed'];
  for (const mode of faults) {
    it(`completes every stream with local tokens when the frontier is ${mode}, and the breaker opens`, async () => {
      frontier.mode = mode;
      frontier.retryAfter = 0;
      const runs = await Promise.all([run(), run({ speculation: false })]);
      for (const r of runs) {
        expect(r.tokens).toBe(80);
        expect(r.sources.frontier ?? 0).toBe(0);
        expect(r.escalations.length).toBeGreaterThan(0);
        expect(r.escalations.every((e) => e.status === 'skipped')).toBe(true);
        expect(r.text).toMatch(/^, there was/);
      }
      const reasons = new Set(runs.flatMap((r) => r.escalations.map((e) => e.reason)));
      expect(reasons.has('breaker_open')).toBe(true);
      expect(escalator.breaker.state).not.toBe('closed');
      // Recovery: the frontier heals, the cool-down passes, a probe succeeds and the breaker closes.
      frontier.mode = 'ok';
      await new Promise((r) => setTimeout(r, 450));
      const healed = await run();
      expect(healed.escalations.some((e) => e.status === 'spliced')).toBe(true);
      expect(escalator.breaker.state).toBe('closed');
    });
  }

  it('the breaker went through open, half-open and closed', () => {
    expect(breakerChanges).toContain('open');
    expect(breakerChanges).toContain('half-open');
    expect(breakerChanges).toContain('closed');
  });
});
