import type { ModelInfo, ModelLoadOptions } from '../backends/types.js';
import { entropyOf, logprobOf, topLogprobs } from '../backends/scores.js';
import { LlamaTokenizer } from '../backends/llama/llama-tokenizer.js';
import { tokenizerPathFor } from '../models/onnx/tokenizer-path.js';
import { SpecrouteError } from '../errors/registry.js';
import type { Escalator, EscalationSession } from '../escalation/escalator.js';
import type { TokenEvent, TokenEventEscalation, TokenEventToken } from '../events/token-event.js';
import { defaultSamplingParams, type SamplingParams } from '../sampling/params.js';
import { randomSeed } from '../sampling/rng.js';
import { ModelWorker, type WorkerSequence } from '../workers/model-worker-client.js';
import { throwIfAborted, type EmittedToken, type LoopCommand, type LoopContext } from './decode-loop.js';
import { defaultSpeculation, validateSpeculation, type GenerateOptions, type SpeculationOptions } from './generate-options.js';
import { decodePlain } from './plain-loop.js';
import { speculate } from './speculative-loop.js';
import { StatsRecorder } from './stats.js';
import { TextAssembler } from './text-assembler.js';

export interface EngineOptions {
  /** The verifier: its output is what the user gets. */
  verifier: ModelLoadOptions;
  /** The draft. Without one, every request decodes with the verifier alone. */
  draft?: ModelLoadOptions;
  /** Default speculation settings for every request. */
  speculation?: Partial<SpeculationOptions>;
  /** The frontier behind its guards. Without one, requests never escalate. */
  escalator?: Escalator;
}

/**
 * The speculative pipeline: a draft worker, a verifier worker and the main-thread tokenizer. `generate` runs one
 * request as an async generator of `TokenEvent`s; many requests can run at once (one sequence each).
 */
export class SpeculativeEngine {
  private disposed = false;

  private constructor(
    readonly tokenizer: LlamaTokenizer,
    readonly verifier: ModelWorker,
    readonly draft: ModelWorker | undefined,
    readonly speculation: SpeculationOptions,
    readonly escalator: Escalator | undefined,
  ) {}

  static async load(options: EngineOptions): Promise<SpeculativeEngine> {
    const speculation = { ...defaultSpeculation, ...options.speculation };
    validateSpeculation(speculation);
    const started: Array<{ dispose(): Promise<void> }> = [];
    try {
      const [tokenizer, verifier, draft] = await Promise.all([
        LlamaTokenizer.load(tokenizerPathFor(options.verifier)).then((t) => (started.push(t), t)),
        ModelWorker.start(options.verifier, 'verifier').then((w) => (started.push(w), w)),
        options.draft ? ModelWorker.start(options.draft, 'draft').then((w) => (started.push(w), w)) : undefined,
      ]);
      if (draft) checkCompatible(verifier.info, draft.info);
      return new SpeculativeEngine(tokenizer, verifier, draft, speculation, options.escalator);
    } catch (error) {
      await Promise.allSettled(started.map((s) => s.dispose()));
      throw error;
    }
  }

  /** The prompt's tokens with BOS prepended when the model has one. */
  encodePrompt(text: string): number[] {
    const tokens = this.tokenizer.tokenize(text);
    return this.tokenizer.bos !== null ? [this.tokenizer.bos, ...tokens] : tokens;
  }

  get contextSize(): number {
    return Math.min(this.verifier.info.contextSize, this.draft?.info.contextSize ?? Infinity);
  }

  /**
   * Runs one generation. Yields token events as soon as their text is safe to show, then one `done` event with
   * usage and speculation stats. Aborting `options.signal` stops it within one verifier pass and frees its
   * sequences; the generator then throws the abort reason (a `SpecrouteError`).
   */
  async *generate(options: GenerateOptions): AsyncGenerator<TokenEvent> {
    if (this.disposed) throw new SpecrouteError('shutting_down', 'the engine is shutting down');
    const sampling: SamplingParams = { ...defaultSamplingParams, seed: randomSeed(), ...options.sampling };
    const maxTokens = options.maxTokens ?? 256;
    const prompt = options.promptTokens;
    if (prompt.length === 0) throw new SpecrouteError('invalid_argument', 'the prompt is empty', { param: 'prompt' });
    if (prompt.length + maxTokens > this.contextSize) {
      throw new SpecrouteError(
        'context_length_exceeded',
        `the prompt (${prompt.length} tokens) plus max_tokens (${maxTokens}) exceeds the context size (${this.contextSize} tokens)`,
        { param: prompt.length >= this.contextSize ? 'prompt' : 'max_tokens' },
      );
    }
    const speculative = this.draft !== undefined && options.speculation !== false;
    const speculation = { ...this.speculation, ...(options.speculation || {}) };
    validateSpeculation(speculation);
    const eos = this.tokenizer.eos;
    const ctx: LoopContext & { topLogprobs: number } = {
      prompt,
      maxTokens,
      sampling,
      stopTokens: [...(eos !== null && !options.ignoreEos ? [eos] : []), ...(options.stopTokenIds ?? [])],
      topLogprobs: options.topLogprobs ?? 0,
      speculation,
      stats: new StatsRecorder(speculative ? 'speculative' : 'verifier-only'),
      signal: options.signal,
    };
    const assembler = new TextAssembler(this.tokenizer, options.stop ?? [], prompt);
    const escalation = this.escalator && options.escalation !== false ? this.escalator.session(options.escalation || {}) : undefined;
    if (escalation) ctx.topLogprobs = Math.max(ctx.topLogprobs, 8); // enough of the distribution for an entropy estimate
    const emitted: number[] = [];
    let completionTokens = 0;
    let finishReason: 'stop' | 'length' = 'length';

    const sequences = await this.openSequences(speculative);
    const onAbort = (): void => sequences.forEach((s) => s.cancel());
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const loop = speculative ? speculate(sequences[0]!, sequences[1]!, ctx) : decodePlain(sequences[0]!, ctx);
    try {
      throwIfAborted(options.signal);
      let command: LoopCommand | undefined;
      outer: for (;;) {
        const next = await loop.next(command);
        command = undefined;
        if (next.done) break;
        throwIfAborted(options.signal);
        const block = next.value;
        for (const [i, token] of block.entries()) {
          if (escalation && token.source !== 'frontier' && this.shouldEscalate(escalation, token)) {
            const outcome = await this.escalate(escalation, prompt, emitted, ctx, options.signal);
            throwIfAborted(options.signal);
            yield outcome.event;
            if (outcome.splice.length > 0) {
              command = { cut: i, splice: outcome.splice };
              break;
            }
          }
          ctx.stats.generated++;
          ctx.stats.bySource[token.source]++;
          emitted.push(token.token);
          const isEos = ctx.stopTokens.includes(token.token);
          if (!isEos) {
            for (const event of assembler.push(this.toEvent(token, options.topLogprobs ?? 0))) {
              completionTokens += event.tokenIds.length;
              yield event;
              throwIfAborted(options.signal); // the consumer may abort while it holds this event
            }
          }
          if (isEos || assembler.hasStopped) {
            finishReason = 'stop';
            break outer;
          }
        }
      }
      throwIfAborted(options.signal);
      for (const event of assembler.flush()) {
        completionTokens += event.tokenIds.length;
        yield event;
      }
      yield {
        kind: 'done',
        finishReason,
        usage: { promptTokens: prompt.length, completionTokens, totalTokens: prompt.length + completionTokens },
        stats: ctx.stats.finish(),
      };
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      sequences.forEach((s) => s.cancel()); // stop any worker loop still running for this request
      await loop.return().catch(() => undefined); // let the loop's own cleanup run (a plain decode awaits its worker task)
      await Promise.allSettled(sequences.map((s) => s.close()));
    }
  }

  private shouldEscalate(session: EscalationSession, token: EmittedToken): boolean {
    const [first, second] = topLogprobs(token.scores, 2);
    const topProb = Math.exp(first?.logprob ?? 0);
    const margin = topProb - Math.exp(second?.logprob ?? -Infinity);
    return session.policy.observe({ topProb, margin, entropy: entropyOf(token.scores, this.tokenizer.vocabSize) });
  }

  /**
   * Asks the frontier to continue the text so far. Returns the event that tells the client what happened and
   * the span as local tokens (empty when skipped): the frontier's text re-tokenized with the local tokenizer,
   * in the context of the tokens before it so word boundaries come out as the local model would write them.
   */
  private async escalate(
    session: EscalationSession,
    prompt: readonly number[],
    emitted: readonly number[],
    ctx: LoopContext,
    signal: AbortSignal | undefined,
  ): Promise<{ event: TokenEventEscalation; splice: number[] }> {
    session.policy.escalated();
    const body = prompt[0] === this.tokenizer.bos ? prompt.slice(1) : prompt;
    const text = this.tokenizer.detokenize([...body, ...emitted]);
    const outcome = await session.escalate(
      { text, temperature: ctx.sampling.temperature, approxInputTokens: prompt.length + emitted.length },
      signal,
    );
    if (outcome.kind === 'skipped') {
      ctx.stats.skipped[outcome.reason] = (ctx.stats.skipped[outcome.reason] ?? 0) + 1;
      return {
        event: { kind: 'escalation', status: 'skipped', reason: outcome.reason, latencyMs: outcome.latencyMs, attempts: outcome.attempts, frontierTokens: 0, splicedTokens: 0 },
        splice: [],
      };
    }
    const splice = this.tokenizeContinuation([...body, ...emitted], outcome.text);
    ctx.stats.escalations++;
    return {
      event: { kind: 'escalation', status: 'spliced', latencyMs: outcome.latencyMs, attempts: outcome.attempts, frontierTokens: outcome.frontierTokens, splicedTokens: splice.length },
      splice,
    };
  }

  /**
   * Tokens of `continuation` as they follow `before`. SentencePiece-style tokenizers mark word starts and add a
   * prefix space, so the text cannot be tokenized on its own: it is tokenized together with a tail of `before`
   * that re-tokenizes to itself (a clean boundary), and the tail's tokens are dropped.
   */
  private tokenizeContinuation(before: readonly number[], continuation: string): number[] {
    for (const size of [8, 16, 32, 64, before.length]) {
      const tail = before.slice(-size);
      const together = this.tokenizer.tokenize(this.tokenizer.detokenize(tail) + continuation);
      if (tail.every((t, i) => together[i] === t)) return together.slice(tail.length);
      if (size >= before.length) break;
    }
    return this.tokenizer.tokenize(continuation);
  }

  private async openSequences(speculative: boolean): Promise<WorkerSequence[]> {
    const workers = speculative ? [this.verifier, this.draft!] : [this.verifier];
    const opened = await Promise.allSettled(workers.map((w) => w.open()));
    const sequences = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failure = opened.find((r) => r.status === 'rejected');
    if (failure) {
      await Promise.allSettled(sequences.map((s) => s.close()));
      throw failure.reason;
    }
    return sequences;
  }

  private toEvent(emitted: EmittedToken, topN: number): Omit<TokenEventToken, 'text'> {
    const top = topN > 0 ? { topLogprobs: topLogprobs(emitted.scores, topN) } : {};
    return { kind: 'token', tokenIds: [emitted.token], source: emitted.source, logprob: logprobOf(emitted.scores, emitted.token), ...top };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.allSettled([this.verifier.dispose(), this.draft?.dispose(), this.tokenizer.dispose()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

function checkCompatible(verifier: ModelInfo, draft: ModelInfo): void {
  if (verifier.vocabSize !== draft.vocabSize) {
    throw new SpecrouteError(
      'unsupported_model',
      `the draft's vocabulary (${draft.vocabSize} tokens) differs from the verifier's (${verifier.vocabSize}); a draft must share the verifier's tokenizer`,
      { param: 'draft' },
    );
  }
}
