/**
 * The trained router's file (`routing.router` in the config; docs/ARCHITECTURE.md#query-level-routing): its schema,
 * loading it into a `TrainedRouter` that scores feature vectors, and writing it.
 *
 * The threshold "never the frontier" (a target share of 0) is written as `"threshold": null` and held as Infinity.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import type { RouterFeatureName } from '../contract/router-features.js';
import { SpecrouteError } from '../errors/registry.js';
import { calibrateThreshold, thresholdFromJson, thresholdToJson } from './calibration.js';
import { featureVectorLength, isRouterFeatureName, unknownFeatureMessage, type FeatureSpec } from './feature-vector.js';
import { localTiers, type LocalTier } from './local-tier.js';
import { predictProbability, type LogisticModel } from './logistic-regression.js';
import type { TokenizerFingerprint } from '../backends/tokenizer-fingerprint.js';
import { describeTokenizer, sameTokenizer, tokenizerFingerprintSchema } from './tokenizer-fingerprint.js';
import { describeIssue } from './zod-issue.js';

/** The format this specroute reads and writes. */
export const routerFileFormat = 'specroute-router/1';
/** The router kinds this specroute reads. */
export const routerKinds = ['logistic'] as const;

/** The file's schema (after `format` and `kind` are checked, which come first so a wrong file says so plainly). */
export const routerFileSchema = z
  .object({
    format: z.literal(routerFileFormat),
    kind: z.enum(routerKinds),
    features: z.array(z.string()).min(1),
    /** The embedding's length; 0 when the router reads no embedding. */
    embeddingDims: z.number().int().min(0),
    tokenizer: tokenizerFingerprintSchema,
    localTier: z.enum(localTiers),
    standardize: z.object({ mean: z.array(z.number()), std: z.array(z.number().positive()) }).strict(),
    weights: z.array(z.number()),
    bias: z.number(),
    /** `null`: no prompt goes to the frontier. */
    threshold: z.number().nullable(),
    targetFrontierShare: z.number().min(0).max(1),
    trainingScores: z.array(z.number()).min(1),
    /** Where the router came from; free-form beyond these keys. */
    provenance: z
      .object({ data: z.string(), sha256: z.string(), rows: z.number().int(), trainedAt: z.string(), specroute: z.string(), crossValidation: z.unknown() })
      .partial()
      .passthrough()
      .optional(),
  })
  .strict();

/** A router file as JSON holds it. */
export type RouterFileDocument = z.infer<typeof routerFileSchema>;

/** What the server has, for a router file to be checked against at boot. */
export interface RouterFileExpectations {
  /** The verifier's tokenizer: the router must have been trained for it. */
  readonly tokenizer?: TokenizerFingerprint;
  /** Whose tokenizer `tokenizer` is, in the message when they differ. Defaults to `the verifier's`. */
  readonly tokenizerOwner?: string;
  /** The embedding model's dimensions: checked when the router reads `embedding`. */
  readonly embeddingDims?: number;
}

/** Whom errors name: the config key (or a flag) that pointed at the file. */
export interface RouterFileOptions {
  /** Named first in every error message, and the errors' `param`. Defaults to `routing.router`. */
  readonly key?: string;
}

/** A loaded router: scores feature vectors built by its `featureSpec`, and its calibrated threshold. */
export interface TrainedRouter {
  readonly kind: 'logistic';
  /** The features it reads, in order, and the embedding's length. */
  readonly featureSpec: FeatureSpec;
  readonly features: readonly RouterFeatureName[];
  readonly tokenizer: TokenizerFingerprint;
  /** The tier it routes away from (to the frontier). */
  readonly localTier: LocalTier;
  /** Route to the frontier when score ≥ threshold; Infinity: never. */
  readonly threshold: number;
  /** The share of the training prompts the threshold sends to the frontier (as calibrated). */
  readonly targetFrontierShare: number;
  /** The training prompts' scores the threshold is calibrated on (out-of-fold when training cross-validated). */
  readonly trainingScores: readonly number[];
  /** The file's content (with this router's threshold and share). */
  readonly document: RouterFileDocument;
  /** The probability that the frontier is worth it: higher means "send to the frontier". */
  score(vector: readonly number[]): number;
  /** score ≥ threshold. */
  toFrontier(score: number): boolean;
  /** The same model with the threshold re-derived from the training scores for another target share. */
  withTargetShare(share: number): TrainedRouter;
}

/**
 * Reads, validates and loads a router file. Every problem is an `invalid_argument` error whose message starts with
 * the key and the path (`routing.router (/path/r.json): …`) and names the place inside the file.
 */
export function loadRouterFile(path: string, expect: RouterFileExpectations = {}, options: RouterFileOptions = {}): TrainedRouter {
  const key = options.key ?? 'routing.router';
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SpecrouteError('invalid_argument', `${key} (${path}): cannot read the router file: ${(error as Error).message}`, { param: key, cause: error });
  }
  return parseRouterFile(text, path, expect, options);
}

/** `loadRouterFile` on text already read; `path` only names it in errors. */
export function parseRouterFile(text: string, path: string, expect: RouterFileExpectations = {}, options: RouterFileOptions = {}): TrainedRouter {
  const key = options.key ?? 'routing.router';
  const fail = (message: string): never => {
    throw new SpecrouteError('invalid_argument', `${key} (${path}): ${message}`, { param: key });
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return fail(`not JSON: ${(error as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('must hold a JSON object (a router file written by `specroute router train`)');
  const { format, kind } = raw as { format?: unknown; kind?: unknown };
  if (format === undefined) return fail(`format is missing (expected "${routerFileFormat}"): not a router file?`);
  if (format !== routerFileFormat) return fail(`format is ${JSON.stringify(format)}; this specroute reads "${routerFileFormat}" (retrain with \`specroute router train\`)`);
  if (!(routerKinds as readonly unknown[]).includes(kind)) return fail(`kind is ${JSON.stringify(kind)}; this specroute reads ${routerKinds.map((k) => `"${k}"`).join(', ')}`);
  const parsed = routerFileSchema.safeParse(raw);
  if (!parsed.success) return fail(describeIssue(parsed.error.issues[0]!));
  return routerFromDocument(parsed.data, expect, (message) => fail(message));
}

/**
 * Checks a parsed document's inner consistency (and `expect`) and builds the router. `fail` turns a message into
 * the error to throw; defaults to an `invalid_argument` naming `routing.router`.
 */
export function routerFromDocument(
  document: RouterFileDocument,
  expect: RouterFileExpectations = {},
  fail: (message: string) => never = (message) => {
    throw new SpecrouteError('invalid_argument', `routing.router: ${message}`, { param: 'routing.router' });
  },
): TrainedRouter {
  const features: RouterFeatureName[] = [];
  document.features.forEach((name, i) => {
    if (!isRouterFeatureName(name)) fail(`features[${i}] ${unknownFeatureMessage(name)}`);
    else if (features.includes(name)) fail(`features[${i}] '${name}' is listed twice`);
    else features.push(name);
  });
  const usesEmbedding = features.includes('embedding');
  if (usesEmbedding && document.embeddingDims < 1) fail(`embeddingDims is ${document.embeddingDims} but features lists 'embedding'`);
  const featureSpec: FeatureSpec = { features, embeddingDims: document.embeddingDims };
  const length = featureVectorLength(featureSpec);
  const needs = `the feature spec needs ${length} (${features.join(', ')}${usesEmbedding ? `; embeddingDims ${document.embeddingDims}` : ''})`;
  if (document.weights.length !== length) fail(`weights has ${document.weights.length} entries; ${needs}`);
  if (document.standardize.mean.length !== length) fail(`standardize.mean has ${document.standardize.mean.length} entries; ${needs}`);
  if (document.standardize.std.length !== length) fail(`standardize.std has ${document.standardize.std.length} entries; ${needs}`);
  if (expect.tokenizer !== undefined && !sameTokenizer(document.tokenizer, expect.tokenizer)) {
    fail(`trained for a tokenizer with ${describeTokenizer(document.tokenizer)}; ${expect.tokenizerOwner ?? "the verifier's"} has ${describeTokenizer(expect.tokenizer)}`);
  }
  if (usesEmbedding && expect.embeddingDims !== undefined && expect.embeddingDims !== document.embeddingDims) {
    fail(`embeddingDims is ${document.embeddingDims} (trained on ${document.embeddingDims}-dimensional embeddings); the embedding model gives ${expect.embeddingDims}`);
  }
  return makeRouter(document, featureSpec);
}

function makeRouter(document: RouterFileDocument, featureSpec: FeatureSpec): TrainedRouter {
  const model: LogisticModel = { standardize: document.standardize, weights: document.weights, bias: document.bias };
  const threshold = thresholdFromJson(document.threshold);
  return {
    kind: document.kind,
    featureSpec,
    features: featureSpec.features,
    tokenizer: document.tokenizer,
    localTier: document.localTier,
    threshold,
    targetFrontierShare: document.targetFrontierShare,
    trainingScores: document.trainingScores,
    document,
    score(vector) {
      if (vector.length !== model.weights.length) {
        throw new RangeError(`the router reads ${model.weights.length} numbers (${featureSpec.features.join(', ')}); the vector has ${vector.length}`);
      }
      return predictProbability(model, vector);
    },
    toFrontier(score) {
      return score >= threshold;
    },
    withTargetShare(share) {
      const next = calibrateThreshold(document.trainingScores, share);
      return makeRouter({ ...document, threshold: thresholdToJson(next), targetFrontierShare: share }, featureSpec);
    },
  };
}

/**
 * Writes a router file (after checking it loads), atomically: a reader never sees half a file. Top-level keys one
 * a line, arrays on one line each.
 */
export function saveRouterFile(path: string, document: RouterFileDocument): void {
  const parsed = routerFileSchema.safeParse(document);
  if (!parsed.success) throw new RangeError(`not a valid router file: ${describeIssue(parsed.error.issues[0]!)}`);
  routerFromDocument(parsed.data, {}, (message) => {
    throw new RangeError(`not a valid router file: ${message}`);
  });
  const body = Object.entries(parsed.data)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `  ${JSON.stringify(name)}: ${JSON.stringify(value)}`)
    .join(',\n');
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(temporary, `{\n${body}\n}\n`);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}
