import { describe, expect, it } from 'vitest';
import { SpecrouteError } from '../../src/errors/registry.js';
import { featureColumnNames, featureVectorFromRecord, featureVectorFromSignals, featureVectorLength, parseFeatureNames } from '../../src/routing/feature-vector.js';
import { fitLogisticRegression, predictProbability, sigmoid, standardization } from '../../src/routing/logistic-regression.js';
import { evaluateRouting } from '../../src/routing/routing-evaluation.js';
import { featuresInData, foldAssignment, softTarget, trainRouter } from '../../src/routing/train-router.js';
import { parseLabelledData } from '../../src/routing/labelled-data.js';
import { Rng } from '../../src/sampling/rng.js';
import { gaussian, syntheticRows, toJsonLines } from '../helpers/router-data.js';

function errorOf(fn: () => unknown): SpecrouteError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SpecrouteError);
    return error as SpecrouteError;
  }
  throw new Error('expected an error');
}

describe('logistic regression with soft targets', () => {
  it('recovers a known linear rule from its exact probabilities (no penalty)', () => {
    const rng = new Rng(11);
    const w = [1.5, -2, 0.5, 0];
    const b = -0.25;
    const x = Array.from({ length: 400 }, () => [3 * gaussian(rng) + 2, gaussian(rng), 0.2 * gaussian(rng) - 1, gaussian(rng)]);
    const truth = (v: readonly number[]): number => sigmoid(v.reduce((s, xi, j) => s + w[j]! * xi, b));
    const fit = fitLogisticRegression(x, x.map(truth), { l2: 0 });
    expect(fit.converged).toBe(true);
    // Weights live on standardised features: w_raw = w_std / std, bias_raw = bias − Σ w_std·mean/std.
    const raw = fit.weights.map((wj, j) => wj / fit.standardize.std[j]!);
    raw.forEach((wj, j) => expect(wj).toBeCloseTo(w[j]!, 6));
    const rawBias = fit.bias - fit.weights.reduce((s, wj, j) => s + (wj * fit.standardize.mean[j]!) / fit.standardize.std[j]!, 0);
    expect(rawBias).toBeCloseTo(b, 6);
    for (let k = 0; k < 50; k++) {
      const v = [gaussian(rng), gaussian(rng), gaussian(rng), gaussian(rng)];
      expect(predictProbability(fit, v)).toBeCloseTo(truth(v), 8);
    }
  });

  it('L2 shrinks the weights but leaves the bias free', () => {
    const rng = new Rng(3);
    const x = Array.from({ length: 200 }, () => [gaussian(rng), gaussian(rng)]);
    const t = x.map((v) => sigmoid(2 * v[0]! - v[1]! + 1));
    const loose = fitLogisticRegression(x, t, { l2: 0 });
    const tight = fitLogisticRegression(x, t, { l2: 1 });
    expect(Math.hypot(...tight.weights)).toBeLessThan(Math.hypot(...loose.weights) / 2);
    // With every weight forced to 0 the bias alone fits the mean target.
    const flat = fitLogisticRegression(x, t, { l2: 1e9 });
    expect(Math.max(...flat.weights.map(Math.abs))).toBeLessThan(1e-6);
    expect(sigmoid(flat.bias)).toBeCloseTo(t.reduce((a, c) => a + c, 0) / t.length, 6);
  });

  it('ranks held-out prompts better than chance, close to the oracle, on data where the kind of prompt matters', () => {
    const train = syntheticRows(300, 1);
    const test = syntheticRows(500, 2);
    const result = trainRouter(parseLabelledData(toJsonLines(train), 'train.jsonl'), { folds: 0 });
    const fit = { standardize: result.document.standardize, weights: result.document.weights, bias: result.document.bias };
    const scores = test.map((row) => predictProbability(fit, featureVectorFromRecord(result.featureSpec, row.features, row.id)));
    const evaluation = evaluateRouting(
      test.map((r) => ({ local: r.quality.hybrid, frontier: r.quality.frontier })),
      scores,
    );
    const { router, random, oracle } = { router: evaluation.curves.router.auc!, random: evaluation.curves.random.auc!, oracle: evaluation.curves.oracle.auc! };
    expect(random).toBeCloseTo(0.5, 12);
    expect(router).toBeGreaterThan(random + 0.1);
    expect(router).toBeLessThanOrEqual(oracle);
    for (const at of evaluation.apgrAt) {
      expect(at.router!).toBeGreaterThan(at.share);
      expect(at.oracle!).toBeGreaterThanOrEqual(at.router!);
    }
  });

  it('is deterministic, and fits 1000 rows × 70 features in well under a second', () => {
    const rng = new Rng(5);
    const x = Array.from({ length: 1000 }, () => Array.from({ length: 70 }, () => gaussian(rng)));
    const t = x.map((v) => sigmoid(v[0]! - 0.5 * v[1]! + 0.1 * gaussian(rng)));
    const start = performance.now();
    const a = fitLogisticRegression(x, t);
    const elapsed = performance.now() - start;
    expect(elapsed).toBeLessThan(1000);
    const b = fitLogisticRegression(x, t);
    expect(b.weights).toEqual(a.weights);
    expect(b.bias).toBe(a.bias);
  });

  it('standardises with the population std, and a constant feature gets std 1', () => {
    const s = standardization([
      [1, 5],
      [3, 5],
    ]);
    expect(s.mean).toEqual([2, 5]);
    expect(s.std).toEqual([1, 1]);
    const fit = fitLogisticRegression(
      [
        [0, 7],
        [1, 7],
        [2, 7],
      ],
      [0.2, 0.5, 0.8],
    );
    expect(fit.standardize.std[1]).toBe(1);
    expect(fit.weights[1]).toBe(0);
  });

  it('rejects targets outside [0, 1] and ragged rows', () => {
    expect(() => fitLogisticRegression([[1], [2]], [0.5, 1.5])).toThrow(/target 1 is 1.5/);
    expect(() => fitLogisticRegression([[1], [2, 3]], [0.5, 0.5])).toThrow(/row 1 has 2 features; row 0 has 1/);
  });

  it('the training target is (gain + 1) / 2', () => {
    expect(softTarget({ local: 0.25, frontier: 1 })).toBe(0.875);
    expect(softTarget({ local: 1, frontier: 0 })).toBe(0);
    expect(softTarget({ local: 0.5, frontier: 0.5 })).toBe(0.5);
  });

  it('deals rows to folds by a seeded shuffle, sizes within one', () => {
    const a = foldAssignment(23, 5, 42);
    expect(foldAssignment(23, 5, 42)).toEqual(a);
    expect(foldAssignment(23, 5, 43)).not.toEqual(a);
    const sizes = [0, 1, 2, 3, 4].map((f) => a.filter((x) => x === f).length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    expect(sizes.reduce((s, c) => s + c, 0)).toBe(23);
  });
});

describe('feature vectors', () => {
  const spec = { features: parseFeatureNames(['first_entropy', 'embedding', 'log_max_tokens']), embeddingDims: 3 };

  it('lays the features out in the spec order, the embedding inline', () => {
    expect(featureVectorLength(spec)).toBe(5);
    expect(featureColumnNames(spec)).toEqual(['first_entropy', 'embedding[0]', 'embedding[1]', 'embedding[2]', 'log_max_tokens']);
    expect(featureVectorFromRecord(spec, { first_entropy: 2, embedding: [0.6, 0.8, 0], log_max_tokens: 3.9, extra: 'ignored' }, 'p1')).toEqual([2, 0.6, 0.8, 0, 3.9]);
  });

  it('builds the serving-time vector from the prompt signals and max_tokens', () => {
    const signals = { embedding: [1, 0, 0], promptMeanLogprob: -2, promptMeanEntropy: 3, firstEntropy: 1.25, firstMargin: 0.5, promptTokens: 9 };
    expect(featureVectorFromSignals(spec, signals, 47)).toEqual([1.25, 1, 0, 0, Math.log(48)]);
    const all = { features: parseFeatureNames(['prompt_mean_logprob', 'prompt_mean_entropy', 'first_margin', 'log_prompt_tokens']), embeddingDims: 0 };
    expect(featureVectorFromSignals(all, signals, 47)).toEqual([-2, 3, 0.5, Math.log(10)]);
  });

  it('names an unknown feature, and one listed twice', () => {
    expect(errorOf(() => parseFeatureNames(['first_entropy', 'foo'])).message).toBe(
      "'foo' is not a known feature (known: embedding, prompt_mean_logprob, prompt_mean_entropy, first_entropy, first_margin, log_prompt_tokens, log_max_tokens)",
    );
    expect(errorOf(() => parseFeatureNames(['first_entropy', 'first_entropy'])).message).toMatch(/'first_entropy' is listed twice/);
  });

  it('names the row and the feature for a missing feature, a bad value or an embedding of the wrong length', () => {
    expect(errorOf(() => featureVectorFromRecord(spec, { embedding: [1, 0, 0], log_max_tokens: 1 }, 'p7')).message).toBe("row 'p7': feature 'first_entropy' is missing");
    expect(errorOf(() => featureVectorFromRecord(spec, { first_entropy: 1, embedding: [1, 0], log_max_tokens: 1 }, 'p8')).message).toBe(
      "row 'p8': feature 'embedding' has 2 dimensions; the feature spec needs 3",
    );
    expect(errorOf(() => featureVectorFromRecord(spec, { first_entropy: 'high', embedding: [1, 0, 0], log_max_tokens: 1 }, 'p9')).message).toBe(
      `row 'p9': feature 'first_entropy' is "high", not a finite number`,
    );
    const signals = { embedding: [1, 0], promptMeanLogprob: 0, promptMeanEntropy: 0, firstEntropy: 0, firstMargin: 0, promptTokens: 1 };
    expect(errorOf(() => featureVectorFromSignals(spec, signals, 8)).message).toMatch(/^row 'request': feature 'embedding' has 2 dimensions/);
  });

  it('the default features are the known ones every row has', () => {
    const rows = parseLabelledData(toJsonLines(syntheticRows(3, 1)), 'x.jsonl');
    expect(featuresInData(rows)).toEqual(['embedding', 'prompt_mean_logprob', 'prompt_mean_entropy', 'first_entropy', 'first_margin', 'log_prompt_tokens', 'log_max_tokens']);
    delete rows[1]!.features.first_margin;
    expect(featuresInData(rows)).not.toContain('first_margin');
  });
});
