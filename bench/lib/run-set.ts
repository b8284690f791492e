/** Runs a set of prompts through a `SpeculativeEngine` and totals what its `done` events measured. */
import type { SpeculativeEngine } from '../../src/pipeline/engine.js';
import type { SpeculationOptions } from '../../src/pipeline/adaptive-draft-length.js';
import type { SpeculationStats } from '../../src/events/speculation-stats.js';
import type { SamplingParams } from '../../src/sampling/params.js';

/** Options of `runPromptSet`. */
export interface PromptSetOptions {
  /** Prompts as tokens (BOS included: `engine.encodePrompt`). */
  prompts: ReadonlyArray<readonly number[]>;
  maxTokens: number;
  sampling: SamplingParams;
  /** `false`: verifier-only decoding; otherwise overrides of the engine's speculation settings. */
  speculation: false | Partial<SpeculationOptions>;
  /** Keep generating past EOS so every prompt yields exactly `maxTokens`. Defaults to `true`. */
  ignoreEos?: boolean;
}

/** One pass over a prompt set. */
export interface PromptSetRun {
  /** Each prompt's stats, in prompt order. */
  readonly stats: SpeculationStats[];
  /** Each prompt's generated token ids. */
  readonly tokens: number[][];
  /** Tokens decoded after each prompt's first token (which comes with the prefill), summed. */
  readonly decodeTokens: number;
  /** Time after each prompt's prefill, summed (ms). */
  readonly decodeMs: number;
  /** decodeTokens / decodeMs, per second: the decode-phase throughput, like `SpeculationStats.tokensPerSecond`. */
  readonly tokensPerSecond: number;
  /** Wall time of the whole set (ms), prefill and everything else included. */
  readonly wallMs: number;
}

/** Generates each prompt in turn (one request at a time) and totals the decode phase. */
export async function runPromptSet(engine: SpeculativeEngine, options: PromptSetOptions): Promise<PromptSetRun> {
  const started = performance.now();
  const stats: SpeculationStats[] = [];
  const tokens: number[][] = [];
  for (const promptTokens of options.prompts) {
    const ids: number[] = [];
    let done: SpeculationStats | undefined;
    for await (const event of engine.generateFromTokens(promptTokens, {
      maxTokens: options.maxTokens,
      sampling: options.sampling,
      ignoreEos: options.ignoreEos ?? true,
      speculation: options.speculation,
    })) {
      if (event.kind === 'token') ids.push(...event.tokenIds);
      else if (event.kind === 'done') done = event.stats;
    }
    if (!done) throw new Error('the generation ended without a done event');
    stats.push(done);
    tokens.push(ids);
  }
  const decodeTokens = stats.reduce((sum, s) => sum + Math.max(0, s.generatedTokens - 1), 0);
  const decodeMs = stats.reduce((sum, s) => sum + (s.timeMs.total - s.timeMs.prefill), 0);
  return { stats, tokens, decodeTokens, decodeMs, tokensPerSecond: (decodeTokens * 1000) / decodeMs, wallMs: performance.now() - started };
}
