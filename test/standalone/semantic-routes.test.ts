import { describe, expect, it } from 'vitest';
import { SpecrouteError } from '../../src/errors/registry.js';
import { SemanticRoutes } from '../../src/routing/semantic-routes.js';

const unit = (v: number[]): number[] => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

describe('semantic routes', () => {
  const routes = new SemanticRoutes([
    { name: 'maths', tier: 'frontier', threshold: 0.8, examples: [unit([1, 0, 0]), unit([1, 1, 0])] },
    { name: 'chit-chat', tier: 'slm', threshold: 0.9, examples: [unit([0, 0, 1])] },
  ]);

  it('matches the route whose nearest example is similar enough, with its name, tier, cosine score and threshold', () => {
    const m = routes.match(unit([1, 0.9, 0]));
    expect(m?.name).toBe('maths');
    expect(m?.tier).toBe('frontier');
    expect(m?.threshold).toBe(0.8);
    // Nearest maths example is (1,1,0)/√2: cos = (1 + 0.9) / (√2 · √1.81).
    expect(m?.score).toBeCloseTo(1.9 / (Math.SQRT2 * Math.sqrt(1.81)), 12);
    expect(routes.match([0, 0, 5])).toEqual({ name: 'chit-chat', tier: 'slm', score: 1, threshold: 0.9 });
  });

  it('matches nothing below every threshold', () => {
    expect(routes.match(unit([0, 1, 0]))).toBeUndefined(); // cos 0.707 to maths, 0 to chit-chat
    expect(routes.match(unit([0.6, 0, 1]))).toBeUndefined(); // cos 0.514 to maths, 0.857 to chit-chat
  });

  it('picks the best-scoring route among those above their thresholds', () => {
    const overlapping = new SemanticRoutes([
      { name: 'a', tier: 'hybrid', threshold: 0.5, examples: [unit([1, 0])] },
      { name: 'b', tier: 'frontier', threshold: 0.5, examples: [unit([1, 1])] },
    ]);
    expect(overlapping.match(unit([1, 0.2]))?.name).toBe('a');
    expect(overlapping.match(unit([1, 0.8]))?.name).toBe('b');
    // A tie goes to the route listed first.
    const twins = new SemanticRoutes([
      { name: 'first', tier: 'hybrid', threshold: 0.5, examples: [[0, 1]] },
      { name: 'second', tier: 'frontier', threshold: 0.5, examples: [[0, 1]] },
    ]);
    expect(twins.match([0.5, 1])?.name).toBe('first');
  });

  it('rejects bad routes naming them, and an embedding of another length', () => {
    const error = (fn: () => unknown): SpecrouteError => {
      try {
        fn();
      } catch (e) {
        return e as SpecrouteError;
      }
      throw new Error('expected an error');
    };
    expect(error(() => new SemanticRoutes([{ name: 'x', tier: 'slm', threshold: 0.5, examples: [[1, 0], [1, 0, 0]] }])).message).toBe(
      "semantic route 'x' (routes[0].examples[1]): has 3 dimensions; the first example has 2",
    );
    expect(error(() => new SemanticRoutes([{ name: 'x', tier: 'slm', threshold: 0.5, examples: [] }])).param).toBe('routes[0].examples');
    expect(error(() => new SemanticRoutes([{ name: 'x', tier: 'slm', threshold: 2, examples: [[1]] }])).message).toMatch(/not a cosine similarity/);
    expect(error(() => new SemanticRoutes([{ name: 'x', tier: 'slm', threshold: 0.5, examples: [[0, 0]] }])).message).toMatch(/zero vector/);
    expect(
      error(() =>
        new SemanticRoutes([
          { name: 'x', tier: 'slm', threshold: 0.5, examples: [[1]] },
          { name: 'x', tier: 'hybrid', threshold: 0.5, examples: [[1]] },
        ]),
      ).message,
    ).toMatch(/routes\[1\]\.name\): another route has this name/);
    expect(error(() => routes.match([1, 0])).message).toMatch(/has 2 dimensions; the routes' examples have 3/);
    expect(new SemanticRoutes([]).match([1, 2])).toBeUndefined();
  });
});
