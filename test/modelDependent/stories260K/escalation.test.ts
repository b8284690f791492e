import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Escalator } from '../../../src/escalation/escalator.js';
import { defaultFrontier } from '../../../src/escalation/frontier-client.js';
import { defaultEscalationPolicy } from '../../../src/escalation/policy.js';
import type { TokenEvent, TokenEventDone, TokenEventEscalation } from '../../../src/events/token-event.js';
import { SpeculativeEngine } from '../../../src/pipeline/engine.js';
import { startFaultyFrontier, type FaultyFrontier, type FrontierMode } from '../../helpers/faulty-frontier.js';
import { makeDraftWithCli, modelOptions, scratchDir, STORIES } from '../../helpers/models.js';
import { until } from '../../helpers/until.js';

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

/** Frontier timeouts by phase: short ones only while the frontier is meant to fail, ample ones while it must succeed. */
const FAULT_TIMEOUTS = { connectTimeoutMs: 300, firstByteTimeoutMs: 300, totalTimeoutMs: 800 };
const SUCCESS_TIMEOUTS = { connectTimeoutMs: 30_000, firstByteTimeoutMs: 30_000, totalTimeoutMs: 60_000 };

/** One test's own escalator (breaker, budget, frontier client) and record of breaker changes. */
interface Rig {
  escalator: Escalator;
  breakerChanges: string[];
  /** Switches the frontier client's timeouts (it reads them per call). */
  phase(phase: 'fault' | 'success'): void;
  run(options?: { speculation?: false; escalation?: false | { minConfidence: number } }): Promise<Run>;
}

describe('escalation on stories260K (3-layer draft) against a frontier on 127.0.0.1', () => {
  let frontier: FaultyFrontier;
  let engine: SpeculativeEngine;
  let rig: Rig | undefined;

  beforeAll(async () => {
    frontier = await startFaultyFrontier('ok');
    frontier.words = [' The', ' dog', ' ran', ' to', ' the', ' park', '.'];
    const draft = await makeDraftWithCli(scratchDir(), 'l3', STORIES, ['--layers', '0-2']);
    // The models load once. The engine asks its escalator only for per-request sessions, so this stand-in hands
    // it those of the running test's own Escalator (`setup`).
    const escalatorOfTheTest: Pick<Escalator, 'session'> = {
      session: (...args) => {
        if (!rig) throw new Error('no escalator: call setup() first');
        return rig.escalator.session(...args);
      },
    };
    engine = await SpeculativeEngine.load({ verifier: modelOptions(STORIES, { sequences: 2 }), draft: modelOptions(draft, { sequences: 2 }), escalator: escalatorOfTheTest as Escalator });
  });
  afterEach(() => {
    rig = undefined;
  });
  afterAll(async () => {
    await engine?.dispose();
    await frontier?.close();
  });

  /**
   * A fresh escalator for each test, so that no test starts from the breaker state, budget or frontier mode
   * another left behind; the frontier starts healthy.
   */
  function setup(): Rig {
    frontier.mode = 'ok';
    frontier.retryAfter = 0;
    const breakerChanges: string[] = [];
    const frontierOptions = { ...defaultFrontier, baseUrl: frontier.baseUrl, model: 'frontier', ...SUCCESS_TIMEOUTS, retries: 1, backoffBaseMs: 10, backoffMaxMs: 20 };
    const escalator = new Escalator(
      {
        frontier: frontierOptions,
        breaker: { failureThreshold: 2, cooldownMs: 1000, halfOpenProbes: 1 },
        budget: { maxTokensPerRequest: 1000, maxCallsPerRequest: 1000, callsPerMinute: 10_000, maxCostPerHour: 0, inputPricePerMillion: 0, outputPricePerMillion: 0 },
        // Unsure whenever the verifier's top probability is under 0.9: escalates often on this small model.
        policy: { ...defaultEscalationPolicy, window: 1, minConfidence: 0.9, spanTokens: 4, cooldownTokens: 6 },
      },
      { breakerChanged: (s) => breakerChanges.push(s) },
      {},
    );
    rig = {
      escalator,
      breakerChanges,
      phase: (phase) => Object.assign(frontierOptions, phase === 'fault' ? FAULT_TIMEOUTS : SUCCESS_TIMEOUTS),
      run: (options = {}) => collect(engine.generateFromTokens(engine.encodePrompt('Once upon a time'), { maxTokens: 80, ignoreEos: true, ...options })),
    };
    return rig;
  }

  /** Runs both loops against a failing frontier: every stream completes locally, and the breaker opens. */
  async function fail(r: Rig, mode: FrontierMode): Promise<Run[]> {
    r.phase('fault');
    frontier.mode = mode;
    const runs = await Promise.all([r.run(), r.run({ speculation: false })]);
    for (const run of runs) {
      expect(run.tokens).toBe(80);
      expect(run.sources.frontier ?? 0).toBe(0);
      expect(run.escalations.length).toBeGreaterThan(0);
      expect(run.escalations.every((e) => e.status === 'skipped')).toBe(true);
      expect(run.text).toMatch(/^, there was/);
    }
    const reasons = new Set(runs.flatMap((run) => run.escalations.map((e) => e.reason)));
    expect(reasons.has('breaker_open')).toBe(true);
    expect(r.escalator.breaker.state).not.toBe('closed');
    return runs;
  }

  /** The frontier heals and the cool-down passes (half-open); one probe succeeds and the breaker closes. */
  async function heal(r: Rig): Promise<void> {
    frontier.mode = 'ok';
    r.phase('success');
    await until(() => r.escalator.breaker.state === 'half-open', 'the breaker half-open');
    const healed = await r.run();
    expect(healed.escalations.some((e) => e.status === 'spliced')).toBe(true);
    expect(r.escalator.breaker.state).toBe('closed');
  }

  it('splices frontier text into the stream, tagged frontier, scored by the verifier', async () => {
    const r = setup();
    frontier.requests.length = 0;
    for (const speculation of [undefined, false] as const) {
      const run = await r.run(speculation === false ? { speculation } : {});
      expect(run.escalations.length).toBeGreaterThan(0);
      expect(run.escalations.every((e) => e.status === 'spliced')).toBe(true);
      expect(run.sources.frontier).toBeGreaterThan(0);
      expect(run.text).toContain(' The dog ran to');
      expect(run.tokens).toBe(80);
      expect(run.done.stats.tokensBySource.frontier).toBe(run.sources.frontier);
      expect(run.done.stats.escalations).toBe(run.escalations.length);
    }
    // The frontier saw the text so far as a raw continuation.
    expect(String(frontier.requests[0]!.body.prompt)).toMatch(/^Once upon a time/);
    // Per-request opt-out.
    const local = await r.run({ escalation: false });
    expect(local.escalations).toHaveLength(0);
    expect(local.sources.frontier ?? 0).toBe(0);
  });

  const faults: FrontierMode[] = ['error500', 'rate-limited', 'hang', 'hang-mid-stream', 'close-mid-stream', 'malformed'];
  for (const mode of faults) {
    it(`completes every stream with local tokens when the frontier is ${mode}, and the breaker opens`, async () => {
      const r = setup();
      await fail(r, mode);
      await heal(r);
    });
  }

  it('the breaker went through open, half-open and closed', async () => {
    // Its own breaker, driven through the whole cycle here. Fails if a failing frontier never opens it, if the
    // cool-down never lets a probe through, or if a successful probe does not close it.
    const r = setup();
    expect(r.escalator.breaker.state).toBe('closed');
    await fail(r, 'error500');
    expect(r.breakerChanges).toContain('open');
    await heal(r);
    expect(r.breakerChanges.slice(-3)).toEqual(['open', 'half-open', 'closed']);
  });
});
