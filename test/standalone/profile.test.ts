/**
 * The pure parts of `specroute profile` (src/profile/): the KV bytes a GGUF's metadata implies, the thread counts
 * tried, the monotone curves, the throughput knee, what memory holds, the recommendation, and the fragment it
 * writes, which `loadConfig` (what `serve --profile` runs) must accept as it is.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/load-config.js';
import { stepProfileSchema } from '../../src/config/schema.js';
import { SpecrouteError } from '../../src/errors/registry.js';
import { GgufValueType, type GgufMetadataEntry, type GgufValue } from '../../src/models/gguf/gguf-metadata.js';
import { gammaByBatchSize, monotoneCurve, stepCostsOf } from '../../src/pipeline/step-costs.js';
import { fragmentOf, fragmentYaml } from '../../src/profile/fragment.js';
import { kvBytesPerToken } from '../../src/profile/model-facts.js';
import { median } from '../../src/profile/pass-timer.js';
import { recommend, sequencesThatFit, throughputKnee, type RecommendInput } from '../../src/profile/recommend.js';
import { threadCandidates, type ProfileReport } from '../../src/profile/run-profile.js';
import { scratchDir } from '../helpers/models.js';

const REPO = resolve(import.meta.dirname, '../..');
const DEFAULT = join(REPO, 'specroute.yaml');

const entry = (key: string, value: GgufValue): GgufMetadataEntry => ({
  key,
  type: typeof value === 'string' ? GgufValueType.STRING : Array.isArray(value) ? GgufValueType.ARRAY : GgufValueType.UINT32,
  value,
});

/** A pass that costs `fixed` ms plus `perToken` ms per token. */
const linear = (fixed: number, perToken: number, tokens: readonly number[]) => tokens.map((t) => ({ tokens: t, ms: fixed + perToken * t }));
const VERIFY_TOKENS = [1, 2, 4, 8, 16, 32, 64, 128];
const DRAFT_SEQUENCES = [1, 2, 4, 8, 16, 32];

describe('KV bytes per token from GGUF metadata', () => {
  it("is n_layer × n_head_kv × (key + value length) × bytes of the cache's type: stories260K's shape", () => {
    // 5 layers, n_embd 64, 8 heads of 8, 4 KV heads: 5 × 4 × 16 × 2 = 640 bytes at F16.
    const meta = [entry('general.architecture', 'llama'), entry('llama.block_count', 5), entry('llama.embedding_length', 64), entry('llama.attention.head_count', 8), entry('llama.attention.head_count_kv', 4)];
    expect(kvBytesPerToken(meta, 'F16')).toBe(640);
    expect(kvBytesPerToken(meta, 'F32')).toBe(1280);
  });

  it('takes per-layer head counts, explicit head lengths, and no KV heads meaning all heads', () => {
    const meta = [
      entry('general.architecture', 'llama'),
      entry('llama.block_count', 3),
      entry('llama.embedding_length', 64),
      entry('llama.attention.head_count', [8, 8, 8]),
      entry('llama.attention.head_count_kv', [2, 4, 8]),
      entry('llama.attention.key_length', 16),
      entry('llama.attention.value_length', 8),
    ];
    expect(kvBytesPerToken(meta, 'F16')).toBe((2 + 4 + 8) * (16 + 8) * 2);
    expect(kvBytesPerToken(meta.filter((e) => !e.key.includes('head_count_kv') && !e.key.endsWith('_length')).concat(entry('llama.embedding_length', 64)), 'F16')).toBe(3 * 8 * 16 * 2);
  });

  it('is 0 for metadata that describes no attention', () => {
    expect(kvBytesPerToken([entry('general.architecture', 'mamba'), entry('mamba.block_count', 4)], 'F16')).toBe(0);
  });
});

describe('measuring', () => {
  it('tries every thread count up to 4, then 6, 8, 12, 16… and the most allowed', () => {
    expect(threadCandidates(1)).toEqual([1]);
    expect(threadCandidates(2)).toEqual([1, 2]);
    expect(threadCandidates(10)).toEqual([1, 2, 3, 4, 6, 8, 10]);
    expect(threadCandidates(32)).toEqual([1, 2, 3, 4, 6, 8, 12, 16, 24, 32]);
  });

  it('keeps medians', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('makes a curve non-decreasing by pooling the points that invert it, and leaves an ordered one alone', () => {
    expect(monotoneCurve([{ tokens: 1, ms: 1 }, { tokens: 2, ms: 3 }, { tokens: 4, ms: 2 }, { tokens: 8, ms: 5 }])).toEqual([
      { tokens: 1, ms: 1 },
      { tokens: 2, ms: 2.5 },
      { tokens: 4, ms: 2.5 },
      { tokens: 8, ms: 5 },
    ]);
    const ordered = linear(1, 0.5, VERIFY_TOKENS);
    expect(monotoneCurve(ordered)).toEqual(ordered);
    expect(monotoneCurve([{ tokens: 4, ms: 1 }, { tokens: 1, ms: 2 }])).toEqual([{ tokens: 1, ms: 1.5 }, { tokens: 4, ms: 1.5 }]);
  });
});

describe('recommending', () => {
  it('finds the batch beyond which step throughput stops growing: late where passes are overhead-bound, early where compute-bound', () => {
    // Overhead-bound (a GPU, a tiny model): 10 ms + 0.01 ms a token. Throughput grows nearly with the batch.
    const cheap = stepCostsOf({ verify: linear(10, 0.01, VERIFY_TOKENS), draft: linear(2, 0.01, DRAFT_SEQUENCES) });
    expect(throughputKnee(0.8, cheap, 8, 128).batch).toBe(128);
    // Compute-bound (this CPU, a 59M verifier): 0.1 ms + 1 ms a token. A bigger batch buys nothing after a few.
    const dear = stepCostsOf({ verify: linear(0.1, 1, VERIFY_TOKENS), draft: linear(0.05, 0.5, DRAFT_SEQUENCES) });
    const knee = throughputKnee(0.8, dear, 8, 128);
    expect(knee.batch).toBeLessThanOrEqual(8);
    expect(knee.steps.map((s) => s.batch)).toEqual([1, 2, 4, 8, 16, 32, 64, 128]);
    const best = Math.max(...knee.steps.map((s) => s.tokensPerSecond));
    expect(knee.steps.find((s) => s.batch === knee.batch)!.tokensPerSecond * 1.05).toBeGreaterThanOrEqual(best);
    // Every step is the best γ's: speculation only costs where a token costs as much as the pass's overhead, and
    // pays at every batch where a pass costs about the same for 1 or 128 tokens.
    expect(knee.steps.every((s) => s.gamma === 0)).toBe(true);
    expect(throughputKnee(0.8, cheap, 8, 128).steps.every((s) => s.gamma > 0)).toBe(true);
    // A cap that is no power of two is looked at too.
    expect(throughputKnee(0.8, cheap, 8, 100).steps.map((s) => s.batch)).toEqual([1, 2, 4, 8, 16, 32, 64, 100]);
  });

  it('counts the sequences whose KV caches fit', () => {
    expect(sequencesThatFit(1_000_000, 100, 1000)).toBe(10);
    expect(sequencesThatFit(99_999, 100, 1000)).toBe(0);
    expect(sequencesThatFit(5, 100, 0)).toBe(256);
  });

  const input: RecommendInput = {
    alpha: 0.7,
    verify: linear(2, 0.02, VERIFY_TOKENS),
    draft: linear(0.5, 0.02, DRAFT_SEQUENCES),
    verifierThreads: 2,
    draftThreads: 1,
    maxGamma: 8,
    maxBatch: 24,
    contextSize: 512,
    trainContextSize: 2048,
    kvBytesPerToken: 1024,
    memoryBudgetBytes: 2 ** 34,
  };

  it("gives γ by batch size with the server's own function over the same curves", () => {
    const rec = recommend(input);
    expect(rec.gammaByBatchSize).toEqual(gammaByBatchSize(24, 0.7, stepCostsOf(input), 8));
    expect(rec.gammaByBatchSize).toHaveLength(24);
    expect(rec.gammaByBatchSize[0]).toBeGreaterThan(0);
    expect(rec).toMatchObject({ verifierThreads: 2, draftThreads: 1, contextSize: 512 });
    // Memory is plenty: the search stops at the largest verifier pass measured.
    expect(rec.maxConcurrent).toBeLessThanOrEqual(128);
  });

  it('without a draft: γ 0 at every batch size, and no draft threads', () => {
    const { draft: _draft, draftThreads: _threads, ...alone } = input;
    const rec = recommend({ ...alone, alpha: 0 });
    expect(rec.gammaByBatchSize).toEqual(new Array(24).fill(0));
    expect(rec.draftThreads).toBeUndefined();
    expect(rec.steps.every((s) => s.gamma === 0)).toBe(true);
  });

  it('caps maxConcurrent, then the context, by memory', () => {
    const tight = recommend({ ...input, memoryBudgetBytes: 3 * 512 * 1024 + 10 });
    expect(tight).toMatchObject({ sequencesFit: 3, contextSize: 512, maxConcurrentBy: 'memory' });
    expect(tight.maxConcurrent).toBeLessThanOrEqual(3);
    const tighter = recommend({ ...input, memoryBudgetBytes: 100 * 1024 });
    expect(tighter).toMatchObject({ contextSize: 100, sequencesFit: 1, maxConcurrent: 1 });
    expect(recommend({ ...input, contextSize: 4096 }).contextSize).toBe(2048);
  });
});

/** A report as `runProfile` returns it, with made-up figures. */
function report(withDraft = true): ProfileReport {
  const rec = recommend({ ...(withDraft ? {} : { alpha: 0 }), ...inputFor(withDraft) });
  const profile = stepProfileSchema.parse({
    alpha: withDraft ? 0.7 : 0,
    verify: linear(2, 0.02, VERIFY_TOKENS),
    ...(withDraft ? { draft: linear(0.5, 0.02, DRAFT_SEQUENCES) } : {}),
    gammaByBatchSize: rec.gammaByBatchSize,
    machine: 'test machine',
    measuredAt: '2026-01-01T00:00:00.000Z',
  });
  const timings = { threads: [], decodeThreads: 1, decodeMs: 1, batchedThreads: 2, curve: [], batchedAsOne: true };
  const facts = { path: '/models/m.gguf', fileBytes: 1, architecture: 'llama', name: '', params: 1, vocab: 512, layers: 5, trainContextSize: 2048, kvCacheType: 'F16' as const, kvBytesPerToken: 640 };
  return {
    measuredAt: '2026-01-01T00:00:00.000Z',
    seconds: 12.5,
    machine: { cpuModel: 'CPU', cores: 2, mathCores: 2, llamaMaxThreads: 4, totalMemoryBytes: 2 ** 34, freeMemoryBytes: 2 ** 33, gpu: false, gpuDevices: [], vram: null, llamaCpp: 'b1', node: 'v20', platform: 'linux-x64' },
    config: { source: DEFAULT, contextSize: 512, speculationMax: 8, gpuLayers: 0, threadsTried: [1, 2], repeats: 5 },
    models: { verifier: { facts, timings }, draft: withDraft ? { facts: { ...facts, path: '/models/d.gguf' }, timings } : null },
    alpha: null,
    memory: { basis: 'ram', budgetBytes: 2 ** 32, kvBytesPerToken: 1024 },
    recommendation: rec,
    profile,
  };
}

function inputFor(withDraft: boolean): RecommendInput {
  return {
    alpha: withDraft ? 0.7 : 0,
    verify: linear(2, 0.02, VERIFY_TOKENS),
    ...(withDraft ? { draft: linear(0.5, 0.02, DRAFT_SEQUENCES), draftThreads: 1 } : {}),
    verifierThreads: 2,
    maxGamma: 8,
    maxBatch: 16,
    contextSize: 512,
    trainContextSize: 2048,
    kvBytesPerToken: 1024,
    memoryBudgetBytes: 2 ** 32,
  };
}

describe('the fragment `profile --write` writes', () => {
  const write = (text: string): string => {
    const path = join(scratchDir('profile-'), 'profile.yaml');
    writeFileSync(path, text);
    return path;
  };

  it('is YAML with a header that loadConfig merges over the config file as serve --profile does', () => {
    const r = report();
    const text = fragmentYaml(r, 'specroute profile --write profile.yaml');
    expect(text).toMatch(/^# specroute hardware profile, measured 2026-01-01/);
    expect(text).toContain('# made by: specroute profile --write profile.yaml');
    expect(text).toContain('specroute serve --profile FILE');
    expect(parseYaml(text)).toEqual(fragmentOf(r));
    const config = loadConfig(DEFAULT, { profile: write(text) });
    expect(config.batching.profile).toEqual(r.profile);
    expect(config.batching.profile!.gammaByBatchSize).toEqual(r.recommendation.gammaByBatchSize);
    expect(config.limits.maxConcurrent).toBe(r.recommendation.maxConcurrent);
    expect(config.model.verifier.threads).toBe(2);
    expect(config.model.draft!.threads).toBe(1);
    // The rest of the file stays: the derived draft, its context size.
    expect(config.model.draft!.derive).toEqual({ layers: '0-2' });
    expect(config.draftSource.kind).toBe('derive');
  });

  it('tunes the models --verifier names, and never gives a config without a draft one', () => {
    const path = write(fragmentYaml(report(), 'specroute profile'));
    const flags = loadConfig(DEFAULT, { profile: path, model: { verifier: '/models/v.gguf', draft: { derive: { quantize: 'q8_0' } } } });
    expect(flags.model.verifier).toMatchObject({ path: '/models/v.gguf', threads: 2 });
    expect(flags.model.draft).toMatchObject({ derive: { quantize: 'q8_0' }, threads: 1 });
    const alone = loadConfig(DEFAULT, { profile: path, model: { verifier: '/models/v.gguf' } });
    expect(alone.model.draft).toBeNull();
    expect(alone.model.verifier.threads).toBe(2);
    // Flags still win over the profile.
    expect(loadConfig(DEFAULT, { profile: path, threads: 4 }).model.verifier.threads).toBe(4);
  });

  it('without a draft writes no draft threads and γ 0 throughout', () => {
    const fragment = fragmentOf(report(false)) as { model: Record<string, unknown>; batching: { profile: { gammaByBatchSize: number[]; draft?: unknown } } };
    expect(Object.keys(fragment.model)).toEqual(['verifier']);
    expect(fragment.batching.profile.gammaByBatchSize).toEqual(new Array(16).fill(0));
    expect(fragment.batching.profile.draft).toBeUndefined();
  });

  it('a profile that breaks the schema fails naming the key and the profile', () => {
    const path = write('batching:\n  profile:\n    alpha: 2\n    verify: [{tokens: 1, ms: 1}]\n    gammaByBatchSize: [0]\n');
    let error: unknown;
    try {
      loadConfig(DEFAULT, { profile: path });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SpecrouteError);
    expect((error as SpecrouteError).param).toBe('batching.profile.alpha');
    expect((error as SpecrouteError).message).toContain(`(from the profile ${path})`);
  });
});
