/**
 * The pair's acceptance rate α, measured by running the real pair (the engine, its workers, the speculative loop)
 * greedily over a few short prompts with a fixed draft length. α is the per-token acceptance probability of the
 * model behind E = (1 − α^(γ+1)) / (1 − α): the accepted tokens over the accepted tokens plus the blocks that
 * ended in a rejection (the maximum-likelihood estimate for that model), not accepted / drafted, which counts the
 * tokens drafted after a rejection as rejected too and so under-states α as γ grows.
 */
import type { ModelLoadOptions } from '../backends/types.js';
import { SpeculativeEngine } from '../pipeline/engine.js';

/** Short story openings (the kind of text stories260K was trained on, and ordinary English for other models). */
export const ALPHA_PROMPTS: readonly string[] = [
  'Once upon a time, there was a little girl named Lily.',
  'One day, a big dog went to the park with his friend.',
  'Tom had a red ball. He liked to play with it every day.',
  'The sun was shining and the birds were singing in the tall tree.',
  'Mom said, "Let us bake a cake for the party."',
  'There was a small boat on the lake. It was old and',
];

export interface AlphaOptions {
  readonly verifier: ModelLoadOptions;
  readonly draft: ModelLoadOptions;
  /** Tokens generated per prompt. Defaults to `64`. */
  readonly maxTokens?: number;
  /** The fixed draft length. Defaults to `4`. */
  readonly gamma?: number;
  /** Defaults to `ALPHA_PROMPTS`. */
  readonly prompts?: readonly string[];
}

export interface AlphaMeasurement {
  /** accepted / (accepted + rejected blocks); 1 when no block was rejected. */
  readonly alpha: number;
  /** accepted / drafted, as the stats report it. */
  readonly acceptanceRate: number;
  readonly drafted: number;
  readonly accepted: number;
  readonly draftBlocks: number;
  readonly rejectedBlocks: number;
  readonly generatedTokens: number;
  readonly prompts: number;
  readonly gamma: number;
  readonly ms: number;
}

export async function measureAlpha(options: AlphaOptions): Promise<AlphaMeasurement> {
  const gamma = options.gamma ?? 4;
  const prompts = options.prompts ?? ALPHA_PROMPTS;
  const started = performance.now();
  const engine = await SpeculativeEngine.load({
    verifier: { ...options.verifier, sequences: 1 },
    draft: { ...options.draft, sequences: 1 },
    speculation: { min: 0, max: gamma, initial: gamma, adaptive: false, pMin: 0 },
  });
  try {
    let drafted = 0;
    let accepted = 0;
    let draftBlocks = 0;
    let fullBlocks = 0;
    let generatedTokens = 0;
    for (const prompt of prompts) {
      for await (const event of engine.generateFromTokens(engine.encodePrompt(prompt), { maxTokens: options.maxTokens ?? 64, sampling: { temperature: 0 } })) {
        if (event.kind !== 'done') continue;
        drafted += event.stats.drafted;
        accepted += event.stats.accepted;
        draftBlocks += event.stats.draftBlocks;
        fullBlocks += event.stats.fullyAcceptedBlocks;
        generatedTokens += event.stats.generatedTokens;
      }
    }
    const rejectedBlocks = draftBlocks - fullBlocks;
    return {
      alpha: accepted + rejectedBlocks > 0 ? accepted / (accepted + rejectedBlocks) : 0,
      acceptanceRate: drafted > 0 ? accepted / drafted : 0,
      drafted,
      accepted,
      draftBlocks,
      rejectedBlocks,
      generatedTokens,
      prompts: prompts.length,
      gamma,
      ms: performance.now() - started,
    };
  } finally {
    await engine.dispose();
  }
}
