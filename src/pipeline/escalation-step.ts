import { entropyOf, topLogprobs } from '../backends/scores.js';
import type { Tokenizer } from '../backends/types.js';
import type { EscalationSession } from '../escalation/escalator.js';
import type { TokenEventEscalation } from '../events/token-event.js';
import type { EmittedToken, LoopContext } from './decode-loop.js';

/**
 * The escalation step of one request: asks the policy about each position the loop is about to emit, and when
 * it says so, asks the frontier to continue the text and turns its answer into local tokens to splice in.
 */
export class EscalationStep {
  constructor(
    private readonly session: EscalationSession,
    private readonly tokenizer: Pick<Tokenizer, 'tokenize' | 'detokenize' | 'bos' | 'vocabSize'>,
  ) {}

  /** Whether to escalate before emitting `token`: the verifier's confidence, margin and entropy at its position. */
  shouldEscalate(token: EmittedToken): boolean {
    if (token.source === 'frontier' || token.scores === null) return false; // spliced, or forced by the grammar
    const [first, second] = topLogprobs(token.scores, 2);
    const topProb = Math.exp(first?.logprob ?? 0);
    const margin = topProb - Math.exp(second?.logprob ?? -Infinity);
    return this.session.policy.observe({ topProb, margin, entropy: entropyOf(token.scores, this.tokenizer.vocabSize) });
  }

  /**
   * Asks the frontier to continue the text so far. Returns the event that tells the client what happened and
   * the span as local tokens (empty when skipped): the frontier's text re-tokenized with the local tokenizer,
   * in the context of the tokens before it so word boundaries come out as the local model would write them; and
   * what the call cost.
   */
  async escalate(
    prompt: readonly number[],
    emitted: readonly number[],
    ctx: LoopContext,
    /** With a grammar: how many of the span's tokens it accepts in a row; the span is cut there. */
    acceptedPrefix?: (span: readonly number[]) => number,
  ): Promise<{ event: TokenEventEscalation; splice: number[]; cost: number }> {
    this.session.policy.escalated();
    const body = promptBody(this.tokenizer, prompt);
    const text = this.tokenizer.detokenize([...body, ...emitted]);
    const outcome = await this.session.escalate(
      { text, temperature: ctx.sampling.temperature, approxInputTokens: prompt.length + emitted.length },
      ctx.signal,
    );
    const skipped = (reason: string, frontierTokens: number) => {
      ctx.stats.skipped[reason] = (ctx.stats.skipped[reason] ?? 0) + 1;
      return {
        event: { kind: 'escalation', status: 'skipped', reason, latencyMs: outcome.latencyMs, attempts: outcome.attempts, frontierTokens, splicedTokens: 0 } as const,
        splice: [],
        cost: outcome.cost,
      };
    };
    if (outcome.kind === 'skipped') return skipped(outcome.reason, 0);
    let splice = tokenizeContinuation(this.tokenizer, [...body, ...emitted], outcome.text);
    // A grammar keeps the output valid: the span is cut at the last token it accepts, or skipped.
    if (acceptedPrefix) splice = splice.slice(0, acceptedPrefix(splice));
    if (splice.length === 0) return skipped('grammar', outcome.frontierTokens);
    ctx.stats.escalations++;
    return {
      event: { kind: 'escalation', status: 'spliced', latencyMs: outcome.latencyMs, attempts: outcome.attempts, frontierTokens: outcome.frontierTokens, splicedTokens: splice.length },
      splice,
      cost: outcome.cost,
    };
  }
}

/** The prompt's tokens without the beginning-of-sequence token: what its text detokenizes from. */
export function promptBody(tokenizer: Pick<Tokenizer, 'bos'>, prompt: readonly number[]): readonly number[] {
  return prompt[0] === tokenizer.bos ? prompt.slice(1) : prompt;
}

/**
 * Tokens of `continuation` as they follow `before`. SentencePiece-style tokenizers mark word starts and add a
 * prefix space, so the text cannot be tokenized on its own: it is tokenized together with a tail of `before`
 * that re-tokenizes to itself (a clean boundary), and the tail's tokens are dropped. Where no tail does (text
 * such as JSON, whose tail does not start a word), it is tokenized after a newline, which no token spans, so the
 * prefix space lands before the newline rather than in the continuation.
 */
export function tokenizeContinuation(tokenizer: Pick<Tokenizer, 'tokenize' | 'detokenize'>, before: readonly number[], continuation: string): number[] {
  for (const size of [8, 16, 32, 64, before.length]) {
    const tail = before.slice(-size);
    const together = tokenizer.tokenize(tokenizer.detokenize(tail) + continuation);
    if (tail.every((t, i) => together[i] === t)) return together.slice(tail.length);
    if (size >= before.length) break;
  }
  const newline = tokenizer.tokenize(NEWLINE);
  const after = tokenizer.tokenize(NEWLINE + continuation);
  if (newline.length > 0 && newline.every((t, i) => after[i] === t)) return after.slice(newline.length);
  return tokenizer.tokenize(continuation);
}

const NEWLINE = '\n';
