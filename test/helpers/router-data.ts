/**
 * Synthetic labelled routing data (the JSON Lines rows `specroute router label` writes), for the router's maths and
 * CLI tests: prompts of two kinds, one the local tier handles well and one it does not, with features that see the
 * kind (the embedding's direction, first_entropy) beside features that are noise. Seeded, so tests reproduce.
 */
import { Rng } from '../../src/sampling/rng.js';

export const TEST_TOKENIZER = { vocabSize: 512, fingerprint: '0123abcd0123abcd' } as const;

export interface SyntheticRow {
  id: string;
  prompt: string;
  max_tokens: number;
  tokenizer: { vocabSize: number; fingerprint: string };
  features: Record<string, number | number[]>;
  quality: { slm: number; hybrid: number; frontier: number };
}

export function gaussian(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

const clamp = (x: number): number => Math.min(1, Math.max(0, x));

/** `n` rows; `embeddingDims` ≥ 2. The hard kind (about half) has local quality ≈ 0.3, the easy kind ≈ 0.8. */
export function syntheticRows(n: number, seed: number, embeddingDims = 8): SyntheticRow[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const hard = rng.next() < 0.5;
    const difficulty = (hard ? 1 : 0) + 0.3 * gaussian(rng);
    const raw = Array.from({ length: embeddingDims }, (_, j) => (j === 0 ? (hard ? 1 : -1) : 0) + 0.6 * gaussian(rng));
    const norm = Math.hypot(...raw);
    const hybrid = clamp(0.8 - 0.5 * difficulty + 0.08 * gaussian(rng));
    const promptTokens = 3 + Math.floor(rng.next() * 40);
    const maxTokens = 16 + Math.floor(rng.next() * 48);
    return {
      id: `p${i}`,
      prompt: `prompt ${i}`,
      max_tokens: maxTokens,
      tokenizer: { ...TEST_TOKENIZER },
      features: {
        embedding: raw.map((v) => v / norm),
        prompt_mean_logprob: -2 + 0.5 * gaussian(rng),
        prompt_mean_entropy: 3 + 0.5 * gaussian(rng),
        first_entropy: 1.5 + 0.8 * difficulty + 0.3 * gaussian(rng),
        first_margin: clamp(0.3 + 0.1 * gaussian(rng)),
        log_prompt_tokens: Math.log1p(promptTokens),
        log_max_tokens: Math.log1p(maxTokens),
      },
      quality: { slm: clamp(hybrid - 0.1), hybrid, frontier: clamp(0.95 + 0.05 * gaussian(rng)) },
    };
  });
}

export function toJsonLines(rows: readonly object[]): string {
  return rows.map((row) => JSON.stringify(row)).join('\n') + '\n';
}
