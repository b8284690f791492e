import { describe, expect, it } from 'vitest';
import type { PositionScores } from '../../src/backends/types.js';
import { acceptDraft } from '../../src/pipeline/acceptance.js';
import type { EmittedToken } from '../../src/pipeline/decode-loop.js';
import { FIRST_PAUSE_STEPS } from '../../src/pipeline/adaptive-draft-length.js';
import { speculate } from '../../src/pipeline/speculative-loop.js';
import { StatsRecorder } from '../../src/pipeline/stats.js';
import type { WorkerSequence } from '../../src/workers/model-worker-client.js';

/**
 * The speculative loop driven by two fake sequences, so every pass is known: the verifier's greedy next token
 * is `(last + 1) % V`; the draft proposes that token where `draftRight(position)` holds and a wrong one elsewhere.
 */
const V = 32;
const next = (token: number): number => (token + 1) % V;
const greedy = (token: number): PositionScores => ({ kind: 'greedy', token, top: [{ token, logprob: 0 }] });

interface Pass {
  /** Tokens the draft proposed before this verifier pass (0: a plain step, the draft not asked or proposing none). */
  drafted: number;
}

function fakes(draftRight: (position: number) => boolean): { verifier: WorkerSequence; draft: WorkerSequence; passes: Pass[] } {
  let verifierCache: number[] = [];
  let draftCache: number[] = [];
  let pending = 0;
  let prefilled = false;
  const passes: Pass[] = [];
  const verifier = {
    async evaluate(keep: number, tokens: readonly number[], scoreLast: number): Promise<PositionScores[]> {
      verifierCache = [...verifierCache.slice(0, keep), ...tokens];
      if (prefilled) passes.push({ drafted: pending });
      prefilled = true;
      pending = 0;
      return verifierCache.slice(verifierCache.length - scoreLast).map((t) => greedy(next(t)));
    },
  };
  const draft = {
    async evaluate(keep: number, tokens: readonly number[]): Promise<PositionScores[]> {
      draftCache = [...draftCache.slice(0, keep), ...tokens];
      return [];
    },
    async draft(task: { keep: number; tokens: readonly number[]; maxTokens: number }): Promise<{ tokens: number[]; q: Array<{ kind: 'onehot'; token: number }> }> {
      const context = [...draftCache.slice(0, task.keep), ...task.tokens];
      const out: number[] = [];
      let last = context.at(-1)!;
      for (let i = 0; i < task.maxTokens; i++) {
        const token = draftRight(context.length + i) ? next(last) : (next(last) + 7) % V;
        out.push(token);
        last = token;
      }
      // Like the worker: the draft's cache holds the context and every drafted token but the last.
      draftCache = [...context, ...out.slice(0, -1)];
      pending = out.length;
      return { tokens: out, q: out.map((token) => ({ kind: 'onehot' as const, token })) };
    },
  };
  return { verifier: verifier as unknown as WorkerSequence, draft: draft as unknown as WorkerSequence, passes };
}

async function run(draftRight: (position: number) => boolean, maxTokens: number) {
  const { verifier, draft, passes } = fakes(draftRight);
  const stats = new StatsRecorder('speculative');
  const blocks: EmittedToken[][] = [];
  const prompt = [1, 2, 3];
  const loop = speculate(verifier, draft, {
    prompt,
    maxTokens,
    sampling: { temperature: 0, topK: 0, topP: 1, seed: 5, minP: 0 },
    stopTokens: [],
    topLogprobs: 0,
    speculation: { min: 0, max: 8, initial: 4, adaptive: true, pMin: 0 },
    stats,
    signal: undefined,
  }, acceptDraft);
  for await (const block of loop) blocks.push(block);
  return { blocks, passes, stats: stats.finish(), prompt };
}

describe('speculative loop: token provenance', () => {
  // Wrong from the start (γ falls 4 → 0 and drafting pauses), right on positions 60–139, wrong again after.
  const draftRight = (position: number): boolean => position >= 60 && position < 140;

  it('tags plain steps of a paused draft `verifier`, and gives one `bonus` per fully accepted block', async () => {
    const { blocks, passes, stats, prompt } = await run(draftRight, 200);
    const tokens = blocks.flat().map((b) => b.token);
    // Greedy verification: the output is the verifier's own chain whatever the draft did.
    expect(tokens).toEqual(Array.from({ length: 200 }, (_, i) => next(prompt.at(-1)! + i)));

    // The first block is the prompt pass's token; every later block is one verifier pass.
    expect(blocks[0]!.map((b) => b.source)).toEqual(['verifier']);
    expect(blocks[0]![0]!.position).toBeUndefined();
    expect(blocks.length - 1).toBe(passes.length);
    let plainSteps = 0;
    let fullyAccepted = 0;
    for (const [i, pass] of passes.entries()) {
      const sources = blocks[i + 1]!.map((b) => b.source);
      const positions = blocks[i + 1]!.map((b) => b.position);
      if (pass.drafted === 0) {
        plainSteps++;
        expect(sources, `pass ${i}: a plain step`).toEqual(['verifier']);
        expect(positions, `pass ${i}: no draft stood for a plain step's token`).toEqual([undefined]);
        continue;
      }
      // The k-th accepted draft token sits at draft position k - 1; the correction or bonus after them at k.
      expect(positions, `pass ${i}`).toEqual(sources.map((_, k) => k));
      const accepted = sources.filter((s) => s === 'draft').length;
      expect(sources.slice(0, -1)).toEqual(Array(accepted).fill('draft'));
      if (accepted === pass.drafted) fullyAccepted++;
      expect(sources.at(-1), `pass ${i}: ${accepted} of ${pass.drafted} accepted`).toBe(accepted === pass.drafted ? 'bonus' : 'verifier');
    }

    // The schedule really paused (several pauses: the first, and the doubled ones after failed probes) and
    // really resumed into fully accepted blocks.
    expect(plainSteps).toBeGreaterThanOrEqual(3 * FIRST_PAUSE_STEPS);
    expect(fullyAccepted).toBeGreaterThan(5);

    const count = (source: string): number => blocks.flat().filter((b) => b.source === source).length;
    expect(count('bonus')).toBe(fullyAccepted);
    expect(stats.fullyAcceptedBlocks).toBe(fullyAccepted);
    expect(stats.draftBlocks).toBe(passes.length - plainSteps);
    expect(stats.verifierPasses).toBe(passes.length);
    expect(stats.drafted).toBe(passes.reduce((n, p) => n + p.drafted, 0));
    expect(stats.byPosition[0]!.drafted).toBe(stats.draftBlocks);
    expect(count('draft')).toBe(stats.accepted);
    // Every pass emits exactly one non-draft token: a correction, a bonus or a plain step's.
    expect(count('verifier') + count('bonus')).toBe(passes.length + 1);
  });

  it('tags the last token `verifier` when no room is left to draft, and with a perfect draft every block earns its bonus', async () => {
    const { blocks, passes, stats } = await run(() => true, 50);
    expect(blocks.flat()).toHaveLength(50);
    expect(stats.drafted).toBe(stats.accepted);
    expect(blocks.flat().filter((b) => b.source === 'bonus')).toHaveLength(stats.fullyAcceptedBlocks);
    expect(stats.fullyAcceptedBlocks).toBe(stats.draftBlocks);
    // 1 + 5 + 7 + 9 + 9 + 9 + 9 tokens leave exactly one to go: a plain step, whose token is the verifier's own.
    expect(passes.map((p) => p.drafted)).toEqual([4, 6, 8, 8, 8, 8, 0]);
    expect(blocks.at(-1)!.map((b) => b.source)).toEqual(['verifier']);
  });
});
