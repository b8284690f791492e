import { randomUUID } from 'node:crypto';
import { SpecrouteError } from '../errors/registry.js';
import type { TokenEvent } from '../events/token-event.js';
import type { Metrics } from '../observability/metrics.js';
import type { GenerationRequest, SpeculationSettings, Transport } from '../contract/generation-request.js';
import type { EncodedPrompt, Generator } from '../contract/generator.js';
import { validateGenerationRequest } from './validate.js';

export interface SchedulerOptions {
  /** The model id clients name in `model`. */
  modelId: string;
  /**
   * Requests generating at once (each holds one sequence on each model). At most the models' `sequences`.
   *
   * Defaults to the verifier's `sequences`.
   */
  maxConcurrent: number;
  /**
   * Requests admitted to wait for a sequence beyond those; one more is refused with `overloaded`
   * (HTTP 429 with Retry-After, gRPC RESOURCE_EXHAUSTED).
   *
   * Defaults to `64`.
   */
  maxQueue: number;
  /**
   * Time limit of a request from admission to its last token, in milliseconds (a request may ask for less).
   *
   * Defaults to `300000`.
   */
  requestTimeoutMs: number;
  /**
   * `max_tokens` when a request gives none (capped by the context left after the prompt).
   *
   * Defaults to `256`.
   */
  defaultMaxTokens: number;
  /** The server's speculation settings, which a request's overrides are merged over (to check `min ≤ max`). */
  speculation?: Partial<SpeculationSettings>;
}

export interface AdmitOptions {
  readonly transport: Transport;
  /** Fires on client disconnect or cancellation. */
  readonly signal: AbortSignal;
}

/** An admitted request: iterate it once for its events. Not iterating it and aborting its signal frees its place. */
export interface Generation extends AsyncIterable<TokenEvent> {
  readonly id: string;
  /** Unix seconds. */
  readonly created: number;
  readonly model: string;
  readonly promptTokens: number;
}

/**
 * Admission, queueing, deadlines and cancellation in front of the engine. Every transport goes through `admit`;
 * metrics about requests are recorded here, once.
 */
export class Scheduler {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private draining = false;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly shutdown = new AbortController();

  constructor(
    private readonly generator: Generator,
    private readonly metrics: Metrics,
    private readonly options: SchedulerOptions,
  ) {}

  get queueDepth(): number {
    return this.waiting.length;
  }

  get activeRequests(): number {
    return this.active;
  }

  /**
   * Aborts (its reason a `shutting_down` error) when a drain's grace runs out and the requests still in flight are
   * ended. Transports listen to it too: a stream whose client stopped reading waits on the transport, not on the
   * generation, and must stop waiting then, or the drain would wait for it forever.
   */
  get shutdownSignal(): AbortSignal {
    return this.shutdown.signal;
  }

  /**
   * Validates (once, for every stage below), tokenizes and admits a request. Throws at once (before any event) for bad input, an unknown
   * model, a prompt too long for the context, a full queue, or a server shutting down.
   */
  admit(request: GenerationRequest, { transport, signal }: AdmitOptions): Generation {
    try {
      if (this.draining) throw new SpecrouteError('shutting_down', 'the server is shutting down');
      validateGenerationRequest(request, this.options.speculation);
      if (request.model !== this.options.modelId) {
        throw new SpecrouteError('model_not_found', `the model '${request.model}' does not exist; this server serves '${this.options.modelId}'`, { param: 'model' });
      }
      const prompt = this.generator.encode(request.input);
      const { tokens, param } = prompt;
      const contextSize = this.generator.contextSize;
      const room = contextSize - tokens.length;
      if (room < 1) {
        throw new SpecrouteError('context_length_exceeded', `the prompt is ${tokens.length} tokens; this model's context holds ${contextSize}`, { param });
      }
      if (request.maxTokens !== undefined && request.maxTokens > room) {
        throw new SpecrouteError(
          'context_length_exceeded',
          `this model's context is ${contextSize} tokens; the prompt takes ${tokens.length} and max_tokens asks for ${request.maxTokens}`,
          { param: 'max_tokens' },
        );
      }
      if (this.active + this.waiting.length >= this.options.maxConcurrent + this.options.maxQueue) {
        throw new SpecrouteError('overloaded', 'the server is at capacity; retry shortly');
      }
      const maxTokens = request.maxTokens ?? Math.min(this.options.defaultMaxTokens, room);
      const generation = this.run({ ...request, maxTokens }, prompt, transport, signal);
      return { id: randomUUID(), created: Math.floor(Date.now() / 1000), model: this.options.modelId, promptTokens: tokens.length, [Symbol.asyncIterator]: () => generation };
    } catch (error) {
      this.metrics.requestFinished(transport, error instanceof SpecrouteError ? error.code : 'internal');
      throw error;
    }
  }

  private async *run(request: GenerationRequest, prompt: EncodedPrompt, transport: Transport, clientSignal: AbortSignal): AsyncGenerator<TokenEvent> {
    const admitted = performance.now();
    const timeoutMs = Math.min(request.timeoutMs ?? Infinity, this.options.requestTimeoutMs);
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([clientSignal, deadline, this.shutdown.signal]);
    let status = 'ok';
    let completed = false;
    let finished!: () => void;
    const tracked = new Promise<void>((resolve) => (finished = resolve));
    this.inFlight.add(tracked);
    let holding = false;
    try {
      await this.acquire(signal);
      holding = true;
      let last = 0;
      for await (const event of this.generator.generate(request, prompt, { signal })) {
        const now = performance.now();
        if (event.kind === 'token') {
          if (last === 0) this.metrics.timeToFirstToken.observe({ transport }, (now - admitted) / 1000);
          else this.metrics.interTokenLatency.observe({ transport }, (now - last) / 1000);
          last = now;
          this.metrics.generatedTokens.inc({ source: event.source }, event.tokenIds.length);
        } else if (event.kind === 'done') {
          completed = true;
          this.metrics.promptTokens.inc(event.usage.promptTokens);
          this.metrics.recordStats(event.stats);
        }
        yield event;
      }
    } catch (error) {
      const reason = abortReason(error, clientSignal, deadline, this.shutdown.signal);
      status = reason instanceof SpecrouteError ? reason.code : 'internal';
      throw reason;
    } finally {
      // A consumer that stopped iterating before the final event (a client gone between two tokens, so no abort was
      // seen mid-step) ended the request too: it is cancelled, not ok.
      if (status === 'ok' && !completed) status = 'cancelled';
      if (holding) this.release();
      this.metrics.requestDuration.observe({ transport }, (performance.now() - admitted) / 1000);
      this.metrics.requestFinished(transport, status);
      this.inFlight.delete(tracked);
      finished();
    }
  }

  private acquire(signal: AbortSignal): Promise<void> {
    if (this.active < this.options.maxConcurrent) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const grant = (): void => {
        signal.removeEventListener('abort', onAbort);
        this.active++;
        resolve();
      };
      const onAbort = (): void => {
        const at = this.waiting.indexOf(grant);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(grant);
    });
  }

  private release(): void {
    this.active--;
    this.waiting.shift()?.();
  }

  /**
   * Graceful shutdown: refuse new requests, let the ones in flight finish, and after `graceMs` abort the rest
   * with `shutting_down`.
   */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    const all = Promise.allSettled([...this.inFlight]);
    const timer = setTimeout(() => this.shutdown.abort(new SpecrouteError('shutting_down', 'the server is shutting down')), graceMs);
    try {
      await all;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Maps an abort to the registry error that says why: deadline, shutdown, or the client going away. */
function abortReason(error: unknown, client: AbortSignal, deadline: AbortSignal, shutdown: AbortSignal): unknown {
  if (deadline.aborted && !client.aborted) return new SpecrouteError('deadline_exceeded', 'the request ran past its deadline', { cause: error });
  if (shutdown.aborted) return shutdown.reason;
  if (client.aborted) return error instanceof SpecrouteError ? error : new SpecrouteError('cancelled', 'the client cancelled the request', { cause: error });
  return error;
}
