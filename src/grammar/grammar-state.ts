import type { TokenMask } from '../sampling/token-mask.js';
import type { GrammarMatcher } from './xgrammar.js';

/**
 * Where a text is in its grammar: the tokens accepted so far, the mask of tokens allowed next, and the text the
 * grammar forces next. It follows a sequence the way its KV cache does: `rollBackTo(n)` keeps the first `n`
 * accepted tokens, so a rejected draft is undone exactly (docs/ARCHITECTURE.md#structured-output).
 */
export class GrammarState {
  private accepted = 0;
  private disposed = false;

  constructor(
    private readonly matcher: GrammarMatcher,
    readonly vocabSize: number,
  ) {}

  /** Tokens accepted since the grammar's start. */
  get length(): number {
    return this.accepted;
  }

  /** Accepts `token` when the grammar allows it next; false (and no change) otherwise. */
  accept(token: number): boolean {
    if (this.terminated || !this.matcher.acceptToken(token)) return false;
    this.accepted++;
    return true;
  }

  /** Keeps the first `n` accepted tokens. */
  rollBackTo(n: number): void {
    if (n < 0) throw new RangeError(`grammar: cannot roll back to ${n} tokens`);
    if (n >= this.accepted) return;
    this.matcher.rollBack(this.accepted - n);
    this.accepted = n;
  }

  /**
   * The tokens allowed next (XGrammar caches masks per grammar state). Throws once the grammar has ended: XGrammar
   * aborts its whole WebAssembly instance when asked then.
   */
  async mask(): Promise<TokenMask> {
    if (this.terminated) throw new Error('grammar: no token may follow the end of the text');
    return this.matcher.getNextTokenBitmask();
  }

  /** Whether the grammar is complete and has accepted its end (a stop token). */
  get terminated(): boolean {
    return this.matcher.isTerminated();
  }

  /** The text the grammar allows as the only continuation from here (empty when there is a choice). */
  forcedText(): string {
    if (this.terminated) return '';
    return this.matcher.findJumpForwardString();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.matcher.dispose();
  }
}
