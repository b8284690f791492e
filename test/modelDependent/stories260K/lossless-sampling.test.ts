import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDraft } from '../../../src/models/draft-make.js';
import { sampleFrom } from '../../../src/native/kernels.js';
import type { AcceptanceRule } from '../../../src/pipeline/acceptance.js';
import { SpeculativeEngine, type RequestSettings } from '../../../src/pipeline/engine.js';
import type { SamplingSettings } from '../../../src/contract/generation-request.js';
import { probOf } from '../../../src/sampling/token-dist.js';
import type { TokenSource } from '../../../src/events/token-event.js';
import { chiSquareHomogeneity, type HomogeneityResult } from '../../helpers/chi-square.js';
import { modelOptions, scratchDir, STORIES } from '../../helpers/models.js';

/**
 * Lossless speculative sampling at engine level (docs/ARCHITECTURE.md#lossless-speculative-sampling): with T > 0
 * the speculative engine's output must be distributed exactly as the verifier's own. test/standalone/acceptance.test.ts
 * proves it of the pure rule on a toy vocabulary; this checks the whole path (draft worker, batched verifier pass,
 * warping of both models, acceptance, residual, bonus, cache rollback) on the real stories260K.
 *
 * How. The same prompt is sampled SEEDS times verifier-only and SEEDS times speculatively, and the law of the 2nd
 * and 3rd generated tokens (each alone, and the pair) is compared by a two-sample chi-square homogeneity test
 * (rare categories pooled into one `other` bin: test/helpers/chi-square.ts). The 1st token comes from the prompt's
 * pass in both modes, so the rule cannot touch it; the 2nd and 3rd are drafted (γ starts at 4, and
 * `maxTokens: 4` leaves a first block of 2 drafted tokens plus the bonus), accepted or resampled by the rule. The
 * draft is stories260K's first 3 layers (about 0.2 greedy agreement), so the rule rejects often and its residual
 * matters. Both sides use an F32 KV cache (docs/ARCHITECTURE.md#f16-kv-cache-and-flash-attention); batched and
 * one-by-one evaluation then differ by ~1e-6 in probability, far below what these samples can see.
 *
 * What fails it. A rule whose output is not the verifier's law: the test runs the engine with one (the seam is
 * `EngineOptions.acceptance`) that accepts with min(1, p/q) as it should but, on a rejection, draws from p instead of
 * the residual norm(max(0, p − q)). That double-counts the mass where q ≥ p (tokens the draft over-proposes), a
 * plausible slip; the same comparison must reject it with a p-value far below ALPHA, at both temperatures.
 *
 * Under a grammar (docs/ARCHITECTURE.md#structured-output) the rule must keep the law of the *masked* verifier:
 * both models' distributions are masked (p' = norm(p·m), q' = norm(q·m)) and the rule is handed p' and q'. The last
 * describe block checks that on an integer under a key: the grammar forces the head `{"a":`, the 1st free token
 * after it comes from the prompt's pass, and the 2nd and 3rd (digits, or the closing brace; drafted, then accepted
 * or resampled) are compared as above, alone and as a pair. The digits' masked distributions
 * have entropy and the draft disagrees with the verifier on them (acceptance 0.68 at T=1, 0.81 at T=0.7), and the
 * broken rule is rejected there too: with GRAMMAR_SEEDS = 1000 a side (for time), the real rule's pair p-values
 * were 0.98 (T=1) and 0.55 (T=0.7), the broken rule's 3e-19 and 7e-12.
 *
 * Determinism. Seeds are fixed and disjoint between the two sides (the same seed would give both the same 1st token,
 * and the samples would not be independent). CONCURRENCY requests are in flight at once, and llama.cpp may batch them
 * differently from run to run, which moves probabilities in their last bits
 * (docs/ARCHITECTURE.md#batched-vs-one-by-one-logits); a draw that lands within ~1e-6 of a boundary could flip, so the
 * statistics are reproducible to that (two runs here printed identical ones), and the margins are far wider: the
 * real rule's smallest p-value was 0.26 (T=1, the pair), the broken rule's pair p-values 1.4e-12 (T=1) and 1e-22
 * (T=0.7, top_p 0.9). Every run prints them.
 */
const PROMPT = 'The flower was pretty';
const SEEDS = 2000;
/** Requests in flight at once (the models' sequence count): node-llama-cpp batches their passes. */
const CONCURRENCY = 16;
/** Level of each homogeneity test; a correct rule fails one of the 6 with probability about 0.6%. */
const ALPHA = 1e-3;
/** The broken rule must be rejected this far below ALPHA (by the pair's law). */
const BROKEN_P_MAX = ALPHA / 1000;
const PLAIN_SEED = 0;
const SPECULATIVE_SEED = 1_000_000;

const SETTINGS: ReadonlyArray<{ name: string; sampling: Omit<SamplingSettings, 'seed'> }> = [
  { name: 'T=1', sampling: { temperature: 1, topK: 0, topP: 1, minP: 0 } },
  { name: 'T=0.7, top_p 0.9', sampling: { temperature: 0.7, topK: 0, topP: 0.9, minP: 0 } },
];

/**
 * The masked case (docs/ARCHITECTURE.md#structured-output): an integer from 0 to 999 under a key. The grammar forces
 * `{"a":` (FORCED tokens, the same in both modes), then leaves digits free: at each free position the mask keeps
 * the ten digits (and `}` once a digit is written), so p' and q' are the models' digit preferences renormalized,
 * with real entropy and real disagreement between the two. Digits are single tokens and no text is forced
 * between them, so the free tokens line up position by position in both modes. (Where the grammar forces text
 * after a free token, as a key or the rest of an enum value, verifier-only decoding commits its canonical
 * tokenization while a speculative block samples through it token by token: the modes then no longer line up;
 * structured-output.test.ts's greedy identity test shows that.)
 */
const GRAMMAR_PROMPT = 'The flower was pretty';
const INTEGER_SCHEMA = { type: 'object', properties: { a: { type: 'integer', minimum: 0, maximum: 999 } }, required: ['a'] } as const;
/** `{`, `"`, `a`, `"`, `:`: the forced head of every output. */
const FORCED = 5;
/** Seeds a side under the grammar (each constrained run costs about twice an unconstrained one: masks on three threads). */
const GRAMMAR_SEEDS = 1000;
/** Both settings: with top_p, the nucleus is taken from what the mask leaves, in both models alike. */
const GRAMMAR_SETTINGS = SETTINGS;

/** The deliberate bug: min(1, p/q) acceptance, but a rejection draws from p, not from the residual. */
const resampleFromP: AcceptanceRule = (draft, q, p, rng) => {
  for (let i = 0; i < draft.length; i++) {
    const px = probOf(p[i]!, draft[i]!);
    const qx = probOf(q[i]!, draft[i]!);
    if (px >= qx || rng.next() * qx < px) continue;
    return { accepted: i, next: sampleFrom(p[i]!, rng), nextSource: 'verifier' };
  }
  return { accepted: draft.length, next: sampleFrom(p[draft.length]!, rng), nextSource: draft.length > 0 ? 'bonus' : 'verifier' };
};

interface Sample {
  /** The generated tokens of each run, in seed order. */
  runs: number[][];
  /** Each run's tokens' sources, in step with `runs`. */
  sources: TokenSource[][];
  drafted: number;
  accepted: number;
}

/** Runs `prompt` once per seed (`seeds` of them from `firstSeed`), CONCURRENCY at a time. */
async function sample(engine: SpeculativeEngine, settings: RequestSettings, firstSeed: number, prompt = PROMPT, seeds = SEEDS): Promise<Sample> {
  const encoded = engine.encodePrompt(prompt);
  const result: Sample = { runs: new Array<number[]>(seeds), sources: new Array<TokenSource[]>(seeds), drafted: 0, accepted: 0 };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < seeds) {
      const i = next++;
      const tokens: number[] = [];
      const sources: TokenSource[] = [];
      for await (const event of engine.generateFromTokens(encoded, { ...settings, sampling: { ...settings.sampling, seed: firstSeed + i } })) {
        if (event.kind === 'token') {
          tokens.push(...event.tokenIds);
          sources.push(...event.tokenIds.map(() => event.source));
        } else if (event.kind === 'done') {
          result.drafted += event.stats.drafted;
          result.accepted += event.stats.accepted;
        }
      }
      result.runs[i] = tokens;
      result.sources[i] = sources;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return result;
}

const VIEWS = {
  '2nd': (run: number[]) => `${run[1]}`,
  '3rd': (run: number[]) => `${run[2]}`,
  '(2nd, 3rd)': (run: number[]) => `${run[1]},${run[2]}`,
} as const;
type View = keyof typeof VIEWS;

function histogram(runs: readonly number[][], key: (run: number[]) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const run of runs) counts.set(key(run), (counts.get(key(run)) ?? 0) + 1);
  return counts;
}

function compare(plain: readonly number[][], speculative: readonly number[][]): Record<View, HomogeneityResult> {
  const out = {} as Record<View, HomogeneityResult>;
  for (const [view, key] of Object.entries(VIEWS) as Array<[View, (run: number[]) => string]>) {
    out[view] = chiSquareHomogeneity(histogram(plain, key), histogram(speculative, key));
  }
  return out;
}

function report(label: string, results: Record<View, HomogeneityResult>): string {
  const parts = Object.entries(results).map(([view, r]) => `${view}: χ²=${r.statistic.toFixed(1)} df=${r.df} p=${r.pValue.toPrecision(3)}`);
  const line = `[lossless-sampling] ${label} (${results['2nd'].sizes[0]} seeds a side): ${parts.join('; ')}`;
  console.log(line);
  return line;
}

describe(`stories260K: speculative sampling keeps the verifier's law (${SEEDS} seeds a side, χ² homogeneity)`, () => {
  const dir = scratchDir();
  const draftPath = join(dir, 'draft-L0-2.gguf');
  let real: SpeculativeEngine;
  let broken: SpeculativeEngine;
  const plainSamples = new Map<string, Promise<Sample>>();
  const plainOf = (name: string, sampling: Omit<SamplingSettings, 'seed'>): Promise<Sample> => {
    let s = plainSamples.get(name);
    if (!s) plainSamples.set(name, (s = sample(real, { sampling, maxTokens: 3, ignoreEos: true, speculation: false }, PLAIN_SEED)));
    return s;
  };
  const speculative = (sampling: Omit<SamplingSettings, 'seed'>): RequestSettings => ({ sampling, maxTokens: 4, ignoreEos: true });

  beforeAll(async () => {
    await makeDraft({ from: STORIES, out: draftPath, layers: '0-2' });
    const load = (acceptance?: AcceptanceRule) =>
      SpeculativeEngine.load({
        verifier: modelOptions(STORIES, { kvCacheType: 'F32', sequences: CONCURRENCY }),
        draft: modelOptions(draftPath, { kvCacheType: 'F32', sequences: CONCURRENCY }),
        ...(acceptance ? { acceptance } : {}),
      });
    [real, broken] = await Promise.all([load(), load(resampleFromP)]);
  });
  afterAll(async () => {
    await Promise.allSettled([real?.dispose(), broken?.dispose()]);
  });

  for (const { name, sampling } of SETTINGS) {
    it(`${name}: the real rule passes (p ≥ ${ALPHA} for the 2nd, the 3rd and the pair)`, async () => {
      const plain = await plainOf(name, sampling);
      const spec = await sample(real, speculative(sampling), SPECULATIVE_SEED);
      // The test has teeth only if the rule had work to do and the tokens have entropy.
      expect(spec.drafted).toBeGreaterThanOrEqual(2 * SEEDS);
      expect(spec.accepted / spec.drafted, 'acceptance rate').toBeLessThan(0.9);
      expect(spec.accepted).toBeGreaterThan(0);
      const results = compare(plain.runs, spec.runs);
      expect(results['2nd'].categories, 'distinct 2nd tokens seen often enough to be a bin').toBeGreaterThanOrEqual(10);
      const line = report(`${name}, real rule (acceptance ${(spec.accepted / spec.drafted).toFixed(2)})`, results);
      for (const [view, r] of Object.entries(results)) expect(r.pValue, `${view}: ${line}`).toBeGreaterThanOrEqual(ALPHA);
    });

    it(`${name}: a broken rule (rejections resampled from p, not the residual) fails (pair p < ${BROKEN_P_MAX})`, async () => {
      const plain = await plainOf(name, sampling);
      const spec = await sample(broken, speculative(sampling), SPECULATIVE_SEED);
      const results = compare(plain.runs, spec.runs);
      const line = report(`${name}, broken rule`, results);
      expect(results['(2nd, 3rd)'].pValue, line).toBeLessThan(BROKEN_P_MAX);
    });
  }
  describe('under a grammar: the law of the first free tokens after the forced head of {"a": integer 0–999}', () => {
    const responseFormat = { type: 'json_schema', name: 'a', schema: INTEGER_SCHEMA } as const;
    const plainMasked = new Map<string, Promise<Sample>>();
    const plainMaskedOf = (name: string, sampling: Omit<SamplingSettings, 'seed'>): Promise<Sample> => {
      let s = plainMasked.get(name);
      if (!s) plainMasked.set(name, (s = sample(real, { sampling, maxTokens: FORCED + 3, speculation: false, responseFormat }, PLAIN_SEED, GRAMMAR_PROMPT, GRAMMAR_SEEDS)));
      return s;
    };
    // As above: the 1st free token from the prompt's pass, then a first block of 2 drafted tokens and the bonus.
    const speculativeMasked = (sampling: Omit<SamplingSettings, 'seed'>): RequestSettings => ({ sampling, maxTokens: FORCED + 4, responseFormat });

    /** The tokens after the forced head; fails unless every run starts with the same FORCED grammar tokens. */
    const freeRuns = (s: Sample): number[][] => {
      const head = s.runs[0]!.slice(0, FORCED);
      return s.runs.map((run, i) => {
        expect(s.sources[i]!.slice(0, FORCED + 1), `run ${i}: the forced head, then the first free token`).toEqual([...Array<TokenSource>(FORCED).fill('grammar'), 'verifier']);
        expect(run.slice(0, FORCED)).toEqual(head);
        return run.slice(FORCED);
      });
    };

    for (const { name, sampling } of GRAMMAR_SETTINGS) {
      it(`${name}: the real rule on the masked distributions passes (p ≥ ${ALPHA} for the 2nd, the 3rd and the pair)`, async () => {
        const plain = await plainMaskedOf(name, sampling);
        const spec = await sample(real, speculativeMasked(sampling), SPECULATIVE_SEED, GRAMMAR_PROMPT, GRAMMAR_SEEDS);
        expect(spec.drafted).toBeGreaterThanOrEqual(GRAMMAR_SEEDS);
        expect(spec.accepted / spec.drafted, 'acceptance rate').toBeLessThan(0.9);
        const results = compare(freeRuns(plain), freeRuns(spec));
        // Every free token is a digit or the closing brace: the mask held in both modes.
        const text = (runs: number[][]) => runs.map((run) => real.tokenizer.detokenize(run.slice(FORCED)));
        for (const t of [...text(plain.runs), ...text(spec.runs)]) expect(t).toMatch(/^(0|[1-9][0-9]{0,2})\}?$/);
        expect(results['2nd'].categories, 'distinct 2nd free tokens seen often enough to be a bin').toBeGreaterThanOrEqual(5);
        const line = report(`${name}, masked, real rule (acceptance ${(spec.accepted / spec.drafted).toFixed(2)})`, results);
        for (const [view, r] of Object.entries(results)) expect(r.pValue, `${view}: ${line}`).toBeGreaterThanOrEqual(ALPHA);
      });

      it(`${name}: the broken rule on the masked distributions fails (pair p < ${BROKEN_P_MAX})`, async () => {
        const plain = await plainMaskedOf(name, sampling);
        const spec = await sample(broken, speculativeMasked(sampling), SPECULATIVE_SEED, GRAMMAR_PROMPT, GRAMMAR_SEEDS);
        const results = compare(freeRuns(plain), freeRuns(spec));
        const line = report(`${name}, masked, broken rule`, results);
        expect(results['(2nd, 3rd)'].pValue, line).toBeLessThan(BROKEN_P_MAX);
      });
    }
  });
});
