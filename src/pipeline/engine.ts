import type { ModelInfo, ModelLoadOptions, PositionScores, Tokenizer } from '../backends/types.js';
import { distOf, logprobOf, topLogprobs } from '../backends/scores.js';
import { LlamaTokenizer } from '../backends/llama/llama-tokenizer.js';
import { SpecrouteError } from '../errors/registry.js';
import type { TokenEvent, TokenEventToken, TokenSource } from '../events/token-event.js';
import { defaultSamplingParams, type SamplingParams } from '../sampling/params.js';
import { randomSeed, Rng } from '../sampling/rng.js';
import { sampleFrom } from '../sampling/token-dist.js';
import { ModelWorker, type WorkerSequence } from '../workers/model-worker-client.js';
import { acceptDraft } from './acceptance.js';
import { AdaptiveDraftLength } from './adaptive-draft-length.js';
import { defaultSpeculation, type GenerateOptions, type SpeculationOptions } from './generate-options.js';
import { StatsRecorder } from './stats.js';
import { TextAssembler } from './text-assembler.js';

export interface EngineOptions {
  /** The verifier: its output is what the user gets. */
  verifier: ModelLoadOptions;
  /** The draft. Without one, every request decodes with the verifier alone. */
  draft?: ModelLoadOptions;
  /** Default speculation settings for every request. */
  speculation?: Partial<SpeculationOptions>;
}

/** One token as a decoding loop emits it, before text assembly. */
interface EmittedToken {
  token: number;
  source: TokenSource;
  scores: PositionScores;
}

interface LoopContext {
  prompt: readonly number[];
  maxTokens: number;
  sampling: SamplingParams;
  stopTokens: number[];
  topLogprobs: number;
  speculation: SpeculationOptions;
  stats: StatsRecorder;
  signal: AbortSignal | undefined;
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
  ) {}

  static async load(options: EngineOptions): Promise<SpeculativeEngine> {
    const speculation = { ...defaultSpeculation, ...options.speculation };
    validateSpeculation(speculation, 'speculation');
    const started: Array<{ dispose(): Promise<void> }> = [];
    try {
      const [tokenizer, verifier, draft] = await Promise.all([
        LlamaTokenizer.load(options.verifier.modelPath).then((t) => (started.push(t), t)),
        ModelWorker.start(options.verifier, 'verifier').then((w) => (started.push(w), w)),
        options.draft ? ModelWorker.start(options.draft, 'draft').then((w) => (started.push(w), w)) : undefined,
      ]);
      if (draft) checkCompatible(verifier.info, draft.info);
      return new SpeculativeEngine(tokenizer, verifier, draft, speculation);
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
    validateSpeculation(speculation, 'speculation');
    const eos = this.tokenizer.eos;
    const ctx: LoopContext = {
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
    let completionTokens = 0;
    let finishReason: 'stop' | 'length' = 'length';

    const sequences = await this.openSequences(speculative);
    const onAbort = (): void => sequences.forEach((s) => s.cancel());
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      throwIfAborted(options.signal);
      const loop = speculative ? speculate(sequences[0]!, sequences[1]!, ctx) : decodePlain(sequences[0]!, ctx);
      outer: for await (const block of loop) {
        throwIfAborted(options.signal);
        for (const emitted of block) {
          ctx.stats.generated++;
          const isEos = ctx.stopTokens.includes(emitted.token);
          if (!isEos) {
            for (const event of assembler.push(this.toEvent(emitted, ctx.topLogprobs))) {
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
      await Promise.allSettled(sequences.map((s) => s.close()));
    }
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

/**
 * The speculative loop. Each block: the draft proposes up to γ tokens (one worker task), the verifier scores the
 * uncommitted tokens plus the whole draft in one batched pass, the lossless rule keeps a prefix and adds the
 * correction or bonus token, and both caches roll back to what was committed.
 */
async function* speculate(verifier: WorkerSequence, draft: WorkerSequence, ctx: LoopContext): AsyncGenerator<EmittedToken[]> {
  const { prompt, sampling, stats } = ctx;
  const rng = new Rng(sampling.seed);
  const request = { sampling, topLogprobs: Math.max(1, ctx.topLogprobs) };
  const gamma = new AdaptiveDraftLength(ctx.speculation);

  // Prefill both models at once; the first token comes from the verifier itself.
  const started = performance.now();
  const [[first]] = await Promise.all([verifier.evaluate(0, prompt, 1, request), draft.evaluate(0, prompt, 0, request)]);
  stats.prefillMs = performance.now() - started;
  const firstToken = sampleFrom(distOf(first!), rng);
  const committed = [...prompt, firstToken];
  let verifierKeep = prompt.length; // tokens the verifier's cache holds that are committed
  let draftKeep = prompt.length;
  let generated = 1;
  yield [{ token: firstToken, source: 'verifier', scores: first! }];

  while (generated < ctx.maxTokens) {
    throwIfAborted(ctx.signal);
    const budget = Math.min(gamma.current, ctx.maxTokens - generated - 1);
    let t = performance.now();
    const proposal =
      budget > 0
        ? await draft.draft({
            keep: draftKeep,
            tokens: committed.slice(draftKeep),
            maxTokens: budget,
            sampling,
            seed: rng.fork(),
            pMin: ctx.speculation.pMin,
            stopTokens: ctx.stopTokens,
          })
        : { tokens: [], q: [] };
    stats.draftMs += performance.now() - t;
    throwIfAborted(ctx.signal);

    t = performance.now();
    const scores = await verifier.evaluate(verifierKeep, [...committed.slice(verifierKeep), ...proposal.tokens], proposal.tokens.length + 1, request);
    stats.verifyMs += performance.now() - t;

    const verdict = acceptDraft(proposal.tokens, proposal.q, scores.map(distOf), rng);
    stats.block(proposal.tokens.length, verdict.accepted);
    gamma.update(proposal.tokens.length, verdict.accepted);

    const block: EmittedToken[] = proposal.tokens.slice(0, verdict.accepted).map((token, i) => ({ token, source: 'draft', scores: scores[i]! }));
    block.push({ token: verdict.next, source: verdict.nextSource, scores: scores[verdict.accepted]! });

    // Roll back: the verifier holds committed + the whole draft; the draft holds committed + all but its last token.
    const base = committed.length;
    verifierKeep = base + verdict.accepted;
    if (budget > 0) draftKeep = proposal.tokens.length > 0 ? base + Math.min(verdict.accepted, proposal.tokens.length - 1) : base;
    committed.push(...block.map((b) => b.token));
    generated += block.length;
    yield block;
  }
}

/** Verifier-only decoding (the baseline): the worker decodes and streams tokens back over a MessagePort. */
async function* decodePlain(verifier: WorkerSequence, ctx: LoopContext): AsyncGenerator<EmittedToken[]> {
  const started = performance.now();
  let first = true;
  const batches = verifier.decode({
    keep: 0,
    tokens: ctx.prompt,
    maxTokens: ctx.maxTokens,
    sampling: ctx.sampling,
    seed: ctx.sampling.seed,
    topLogprobs: Math.max(1, ctx.topLogprobs),
    stopTokens: ctx.stopTokens,
  });
  for await (const batch of batches) {
    if (first) {
      ctx.stats.prefillMs = performance.now() - started;
      first = false;
    }
    for (let i = 0; i < batch.tokens.length; i++) ctx.stats.block(0, 0);
    yield batch.tokens.map((token, i) => ({ token, source: 'verifier' as const, scores: batch.scores[i]! }));
  }
  ctx.stats.verifyMs = performance.now() - started - ctx.stats.prefillMs;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  throw reason instanceof SpecrouteError ? reason : new SpecrouteError('cancelled', 'the request was cancelled', { cause: reason });
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

function validateSpeculation(s: SpeculationOptions, param: string): void {
  const check = (ok: boolean, key: string, rule: string): void => {
    if (!ok) throw new SpecrouteError('invalid_argument', `${param}.${key} ${rule}`, { param: `${param}.${key}` });
  };
  check(Number.isInteger(s.min) && s.min >= 0, 'min', 'must be a non-negative integer');
  check(Number.isInteger(s.max) && s.max >= s.min && s.max <= 64, 'max', 'must be an integer between min and 64');
  check(Number.isInteger(s.initial) && s.initial >= 0, 'initial', 'must be a non-negative integer');
  check(s.pMin >= 0 && s.pMin <= 1, 'pMin', 'must be between 0 and 1');
}
