import type { ModelInfo, ModelLoadOptions } from '../backends/types.js';
import { logprobOf, topLogprobs } from '../backends/scores.js';
import type { LlamaTokenizer } from '../backends/llama/llama-tokenizer.js';
import { loadTokenizer } from '../backends/load-tokenizer.js';
import type { GenerationRequest, PromptInput } from '../contract/generation-request.js';
import type { EncodedPrompt, GenerateOptions, Generator } from '../contract/generator.js';
import { checkSpeculationBounds } from '../contract/check-settings.js';
import { abortReason, SpecrouteError } from '../errors/registry.js';
import type { Escalator } from '../escalation/escalator.js';
import type { TokenEvent, TokenEventToken } from '../events/token-event.js';
import { defaultSamplingParams, type SamplingParams } from '../sampling/params.js';
import { ModelWorker, type ModelWorkerOptions, type WorkerSequence } from '../workers/model-worker-client.js';
import { acceptDraft, type AcceptanceRule } from './acceptance.js';
import { defaultSpeculation, type SpeculationOptions } from './adaptive-draft-length.js';
import { throwIfAborted, type EmittedToken, type LoopCommand, type LoopContext } from './decode-loop.js';
import { defaultBatching, LockStep, type BatchingOptions } from './lock-step.js';
import { LoadGamma } from './load-gamma.js';
import { calibrateSteps } from './step-calibration.js';
import { EscalationStep, promptBody, tokenizeContinuation } from './escalation-step.js';
import { decodePlain } from './plain-loop.js';
import { planRequest, type EngineDefaults } from './request-plan.js';
import { speculate } from './speculative-loop.js';
import { StatsRecorder } from './stats.js';
import { GrammarCompiler } from '../grammar/grammar-compiler.js';
import type { GrammarSpec } from '../grammar/grammar-spec.js';
import { RequestGrammar } from './request-grammar.js';
import { toolCallEvents } from './tool-call-events.js';
import { TextAssembler } from './text-assembler.js';

/** A request's settings without its model and prompt. */
export type RequestSettings = Omit<GenerationRequest, 'model' | 'input'>;

export interface EngineOptions {
  /** The verifier: its output is what the user gets. */
  verifier: ModelLoadOptions;
  /** The draft. Without one, every request decodes with the verifier alone. */
  draft?: ModelLoadOptions;
  /** Default speculation settings for every request. Defaults to the request settings' defaults. */
  speculation?: Partial<SpeculationOptions>;
  /** Default sampling settings for every request. Defaults to the request settings' defaults (greedy). */
  sampling?: Partial<Omit<SamplingParams, 'seed'>>;
  /** The frontier behind its guards. Without one, requests never escalate. */
  escalator?: Escalator;
  /**
   * How requests share the models' passes: lock-step steps, prefill chunks, and the step costs that make
   * speculation adapt to load. Defaults to `defaultBatching` (lock-step, no profile).
   */
  batching?: Partial<BatchingOptions>;
  /**
   * The acceptance rule of the speculative loop. A seam for tests only: they run the whole engine with a
   * deliberately broken rule to show that their statistical checks would catch one
   * (test/modelDependent/stories260K/lossless-sampling.test.ts). Nothing in the product sets it; any other rule
   * loses the guarantee that the output is distributed as the verifier's (docs/ARCHITECTURE.md#lossless-speculative-sampling).
   *
   * Defaults to `acceptDraft`.
   */
  acceptance?: AcceptanceRule;
  /** How both model workers report and wait out their restarts (docs/ARCHITECTURE.md#workers-that-recover). Defaults to `{}`. */
  workers?: ModelWorkerOptions;
}

/**
 * The speculative pipeline: a draft worker, a verifier worker and the main-thread tokenizer. `generate` runs one
 * request as an async generator of `TokenEvent`s; many requests can run at once (one sequence each).
 */
export class SpeculativeEngine implements Generator {
  private disposed = false;
  /** Generations with their sequences open, on either tier. */
  private generating = 0;
  /** The main thread's grammar compiler, made on the first constrained request. */
  private grammars: Promise<GrammarCompiler> | undefined;

  private constructor(
    readonly tokenizer: LlamaTokenizer,
    readonly verifier: ModelWorker,
    readonly draft: ModelWorker | undefined,
    readonly defaults: EngineDefaults,
    readonly escalator: Escalator | undefined,
    private readonly acceptance: AcceptanceRule,
    /** The lock-step steps of this pair; undefined when requests step on their own (`batching.lockStep: false`). */
    readonly lockStep: LockStep | undefined,
  ) {}

  static async load(options: EngineOptions): Promise<SpeculativeEngine> {
    const defaults: EngineDefaults = {
      speculation: { ...defaultSpeculation, ...options.speculation },
      sampling: { ...defaultSamplingParams, ...options.sampling },
    };
    checkSpeculationBounds(defaults.speculation, 'speculation');
    const started: Array<{ dispose(): Promise<void> }> = [];
    try {
      const [tokenizer, verifier, draft] = await Promise.all([
        loadTokenizer(options.verifier).then((t) => (started.push(t), t)),
        ModelWorker.start(options.verifier, 'verifier', options.workers).then((w) => (started.push(w), w)),
        options.draft ? ModelWorker.start(options.draft, 'draft', options.workers).then((w) => (started.push(w), w)) : undefined,
      ]);
      if (draft) checkCompatible(verifier.info, draft.info);
      const batching = { ...defaultBatching, ...options.batching };
      const maxGamma = defaults.speculation.max;
      // Speculation adapts to load from a profile, or else from step costs measured now (docs/ARCHITECTURE.md#speculation-that-adapts-to-load).
      const calibrated = !batching.profile && batching.calibrate && batching.lockStep && draft && maxGamma > 0;
      const profile = batching.profile ?? (calibrated ? await calibrateSteps(verifier, draft, { sequences: options.verifier.sequences, maxGamma }) : null);
      const loadGamma =
        profile && draft
          ? new LoadGamma({ profile, maxBatch: Math.max(options.verifier.sequences, profile.gammaByBatchSize.length), maxGamma, ...(calibrated ? { alphaWeight: 8 } : {}) })
          : undefined;
      const lockStep = batching.lockStep ? new LockStep({ gatherMs: batching.gatherMs, prefillChunk: batching.prefillChunk, ...(loadGamma ? { loadGamma } : {}) }) : undefined;
      return new SpeculativeEngine(tokenizer, verifier, draft, defaults, options.escalator, options.acceptance ?? acceptDraft, lockStep);
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

  /** Raw text as is; chat messages through the verifier's chat template (whose stop sequences come along). */
  encode(input: PromptInput): EncodedPrompt {
    if (input.kind === 'text') return { tokens: this.encodePrompt(input.text), stop: [], param: 'prompt' };
    const chat = this.tokenizer.applyChatTemplate(input.messages);
    return { tokens: chat.tokens, stop: chat.stop, param: 'messages' };
  }

  /** Whether every model is loaded on a live worker thread: false while one restarts, and once disposed. */
  get healthy(): boolean {
    return !this.disposed && this.verifier.available && (this.draft?.available ?? true);
  }

  get contextSize(): number {
    return Math.min(this.verifier.info.contextSize, this.draft?.info.contextSize ?? Infinity);
  }

  /**
   * Runs one generation. Yields token events as soon as their text is safe to show, then one `done` event with
   * usage and speculation stats. The request arrives validated (the scheduler's admission); absent settings take
   * the engine's defaults. Aborting `options.signal` stops it within one verifier pass and frees its sequences;
   * the generator then throws the abort reason (a `SpecrouteError`).
   */
  generate(request: GenerationRequest, encoded: EncodedPrompt, options: GenerateOptions = {}): AsyncGenerator<TokenEvent> {
    return this.shaped(request, this.run(request, encoded, options, 'pair'));
  }

  /** A tool-call request's events in the shape of its call (tool-call-events.ts); others as they are. */
  private shaped(request: GenerationRequest, events: AsyncGenerator<TokenEvent>): AsyncGenerator<TokenEvent> {
    return request.toolCalling ? toolCallEvents(events, request.toolCalling) : events;
  }

  /**
   * The `slm` tier: the draft model decoding alone (no verifier, no escalation), its tokens tagged `draft`.
   * Undefined without a draft.
   */
  get slm(): Generator | undefined {
    const draft = this.draft;
    if (!draft) return undefined;
    return {
      contextSize: draft.info.contextSize,
      encode: (input) => this.encode(input),
      generate: (request, encoded, options = {}) => this.shaped(request, this.run(request, encoded, options, 'slm')),
    };
  }

  /** One request on the pair (`pair`: speculative, or verifier-only) or on the draft alone (`slm`). */
  private async *run(request: GenerationRequest, encoded: EncodedPrompt, options: GenerateOptions, models: 'pair' | 'slm'): AsyncGenerator<TokenEvent> {
    if (this.disposed) throw new SpecrouteError('shutting_down', 'the engine is shutting down');
    const { prompt: withPrefix, prefix } = this.withPrefix(encoded, options.prefix);
    const plan = planRequest(request, withPrefix, this.defaults, this.tokenizer.eos, options);
    const { prompt } = plan;
    const signal = options.signal;
    if (prompt.length === 0) throw new SpecrouteError('invalid_argument', 'the prompt is empty', { param: encoded.param });
    const contextSize = models === 'slm' ? this.draft!.info.contextSize : this.contextSize;
    // A continuation's prefix re-tokenizes to about the tokens it replaces; never let a token or two more overflow.
    const maxTokens = options.prefix ? Math.min(plan.maxTokens, Math.max(0, contextSize - prompt.length)) : plan.maxTokens;
    if (prompt.length + maxTokens > contextSize) {
      throw new SpecrouteError(
        'context_length_exceeded',
        `the prompt (${prompt.length} tokens) plus max_tokens (${maxTokens}) exceeds the context size (${contextSize} tokens)`,
        { param: prompt.length >= this.contextSize ? encoded.param : 'max_tokens' },
      );
    }
    const slm = models === 'slm';
    const speculative = !slm && this.draft !== undefined && plan.speculation !== false;
    // A grammar starts where the output starts: before a continuation's prefix, which it must accept first.
    const spec = plan.grammar;
    const grammar = spec ? await this.requestGrammar(spec, prompt, prefix) : undefined;
    const ctx: LoopContext = {
      prompt,
      maxTokens,
      sampling: plan.sampling,
      stopTokens: plan.stopTokens,
      topLogprobs: plan.topLogprobs,
      speculation: plan.speculation || this.defaults.speculation,
      stats: new StatsRecorder(slm ? 'draft-only' : speculative ? 'speculative' : 'verifier-only'),
      signal,
      ...(grammar ? { grammar } : {}),
    };
    const assembler = new TextAssembler(this.tokenizer, plan.stop, prompt);
    const escalation = !slm && this.escalator && plan.escalation !== false ? new EscalationStep(this.escalator.session(plan.escalation), this.tokenizer) : undefined;
    if (escalation) ctx.topLogprobs = Math.max(ctx.topLogprobs, 8); // enough of the distribution for an entropy estimate
    const emitted: number[] = [];
    let completionTokens = 0;
    let finishReason: 'stop' | 'length' = 'length';

    let sequences: WorkerSequence[];
    try {
      sequences = await this.openSequences(slm ? [this.draft!] : speculative ? [this.verifier, this.draft!] : [this.verifier], spec, prompt.length - prefix.length, signal);
    } catch (error) {
      grammar?.dispose();
      throw error;
    }
    // In lock-step, a loop drives its sequences through its member of the pair's steps. One that only ever decodes
    // plainly (verifier-only, slm) joins only when other requests are generating, to ride in their passes; alone,
    // its worker runs its decode loop, one round trip per run of tokens instead of one per token
    // (docs/ARCHITECTURE.md#lock-step-steps).
    this.generating++;
    const member = speculative || grammar || this.generating > 1 ? this.lockStep?.join() : undefined;
    // The load's γ ceiling bounds an adaptive γ. A fixed γ (`adaptive: false`) is what the request asked for; and
    // the ceiling varies with timing, while a seeded sampled request's tokens depend on its γ schedule, so that one
    // keeps its own (acceptance-driven, reproducible) γ. Greedy output and unseeded samples do not depend on γ.
    // Every request's blocks still tell the step's acceptance rate.
    const seeded = plan.sampling.temperature > 0 && request.sampling?.seed !== undefined;
    const followsLoad = ctx.speculation.adaptive && !seeded;
    if (member) ctx.step = followsLoad ? member : { gammaCeiling: () => Infinity, block: (drafted, accepted) => member.block(drafted, accepted) };
    const onAbort = (): void => {
      sequences.forEach((s) => s.cancel());
      member?.leave(abortReason(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const plainSource = slm ? 'draft' : 'verifier';
    const [first, second] = member ? sequences.map((s) => member.sequence(s)) : sequences;
    // Speculation, constrained decoding and lock-step run in the step loop; plain decoding by one model runs in its worker.
    const loop = speculative || grammar || member ? speculate(first!, second ?? null, ctx, this.acceptance, plainSource) : decodePlain(sequences[0]!, ctx, plainSource);
    try {
      throwIfAborted(signal);
      let command: LoopCommand | undefined;
      outer: for (;;) {
        const next = await loop.next(command);
        command = undefined;
        if (next.done) break;
        throwIfAborted(signal);
        const block = next.value;
        for (const [i, token] of block.entries()) {
          if (escalation?.shouldEscalate(token)) {
            const acceptedPrefix = grammar && ((span: readonly number[]) => grammar.acceptedPrefix(emitted, span));
            const escalating = escalation.escalate(prompt, emitted, ctx, acceptedPrefix || undefined);
            const outcome = await (member ? member.away(escalating) : escalating);
            if (outcome.cost > 0) options.onFrontierCost?.(outcome.cost);
            throwIfAborted(signal);
            member?.pause(); // the steps go on while the client reads
            yield outcome.event;
            member?.resume();
            if (outcome.splice.length > 0) {
              command = { cut: i, splice: outcome.splice };
              break;
            }
          }
          ctx.stats.generated++;
          ctx.stats.bySource[token.source]++;
          const previous = emitted[emitted.length - 1] ?? prompt[prompt.length - 1];
          emitted.push(token.token);
          const isEos = ctx.stopTokens.includes(token.token);
          if (!isEos) {
            for (const event of assembler.push(this.toEvent(token, previous, plan.topLogprobs))) {
              completionTokens += event.tokenIds.length;
              member?.pause();
              yield event;
              member?.resume();
              throwIfAborted(signal); // the consumer may abort while it holds this event
            }
          }
          if (isEos || assembler.hasStopped) {
            finishReason = 'stop';
            break outer;
          }
        }
      }
      throwIfAborted(signal);
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
      this.generating--;
      signal?.removeEventListener('abort', onAbort);
      member?.leave();
      sequences.forEach((s) => s.cancel()); // stop any worker loop still running for this request
      await loop.return().catch(() => undefined); // let the loop's own cleanup run (a plain decode awaits its worker task)
      await Promise.allSettled(sequences.map((s) => s.close()));
      grammar?.dispose();
    }
  }

  /** The prompt with a continuation's prefix (text already sent by another tier) appended as tokens. */
  private withPrefix(encoded: EncodedPrompt, prefix: string | undefined): { prompt: EncodedPrompt; prefix: number[] } {
    if (!prefix) return { prompt: encoded, prefix: [] };
    const tokens = tokenizeContinuation(this.tokenizer, promptBody(this.tokenizer, encoded.tokens), prefix);
    return { prompt: { ...encoded, tokens: [...encoded.tokens, ...tokens] }, prefix: tokens };
  }

  /** The main thread's grammar of a request whose `prompt` ends with `prefix`, the part of the output already written. */
  private async requestGrammar(spec: GrammarSpec, prompt: readonly number[], prefix: readonly number[]): Promise<RequestGrammar> {
    this.grammars ??= GrammarCompiler.create(this.tokenizer.grammarVocabulary());
    const grammar = new RequestGrammar(await (await this.grammars).start(spec), this.tokenizer, prompt, prefix.length);
    try {
      grammar.commit(prefix);
    } catch (error) {
      grammar.dispose();
      throw new SpecrouteError('internal', 'the text sent so far does not fit the response format', { cause: error });
    }
    return grammar;
  }

  /**
   * Opens a sequence on each worker (waiting out a worker's restart, until `signal` aborts); with a grammar,
   * constrains each from token index `grammarStart` on.
   */
  private async openSequences(workers: readonly ModelWorker[], spec?: GrammarSpec, grammarStart = 0, signal?: AbortSignal): Promise<WorkerSequence[]> {
    const opened = await Promise.allSettled(workers.map(async (w) => {
      const sequence = await w.open(signal ? { signal } : {});
      if (spec) await sequence.constrain(spec, grammarStart).catch(async (error: unknown) => {
        await sequence.close();
        throw error;
      });
      return sequence;
    }));
    const sequences = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failure = opened.find((r) => r.status === 'rejected');
    if (failure) {
      await Promise.allSettled(sequences.map((s) => s.close()));
      throw failure.reason;
    }
    return sequences;
  }

  /**
   * Runs a request over prompt tokens the caller already holds (benchmarks, tests): the settings of a
   * `GenerationRequest`, no model id, no chat template.
   */
  generateFromTokens(promptTokens: readonly number[], settings: RequestSettings = {}, options: GenerateOptions = {}): AsyncGenerator<TokenEvent> {
    return this.generate({ model: '', input: { kind: 'text', text: '' }, ...settings }, { tokens: promptTokens, stop: [], param: 'prompt' }, options);
  }

  /**
   * A token as an event (its text comes from the assembler). Its alternatives carry their text as it would appear
   * in the output at this position, after `previous` (which decides a leading space): the one rendering that
   * every transport prints.
   */
  private toEvent(emitted: EmittedToken, previous: number | undefined, topN: number): Omit<TokenEventToken, 'text'> {
    const { scores } = emitted;
    const context = previous === undefined ? undefined : [previous];
    // A token the grammar forced is certain under the constrained distribution, and had no alternative.
    const alternatives = scores === null ? [] : topLogprobs(scores, topN);
    const top = topN > 0 ? { topLogprobs: alternatives.map((alt) => ({ ...alt, text: this.tokenizer.detokenize([alt.token], context) })) } : {};
    const position = emitted.position === undefined ? {} : { draftPosition: emitted.position };
    return { kind: 'token', tokenIds: [emitted.token], source: emitted.source, logprob: scores === null ? 0 : logprobOf(scores, emitted.token), ...top, ...position };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const grammars = await this.grammars?.catch(() => undefined);
    grammars?.dispose();
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
