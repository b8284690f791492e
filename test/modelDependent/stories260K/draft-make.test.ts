import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel, type Token } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpecrouteError } from '../../../src/errors/registry.js';
import { makeDraft, type MakeDraftOptions, type MakeDraftResult } from '../../../src/models/draft-make.js';
import { GgmlType } from '../../../src/models/gguf/ggml-types.js';
import { setMetadataEntry } from '../../../src/models/gguf/gguf-metadata.js';
import { GgufReader, readGgufHeader } from '../../../src/models/gguf/gguf-reader.js';
import { writeGgufFile, type GgufWriteTensor } from '../../../src/models/gguf/gguf-writer.js';

const modelsDir = fileURLToPath(new URL('../../../../shared/models/', import.meta.url));
const stories = join(modelsDir, 'stories260K.gguf');
const tinyRandom = join(modelsDir, 'llama-2-tiny-random.gguf');

const prompts = ['Once upon a time', 'The little dog', 'Lily and Tom went to the park', 'One day, a big bear', 'Sam had a red ball'];
/** Tokens the verifier generates greedily after each prompt; both models are then teacher-forced on them. */
const CONTINUATION = 48;

let dir: string;
let llama: Llama;
let verifier: LlamaModel;
/** Per prompt: the token sequence and the position of the last prompt token. */
const sequences: Array<{ tokens: Token[]; from: number }> = [];
/** Per prompt: the verifier's greedy next token at every position from `from` on. */
const reference: Token[][] = [];

/**
 * Teacher-forced greedy predictions: one batched evaluation of `tokens`, asking for the argmax next
 * token at every position from `from` on. Both sides use the same batching, so they compare like with like.
 */
async function greedyPredictions(model: LlamaModel, tokens: Token[], from: number): Promise<Token[]> {
  const context = await model.createContext({ contextSize: 256, threads: 1 });
  try {
    const sequence = context.getSequence();
    const input = tokens.map((token, i) =>
      i >= from ? ([token, { generateNext: { token: true, options: { temperature: 0 } } }] as [Token, object]) : token,
    );
    const results = await sequence.controlledEvaluate(input);
    return results.slice(from).map((r) => r?.next.token ?? (-1 as Token));
  } finally {
    await context.dispose();
  }
}

/** Greedy generation of `count` tokens after `prompt`, one token per evaluation. */
async function generate(model: LlamaModel, prompt: string, count: number): Promise<Token[]> {
  const context = await model.createContext({ contextSize: 256, threads: 1 });
  try {
    const sequence = context.getSequence();
    const tokens = [model.tokens.bos!, ...model.tokenize(prompt)];
    const generated: Token[] = [];
    const greedy = { generateNext: { token: true, options: { temperature: 0 } } };
    let results = await sequence.controlledEvaluate([...tokens.slice(0, -1), [tokens.at(-1)!, greedy]]);
    for (let i = 0; i < count; i++) {
      const next = results.at(-1)?.next.token;
      if (next == null) break;
      generated.push(next);
      results = await sequence.controlledEvaluate([[next, greedy]]);
    }
    return generated;
  } finally {
    await context.dispose();
  }
}

/** Fraction of teacher-forced positions where `draftPath`'s argmax equals the verifier's. */
async function greedyAgreement(draftPath: string): Promise<number> {
  const draft = await llama.loadModel({ modelPath: draftPath });
  try {
    let same = 0;
    let total = 0;
    for (let i = 0; i < sequences.length; i++) {
      const { tokens, from } = sequences[i]!;
      const predicted = await greedyPredictions(draft, tokens, from);
      predicted.forEach((token, j) => {
        total++;
        if (token === reference[i]![j]) same++;
      });
    }
    return same / total;
  } finally {
    await draft.dispose();
  }
}

const drafts: Record<'q8_0' | 'first3' | 'first2' | 'q4_0', { options: MakeDraftOptions; result?: MakeDraftResult }> = {
  q8_0: { options: { from: stories, out: '', quantize: 'q8_0' } },
  first3: { options: { from: stories, out: '', layers: '0-2' } },
  first2: { options: { from: stories, out: '', layers: '0,1' } },
  q4_0: { options: { from: stories, out: '', quantize: 'q4_0' } },
};
const agreement: Partial<Record<keyof typeof drafts, number>> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'specroute-draft-'));
  for (const [name, draft] of Object.entries(drafts)) {
    draft.options.out = join(dir, `stories260K-${name}.gguf`);
    draft.result = await makeDraft(draft.options);
  }
  llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error });
  verifier = await llama.loadModel({ modelPath: stories });
  for (const prompt of prompts) {
    const promptTokens = [verifier.tokens.bos!, ...verifier.tokenize(prompt)];
    const tokens = [...promptTokens, ...(await generate(verifier, prompt, CONTINUATION))];
    sequences.push({ tokens, from: promptTokens.length - 1 });
  }
  for (const { tokens, from } of sequences) reference.push(await greedyPredictions(verifier, tokens, from));
});

afterAll(async () => {
  await llama?.dispose();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('makeDraft on stories260K', () => {
  it('reports what it wrote', async () => {
    const q8 = drafts.q8_0.result!;
    expect(q8).toMatchObject({ layers: [0, 1, 2, 3, 4], layerCount: 5, sourceLayerCount: 5, tensorCount: 48 });
    // token_embd + output + 6 matrices per layer; ffn_down (rows of n_ff = 172) stays F32.
    expect(q8.quantizedTensorCount).toBe(2 + 5 * 6);
    expect(q8.name).toBe('llama draft (layers 0-4, q8_0)');
    expect(q8.bytesWritten).toBe((await readFile(drafts.q8_0.options.out)).length);
    expect(drafts.first3.result).toMatchObject({ layers: [0, 1, 2], layerCount: 3, tensorCount: 3 + 3 * 9, quantizedTensorCount: 0 });
    expect(drafts.first2.result).toMatchObject({ layers: [0, 1], layerCount: 2, tensorCount: 3 + 2 * 9 });
  });

  it('copies every tokenizer entry byte for byte and updates only the layer count, name and file type', async () => {
    const source = await readGgufHeader(stories);
    const sourceRaw = new Map(source.metadata.map((e) => [e.key, Buffer.from(e.raw!)]));
    const tokenizerKeys = [...sourceRaw.keys()].filter((k) => k.startsWith('tokenizer.'));
    expect(tokenizerKeys).toEqual(expect.arrayContaining(['tokenizer.ggml.tokens', 'tokenizer.ggml.scores', 'tokenizer.ggml.token_type']));
    for (const [name, draft] of Object.entries(drafts)) {
      const header = await readGgufHeader(draft.options.out);
      const changed = new Set(['llama.block_count', 'general.name', 'general.file_type', 'general.quantization_version']);
      for (const entry of header.metadata) {
        if (changed.has(entry.key)) continue;
        expect(Buffer.from(entry.raw!).equals(sourceRaw.get(entry.key)!), `${name}: ${entry.key}`).toBe(true);
      }
      for (const key of tokenizerKeys) expect(header.metadata.some((e) => e.key === key), `${name}: ${key}`).toBe(true);
      expect(header.metadata.find((e) => e.key === 'llama.block_count')!.value).toBe(draft.result!.layerCount);
      expect(header.metadata.find((e) => e.key === 'general.name')!.value).toBe(draft.result!.name);
    }
  });

  it('keeps norms in F32, quantizes matrices with whole-block rows, and copies kept layers exactly', async () => {
    await using source = await GgufReader.open(stories);
    await using q8 = await GgufReader.open(drafts.q8_0.options.out);
    expect(q8.getTensor('blk.0.attn_norm.weight')!.type).toBe(GgmlType.F32);
    expect(q8.getTensor('output_norm.weight')!.type).toBe(GgmlType.F32);
    expect(q8.getTensor('blk.0.ffn_down.weight')!.type).toBe(GgmlType.F32);
    expect(q8.getTensor('blk.4.attn_q.weight')!.type).toBe(GgmlType.Q8_0);
    expect(q8.getTensor('token_embd.weight')!.type).toBe(GgmlType.Q8_0);
    expect(q8.getTensor('output.weight')!.type).toBe(GgmlType.Q8_0);

    // Reordered layers: draft layer i is source layer layers[i], data byte for byte.
    const out = join(dir, 'reordered.gguf');
    const result = await makeDraft({ from: stories, out, layers: '4,0' });
    await using reordered = await GgufReader.open(out);
    expect(result.layers).toEqual([4, 0]);
    expect(reordered.header.tensors.some((t) => t.name.startsWith('blk.2.'))).toBe(false);
    for (const [draftLayer, sourceLayer] of [
      [0, 4],
      [1, 0],
    ]) {
      for (const suffix of ['attn_q.weight', 'ffn_down.weight', 'ffn_norm.weight']) {
        const a = await reordered.readTensorData(`blk.${draftLayer}.${suffix}`);
        const b = await source.readTensorData(`blk.${sourceLayer}.${suffix}`);
        expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      }
    }
    expect(Buffer.from(await reordered.readTensorData('output.weight')).equals(Buffer.from(await source.readTensorData('output.weight')))).toBe(
      true,
    );
  });

  it('makes drafts that node-llama-cpp loads, with the expected quality ladder', async () => {
    for (const name of ['q8_0', 'q4_0', 'first3', 'first2'] as const) {
      agreement[name] = await greedyAgreement(drafts[name].options.out);
    }
    console.info('greedy agreement with stories260K:', agreement);
    expect(agreement.q8_0!).toBeGreaterThanOrEqual(0.9);
    expect(agreement.q8_0!).toBeGreaterThan(agreement.q4_0!);
    expect(agreement.q4_0!).toBeGreaterThan(agreement.first3!);
    expect(agreement.first3!).toBeGreaterThan(agreement.first2!);
  });

  it('makes a Q4_0 draft that loads and writes text', async () => {
    const q4 = await llama.loadModel({ modelPath: drafts.q4_0.options.out });
    try {
      const text = q4.detokenize(await generate(q4, 'Once upon a time', 24));
      expect(text.trim().length).toBeGreaterThan(10);
    } finally {
      await q4.dispose();
    }
  });

  it('makes a truncated Q8_0 draft of llama-2-tiny-random (rows of n_embd 8 stay F16)', async () => {
    const out = join(dir, 'tiny-q8_0.gguf');
    const result = await makeDraft({ from: tinyRandom, out, layers: '0', quantize: 'q8_0' });
    // Only blk.0.ffn_down.weight (rows of n_ff = 32) is quantizable; every other matrix has rows of 8.
    expect(result).toMatchObject({ layerCount: 1, tensorCount: 12, quantizedTensorCount: 1 });
    await using reader = await GgufReader.open(out);
    expect(reader.getTensor('blk.0.ffn_down.weight')!.type).toBe(GgmlType.Q8_0);
    expect(reader.getTensor('blk.0.attn_q.weight')!.type).toBe(GgmlType.F16);
    expect(reader.getTensor('token_embd.weight')!.type).toBe(GgmlType.F16);
    const source = await readGgufHeader(tinyRandom);
    for (const entry of source.metadata.filter((e) => e.key.startsWith('tokenizer.'))) {
      expect(Buffer.from(reader.getMetadata(entry.key)!.raw!).equals(Buffer.from(entry.raw!)), entry.key).toBe(true);
    }
    const model = await llama.loadModel({ modelPath: out });
    try {
      expect(model.tokens.bos).toBe(1);
      expect(await generate(model, 'Hello world', 4)).toHaveLength(4);
    } finally {
      await model.dispose();
    }
  });
});

describe('makeDraft errors leave no file behind', () => {
  let errorsDir: string;
  const sentinel = 'an earlier file at the output path';

  beforeAll(async () => {
    errorsDir = join(dir, 'errors');
    await mkdir(errorsDir);
  });

  /** A copy of stories260K with some metadata or tensors changed, written with our writer. */
  async function patchedCopy(
    name: string,
    patch: { metadata?: Parameters<typeof setMetadataEntry>; tensor?: { name: string; type: number } },
  ): Promise<string> {
    const path = join(dir, name);
    await using reader = await GgufReader.open(stories);
    const metadata = patch.metadata === undefined ? reader.header.metadata : setMetadataEntry(...patch.metadata);
    const tensors: GgufWriteTensor[] = reader.header.tensors.map((t) => ({
      name: t.name,
      dims: t.dims,
      type: t.name === patch.tensor?.name ? patch.tensor.type : t.type,
      byteSize: t.byteSize!,
      data: () => reader.readTensorData(t),
    }));
    await writeGgufFile(path, { metadata, tensors });
    return path;
  }

  async function expectFailure(options: Omit<MakeDraftOptions, 'out'>, code: string, param: string, message: RegExp): Promise<void> {
    const out = join(errorsDir, 'draft.gguf');
    await writeFile(out, sentinel);
    let error: unknown;
    try {
      await makeDraft({ ...options, out });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SpecrouteError);
    expect((error as SpecrouteError).code).toBe(code);
    expect((error as SpecrouteError).param).toBe(param);
    expect((error as SpecrouteError).message).toMatch(message);
    expect(await readdir(errorsDir)).toEqual(['draft.gguf']);
    expect(await readFile(out, 'utf8')).toBe(sentinel);
  }

  it('rejects a non-llama architecture', async () => {
    const header = await readGgufHeader(stories);
    const gpt2 = await patchedCopy('gpt2.gguf', { metadata: [header.metadata, 'general.architecture', 'gpt2'] });
    await expectFailure({ from: gpt2, quantize: 'q8_0' }, 'unsupported_model', 'from', /architecture "gpt2".*llama only/);
  });

  it.each(['0-5', '0,0', '2-1', 'first', ''])('rejects the layer list %j', async (layers) => {
    await expectFailure({ from: stories, layers }, 'invalid_argument', 'layers', /layer|Layer/);
  });

  it('rejects a tensor of an unknown ggml type, naming it, with and without quantization', async () => {
    const path = await patchedCopy('unknown-type.gguf', { tensor: { name: 'blk.1.attn_k.weight', type: 99 } });
    await expectFailure({ from: path }, 'unsupported_model', 'from', /blk\.1\.attn_k\.weight.*99/);
    await expectFailure({ from: path, layers: '1', quantize: 'q4_0' }, 'unsupported_model', 'from', /blk\.1\.attn_k\.weight.*99/);
  });

  it('rejects a tensor type it cannot quantize, naming it', async () => {
    // Q5_0 is a valid ggml type (blocks of 32, so a [64, 512] tensor is a valid Q5_0 tensor) that
    // cannot be dequantized here, so it cannot be requantized to Q8_0.
    const path = await patchedCopy('q5_0.gguf', { tensor: { name: 'output.weight', type: GgmlType.Q5_0 } });
    await expectFailure({ from: path, quantize: 'q8_0' }, 'unsupported_model', 'from', /output\.weight is Q5_0/);
  });

  it('rejects a missing source, a bad quantization and a bad output path', async () => {
    await expectFailure({ from: join(dir, 'missing.gguf') }, 'model_not_found', 'from', /no such file/);
    await expectFailure({ from: stories, quantize: 'q5_0' as never }, 'invalid_argument', 'quantize', /q5_0/);
    await expect(makeDraft({ from: stories, out: stories })).rejects.toMatchObject({ code: 'invalid_argument', param: 'out' });
    await expect(makeDraft({ from: stories, out: join(dir, 'no-such-dir', 'x.gguf') })).rejects.toMatchObject({
      code: 'invalid_argument',
      param: 'out',
    });
  });
});
