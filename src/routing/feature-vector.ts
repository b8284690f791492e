/**
 * Named router features → the number[] a model scores (docs/ARCHITECTURE.md#query-level-routing). A feature spec
 * lists feature names in order; `embedding` contributes `embeddingDims` numbers, every other feature one.
 */
import { routerFeatureNames, type PromptSignals, type RouterFeatureName } from '../contract/router-features.js';
import { SpecrouteError } from '../errors/registry.js';

/** Which features a router reads, in order. */
export interface FeatureSpec {
  readonly features: readonly RouterFeatureName[];
  /** The embedding's length; only read when `features` includes `embedding`. */
  readonly embeddingDims: number;
}

export function isRouterFeatureName(name: string): name is RouterFeatureName {
  return (routerFeatureNames as readonly string[]).includes(name);
}

/** "'foo' is not a known feature (known: embedding, …)": the one wording, for errors that prefix their own place. */
export function unknownFeatureMessage(name: string): string {
  return `'${name}' is not a known feature (known: ${routerFeatureNames.join(', ')})`;
}

/**
 * Checks a list of feature names: each must be known and listed once. Throws `invalid_argument` naming the
 * feature (and `param`, when given, as the error's param).
 */
export function parseFeatureNames(names: readonly string[], param?: string): RouterFeatureName[] {
  if (names.length === 0) throw new SpecrouteError('invalid_argument', 'the feature list is empty: name at least one feature', { ...(param !== undefined ? { param } : {}) });
  const seen = new Set<string>();
  return names.map((name) => {
    if (!isRouterFeatureName(name)) throw new SpecrouteError('invalid_argument', unknownFeatureMessage(name), { ...(param !== undefined ? { param } : {}) });
    if (seen.has(name)) throw new SpecrouteError('invalid_argument', `'${name}' is listed twice in the features`, { ...(param !== undefined ? { param } : {}) });
    seen.add(name);
    return name;
  });
}

/** How many numbers a spec's vector holds. */
export function featureVectorLength(spec: FeatureSpec): number {
  return spec.features.reduce((sum, name) => sum + (name === 'embedding' ? spec.embeddingDims : 1), 0);
}

/** A readable name for each entry of the vector: `embedding[0]`, …, `first_entropy`. */
export function featureColumnNames(spec: FeatureSpec): string[] {
  return spec.features.flatMap((name) => (name === 'embedding' ? Array.from({ length: spec.embeddingDims }, (_, i) => `embedding[${i}]`) : [name]));
}

/**
 * The vector for one row's `features` object (the labelled data's shape: snake_case names, `embedding` an array).
 * A missing or non-finite feature, or an embedding of another length, throws `invalid_argument` naming the row and
 * the feature (the error's `param` is `param`, or `features.<name>` when not given). Names the spec does not list
 * are ignored.
 */
export function featureVectorFromRecord(spec: FeatureSpec, features: Readonly<Record<string, unknown>>, rowId: string, param?: string): number[] {
  const out: number[] = [];
  for (const name of spec.features) {
    const value = features[name];
    const where = `row '${rowId}': feature '${name}'`;
    const at = { param: param ?? `features.${name}` };
    if (value === undefined) throw new SpecrouteError('invalid_argument', `${where} is missing`, at);
    if (name === 'embedding') {
      if (!Array.isArray(value)) throw new SpecrouteError('invalid_argument', `${where} must be an array of numbers`, at);
      if (value.length !== spec.embeddingDims) {
        throw new SpecrouteError('invalid_argument', `${where} has ${value.length} dimensions; the feature spec needs ${spec.embeddingDims}`, at);
      }
      value.forEach((v, i) => {
        if (typeof v !== 'number' || !Number.isFinite(v)) throw new SpecrouteError('invalid_argument', `${where}[${i}] is ${JSON.stringify(v)}, not a finite number`, at);
        out.push(v);
      });
    } else {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new SpecrouteError('invalid_argument', `${where} is ${JSON.stringify(value)}, not a finite number`, at);
      out.push(value);
    }
  }
  return out;
}

/**
 * The `features` object for a prompt at serving time, as the labelled data records it: the local model's
 * signals plus the request's max_tokens (`log_*` features are ln(1 + count)).
 */
export function featureRecordFromSignals(signals: PromptSignals, maxTokens: number): Record<RouterFeatureName, number | readonly number[]> {
  return {
    embedding: signals.embedding,
    prompt_mean_logprob: signals.promptMeanLogprob,
    prompt_mean_entropy: signals.promptMeanEntropy,
    first_entropy: signals.firstEntropy,
    first_margin: signals.firstMargin,
    log_prompt_tokens: Math.log1p(signals.promptTokens),
    log_max_tokens: Math.log1p(maxTokens),
  };
}

/** The vector for a prompt at serving time; errors name `rowId` (defaults to 'request') like a data row's. */
export function featureVectorFromSignals(spec: FeatureSpec, signals: PromptSignals, maxTokens: number, rowId = 'request'): number[] {
  return featureVectorFromRecord(spec, featureRecordFromSignals(signals, maxTokens), rowId);
}
