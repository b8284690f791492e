import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LlamaContext } from 'node-llama-cpp';
import { LlamaBackend } from '../../../src/backends/llama/llama-backend.js';
import type { PositionScores, ScoreRequest } from '../../../src/backends/types.js';
import { llamaLogitsAddon } from '../../../src/native/llama-logits.js';
import { modelOptions, STORIES, TINY_RANDOM } from '../../helpers/models.js';

/**
 * Scores read from llama.cpp's logits in place (src/backends/llama/in-place-logits.ts) against node-llama-cpp's
 * sampler path, on real models: the same tokens and the same log-probabilities (to float32 rounding), alone and in
 * a batch of 16 sequences, greedy, top-n, sampled and under a grammar's mask. The in-place path must be the one in
 * use: a node-llama-cpp whose private API or native layout changed would fall back silently otherwise.
 */
const GREEDY: ScoreRequest = { sampling: { temperature: 0, topK: 0, topP: 1, minP: 0 } };
const TOP5: ScoreRequest = { ...GREEDY, topLogprobs: 5 };
const SAMPLED: ScoreRequest = { sampling: { temperature: 0.8, topK: 40, topP: 0.95, minP: 0 } };
const SEQUENCES = 16;

function expectSameScores(actual: readonly PositionScores[], expected: readonly PositionScores[]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    expect(a.kind).toBe(e.kind);
    if (a.kind === 'greedy' && e.kind === 'greedy') {
      expect(a.token).toBe(e.token);
      expect(a.top.map((t) => t.token)).toEqual(e.top.map((t) => t.token));
      // node-llama-cpp's probabilities are float32 softmaxes: equal to float32 rounding (a few 1e-6 at 32k tokens).
      a.top.forEach((t, j) => expect(t.logprob).toBeCloseTo(e.top[j]!.logprob, 4));
    } else if (a.kind === 'dense' && e.kind === 'dense') {
      expect(a.probs.length).toBe(e.probs.length);
      let worst = 0;
      for (let t = 0; t < a.probs.length; t++) worst = Math.max(worst, Math.abs(a.probs[t]! - e.probs[t]!));
      expect(worst).toBeLessThan(1e-5);
    }
  });
}

describe.each([
  ['stories260K', STORIES],
  ['llama-2-tiny-random (32k vocabulary)', TINY_RANDOM],
])('in-place logits on %s', (_name, path) => {
  let inPlace: LlamaBackend;
  let sampler: LlamaBackend;
  let prompt: number[];
  beforeAll(async () => {
    inPlace = await LlamaBackend.load(modelOptions(path, { sequences: SEQUENCES }));
    sampler = await LlamaBackend.load(modelOptions(path, { sequences: SEQUENCES, inPlaceLogits: false }));
    prompt = inPlace.tokenize('Once upon a time, there was a little girl named Lily. She loved to play');
  });
  afterAll(async () => {
    await inPlace?.dispose();
    await sampler?.dispose();
  });

  it('is the path in use (the addon is built and attaches to node-llama-cpp 3.22.1)', () => {
    expect(inPlace.info.scoring).toEqual({ path: 'in-place' });
    expect(sampler.info.scoring).toEqual({ path: 'sampler', reason: 'inPlaceLogits: false' });
  });

  it.each([
    ['greedy', GREEDY],
    ['greedy with the top 5', TOP5],
    ['sampled (T=0.8, top-k 40, top-p 0.95)', SAMPLED],
  ])('scores every position of a prompt as node-llama-cpp does: %s', async (_label, request) => {
    const a = inPlace.openSequence();
    const b = sampler.openSequence();
    try {
      const ours = await a.evaluate(0, prompt, prompt.length, request);
      const theirs = await b.evaluate(0, prompt, prompt.length, request);
      expectSameScores(ours, theirs);
      // Continuing after a rollback (the verifier's rejected tail) reads the rows of the new batch.
      const next = await a.evaluate(5, prompt.slice(5, 9), 4, request);
      const nextTheirs = await b.evaluate(5, prompt.slice(5, 9), 4, request);
      expectSameScores(next, nextTheirs);
      expectSameScores(next, ours.slice(5, 9));
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });

  it('scores a masked greedy position among the allowed tokens only', async () => {
    const vocab = inPlace.info.vocabSize;
    const mask = new Int32Array(Math.ceil(vocab / 32));
    const allowed = [7, 42, 100, 300, 401];
    for (const t of allowed) mask[t >> 5]! |= 1 << (t & 31);
    const request: ScoreRequest = { ...TOP5, masks: [mask] };
    const a = inPlace.openSequence();
    const b = sampler.openSequence();
    try {
      const [ours] = await a.evaluate(0, prompt, 1, request);
      const [theirs] = await b.evaluate(0, prompt, 1, request);
      expect(ours?.kind).toBe('greedy');
      if (ours?.kind !== 'greedy' || theirs?.kind !== 'greedy') return;
      expect(allowed).toContain(ours.token);
      expect(ours.token).toBe(theirs.token);
      expect(ours.top.map((t) => t.token)).toEqual(theirs.top.map((t) => t.token));
      // Renormalised over the allowed tokens: their probabilities add up to 1.
      expect(ours.top.reduce((sum, t) => sum + Math.exp(t.logprob), 0)).toBeCloseTo(1, 5);
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });

  it('reads each sequence its own row when 16 share one batch', async () => {
    const prompts = Array.from({ length: SEQUENCES }, (_, i) => prompt.slice(0, 4 + (i % 9)));
    const alone: PositionScores[][] = [];
    for (const p of prompts) {
      const s = inPlace.openSequence();
      alone.push(await s.evaluate(0, p, 3, TOP5));
      await s.dispose();
    }
    const batchesBefore = { ...inPlace.batchSizes };
    const sequences = prompts.map(() => inPlace.openSequence());
    const together = await Promise.all(sequences.map((s, i) => s.evaluate(0, prompts[i]!, 3, TOP5)));
    await Promise.all(sequences.map((s) => s.dispose()));
    together.forEach((scores, i) => expectSameScores(scores, alone[i]!));
    // They did share: a batch of more than one sequence ran.
    const shared = Object.entries(inPlace.batchSizes).some(([size, n]) => Number(size) > 1 && n > (batchesBefore[Number(size)] ?? 0));
    expect(shared).toBe(true);
  });

  it('refuses a second evaluation of the same sequence while one runs', async () => {
    const s = inPlace.openSequence();
    try {
      const first = s.evaluate(0, prompt, 1, GREEDY);
      await expect(s.evaluate(0, prompt, 1, GREEDY)).rejects.toThrow(/already evaluating/);
      await first;
    } finally {
      await s.dispose();
    }
  });
});

describe('the addon checks what it reads through', () => {
  let backend: LlamaBackend;
  beforeAll(async () => {
    backend = await LlamaBackend.load(modelOptions(STORIES, { sequences: 2 }));
  });
  afterAll(async () => backend?.dispose());

  it('refuses a context whose parameters are not the ones it was made with, and bad indexes and arguments', () => {
    const loaded = llamaLogitsAddon();
    if (!('addon' in loaded)) throw new Error(`the addon did not load: ${loaded.reason}`);
    const { addon } = loaded;
    const context = (backend as unknown as { context: LlamaContext }).context;
    const native = (context as unknown as { _ctx: object })._ctx;
    expect(addon.probe(native, context.contextSize * 2, 2)).toBeNull();
    expect(addon.probe(native, context.contextSize * 2 + 1, 2)).toMatch(/layout differs/);
    expect(addon.probe(native, context.contextSize * 2, 3)).toMatch(/layout differs/);
    expect(addon.probe({}, 1, 1)).toMatch(/wraps no native object/);
    // No batch has been decoded in this context yet: there is no row to read, and it says so instead of crashing.
    expect(() => addon.top(native, 0, backend.info.vocabSize, new Int32Array(1), new Float64Array(1))).toThrow(RangeError);
    expect(() => addon.top(native, 0, backend.info.vocabSize, new Int32Array(2), new Float64Array(1))).toThrow(/same length/);
    expect(() => addon.copy(native, 0, new Float64Array(4) as unknown as Float32Array)).toThrow(TypeError);
    expect(() => addon.top({}, 0, 1, new Int32Array(1), new Float64Array(1))).toThrow(/wrap/);
  });
});
