import type { BackendSequence, PositionScores, ScoreRequest } from '../backends/types.js';
import type { GrammarState } from '../grammar/grammar-state.js';
import { onlyAllowed, type TokenMask } from '../sampling/token-mask.js';

/**
 * A sequence whose output follows a grammar from token index `start` on. Each evaluation rolls the grammar back
 * to the tokens the cache keeps, walks it along the appended tokens, and hands the backend the mask of every
 * scored position, so both models are masked by the same grammar at the same tokens
 * (docs/ARCHITECTURE.md#structured-output). Tokens the grammar refuses are a bug in the caller: they throw.
 */
export class ConstrainedSequence implements BackendSequence {
  /**
   * Whether the grammar forces what follows the last evaluated token (a lone allowed token, or forced text). The
   * pipeline emits forced tokens itself, so a draft stops proposing there (the loop would cut the block anyway).
   */
  forcesNext = false;

  constructor(
    private readonly inner: BackendSequence,
    private readonly grammar: GrammarState,
    private readonly start: number,
  ) {}

  get length(): number {
    return this.inner.length;
  }

  async evaluate(keep: number, tokens: readonly number[], scoreLast: number, request: ScoreRequest): Promise<PositionScores[]> {
    this.grammar.rollBackTo(Math.max(0, keep - this.start));
    const firstScored = tokens.length - scoreLast;
    const masks: Array<TokenMask | undefined> = [];
    for (const [i, token] of tokens.entries()) {
      const index = keep + i;
      if (index >= this.start && !this.grammar.accept(token)) {
        throw new Error(`grammar: token ${token} at index ${index} is not allowed (${this.grammar.length} tokens into the grammar)`);
      }
      // The scores after token `index` are for the token at index + 1; none may follow the grammar's end, and the
      // caller stops there, so that position is left unmasked.
      if (i >= firstScored) masks.push(index + 1 >= this.start && !this.grammar.terminated ? await this.grammar.mask() : undefined);
    }
    const last = masks[masks.length - 1];
    this.forcesNext = last !== undefined && (onlyAllowed(last, this.grammar.vocabSize) !== undefined || this.grammar.forcedText() !== '');
    return this.inner.evaluate(keep, tokens, scoreLast, { ...request, masks });
  }

  async dispose(): Promise<void> {
    this.grammar.dispose();
    await this.inner.dispose();
  }
}
