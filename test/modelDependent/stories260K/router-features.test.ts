import { join } from 'node:path';
import type { LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlamaBackend, sharedLlama } from '../../../src/backends/llama/llama-backend.js';
import { LlamaTokenizer } from '../../../src/backends/llama/llama-tokenizer.js';
import { PROMPT_TAIL } from '../../../src/backends/llama/routing-context.js';
import { tokenizerFingerprint } from '../../../src/backends/tokenizer-fingerprint.js';
import type { PositionScores, ScoreRequest } from '../../../src/backends/types.js';
import type { PromptSignals } from '../../../src/contract/router-features.js';
import { SpecrouteError } from '../../../src/errors/registry.js';
import { makeDraft } from '../../../src/models/draft-make.js';
import { convertGgufToOnnx } from '../../../src/models/onnx/gguf-to-onnx.js';
import { SpeculativeEngine } from '../../../src/pipeline/engine.js';
import { ModelWorker } from '../../../src/workers/model-worker-client.js';
import { modelOptions, scratchDir, STORIES, storyPrompts, TINY_RANDOM } from '../../helpers/models.js';

/**
 * The router's prompt signals (contract/router-features.ts) computed in the model worker on stories260K, against
 * an independent computation from the dense scores `evaluate` already returns; the pooled embedding against
 * node-llama-cpp's public embedding API; the routing context's isolation from the request sequences; and the
 * tokenizer fingerprint.
 */

/** Temperature 1, no truncation: dense scores whose `logits` are the raw log-probabilities. */
const RAW: ScoreRequest = { sampling: { temperature: 1, topK: 0, topP: 1, minP: 0 } };
/** Float32 logits summed in float64 on both sides, in different orders. */
const TOLERANCE = 1e-5;

const STORIES_KIND = [
  'Once upon a time, there was a little dog named Max. He liked to run in the park.',
  'One day, a girl named Lily went to the park with her mom. She saw a big red ball.',
  'Tom and Sue were friends. They played with blocks and made a tall tower.',
];
const OTHER_KINDS = [
  'def f(x): return x * 2 + 1 if x > 0 else -x',
  'for (let i = 0; i < n; i++) { sum += a[i] * b[i]; }',
  '3 1 4 1 5 9 2 6 5 3 5 8 9 7 9 3 2 3 8 4 6',
  '17, 42, 99, 256, 1024, 7, 13, 88, 5, 61',
];

function entropy(scores: PositionScores): number {
  if (scores.kind !== 'dense') throw new Error('expected dense scores');
  let h = 0;
  for (const l of scores.logits) {
    const lp = l - scores.logZ;
    if (lp > -Infinity) h -= Math.exp(lp) * lp;
  }
  return h;
}

function logprob(scores: PositionScores, token: number): number {
  if (scores.kind !== 'dense') throw new Error('expected dense scores');
  return scores.logits[token]! - scores.logZ;
}

function margin(scores: PositionScores): number {
  if (scores.kind !== 'dense') throw new Error('expected dense scores');
  const [p1, p2] = Array.from(scores.logits, (l) => Math.exp(l - scores.logZ)).sort((a, b) => b - a);
  return p1! - (p2 ?? 0);
}

/** The signals recomputed from dense scores of every position (one batched `evaluate` on a request sequence). */
async function reference(worker: ModelWorker, tokens: readonly number[]): Promise<Omit<PromptSignals, 'embedding'>> {
  const sequence = await worker.open();
  try {
    const scores = await sequence.evaluate(0, tokens, tokens.length, RAW);
    const n = tokens.length;
    // The prompt means are over the last PROMPT_TAIL predicted positions.
    const from = Math.max(0, n - 1 - PROMPT_TAIL);
    const inner = scores.slice(from, n - 1);
    const mean = (values: number[]): number => (values.length === 0 ? 0 : values.reduce((s, v) => s + v, 0) / values.length);
    return {
      promptMeanLogprob: mean(inner.map((s, i) => logprob(s, tokens[from + i + 1]!))),
      promptMeanEntropy: mean(inner.map(entropy)),
      firstEntropy: entropy(scores[n - 1]!),
      firstMargin: margin(scores[n - 1]!),
      promptTokens: n,
    };
  } finally {
    await sequence.close();
  }
}

const cosine = (a: readonly number[], b: readonly number[]): number => a.reduce((s, v, i) => s + v * b[i]!, 0);

describe('prompt signals in the model worker (stories260K)', () => {
  let worker: ModelWorker;
  let tokenizer: LlamaTokenizer;
  const encode = (text: string): number[] => [tokenizer.bos!, ...tokenizer.tokenize(text)];

  beforeAll(async () => {
    [worker, tokenizer] = await Promise.all([ModelWorker.start(modelOptions(STORIES, { sequences: 2 }), 'verifier'), LlamaTokenizer.load(STORIES)]);
  });
  afterAll(async () => {
    await Promise.allSettled([worker?.dispose(), tokenizer?.dispose()]);
  });

  it('reports the embedding it computes on the model info: 64 mean-pooled dimensions', () => {
    expect(worker.info.embeddingDims).toBe(64);
    expect(worker.info.embeddingPooling).toBe('mean');
  });

  it('agrees with the dense scores of every position returned by evaluate', async () => {
    const prompts = [...storyPrompts().slice(0, 4), ...OTHER_KINDS.slice(0, 2)].map(encode);
    prompts.push([tokenizer.bos!, ...tokenizer.tokenize(storyPrompts().join(' '))].slice(0, 200));
    for (const tokens of prompts) {
      const signals = await worker.promptSignals(tokens);
      const expected = await reference(worker, tokens);
      expect(signals.promptTokens).toBe(tokens.length);
      for (const key of ['promptMeanLogprob', 'promptMeanEntropy', 'firstEntropy', 'firstMargin'] as const) {
        expect(Math.abs(signals[key] - expected[key]), `${key} of a ${tokens.length}-token prompt`).toBeLessThan(TOLERANCE);
      }
      expect(signals.promptMeanLogprob).toBeLessThan(0);
      expect(signals.firstMargin).toBeGreaterThan(0);
    }
  });

  it('gives zero prompt means for a one-token prompt, and the first distribution after it', async () => {
    const tokens = [tokenizer.bos!];
    const signals = await worker.promptSignals(tokens);
    const expected = await reference(worker, tokens);
    expect(signals.promptMeanLogprob).toBe(0);
    expect(signals.promptMeanEntropy).toBe(0);
    expect(Math.abs(signals.firstEntropy - expected.firstEntropy)).toBeLessThan(TOLERANCE);
    expect(Math.abs(signals.firstMargin - expected.firstMargin)).toBeLessThan(TOLERANCE);
  });

  it('returns a unit-norm embedding, identical for identical prompts', async () => {
    const tokens = encode(STORIES_KIND[0]!);
    const [a, b] = [await worker.promptSignals(tokens), await worker.promptSignals([...tokens])];
    expect(a.embedding).toHaveLength(64);
    expect(Math.hypot(...a.embedding)).toBeCloseTo(1, 12);
    expect(b).toEqual(a);
  });

  it('embeds the mean of the hidden states of every prompt position (checked against node-llama-cpp\'s public last-token embeddings)', async () => {
    // Without a pooling override, llama.cpp's embedding of a Llama GGUF is the last token's hidden state; the mean
    // of those over every prefix of the prompt is the mean pooling of the whole prompt.
    const llama = await sharedLlama();
    const model: LlamaModel = await llama.loadModel({ modelPath: STORIES });
    const context = await model.createEmbeddingContext({ contextSize: 512, threads: 1 });
    try {
      for (const text of [STORIES_KIND[1]!, OTHER_KINDS[2]!]) {
        const tokens = encode(text);
        const sum = new Array<number>(64).fill(0);
        for (let end = 1; end <= tokens.length; end++) {
          const { vector } = await context.getEmbeddingFor(tokens.slice(0, end) as Token[]);
          vector.forEach((v, i) => (sum[i]! += v));
        }
        const norm = Math.hypot(...sum);
        const expected = sum.map((v) => v / norm);
        const { embedding } = await worker.promptSignals(tokens);
        expect(cosine(embedding, expected)).toBeGreaterThan(0.99999);
        for (const [i, v] of embedding.entries()) expect(Math.abs(v - expected[i]!)).toBeLessThan(2e-3);
      }
    } finally {
      await context.dispose();
      await model.dispose();
    }
  });

  it('sees the kind of prompt: stories embed closer to each other than to code or numbers, and read as likelier', async () => {
    const stories = await Promise.all(STORIES_KIND.map((t) => worker.promptSignals(encode(t))));
    const others = await Promise.all(OTHER_KINDS.map((t) => worker.promptSignals(encode(t))));
    const within = stories.flatMap((a, i) => stories.slice(i + 1).map((b) => cosine(a.embedding, b.embedding)));
    const across = stories.flatMap((a) => others.map((b) => cosine(a.embedding, b.embedding)));
    expect(Math.min(...within)).toBeGreaterThan(Math.max(...across));
    expect(Math.min(...stories.map((s) => s.promptMeanLogprob))).toBeGreaterThan(Math.max(...others.map((s) => s.promptMeanLogprob)));
    expect(Math.max(...stories.map((s) => s.promptMeanEntropy))).toBeLessThan(Math.min(...others.map((s) => s.promptMeanEntropy)));
  });

  it('takes no request sequence: works while every request sequence is open, and leaves the count as it was', async () => {
    const tokens = encode(STORIES_KIND[2]!);
    const before = await worker.promptSignals(tokens);
    const held = [await worker.open(), await worker.open()];
    try {
      await expect(worker.open()).rejects.toMatchObject({ code: 'overloaded' });
      expect(worker.openSequences).toBe(2);
      // Busy request sequences too: evaluations in flight on both while the signals run.
      const busy = held.map((s) => s.evaluate(0, tokens, 1, RAW));
      const during = await worker.promptSignals(tokens);
      await Promise.all(busy);
      expect(during).toEqual(before);
      expect(worker.openSequences).toBe(2);
      expect((await worker.stats()).openSequences).toBe(2);
    } finally {
      await Promise.all(held.map((s) => s.close()));
    }
    expect(worker.openSequences).toBe(0);
    expect((await worker.stats()).openSequences).toBe(0);
  });

  it('gives concurrent calls the results of serial ones', async () => {
    const prompts = [...STORIES_KIND, ...OTHER_KINDS].map(encode);
    const serial: PromptSignals[] = [];
    for (const tokens of prompts) serial.push(await worker.promptSignals(tokens));
    expect(await Promise.all(prompts.map((tokens) => worker.promptSignals(tokens)))).toEqual(serial);
  });

  it('refuses an empty prompt, a token outside the vocabulary and a prompt longer than the context', async () => {
    await expect(worker.promptSignals([])).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(worker.promptSignals([1, 512])).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/token 512 is outside the vocabulary/) });
    await expect(worker.promptSignals(new Array<number>(512).fill(5))).rejects.toMatchObject({ code: 'context_length_exceeded' });
    const longest = await worker.promptSignals(new Array<number>(511).fill(5));
    expect(longest.promptTokens).toBe(511);
  });

  describe('abort', () => {
    const long = (): number[] => [1, ...new Array<number>(510).fill(0).map((_, i) => 3 + (i % 400))];

    it('rejects a call whose signal is already aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      await expect(worker.promptSignals(encode('Hello'), { signal: controller.signal })).rejects.toMatchObject({ code: 'cancelled' });
    });

    it('passes a registry error given as the abort reason through', async () => {
      const controller = new AbortController();
      const call = worker.promptSignals(long(), { signal: controller.signal });
      controller.abort(new SpecrouteError('deadline_exceeded', 'the deadline passed'));
      await expect(call).rejects.toMatchObject({ code: 'deadline_exceeded' });
    });

    it('rejects a running call at once: before a call queued behind it ends', async () => {
      const order: string[] = [];
      const controller = new AbortController();
      const running = worker.promptSignals(long(), { signal: controller.signal }).catch((e: unknown) => (order.push('running rejected'), e));
      const queued = worker.promptSignals(encode('After it.')).then((s) => (order.push('queued resolved'), s));
      controller.abort();
      expect(await running).toMatchObject({ code: 'cancelled' });
      await queued;
      expect(order).toEqual(['running rejected', 'queued resolved']);
    });

    it('rejects a queued call at once: before the call ahead of it ends', async () => {
      const order: string[] = [];
      const controller = new AbortController();
      const ahead = worker.promptSignals(long()).then((s) => (order.push('ahead resolved'), s));
      const queued = worker.promptSignals(encode('Behind it.'), { signal: controller.signal }).catch((e: unknown) => (order.push('queued rejected'), e));
      controller.abort();
      expect(await queued).toMatchObject({ code: 'cancelled' });
      expect((await ahead).promptTokens).toBe(511);
      expect(order).toEqual(['queued rejected', 'ahead resolved']);
    });

    it('leaves the worker serving correct results after aborted calls', async () => {
      const tokens = encode(STORIES_KIND[0]!);
      const expected = await reference(worker, tokens);
      const signals = await worker.promptSignals(tokens);
      expect(Math.abs(signals.promptMeanLogprob - expected.promptMeanLogprob)).toBeLessThan(TOLERANCE);
      expect(worker.openSequences).toBe(0);
    });
  });
});

describe('the routing context beside the request context (stories260K)', () => {
  it('leaves the request context\'s scores bit for bit as without the pooling override', async () => {
    const tokens = [1, 403, 407, 261, 378, 189, 9, 505, 350, 395];
    // Both sides through node-llama-cpp's sampler, so that only the override differs (the in-place read agrees with
    // it to float32 rounding: in-place-logits.test.ts).
    const backend = await LlamaBackend.load(modelOptions(STORIES, { inPlaceLogits: false }));
    const llama = await sharedLlama();
    const plain = await llama.loadModel({ modelPath: STORIES });
    // The backend's KV cache is F32 by default: the plain context's too.
    const context = await plain.createContext({ contextSize: 512, batchSize: 512, sequences: 1, threads: 1, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
    try {
      const sequence = backend.openSequence();
      const ours = await sequence.evaluate(0, tokens, tokens.length, RAW);
      await sequence.dispose();
      const input = tokens.map((t) => [t as Token, { generateNext: { probabilities: true } }]) as Parameters<LlamaContextSequence['controlledEvaluate']>[0];
      const theirs = await context.getSequence().controlledEvaluate(input);
      expect(ours).toHaveLength(tokens.length);
      for (const [i, scores] of ours.entries()) {
        if (scores.kind !== 'dense') throw new Error('expected dense scores');
        const probabilities = theirs[i]?.next?.probabilities;
        expect(probabilities?.size).toBe(512);
        for (const [token, p] of probabilities!) expect(scores.logits[token]).toBe(Math.fround(Math.log(p)));
      }
    } finally {
      await context.dispose();
      await plain.dispose();
      await backend.dispose();
    }
  });

  it('does not change a request\'s greedy tokens when prompt signals run during it (engine.verifier)', async () => {
    const engine = await SpeculativeEngine.load({ verifier: modelOptions(STORIES, { sequences: 1 }) });
    try {
      const prompt = engine.encodePrompt(storyPrompts()[0]!);
      const run = async (): Promise<number[]> => {
        const tokens: number[] = [];
        for await (const event of engine.generateFromTokens(prompt, { maxTokens: 64, ignoreEos: true })) if (event.kind === 'token') tokens.push(...event.tokenIds);
        return tokens;
      };
      const solo = await run();
      const chat = engine.encode({ kind: 'chat', messages: [{ role: 'user', content: 'Tell me a story about a cat.' }] }).tokens;
      const routing = Promise.all([prompt, chat, prompt, chat].map((tokens) => engine.verifier.promptSignals(tokens)));
      const [during, signals] = await Promise.all([run(), routing]);
      expect(during).toEqual(solo);
      expect(signals[0]).toEqual(signals[2]);
      expect(signals[1]!.promptTokens).toBe(chat.length);
      expect(engine.verifier.openSequences).toBe(0);
    } finally {
      await engine.dispose();
    }
  });
});

describe('prompt signals on an ONNX verifier', () => {
  let onnxPath: string;
  beforeAll(async () => {
    onnxPath = join(scratchDir(), 'stories260K.onnx');
    await convertGgufToOnnx({ from: STORIES, out: onnxPath });
  });

  it('fail with unsupported_model, naming what is unsupported', async () => {
    const worker = await ModelWorker.start(modelOptions(onnxPath), 'verifier');
    try {
      expect(worker.info.embeddingDims).toBeUndefined();
      await expect(worker.promptSignals([1, 403, 407])).rejects.toMatchObject({
        code: 'unsupported_model',
        message: expect.stringMatching(/query routing needs prompt signals .* ONNX backend/),
      });
    } finally {
      await worker.dispose();
    }
  });
});

describe('tokenizerFingerprint', () => {
  const dir = scratchDir();
  const fingerprintOf = async (path: string) => {
    const tokenizer = await LlamaTokenizer.load(path);
    try {
      return tokenizerFingerprint(tokenizer);
    } finally {
      await tokenizer.dispose();
    }
  };

  it('is stable for stories260K (pinned: a change here refuses every router trained before it)', async () => {
    const [a, b] = [await fingerprintOf(STORIES), await fingerprintOf(STORIES)];
    expect(a).toEqual(b);
    expect(a).toEqual({ vocabSize: 512, fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(a.fingerprint).toBe('8cf3e059c2ba0760');
  });

  it('differs between stories260K and llama-2-tiny-random', async () => {
    const [stories, tiny] = [await fingerprintOf(STORIES), await fingerprintOf(TINY_RANDOM)];
    expect(tiny.vocabSize).toBe(32000);
    expect(tiny.fingerprint).not.toBe(stories.fingerprint);
  });

  it('is the same for quantized and layer-truncated copies of stories260K (they keep its tokenizer)', async () => {
    const q4 = join(dir, 'q4_0.gguf');
    const l2 = join(dir, 'l2.gguf');
    await makeDraft({ from: STORIES, out: q4, quantize: 'q4_0' });
    await makeDraft({ from: STORIES, out: l2, layers: '0-1' });
    const stories = await fingerprintOf(STORIES);
    expect(await fingerprintOf(q4)).toEqual(stories);
    expect(await fingerprintOf(l2)).toEqual(stories);
  });
});
