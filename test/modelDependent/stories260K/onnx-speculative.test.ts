import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelLoadOptions } from '../../../src/backends/types.js';
import type { TokenEvent, TokenEventDone } from '../../../src/events/token-event.js';
import { GgmlType } from '../../../src/models/gguf/ggml-types.js';
import { GgufValueType, setMetadataEntry } from '../../../src/models/gguf/gguf-metadata.js';
import { GgufReader } from '../../../src/models/gguf/gguf-reader.js';
import { writeGgufFile } from '../../../src/models/gguf/gguf-writer.js';
import { SpeculativeEngine } from '../../../src/pipeline/engine.js';
import { cli, makeDraftWithCli, modelOptions, scratchDir, STORIES, storyPrompts } from '../../helpers/models.js';

/**
 * Temperature 0 through the real pipeline (worker threads, engine, speculative loop) with ONNX models:
 * - an ONNX verifier gives the same tokens as the llama.cpp verifier, speculative and verifier-only alike;
 * - mixed pairs (ONNX draft + llama.cpp verifier, llama.cpp draft + ONNX verifier) give their verifier's
 *   verifier-only greedy output.
 *
 * Like with like: the llama.cpp verifier runs with an F32 KV cache (`kvCacheType: 'F32'`), so both runtimes
 * compute in float32 and their logits agree to ~1e-5 (onnx-parity.test.ts); its default F16 cache moves logits
 * by ~1e-2, enough to flip a near-tie argmax in a long generation. Both sides verify in batches of the same
 * shapes (the same draft proposes the same blocks), and verifier-only baselines decode one token per pass on
 * both sides.
 */
const PROMPTS = storyPrompts().slice(0, 10);
const TOKENS = 100;

interface Run {
  tokens: number[];
  done: TokenEventDone;
}

async function generate(engine: SpeculativeEngine, prompt: string, speculation?: false): Promise<Run> {
  const tokens: number[] = [];
  let done: TokenEventDone | undefined;
  const events: AsyncIterable<TokenEvent> = engine.generateFromTokens(engine.encodePrompt(prompt), {
    maxTokens: TOKENS,
    ignoreEos: true,
    ...(speculation === false ? { speculation } : {}),
  });
  for await (const event of events) {
    if (event.kind === 'token') tokens.push(...event.tokenIds);
    else if (event.kind === 'done') done = event;
  }
  return { tokens, done: done! };
}

async function runAll(verifier: ModelLoadOptions, draft?: ModelLoadOptions): Promise<Run[]> {
  const engine = await SpeculativeEngine.load({ verifier, ...(draft ? { draft } : {}), speculation: { max: 8 } });
  try {
    const runs: Run[] = [];
    for (const prompt of PROMPTS) runs.push(await generate(engine, prompt, draft ? undefined : false));
    return runs;
  } finally {
    await engine.dispose();
  }
}

function expectSameTokens(actual: Run[], expected: Run[], what: string): void {
  for (const [i, run] of actual.entries()) {
    const firstDiff = run.tokens.findIndex((t, j) => t !== expected[i]!.tokens[j]);
    expect(firstDiff, `${what}: prompt ${i} ("${PROMPTS[i]}") diverges at token ${firstDiff}`).toBe(-1);
    expect(run.tokens).toHaveLength(TOKENS);
  }
}

function speculationStats(runs: Run[]): { drafted: number; accepted: number } {
  for (const run of runs) expect(run.done.stats.mode).toBe('speculative');
  return {
    drafted: runs.reduce((sum, r) => sum + r.done.stats.drafted, 0),
    accepted: runs.reduce((sum, r) => sum + r.done.stats.accepted, 0),
  };
}

describe('ONNX models in the speculative pipeline (temperature 0)', () => {
  const dir = scratchDir();
  const files: Record<string, string> = {};
  const baseline: Record<'llama' | 'onnx', Run[]> = { llama: [], onnx: [] };

  beforeAll(async () => {
    files['q8'] = await makeDraftWithCli(dir, 'q8', STORIES, ['--quantize', 'q8_0']);
    files['l3'] = await makeDraftWithCli(dir, 'l3', STORIES, ['--layers', '0-2']);
    for (const [name, from] of [
      ['verifier.onnx', STORIES],
      ['l3.onnx', files['l3']],
    ] as const) {
      const out = join(dir, name);
      await cli(['convert', '--to', 'onnx', '--from', from, '--out', out]);
      files[name] = out;
    }
    baseline.llama = await runAll(modelOptions(STORIES, { kvCacheType: 'F32' }));
    baseline.onnx = await runAll(modelOptions(files['verifier.onnx']!));
  });

  it('verifier-only: the ONNX verifier decodes what the llama.cpp verifier decodes', () => {
    expect(baseline.onnx).toHaveLength(PROMPTS.length);
    expectSameTokens(baseline.onnx, baseline.llama, 'ONNX vs llama.cpp verifier-only');
  });

  it('speculative with an ONNX verifier equals speculative with the llama.cpp verifier (same Q8_0 draft)', async () => {
    const withOnnx = await runAll(modelOptions(files['verifier.onnx']!), modelOptions(files['q8']!));
    const withLlama = await runAll(modelOptions(STORIES, { kvCacheType: 'F32' }), modelOptions(files['q8']!));
    expectSameTokens(withOnnx, withLlama, 'ONNX vs llama.cpp verifier');
    expectSameTokens(withOnnx, baseline.onnx, 'speculative vs verifier-only');
    const stats = speculationStats(withOnnx);
    expect(stats.accepted / stats.drafted).toBeGreaterThan(0.9);
  });

  it('mixed pair: a llama.cpp draft with an ONNX verifier equals the ONNX verifier alone', async () => {
    // The 3-layer draft is often wrong, so the ONNX verifier's cache rolls back at most passes.
    const runs = await runAll(modelOptions(files['verifier.onnx']!), modelOptions(files['l3']!));
    expectSameTokens(runs, baseline.onnx, 'llama.cpp draft + ONNX verifier');
    const stats = speculationStats(runs);
    expect(stats.drafted).toBeGreaterThan(0);
    expect(stats.accepted / stats.drafted).toBeLessThan(0.9);
  });

  it('mixed pair: an ONNX draft with a llama.cpp verifier equals the llama.cpp verifier alone', async () => {
    // The ONNX draft's cache rolls back after every rejection.
    const runs = await runAll(modelOptions(STORIES, { kvCacheType: 'F32' }), modelOptions(files['l3.onnx']!));
    expectSameTokens(runs, baseline.llama, 'ONNX draft + llama.cpp verifier');
    const stats = speculationStats(runs);
    expect(stats.drafted).toBeGreaterThan(0);
    expect(stats.accepted).toBeGreaterThan(0);
  });
});

describe('specroute convert', () => {
  const dir = scratchDir();
  afterAll(() => undefined);

  async function fails(args: string[]): Promise<{ code: number; stderr: string }> {
    try {
      await cli(args);
    } catch (error) {
      const e = error as { code: number; stderr: string };
      return { code: e.code, stderr: e.stderr };
    }
    throw new Error(`specroute ${args.join(' ')} succeeded`);
  }

  /** Files in the scratch folder other than the inputs a test wrote there. */
  const outputs = (inputs: string[]): string[] => readdirSync(dir).filter((f) => !inputs.includes(f));

  it('--help lists the flags with examples', async () => {
    const { stdout } = await cli(['convert', '--help']);
    for (const flag of ['--to <format>', '--from <file>', '--out <file>', '--tokenizer-out <file>', '--external-data', '--json']) expect(stdout).toContain(flag);
    expect(stdout).toMatch(/Examples:\n\s+\$ specroute convert --to onnx --from/);
  });

  it('--json describes what it wrote; --external-data puts the weights beside the model', async () => {
    const out = join(dir, 'ext.onnx');
    const { stdout } = await cli(['convert', '--to', 'onnx', '--from', STORIES, '--out', out, '--external-data', '--json']);
    const result = JSON.parse(stdout) as Record<string, unknown>;
    expect(result).toMatchObject({
      outPath: out,
      tokenizerPath: join(dir, 'ext.tokenizer.gguf'),
      externalDataPath: `${out}.data`,
      layers: 5,
      vocabSize: 512,
      headCount: 8,
      headCountKv: 4,
      opset: 17,
      sourceTypes: { F32: 48 },
    });
    expect(existsSync(`${out}.data`)).toBe(true);
    // The external-data model runs: one greedy step from the engine's tokenizer path convention.
    const engine = await SpeculativeEngine.load({ verifier: modelOptions(out) });
    try {
      const run = await generate(engine, 'Once upon a time', false);
      expect(engine.tokenizer.detokenize(run.tokens)).toMatch(/^, there was a little girl named Lily/);
    } finally {
      await engine.dispose();
    }
  });

  it('bad flags fail naming the flag and leave no file', async () => {
    const before = readdirSync(dir);
    const cases: Array<[string[], RegExp]> = [
      [['--to', 'tflite', '--from', STORIES, '--out', join(dir, 'a.onnx')], /the only target format is onnx.*\(--to\)/],
      [['--to', 'onnx', '--from', STORIES, '--out', join(dir, 'a.bin')], /must end in \.onnx.*\(--out\)/],
      [['--to', 'onnx', '--from', join(dir, 'missing.gguf'), '--out', join(dir, 'a.onnx')], /no such file.*\(--from\)/],
      [['--to', 'onnx', '--from', STORIES, '--out', join(dir, 'no-such-dir', 'a.onnx')], /does not exist.*\(--out\)/],
      [['--to', 'onnx', '--from', STORIES], /required option '--out <file>'/],
    ];
    for (const [args, message] of cases) {
      const { code, stderr } = await fails(['convert', ...args]);
      expect(code, args.join(' ')).not.toBe(0);
      expect(stderr).toMatch(message);
    }
    expect(readdirSync(dir)).toEqual(before);
  });

  it('an unsupported architecture or tensor type fails naming --from and leaves no file', async () => {
    const reader = await GgufReader.open(STORIES);
    try {
      const gpt2 = join(dir, 'gpt2.gguf');
      await writeGgufFile(gpt2, { metadata: setMetadataEntry(reader.header.metadata, 'general.architecture', 'gpt2', GgufValueType.STRING), tensors: [] });
      // stories260K with one matrix stored as Q5_0, a type the converter does not reproduce.
      const q5 = join(dir, 'q5.gguf');
      await writeGgufFile(q5, {
        metadata: reader.header.metadata,
        tensors: reader.header.tensors.map((info) =>
          info.name === 'blk.0.attn_q.weight'
            ? { name: info.name, dims: info.dims, type: GgmlType.Q5_0, data: new Uint8Array((info.elementCount / 32) * 22) }
            : { name: info.name, dims: info.dims, type: info.type, data: () => reader.readTensorData(info) },
        ),
      });
      const inputs = readdirSync(dir);
      const arch = await fails(['convert', '--to', 'onnx', '--from', gpt2, '--out', join(dir, 'gpt2.onnx')]);
      expect(arch.stderr).toMatch(/architecture "gpt2" is not supported.*\(--from\)/);
      const type = await fails(['convert', '--to', 'onnx', '--from', q5, '--out', join(dir, 'q5.onnx')]);
      expect(type.stderr).toMatch(/blk\.0\.attn_q\.weight is Q5_0.*\(--from\)/);
      expect(outputs(inputs)).toEqual([]);
    } finally {
      await reader.close();
    }
  });
});
