import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { teacherForcedAgreement } from '../../../bench/fixtures/agreement.js';
import { loadReferenceModel, referenceLogits, type ReferenceModel } from '../../../bench/fixtures/reference-forward.js';
import { scaleVerifier, widenMatrix, type ScaleVerifierResult } from '../../../bench/fixtures/scale-verifier.js';
import { LlamaBackend } from '../../../src/backends/llama/llama-backend.js';
import type { ScoreRequest } from '../../../src/backends/types.js';
import { makeDraft } from '../../../src/models/draft-make.js';
import { GgufReader } from '../../../src/models/gguf/gguf-reader.js';
import { toFloat32 } from '../../../src/models/gguf/quantize.js';
import { modelOptions, scratchDir, STORIES, storyPrompts } from '../../helpers/models.js';

/**
 * The compute-scaled verifier fixture (bench/fixtures/scale-verifier.ts) on a small copy: stories260K widened 2×
 * with 1 identity layer (1.2M parameters). The benchmark builds the big one (width 16, 59M) the same way.
 */
const WIDTH = 2;
const EXTRA = 1;

async function header(path: string) {
  const reader = await GgufReader.open(path);
  await reader.close();
  return reader.header;
}

/** Temperature 1, no truncation: dense scores whose `logits` are llama.cpp's raw log-probabilities. */
const RAW: ScoreRequest = { sampling: { temperature: 1, topK: 0, topP: 1, minP: 0 } };
/** Max |Δ log-probability| allowed between the float64 reference and llama.cpp in float32 (F32 KV cache). */
const REFERENCE_TOLERANCE = 1e-4;

/** llama.cpp's log-probabilities after each token, the whole input in one batch (load `backend` on an F32 KV cache). */
async function llamaLogprobs(backend: LlamaBackend, tokens: readonly number[]): Promise<Float64Array[]> {
  const sequence = backend.openSequence();
  try {
    const scores = await sequence.evaluate(0, tokens, tokens.length, RAW);
    return scores.map((s) => {
      if (s.kind !== 'dense') throw new Error('expected dense scores');
      return Float64Array.from(s.logits, (v) => v - s.logZ);
    });
  } finally {
    await sequence.dispose();
  }
}

function logSoftmax(logits: Float64Array): Float64Array {
  const max = Math.max(...logits);
  let z = 0;
  for (const v of logits) z += Math.exp(v - max);
  const logZ = max + Math.log(z);
  return logits.map((v) => v - logZ);
}

/** Max |Δ| between llama.cpp's log-probabilities and the reference's, over every position and token. */
function maxLogprobError(llama: readonly Float64Array[], model: ReferenceModel, tokens: readonly number[]): number {
  const reference = referenceLogits(model, tokens).map(logSoftmax);
  expect(llama).toHaveLength(reference.length);
  let max = 0;
  for (const [i, row] of reference.entries()) {
    for (const [t, v] of row.entries()) {
      const d = Math.abs(v - llama[i]![t]!);
      // NaN (a -Infinity from an underflowed probability) fails the comparison below.
      max = Number.isNaN(d) ? Infinity : Math.max(max, d);
    }
  }
  return max;
}

function rawHex(entry: { raw?: Uint8Array } | undefined): string | undefined {
  return entry?.raw === undefined ? undefined : Buffer.from(entry.raw).toString('hex');
}

describe('stories260K: compute-scaled verifier', () => {
  const dir = scratchDir();
  const scaledPath = join(dir, `stories260K-x${WIDTH}+${EXTRA}.gguf`);
  const draftPath = join(dir, 'draft-L0-2.gguf');
  let made: ScaleVerifierResult;

  beforeAll(async () => {
    made = await scaleVerifier({ from: STORIES, out: scaledPath, width: WIDTH, extraLayers: EXTRA });
    await makeDraft({ from: STORIES, out: draftPath, layers: '0-2' });
  });

  it('widens matrices block-wise, dividing by k', () => {
    // 2 rows of 3: [[1,2,3],[4,5,6]] → 4 rows of 6, each [r/2, r/2].
    const out = widenMatrix(Float32Array.from([1, 2, 3, 4, 5, 6]), 3, 2, { inTiles: 2, outTiles: 2, scale: 0.5 });
    expect([...out]).toEqual([
      ...[0.5, 1, 1.5, 0.5, 1, 1.5],
      ...[2, 2.5, 3, 2, 2.5, 3],
      ...[0.5, 1, 1.5, 0.5, 1, 1.5],
      ...[2, 2.5, 3, 2, 2.5, 3],
    ]);
  });

  it('writes the scaled shapes and metadata, and copies the tokenizer byte for byte', async () => {
    const source = await header(STORIES);
    const scaled = await header(scaledPath);
    const value = (h: typeof source, key: string) => h.metadata.find((e) => e.key === key)?.value;

    expect(value(scaled, 'llama.embedding_length')).toBe(64 * WIDTH);
    expect(value(scaled, 'llama.feed_forward_length')).toBe(172 * WIDTH);
    expect(value(scaled, 'llama.attention.head_count')).toBe(8 * WIDTH);
    expect(value(scaled, 'llama.attention.head_count_kv')).toBe(4 * WIDTH);
    expect(value(scaled, 'llama.block_count')).toBe(5 + EXTRA);
    expect(value(scaled, 'general.name')).toMatch(/scaled/);
    expect(made).toMatchObject({ embeddingLength: 128, feedForwardLength: 344, headCount: 16, headCountKv: 8, blockCount: 6, sourceBlockCount: 5 });

    // Everything else, the tokenizer first of all, is copied raw and in order.
    const changed = new Set(['general.name', 'llama.embedding_length', 'llama.feed_forward_length', 'llama.attention.head_count', 'llama.attention.head_count_kv', 'llama.block_count']);
    expect(scaled.metadata.map((e) => e.key)).toEqual(source.metadata.map((e) => e.key));
    for (const entry of source.metadata) {
      if (changed.has(entry.key)) continue;
      expect(rawHex(scaled.metadata.find((e) => e.key === entry.key)), entry.key).toBe(rawHex(entry));
    }
    expect(source.metadata.filter((e) => e.key.startsWith('tokenizer.')).length).toBeGreaterThanOrEqual(5);

    // Shapes: head_dim 8 and the vocabulary are unchanged.
    const dims = new Map(scaled.tensors.map((t) => [t.name, t.dims.join('x')]));
    expect(dims.get('token_embd.weight')).toBe('128x512');
    expect(dims.get('output.weight')).toBe('128x512');
    expect(dims.get('blk.0.attn_q.weight')).toBe('128x128');
    expect(dims.get('blk.0.attn_k.weight')).toBe('128x64');
    expect(dims.get('blk.5.ffn_down.weight')).toBe('344x128');
    expect(scaled.tensors).toHaveLength(source.tensors.length + 9 * EXTRA);
    expect(made.parameterCount).toBe(scaled.tensors.reduce((n, t) => n + t.elementCount, 0));
  });

  it('makes the added layer an identity: its output projections are zero, its other weights real', async () => {
    const reader = await GgufReader.open(scaledPath);
    try {
      const values = async (name: string) => {
        const info = reader.getTensor(name)!;
        return toFloat32(info.type, await reader.readTensorData(info), info.elementCount);
      };
      expect((await values('blk.5.attn_output.weight')).every((v) => v === 0)).toBe(true);
      expect((await values('blk.5.ffn_down.weight')).every((v) => v === 0)).toBe(true);
      expect((await values('blk.5.attn_q.weight')).some((v) => v !== 0)).toBe(true);
    } finally {
      await reader.close();
    }
  });

  it('computes the same logits as the source in float64 arithmetic', async () => {
    const [source, scaled] = await Promise.all([loadReferenceModel(STORIES), loadReferenceModel(scaledPath)]);
    const backend = await LlamaBackend.load(modelOptions(STORIES));
    const tokens = [1, ...backend.tokenize('Once upon a time, there was a little girl named Lily. She loved')];
    await backend.dispose();
    const a = referenceLogits(source, tokens);
    const b = referenceLogits(scaled, tokens);
    let maxDelta = 0;
    for (const [i, row] of a.entries()) for (const [t, v] of row.entries()) maxDelta = Math.max(maxDelta, Math.abs(v - b[i]![t]!));
    expect(tokens.length).toBeGreaterThan(10);
    expect(maxDelta).toBeLessThan(1e-9);
  });

  /**
   * The test above compares two outputs of bench/fixtures/reference-forward.ts with each other; this one checks that
   * forward pass against llama.cpp itself, which is what makes it an oracle rather than a self-consistency check:
   * a reference that got RoPE (pair layout, frequencies, position), RMS norm, grouped-query heads, SwiGLU or the
   * tensor layout wrong would still agree with itself on both models, but not with llama.cpp. Here every position
   * of four inputs (three prompts, and all prompts joined, for positions in the hundreds where RoPE angles are large)
   * must give log-probabilities within REFERENCE_TOLERANCE of llama.cpp's, on the source model and on the widened
   * one. llama.cpp runs on an F32 KV cache (its F16 cache alone moves log-probabilities by ~1e-2) with each input in
   * one batch; what is left is float32 rounding. The last check shows the tolerance has teeth: the same reference
   * with RoPE's frequency base halved misses by far more.
   */
  it('its float64 reference forward pass computes llama.cpp\'s function: log-probabilities within 1e-4 at every position, source and widened', async () => {
    const onF32 = (path: string): Promise<LlamaBackend> => LlamaBackend.load(modelOptions(path, { kvCacheType: 'F32' }));
    const [llamaSource, llamaScaled] = await Promise.all([onF32(STORIES), onF32(scaledPath)]);
    const errors = { source: 0, scaled: 0, wrongRope: 0 };
    let inputs: number[][];
    try {
      const bos = llamaSource.info.bos!;
      inputs = [...storyPrompts().slice(0, 3), storyPrompts().join(' ')].map((text) => [bos, ...llamaSource.tokenize(text)]);
      expect(Math.max(...inputs.map((t) => t.length))).toBeGreaterThan(150);
      const [source, scaled] = await Promise.all([loadReferenceModel(STORIES), loadReferenceModel(scaledPath)]);
      for (const tokens of inputs) {
        const [fromSource, fromScaled] = [await llamaLogprobs(llamaSource, tokens), await llamaLogprobs(llamaScaled, tokens)];
        errors.source = Math.max(errors.source, maxLogprobError(fromSource, source, tokens));
        errors.scaled = Math.max(errors.scaled, maxLogprobError(fromScaled, scaled, tokens));
        errors.wrongRope = Math.max(errors.wrongRope, maxLogprobError(fromSource, { ...source, ropeBase: source.ropeBase / 2 }, tokens));
      }
    } finally {
      await Promise.all([llamaSource.dispose(), llamaScaled.dispose()]);
    }
    console.log(`[scaled-verifier] reference vs llama.cpp, max |Δ log p| over ${inputs.reduce((n, t) => n + t.length, 0)} positions: ${JSON.stringify(errors)}`);
    expect(errors.source).toBeLessThan(REFERENCE_TOLERANCE);
    expect(errors.scaled).toBeLessThan(REFERENCE_TOLERANCE);
    expect(errors.wrongRope).toBeGreaterThan(100 * REFERENCE_TOLERANCE);
  });

  it('agrees with stories260K on ≥ 99.5% of 300 teacher-forced greedy positions under llama.cpp', async () => {
    const agreement = await teacherForcedAgreement({ reference: STORIES, candidate: scaledPath, prompts: storyPrompts().slice(0, 3), tokens: 100, threads: 1 });
    expect(agreement.positions).toBe(300);
    expect(agreement.rate, JSON.stringify(agreement.disagreements)).toBeGreaterThanOrEqual(0.995);
  });

  it('shares its tokenizer with the drafts made from stories260K', async () => {
    const scaled = await header(scaledPath);
    const draft = await header(draftPath);
    const tokenizer = (h: typeof scaled) => h.metadata.filter((e) => e.key.startsWith('tokenizer.')).map((e) => [e.key, rawHex(e)]);
    expect(tokenizer(draft)).toEqual(tokenizer(scaled));
    const vocabRows = (h: typeof scaled) => h.tensors.find((t) => t.name === 'token_embd.weight')?.dims[1];
    expect(vocabRows(draft)).toBe(512);
    expect(vocabRows(scaled)).toBe(512);

    const verifier = await LlamaBackend.load(modelOptions(scaledPath));
    const drafter = await LlamaBackend.load(modelOptions(draftPath));
    try {
      expect(verifier.info.vocabSize).toBe(drafter.info.vocabSize);
      expect([verifier.info.bos, verifier.info.eos]).toEqual([drafter.info.bos, drafter.info.eos]);
      for (const prompt of storyPrompts().slice(0, 5)) expect(verifier.tokenize(prompt)).toEqual(drafter.tokenize(prompt));
    } finally {
      await drafter.dispose();
      await verifier.dispose();
    }
  });

  it('rejects bad options with the option named', async () => {
    await expect(scaleVerifier({ from: STORIES, out: join(dir, 'x.gguf'), width: 0 })).rejects.toMatchObject({ code: 'invalid_argument', param: 'width' });
    await expect(scaleVerifier({ from: STORIES, out: join(dir, 'x.gguf'), width: 2, extraLayers: -1 })).rejects.toMatchObject({
      code: 'invalid_argument',
      param: 'extraLayers',
    });
    await expect(scaleVerifier({ from: STORIES, out: STORIES, width: 2 })).rejects.toMatchObject({ code: 'invalid_argument', param: 'out' });
    await expect(scaleVerifier({ from: join(dir, 'missing.gguf'), out: join(dir, 'x.gguf'), width: 2 })).rejects.toMatchObject({ param: 'from' });
  });
});
