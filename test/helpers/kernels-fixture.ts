import { Rng } from '../../src/sampling/rng.js';

/** Seeded logits shaped like a language model's: normal with standard deviation `scale` (Box–Muller). */
export function randomLogits(n: number, rng: Rng, scale = 3): Float32Array {
  const logits = new Float32Array(n);
  for (let i = 0; i < n; i++) logits[i] = scale * Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  return logits;
}

/** The fixed input of the fallback check, computed alike in the test and in its child process. */
export function fallbackFixture(): { logits: Float32Array; params: { temperature: number; topK: number; topP: number; minP: number } } {
  return { logits: randomLogits(1000, new Rng(42)), params: { temperature: 0.9, topK: 40, topP: 0.9, minP: 0.02 } };
}
