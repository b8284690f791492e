/**
 * Training a router from labelled prompts (docs/ARCHITECTURE.md#query-level-routing): a logistic regression on the
 * chosen features with soft targets t = (gain + 1) / 2, gain = quality.frontier − quality[localTier]; the threshold
 * calibrated on the training scores for the target frontier share; k-fold cross-validation of the same recipe
 * (each fold standardised, fitted and calibrated on its own training part, evaluated on its held-out part).
 * Deterministic: the same rows and options give the same file (bar `provenance.trainedAt`).
 */
import { routerFeatureNames, type RouterFeatureName } from '../contract/router-features.js';
import { SpecrouteError } from '../errors/registry.js';
import { Rng } from '../sampling/rng.js';
import { calibrateThreshold, thresholdToJson } from './calibration.js';
import { featureVectorFromRecord, type FeatureSpec } from './feature-vector.js';
import { commonTokenizer, qualityPairs, type LabelledRow } from './labelled-data.js';
import type { LocalTier } from './local-tier.js';
import { defaultLogisticRegression, fitLogisticRegression, predictProbability } from './logistic-regression.js';
import { routerFileFormat, type RouterFileDocument } from './router-file.js';
import { evaluateAtThreshold, evaluateRouting, type ApgrAtShare, type QualityPair } from './routing-evaluation.js';

/** How to train. */
export interface TrainRouterOptions {
  /** The features to read, in order. Defaults to every known feature present in every row, in the canonical order. */
  readonly features?: readonly RouterFeatureName[];
  /** The tier the router routes away from. Defaults to `hybrid`. */
  readonly localTier?: LocalTier;
  /** The L2 penalty of the logistic regression (see LogisticRegressionOptions). Defaults to `0.1`. */
  readonly l2?: number;
  /** The share of the training prompts the calibrated threshold sends to the frontier. Defaults to `0.25`. */
  readonly targetFrontierShare?: number;
  /** Cross-validation folds: 0 for none, else 2 to the number of rows. Defaults to `5`. */
  readonly folds?: number;
  /** Seeds the assignment of rows to folds. Defaults to `0`. */
  readonly seed?: number;
  /** Called with progress lines (one per fold). Defaults to none. */
  readonly onProgress?: (message: string) => void;
}

export const defaultTrainRouter = { localTier: 'hybrid', l2: defaultLogisticRegression.l2, targetFrontierShare: 0.25, folds: 5, seed: 0 } as const;

/** What the file's provenance records about the data and the program. */
export interface TrainingProvenance {
  /** The data file's name. */
  readonly data: string;
  /** sha256 of the data file, hex. */
  readonly sha256: string;
  /** specroute's version. */
  readonly specroute: string;
  /** When, ISO 8601. Defaults to now. */
  readonly trainedAt?: string;
}

/** AUC of the three rankings; `null` where there is no room. */
export interface AucTriple {
  readonly router: number | null;
  readonly random: number | null;
  readonly oracle: number | null;
}

/** One fold's held-out evaluation. */
export interface FoldResult {
  /** 1-based. */
  readonly fold: number;
  readonly trainRows: number;
  readonly testRows: number;
  readonly auc: AucTriple;
  readonly apgrAt: readonly ApgrAtShare[];
  /** The threshold calibrated on the fold's training part (Infinity: never). */
  readonly threshold: number;
  /** The share of held-out prompts at or above it. */
  readonly realisedShare: number;
  /** APGR and gain over random recovered at that threshold, held out. */
  readonly apgrAtThreshold: number | null;
  readonly gainOverRandomRecovered: number | null;
  readonly notes: readonly string[];
}

/** The mean over folds of each number (folds where it is null left out; null when all are). */
export interface CrossValidationMean {
  readonly auc: AucTriple;
  readonly apgrAt: readonly ApgrAtShare[];
  readonly realisedShare: number;
  readonly apgrAtThreshold: number | null;
  readonly gainOverRandomRecovered: number | null;
}

export interface CrossValidation {
  readonly folds: number;
  readonly seed: number;
  readonly perFold: readonly FoldResult[];
  readonly mean: CrossValidationMean;
  /** Each row's score from the fold model that held it out: what the threshold is calibrated on. */
  readonly outOfFold: readonly number[];
}

export interface TrainRouterResult {
  /** The router file to write. */
  readonly document: RouterFileDocument;
  readonly featureSpec: FeatureSpec;
  /** Undefined with `folds: 0`. */
  readonly crossValidation: CrossValidation | undefined;
  /** How the final fit went. */
  readonly fit: { readonly iterations: number; readonly converged: boolean; readonly objective: number };
  /** The calibrated threshold's share of the training prompts (as close to the target as ties allow). */
  readonly realisedShare: number;
}

/** Every known feature that every row has, in the canonical order. */
export function featuresInData(rows: readonly LabelledRow[]): RouterFeatureName[] {
  return routerFeatureNames.filter((name) => rows.every((row) => row.features[name] !== undefined));
}

/** The soft target of a row: (gain + 1) / 2 with gain = quality.frontier − quality.local, in [0, 1]. */
export function softTarget(pair: QualityPair): number {
  return Math.min(1, Math.max(0, (pair.frontier - pair.local + 1) / 2));
}

/** Trains on `rows`; `provenance` goes into the file. Throws `invalid_argument` (param `--data`) for unusable data. */
export function trainRouter(rows: readonly LabelledRow[], options: TrainRouterOptions = {}, provenance?: TrainingProvenance): TrainRouterResult {
  const localTier = options.localTier ?? defaultTrainRouter.localTier;
  const l2 = options.l2 ?? defaultTrainRouter.l2;
  const share = options.targetFrontierShare ?? defaultTrainRouter.targetFrontierShare;
  const folds = options.folds ?? defaultTrainRouter.folds;
  const seed = options.seed ?? defaultTrainRouter.seed;
  if (rows.length < 2) throw new SpecrouteError('invalid_argument', `${rows.length} labelled prompt(s): training needs at least 2`, { param: '--data' });
  if (folds !== 0 && (!Number.isInteger(folds) || folds < 2 || folds > rows.length)) {
    throw new SpecrouteError('invalid_argument', `${folds} folds for ${rows.length} prompts: use 0 (no cross-validation) or 2 to ${rows.length}`, { param: '--folds' });
  }
  const tokenizer = commonTokenizer(rows);
  const features = options.features ?? featuresInData(rows);
  if (features.length === 0) throw new SpecrouteError('invalid_argument', `no feature is present in every row (known: ${routerFeatureNames.join(', ')})`, { param: '--data' });
  const firstEmbedding = rows[0]!.features.embedding;
  const embeddingDims = features.includes('embedding') && Array.isArray(firstEmbedding) ? firstEmbedding.length : 0;
  const featureSpec: FeatureSpec = { features, embeddingDims };
  const x = rows.map((row) => featureVectorFromRecord(featureSpec, row.features, row.id, '--data'));
  const pairs = qualityPairs(rows, localTier);
  const targets = pairs.map(softTarget);

  const crossValidation = folds === 0 ? undefined : crossValidate(x, pairs, targets, { folds, seed, l2, share, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });

  const fit = fitLogisticRegression(x, targets, { l2 });
  // The threshold is calibrated on scores like those of prompts the router has not seen: out-of-fold when
  // cross-validating (each row scored by the fold model that held it out), in-sample otherwise. In-sample scores of
  // a model fitted to them spread wider than new prompts' do, and a threshold drawn from them overshoots the share.
  const trainingScores = crossValidation?.outOfFold ?? x.map((v) => predictProbability(fit, v));
  const threshold = calibrateThreshold(trainingScores, share);
  const realisedShare = trainingScores.filter((s) => s >= threshold).length / trainingScores.length;
  const document: RouterFileDocument = {
    format: routerFileFormat,
    kind: 'logistic',
    features: [...features],
    embeddingDims,
    tokenizer: { vocabSize: tokenizer.vocabSize, fingerprint: tokenizer.fingerprint },
    localTier,
    standardize: { mean: [...fit.standardize.mean], std: [...fit.standardize.std] },
    weights: [...fit.weights],
    bias: fit.bias,
    threshold: thresholdToJson(threshold),
    targetFrontierShare: share,
    trainingScores: [...trainingScores],
    ...(provenance !== undefined
      ? {
          provenance: {
            data: provenance.data,
            sha256: provenance.sha256,
            rows: rows.length,
            trainedAt: provenance.trainedAt ?? new Date().toISOString(),
            specroute: provenance.specroute,
            l2,
            ...(crossValidation !== undefined ? { crossValidation: { folds: crossValidation.folds, seed: crossValidation.seed, mean: jsonSafe(crossValidation.mean) } } : {}),
          },
        }
      : {}),
  };
  return { document, featureSpec, crossValidation, fit: { iterations: fit.iterations, converged: fit.converged, objective: fit.objective }, realisedShare };
}

/** The rows' fold numbers (0-based): a seeded shuffle dealt round-robin, so fold sizes differ by at most one. */
export function foldAssignment(rows: number, folds: number, seed: number): number[] {
  const order = Array.from({ length: rows }, (_, i) => i);
  const rng = new Rng(seed);
  for (let i = rows - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const fold = new Array<number>(rows).fill(0);
  order.forEach((row, position) => (fold[row] = position % folds));
  return fold;
}

function crossValidate(
  x: readonly number[][],
  pairs: readonly QualityPair[],
  targets: readonly number[],
  options: { folds: number; seed: number; l2: number; share: number; onProgress?: (message: string) => void },
): CrossValidation {
  const assignment = foldAssignment(x.length, options.folds, options.seed);
  const perFold: FoldResult[] = [];
  const outOfFold = new Array<number>(x.length).fill(0);
  for (let f = 0; f < options.folds; f++) {
    const train = assignment.flatMap((a, i) => (a === f ? [] : [i]));
    const test = assignment.flatMap((a, i) => (a === f ? [i] : []));
    const fit = fitLogisticRegression(
      train.map((i) => x[i]!),
      train.map((i) => targets[i]!),
      { l2: options.l2 },
    );
    const threshold = calibrateThreshold(
      train.map((i) => predictProbability(fit, x[i]!)),
      options.share,
    );
    const testPairs = test.map((i) => pairs[i]!);
    const testScores = test.map((i) => predictProbability(fit, x[i]!));
    test.forEach((i, k) => (outOfFold[i] = testScores[k]!));
    const evaluation = evaluateRouting(testPairs, testScores);
    const atThreshold = evaluateAtThreshold(testPairs, testScores, threshold);
    perFold.push({
      fold: f + 1,
      trainRows: train.length,
      testRows: test.length,
      auc: { router: evaluation.curves.router.auc, random: evaluation.curves.random.auc, oracle: evaluation.curves.oracle.auc },
      apgrAt: evaluation.apgrAt,
      threshold,
      realisedShare: atThreshold.share,
      apgrAtThreshold: atThreshold.apgr,
      gainOverRandomRecovered: atThreshold.gainOverRandomRecovered,
      notes: evaluation.notes,
    });
    options.onProgress?.(`fold ${f + 1}/${options.folds}: trained on ${train.length}, held out ${test.length}, AUC ${fmt(evaluation.curves.router.auc)} (oracle ${fmt(evaluation.curves.oracle.auc)})`);
  }
  const meanOf = (values: readonly (number | null)[]): number | null => {
    const known = values.filter((v): v is number => v !== null);
    return known.length === 0 ? null : known.reduce((a, b) => a + b, 0) / known.length;
  };
  const first = perFold[0]!;
  return {
    folds: options.folds,
    seed: options.seed,
    perFold,
    outOfFold,
    mean: {
      auc: {
        router: meanOf(perFold.map((r) => r.auc.router)),
        random: meanOf(perFold.map((r) => r.auc.random)),
        oracle: meanOf(perFold.map((r) => r.auc.oracle)),
      },
      apgrAt: first.apgrAt.map((a, k) => ({
        share: a.share,
        router: meanOf(perFold.map((r) => r.apgrAt[k]!.router)),
        random: meanOf(perFold.map((r) => r.apgrAt[k]!.random)),
        oracle: meanOf(perFold.map((r) => r.apgrAt[k]!.oracle)),
        gainOverRandomRecovered: meanOf(perFold.map((r) => r.apgrAt[k]!.gainOverRandomRecovered)),
      })),
      realisedShare: meanOf(perFold.map((r) => r.realisedShare))!,
      apgrAtThreshold: meanOf(perFold.map((r) => r.apgrAtThreshold)),
      gainOverRandomRecovered: meanOf(perFold.map((r) => r.gainOverRandomRecovered)),
    },
  };
}

function fmt(value: number | null): string {
  return value === null ? 'n/a' : value.toFixed(3);
}

/** A value with every non-finite number replaced by null (JSON has no Infinity). */
export function jsonSafe<T>(value: T): T {
  return JSON.parse(JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))) as T;
}
