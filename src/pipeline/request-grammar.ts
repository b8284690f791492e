import type { Tokenizer } from '../backends/types.js';
import type { GrammarState } from '../grammar/grammar-state.js';
import { onlyAllowed } from '../sampling/token-mask.js';
import { promptBody, tokenizeContinuation } from './escalation-step.js';

/**
 * The main thread's grammar state of one constrained request: it follows the committed text (each model worker
 * holds its own, following its sequence), and answers what only the pipeline asks: which tokens the grammar
 * forces next, and how much of a frontier span it accepts (docs/ARCHITECTURE.md#structured-output).
 */
export class RequestGrammar {
  /**
   * @param prompt the prompt as the models see it, ending with `written` tokens of output that another tier already
   *   sent (a continuation's prefix), which the caller commits first.
   */
  constructor(
    private readonly state: GrammarState,
    private readonly tokenizer: Pick<Tokenizer, 'tokenize' | 'detokenize' | 'bos'>,
    private readonly prompt: readonly number[],
    private readonly written = 0,
  ) {}

  /** Whether the grammar has accepted the end of the text (a stop token). */
  get terminated(): boolean {
    return this.state.terminated;
  }

  /** Accepts committed tokens. A token the grammar refuses is a bug upstream: it throws. */
  commit(tokens: readonly number[]): void {
    for (const token of tokens) {
      if (!this.state.accept(token)) throw new Error(`grammar: committed token ${token} is not allowed after ${this.state.length} tokens`);
    }
  }

  /**
   * The tokens the grammar forces after `emitted` (the tokens committed so far), at most `limit`, accepted here
   * as they are found. Forced text (XGrammar's jump-forward string: a key, punctuation) is tokenized as the
   * tokenizer writes it after the text before it, and kept as far as the grammar accepts it; a position where
   * the grammar allows a single token (the end of sequence, once the value is complete) forces that token.
   * Both decoding modes ask this at the same tokens, so they stay equal at temperature 0.
   */
  async forced(emitted: readonly number[], limit: number): Promise<number[]> {
    const forced: number[] = [];
    while (forced.length < limit && !this.state.terminated) {
      const text = this.state.forcedText();
      if (text.length > 0) {
        const before = [...promptBody(this.tokenizer, this.prompt), ...emitted, ...forced];
        const tokens = tokenizeContinuation(this.tokenizer, before, text);
        const start = forced.length;
        for (const token of tokens) {
          if (forced.length >= limit || !this.state.accept(token)) break;
          forced.push(token);
        }
        if (forced.length > start) continue;
      }
      const only = onlyAllowed(await this.state.mask(), this.state.vocabSize);
      if (only === undefined || !this.state.accept(only)) break;
      forced.push(only);
    }
    return forced;
  }

  /**
   * How many of `tokens` (a block the models wrote after `emitted`) come before a position where the grammar
   * forces what follows. Constrained decoding by one model meets the grammar's forced tokens at every position;
   * a speculative block must stop where they begin, or a draft would write forced text its own way (`r o o m s`
   * for the key the tokenizer writes `r o om s`), and speculative output would differ from verifier-only. The
   * first token is not checked: the loop has just taken what was forced before it.
   */
  async freePrefix(emitted: readonly number[], tokens: readonly number[]): Promise<number> {
    const mark = this.state.length;
    try {
      for (let j = 0; j < tokens.length; j++) {
        if (j > 0) {
          const at = this.state.length;
          const forced = await this.forced([...emitted, ...tokens.slice(0, j)], 1);
          this.state.rollBackTo(at);
          if (forced.length > 0) return j;
        }
        if (!this.state.accept(tokens[j]!)) throw new Error(`grammar: token ${tokens[j]} of a block is not allowed`);
      }
      return tokens.length;
    } finally {
      this.state.rollBackTo(mark);
    }
  }

  /**
   * How many of `span`'s tokens, after `emitted` (every token generated so far), the grammar accepts in a row. The
   * committed text is a prefix of `emitted`: the tokens past it are a block not committed yet.
   */
  acceptedPrefix(emitted: readonly number[], span: readonly number[]): number {
    const mark = this.state.length;
    try {
      for (const token of emitted.slice(mark - this.written)) if (!this.state.accept(token)) return 0;
      let n = 0;
      while (n < span.length && this.state.accept(span[n]!)) n++;
      return n;
    } finally {
      this.state.rollBackTo(mark);
    }
  }

  dispose(): void {
    this.state.dispose();
  }
}
