import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenEvent, TokenEventDone } from '../../../src/events/token-event.js';
import { SpeculativeEngine, type RequestSettings } from '../../../src/pipeline/engine.js';
import type { BatchingOptions, PassCounts } from '../../../src/pipeline/lock-step.js';
import { makeDraftWithCli, modelOptions, scratchDir, STORIES, storyPrompts } from '../../helpers/models.js';

interface Run {
  tokens: number[];
  done: TokenEventDone | undefined;
}

async function collect(events: AsyncGenerator<TokenEvent>, onToken?: (count: number) => void): Promise<Run> {
  const run: Run = { tokens: [], done: undefined };
  for await (const event of events) {
    if (event.kind === 'token') {
      run.tokens.push(...event.tokenIds);
      onToken?.(run.tokens.length);
    } else if (event.kind === 'done') run.done = event;
  }
  return run;
}

/** Counts since `before`. */
function since(after: Readonly<PassCounts> | undefined, before: Readonly<PassCounts> | undefined): PassCounts {
  const zero: PassCounts = { passes: 0, sequences: 0, tokens: 0, chunked: 0 };
  const a = after ?? zero;
  const b = before ?? zero;
  return { passes: a.passes - b.passes, sequences: a.sequences - b.sequences, tokens: a.tokens - b.tokens, chunked: a.chunked - b.chunked };
}

// Both models on an F32 KV cache (flash attention is always off), so that greedy tokens compare exactly between
// differently batched runs (docs/ARCHITECTURE.md#f16-kv-cache-and-flash-attention).
describe('lock-step steps across requests (stories260K, 3-layer draft, F32 KV)', () => {
  let draftPath: string;
  const engines: SpeculativeEngine[] = [];
  const load = async (batching: Partial<BatchingOptions> = {}, sequences = 16): Promise<SpeculativeEngine> => {
    const engine = await SpeculativeEngine.load({
      verifier: modelOptions(STORIES, { sequences, kvCacheType: 'F32' }),
      draft: modelOptions(draftPath, { sequences, kvCacheType: 'F32' }),
      batching,
    });
    engines.push(engine);
    return engine;
  };
  const prompts = storyPrompts();
  const greedy: RequestSettings = { maxTokens: 48, ignoreEos: true, sampling: { temperature: 0 } };
  const gen = (engine: SpeculativeEngine, prompt: string, settings: RequestSettings = greedy, signal?: AbortSignal): AsyncGenerator<TokenEvent> =>
    engine.generateFromTokens(engine.encodePrompt(prompt), settings, signal ? { signal } : {});
  let solo: number[][];

  beforeAll(async () => {
    draftPath = await makeDraftWithCli(scratchDir(), 'l3', STORIES, ['--layers', '0-2']);
    const engine = await load();
    solo = [];
    for (const prompt of prompts.slice(0, 16)) solo.push((await collect(gen(engine, prompt))).tokens);
  });
  afterAll(async () => {
    await Promise.all(engines.map((e) => e.dispose()));
  });

  it('16 concurrent greedy requests step together: each returns its solo tokens, and passes carry most of them', async () => {
    const engine = engines[0]!;
    expect(engine.lockStep).toBeDefined();
    const before = engine.lockStep!.passCounts();
    const runs = await Promise.all(prompts.slice(0, 16).map((p) => collect(gen(engine, p))));
    const after = engine.lockStep!.passCounts();
    runs.forEach((run, i) => expect(run.tokens, `prompt ${i}`).toEqual(solo[i]));
    const verify = since(after.verifier, before.verifier);
    const draft = since(after.draft, before.draft);
    // Every request's verification of a step goes into one pass (requests stepping on their own shared 5 of 16);
    // the drafts of a step go in one draft pass (requests whose γ is paused send none).
    expect(verify.sequences / verify.passes).toBeGreaterThan(12);
    expect(draft.passes).toBeLessThanOrEqual(verify.passes);
    expect(runs.every((r) => r.done?.stats.mode === 'speculative')).toBe(true);
    expect(engine.verifier.openSequences).toBe(0);
  });

  it('gives the same tokens as requests stepping on their own (batching.lockStep: false)', async () => {
    const independent = await load({ lockStep: false });
    expect(independent.lockStep).toBeUndefined();
    const runs = await Promise.all(prompts.slice(0, 8).map((p) => collect(gen(independent, p))));
    runs.forEach((run, i) => expect(run.tokens, `prompt ${i}`).toEqual(solo[i]));
  });

  it('a request cancelled mid-step never stalls the others, and frees its sequences', async () => {
    const engine = engines[0]!;
    const abort = new AbortController();
    const cancelled = collect(gen(engine, prompts[0]!, { ...greedy, maxTokens: 400 }, abort.signal), (n) => {
      if (n >= 5) abort.abort();
    }).then(
      () => 'completed',
      (error: unknown) => (error as { code?: string }).code,
    );
    const others = Promise.all(prompts.slice(1, 8).map((p) => collect(gen(engine, p))));
    expect(await cancelled).toBe('cancelled');
    const runs = await others;
    runs.forEach((run, i) => expect(run.tokens, `prompt ${i + 1}`).toEqual(solo[i + 1]));
    expect(engine.verifier.openSequences).toBe(0);
    expect(engine.lockStep!.size).toBe(0);
  });

  it('a long prompt is prefilled in chunks while the others step, and decodes as it does alone', async () => {
    const chunked = await load({ prefillChunk: 16 }, 4);
    const long = Array.from({ length: 12 }, (_, i) => prompts[i]).join('. ');
    const alone = await collect(gen(engines[0]!, long));
    const promptTokens = chunked.encodePrompt(long).length;
    expect(promptTokens).toBeGreaterThan(64);
    const before = chunked.lockStep!.passCounts();
    const [longRun, ...others] = await Promise.all([collect(gen(chunked, long)), ...prompts.slice(0, 3).map((p) => collect(gen(chunked, p)))]);
    const verify = since(chunked.lockStep!.passCounts().verifier, before.verifier);
    expect(longRun.tokens).toEqual(alone.tokens);
    others.forEach((run, i) => expect(run.tokens).toEqual(solo[i]));
    // The prompt's chunks of 16 went in passes of their own, all but the last carried over to the next pass.
    expect(verify.chunked).toBeGreaterThanOrEqual(Math.ceil(promptTokens / 16) - 1);
  });

  it("a profile's γ table caps the draft length by how many requests share the step", async () => {
    // Drafting pays alone (γ 4) but not with company (γ 0 from 2 requests on: a draft pass of two sequences is
    // dear). The curves agree with that table, so the online refresh keeps it (γ 3 alone, 0 with company).
    const profiled = await load({
      profile: {
        alpha: 0.6,
        verify: [
          { sequences: 1, tokens: 1, ms: 1 },
          { sequences: 1, tokens: 5, ms: 1.2 },
          { sequences: 8, tokens: 8, ms: 8 },
        ],
        draft: [
          { tokens: 1, ms: 0.05 },
          { tokens: 2, ms: 50 },
        ],
        gammaByBatchSize: [4, 0],
      },
    });
    expect(profiled.lockStep!.gammaCeiling()).toBe(4);
    const alone = await collect(gen(profiled, prompts[0]!));
    expect(alone.done!.stats.drafted).toBeGreaterThan(0);
    const crowd = await Promise.all(prompts.slice(0, 8).map((p) => collect(gen(profiled, p))));
    const perBlock = (runs: Run[]): number => runs.reduce((n, r) => n + r.done!.stats.drafted, 0) / runs.reduce((n, r) => n + r.done!.stats.draftBlocks, 0);
    // With company a step drafts nothing but the odd one-token probe that keeps α measured; requests start and
    // finish one by one, so a few steps run alone and draft more.
    expect(perBlock(crowd)).toBeLessThan(perBlock([alone]));
    crowd.forEach((run, i) => expect(run.tokens).toEqual(solo[i]));
  });
});
