/**
 * The grammar's cost per position, as a model worker pays it: a `GrammarState` walked along a real output, the
 * mask of allowed tokens computed (`mask()`) and the token accepted (`accept()`) at each position, both timed;
 * and the compile time of each schema, first and cached. One vocabulary (one model file's tokenizer) per call.
 */
import type { LlamaTokenizer } from '../../src/backends/llama/llama-tokenizer.js';
import { GrammarCompiler } from '../../src/grammar/grammar-compiler.js';
import type { GrammarSpec } from '../../src/grammar/grammar-spec.js';
import { endsInsideString } from './json-string-state.js';

/** An output to walk: the tokens of one generated text, in the vocabulary being measured. */
export interface WalkSequence {
  readonly case: string;
  readonly spec: GrammarSpec;
  readonly tokens: readonly number[];
}

/** One timed position of a walk. */
export interface MaskSample {
  readonly us: number;
  /** Whether the text before this position ends inside a JSON string (a key or a string value). */
  readonly inString: boolean;
  /** Which walk of the sequence (0 = the first on a fresh matcher of a compiled grammar already cached). */
  readonly walk: number;
}

export interface MaskWalkResult {
  readonly vocabSize: number;
  /** `GrammarCompiler.create` (XGrammar's tokenizer info and compiler for this vocabulary), ms. */
  readonly compilerCreateMs: number;
  /** Per case: `start(spec)` on the fresh compiler (compile + matcher), then the median of cached starts, ms. */
  readonly compile: ReadonlyArray<{ readonly case: string; readonly firstMs: number; readonly cachedMs: number }>;
  readonly masks: readonly MaskSample[];
  /** Microseconds of each `accept()`. */
  readonly acceptUs: readonly number[];
  /** Sequences walked, and those the grammar refused a token of (the walk stops there; its positions count). */
  readonly sequences: number;
  readonly refused: ReadonlyArray<{ readonly case: string; readonly at: number; readonly token: number }>;
}

const now = (): bigint => process.hrtime.bigint();
const usSince = (start: bigint): number => Number(now() - start) / 1000;

/**
 * Measures `tokenizer`'s vocabulary: compile times of `specs` (in order), then every sequence walked `walks` times,
 * each walk on a fresh grammar state. The position after the last token is timed too when the grammar has not
 * ended (where a complete value allows only the end of sequence).
 */
export async function measureMaskWalks(
  tokenizer: LlamaTokenizer,
  specs: ReadonlyArray<{ readonly case: string; readonly spec: GrammarSpec }>,
  sequences: readonly WalkSequence[],
  options: { readonly walks: number; readonly cachedStarts: number },
): Promise<MaskWalkResult> {
  const vocabulary = tokenizer.grammarVocabulary();
  if (!vocabulary) throw new Error('the model file lists no tokens (tokenizer.ggml.tokens)');
  let start = now();
  const compiler = await GrammarCompiler.create(vocabulary);
  const compilerCreateMs = usSince(start) / 1000;
  try {
    const compile: Array<{ case: string; firstMs: number; cachedMs: number }> = [];
    for (const { case: name, spec } of specs) {
      start = now();
      (await compiler.start(spec)).dispose();
      const firstMs = usSince(start) / 1000;
      const cached: number[] = [];
      for (let i = 0; i < options.cachedStarts; i++) {
        start = now();
        (await compiler.start(spec)).dispose();
        cached.push(usSince(start) / 1000);
      }
      compile.push({ case: name, firstMs, cachedMs: cached.sort((a, b) => a - b)[Math.floor(cached.length / 2)] ?? Number.NaN });
    }

    const masks: MaskSample[] = [];
    const acceptUs: number[] = [];
    const refused: Array<{ case: string; at: number; token: number }> = [];
    for (const sequence of sequences) {
      // Whether each position starts inside a string, from the text of the tokens before it.
      const inString = sequence.tokens.map((_, i) => endsInsideString(tokenizer.detokenize(sequence.tokens.slice(0, i))));
      inString.push(endsInsideString(tokenizer.detokenize(sequence.tokens)));
      for (let walk = 0; walk < options.walks; walk++) {
        const state = await compiler.start(sequence.spec);
        try {
          let at = 0;
          for (; at <= sequence.tokens.length && !state.terminated; at++) {
            start = now();
            await state.mask();
            masks.push({ us: usSince(start), inString: inString[at]!, walk });
            const token = sequence.tokens[at];
            if (token === undefined) break;
            start = now();
            const ok = state.accept(token);
            acceptUs.push(usSince(start));
            if (!ok) {
              if (walk === 0) refused.push({ case: sequence.case, at, token });
              break;
            }
          }
        } finally {
          state.dispose();
        }
      }
    }
    return { vocabSize: vocabulary.vocabSize, compilerCreateMs, compile, masks, acceptUs, sequences: sequences.length, refused };
  } finally {
    compiler.dispose();
  }
}
