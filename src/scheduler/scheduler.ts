import { randomUUID } from 'node:crypto';
import { SpecrouteError } from '../errors/registry.js';
import type { TokenEvent } from '../events/token-event.js';
import type { Metrics } from '../observability/metrics.js';
import type { GenerationRequest, RouteChoice, SpeculationSettings, Transport } from '../contract/generation-request.js';
import type { EncodedPrompt, Generator, Reservation } from '../contract/generator.js';
import type { TierRouter } from '../contract/tier-router.js';
import { tierNeeds, type RouteDecision, type Tier } from '../events/route-decision.js';
import { invalidArgument } from '../errors/registry.js';
import { validateGenerationRequest } from './validate.js';

/** The generator of each tier: `hybrid` always; `slm` with a draft; `frontier` with a frontier. */
export interface TierGenerators {
  readonly hybrid: Generator;
  readonly slm?: Generator | undefined;
  readonly frontier?: Generator | undefined;
}

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
  /**
   * The route of a request that names none (`routing.default`; the config checks that its tier exists).
   *
   * Defaults to `'hybrid'`.
   */
  defaultRoute?: RouteChoice;
  /** Decides the tier of `auto` requests. Defaults to none: `auto` means `hybrid` (reason `default`). */
  router?: TierRouter;
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
  /** Which tier answers, and why (decided at admission). */
  readonly route: RouteDecision;
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
    private readonly tiers: TierGenerators,
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
   * Validates (once, for every stage below), tokenizes, routes and admits a request. Rejects at once (before any
   * event) for bad input, an unknown model, a tier this server lacks, a prompt too long for the context, a full
   * queue, a frontier whose limits or breaker refuse an explicit `route: frontier`, or a server shutting down.
   *
   * The route: the request's `route`, else `routing.default`. `auto` asks the router (semantic routes, then the
   * trained router); when it picks the frontier and the frontier refuses, the request is served by `hybrid`
   * (reason `fallback`).
   */
  async admit(request: GenerationRequest, { transport, signal }: AdmitOptions): Promise<Generation> {
    let tier: Tier | undefined;
    try {
      if (this.draining) throw new SpecrouteError('shutting_down', 'the server is shutting down');
      validateGenerationRequest(request, this.options.speculation);
      if (request.model !== this.options.modelId) {
        throw new SpecrouteError('model_not_found', `the model '${request.model}' does not exist; this server serves '${this.options.modelId}'`, { param: 'model' });
      }
      const choice = request.route ?? this.options.defaultRoute ?? 'hybrid';
      if (choice !== 'auto' && choice !== 'hybrid' && !this.tiers[choice]) {
        throw invalidArgument('route', `route '${choice}' is not available on this server: it needs ${tierNeeds[choice]}`);
      }
      const prompt = this.tiers.hybrid.encode(request.input);
      const { tokens, param } = prompt;
      const contextSize = this.tiers.hybrid.contextSize;
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
      const resolved = { ...request, maxTokens: request.maxTokens ?? Math.min(this.options.defaultMaxTokens, room) };
      const decided = choice === 'auto' && this.options.router !== undefined;
      let route: RouteDecision =
        choice !== 'auto'
          ? { tier: choice, reason: request.route !== undefined ? 'request' : 'default', latencyMs: 0 }
          : (await this.options.router?.decide(resolved, prompt, signal)) ?? { tier: 'hybrid', reason: 'default', latencyMs: 0 };
      if (signal.aborted) throw signal.reason;
      if (this.draining) throw new SpecrouteError('shutting_down', 'the server is shutting down');
      let generator = this.tiers[route.tier] ?? this.tiers.hybrid;
      let reservation: Reservation | undefined;
      try {
        reservation = generator.reserve?.(resolved, prompt);
      } catch (error) {
        if (choice !== 'auto') throw error;
        route = { ...route, tier: 'hybrid', reason: 'fallback' };
        generator = this.tiers.hybrid;
      }
      tier = route.tier;
      if (tier !== 'frontier' && this.active + this.waiting.length >= this.options.maxConcurrent + this.options.maxQueue) {
        throw new SpecrouteError('overloaded', 'the server is at capacity; retry shortly');
      }
      this.metrics.routeDecided(route, decided);
      const generation = this.run(generator, route, resolved, prompt, transport, signal, reservation);
      return { id: randomUUID(), created: Math.floor(Date.now() / 1000), model: this.options.modelId, promptTokens: tokens.length, route, [Symbol.asyncIterator]: () => generation };
    } catch (error) {
      const status = error instanceof SpecrouteError ? error.code : 'internal';
      this.metrics.requestFinished(transport, status);
      if (tier) this.metrics.tierRequests.inc({ tier, status });
      throw error;
    }
  }

  private async *run(
    generator: Generator,
    route: RouteDecision,
    request: GenerationRequest,
    prompt: EncodedPrompt,
    transport: Transport,
    clientSignal: AbortSignal,
    reservation: Reservation | undefined,
  ): AsyncGenerator<TokenEvent> {
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
      // The frontier tier holds no local sequence: its limits are the frontier's (taken at admission).
      if (route.tier !== 'frontier') {
        await this.acquire(signal);
        holding = true;
      }
      let last = 0;
      for await (const event of generator.generate(request, prompt, { signal, ...(reservation ? { reservation } : {}) })) {
        const now = performance.now();
        if (event.kind === 'token') {
          if (last === 0) this.metrics.timeToFirstToken.observe({ transport }, (now - admitted) / 1000);
          else this.metrics.interTokenLatency.observe({ transport }, (now - last) / 1000);
          last = now;
          this.metrics.generatedTokens.inc({ source: event.source }, event.tokenIds.length);
        } else if (event.kind === 'done') {
          completed = true;
          this.metrics.promptTokens.inc(event.usage.promptTokens);
          this.metrics.tierTokens.inc({ tier: route.tier, kind: 'prompt' }, event.usage.promptTokens);
          this.metrics.tierTokens.inc({ tier: route.tier, kind: 'completion' }, event.usage.completionTokens);
          this.metrics.recordStats(event.stats);
          yield { ...event, route };
          continue;
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
      reservation?.release(); // a generation that never started leaves it unused; otherwise already ended
      this.metrics.requestDuration.observe({ transport }, (performance.now() - admitted) / 1000);
      this.metrics.requestFinished(transport, status);
      this.metrics.tierRequests.inc({ tier: route.tier, status });
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
