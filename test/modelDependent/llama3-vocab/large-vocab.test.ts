import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getLlama, LlamaLogLevel, type LlamaModel, type Token } from 'node-llama-cpp';
import llama3 from 'llama3-tokenizer-js';
import { ensureLargeVocabModel, LLAMA3_BOS, LLAMA3_EOT, LLAMA3_VOCAB_SIZE } from '../../../bench/fixtures/large-vocab.js';
import { LlamaBackend, topProbabilities } from '../../../src/backends/llama/llama-backend.js';
import { kernels } from '../../../src/native/kernels.js';
import { modelOptions, STORIES, TINY_RANDOM } from '../../helpers/models.js';

/**
 * The 128k-vocabulary bench fixture (bench/fixtures/large-vocab.ts: random weights, Llama 3's real tokenizer),
 * and the greedy top-logprobs path of the llama backend that reads only the top logits: it must give exactly the
 * log-probabilities node-llama-cpp's whole `probabilities` map gives, at 512, 32k and 128k vocabularies.
 */
describe('Llama 3 vocabulary fixture (128,256 tokens)', () => {
  let path: string;
  let backend: LlamaBackend;
  beforeAll(async () => {
    path = await ensureLargeVocabModel();
    backend = await LlamaBackend.load(modelOptions(path));
  });
  afterAll(async () => backend?.dispose());

  it("tokenizes as Llama 3 does, and back", () => {
    expect(backend.info.vocabSize).toBe(LLAMA3_VOCAB_SIZE);
    expect(backend.info.bos).toBe(LLAMA3_BOS);
    expect(backend.info.eos).toBe(LLAMA3_EOT);
    expect(backend.tokenize('Hello world')).toEqual([9906, 1917]);
    expect(backend.tokenize('<|eot_id|>', true)).toEqual([LLAMA3_EOT]);
    for (const text of ['Hello world', ' The capital of France is Paris.', 'Ünïcödé ✓ 日本語 🙂', 'def f(x):\n    return x ** 2  # 12345', '   spaces\t\ttabs\n\n']) {
      const tokens = backend.tokenize(text);
      // The package's own JavaScript BPE (another implementation of the same tokenizer) agrees with llama.cpp's.
      expect(tokens).toEqual(llama3.encode(text, { bos: false, eos: false }));
      expect(backend.detokenize(tokens)).toBe(text);
    }
  });
});

describe('greedy top log-probabilities from the top logits', () => {
  let llama: Awaited<ReturnType<typeof getLlama>>;
  const models: LlamaModel[] = [];
  beforeAll(async () => {
    llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error, build: 'never' });
  });
  afterAll(async () => {
    for (const model of models) await model.dispose();
  });

  it('uses the native kernels here (the path is off without them)', () => {
    expect(kernels.name).toBe('native');
  });

  for (const [name, file] of [
    ['512', STORIES],
    ['32k', TINY_RANDOM],
    ['128k', 'fixture'],
  ] as const) {
    it(`equals the whole distribution's top entries bit for bit at vocabulary ${name}`, async () => {
      const model = await llama.loadModel({ modelPath: file === 'fixture' ? await ensureLargeVocabModel() : file });
      models.push(model);
      const context = await model.createContext({ contextSize: 256, threads: 1, flashAttention: false, sequences: 1 });
      try {
        const sequence = context.getSequence();
        const text = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends and her dog.';
        const tokens = [model.tokens.bos ?? 1, ...model.tokenize(text)].slice(0, 40) as Token[];
        const run = async (generateNext: object) => {
          await sequence.clearHistory();
          return sequence.controlledEvaluate(tokens.map((t) => [t, { generateNext }] as [Token, { generateNext: object }]));
        };
        const whole = await run({ token: true, confidence: true, probabilities: true });
        const top = await run({ token: true, totalLogitWeight: true, logits: { filter: { tokens: [], includeTop: 8 } } });
        for (let i = 0; i < tokens.length; i++) {
          const expected = [...whole[i]!.next!.probabilities!.entries()].slice(0, 8).map(([token, p]) => ({ token, logprob: Math.log(p) }));
          const got = topProbabilities(top[i]!.next!.logits!, top[i]!.next!.totalLogitWeight!);
          expect(got).toEqual(expected);
          expect(Object.is(got[0]!.logprob, expected[0]!.logprob)).toBe(true);
          expect(top[i]!.next!.token).toBe(whole[i]!.next!.token);
        }
      } finally {
        await context.dispose();
      }
    });
  }
});
