/**
 * Named routes defined by example utterances (in the manner of aurelio-labs/semantic-router;
 * docs/ARCHITECTURE.md#query-level-routing): a prompt whose embedding is close enough to one of a route's
 * examples takes that route's tier. Pure maths over precomputed embeddings; computing them is the caller's.
 */
import { SpecrouteError } from '../errors/registry.js';
import { tiers, type Tier } from '../events/route-decision.js';

/** One route: its name, the tier it sends prompts to, its examples' embeddings and its similarity threshold. */
export interface SemanticRoute {
  readonly name: string;
  readonly tier: Tier;
  /** Embeddings of the example utterances, all of one length (L2-normalised or not: cosine is computed either way). */
  readonly examples: readonly (readonly number[])[];
  /** A prompt matches when its best cosine similarity to an example is ≥ this, in [−1, 1]. */
  readonly threshold: number;
}

/** The route a prompt matched and how well: the best cosine similarity to one of its examples, and the route's threshold. */
export interface SemanticRouteMatch {
  readonly name: string;
  readonly tier: Tier;
  readonly score: number;
  readonly threshold: number;
}

/** The routes, ready to match embeddings against. */
export class SemanticRoutes {
  private readonly routes: ReadonlyArray<{ readonly route: SemanticRoute; readonly examples: readonly Float64Array[] }>;
  /** The embeddings' length, or undefined when there are no routes. */
  readonly dims: number | undefined;

  /**
   * Checks the routes (unique names, a known tier, at least one example each, one length for all examples, no zero
   * vector, a threshold in [−1, 1]) and normalises the examples. Problems throw `invalid_argument` naming
   * `routes[i]` (and the example) as the param.
   */
  constructor(routes: readonly SemanticRoute[]) {
    let dims: number | undefined;
    const names = new Set<string>();
    this.routes = routes.map((route, i) => {
      const fail = (where: string, message: string): never => {
        throw new SpecrouteError('invalid_argument', `semantic route '${route.name}' (routes[${i}]${where}): ${message}`, { param: `routes[${i}]${where}` });
      };
      if (route.name === '') fail('.name', 'the name is empty');
      if (names.has(route.name)) fail('.name', 'another route has this name');
      names.add(route.name);
      if (!(tiers as readonly string[]).includes(route.tier)) fail('.tier', `'${route.tier}' is not a tier (tiers: ${tiers.join(', ')})`);
      if (!(route.threshold >= -1 && route.threshold <= 1)) fail('.threshold', `${route.threshold} is not a cosine similarity in [-1, 1]`);
      if (route.examples.length === 0) fail('.examples', 'a route needs at least one example');
      const examples = route.examples.map((example, j) => {
        dims ??= example.length;
        if (example.length !== dims) fail(`.examples[${j}]`, `has ${example.length} dimensions; the first example has ${dims}`);
        if (example.some((v) => !Number.isFinite(v))) fail(`.examples[${j}]`, 'holds a number that is not finite');
        const unit = normalised(example);
        if (unit === undefined) fail(`.examples[${j}]`, 'is the zero vector (no direction to compare with)');
        return unit!;
      });
      return { route, examples };
    });
    this.dims = dims;
  }

  /**
   * The best route (highest score) among those whose best cosine similarity to one of their examples is at or above
   * their threshold; the route listed first wins a tie. Undefined when none matches (or for the zero vector).
   */
  match(embedding: readonly number[]): SemanticRouteMatch | undefined {
    if (this.dims !== undefined && embedding.length !== this.dims) {
      throw new SpecrouteError('invalid_argument', `the prompt's embedding has ${embedding.length} dimensions; the routes' examples have ${this.dims}`, { param: 'embedding' });
    }
    const unit = normalised(embedding);
    if (unit === undefined) return undefined;
    let best: SemanticRouteMatch | undefined;
    for (const { route, examples } of this.routes) {
      let score = -Infinity;
      for (const example of examples) score = Math.max(score, dot(unit, example));
      if (score >= route.threshold && (best === undefined || score > best.score)) best = { name: route.name, tier: route.tier, score, threshold: route.threshold };
    }
    return best;
  }
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function normalised(v: readonly number[]): Float64Array | undefined {
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm);
  if (!(norm > 0)) return undefined;
  return Float64Array.from(v, (x) => x / norm);
}
