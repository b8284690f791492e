import { randomUUID } from 'node:crypto';
import { SpecrouteError } from '../errors/registry.js';
import { emptyBySource, type TokenEvent, type TokenEventDone, type TokenEventToken, type TokenSource } from '../events/token-event.js';
import type { Metrics } from '../observability/metrics.js';
import type { GenerationRequest, RouteChoice, SpeculationSettings, Transport } from '../contract/generation-request.js';
import type { EncodedPrompt, Generator, Reservation } from '../contract/generator.js';
import { localQueueFull, type CascadeOptions, type LocalLoad, type TierRouter } from '../contract/tier-router.js';
import { tierNeeds, type RouteDecision, type Tier } from '../events/route-decision.js';
import { invalidArgument } from '../errors/registry.js';
import { validateGenerationRequest } from './validate.js';
import { isConstrained } from '../grammar/grammar-spec.js';
import { tierAllowed, type KeyQuota, type KeyQuotas, type QuotaHold } from './key-quotas.js';

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
   * (HTTP 429 with Retry-After, gRPC RESOURCE_EXHAUSTED), unless `routing.slo` spills an `auto` one to the frontier.
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
  /**
   * Most prompt tokens the local tiers take (`routing.local.maxInputTokens`); a longer prompt goes to the frontier
   * like one that overflows the context. Defaults to the context.
   */
  maxInputTokens?: number;
  /** Where the per-key quotas of `AdmitOptions.key` are counted. Defaults to none: keys carry no limits. */
  quotas?: KeyQuotas;
}

export interface AdmitOptions {
  readonly transport: Transport;
  /** Fires on client disconnect or cancellation. */
  readonly signal: AbortSignal;
  /** The API key the request came with, when it has limits (`auth.keys`). */
  readonly key?: KeyQuota | undefined;
}

/** An admitted request: iterate it once for its events. Not iterating it and aborting its signal frees its place. */
export interface Generation extends AsyncIterable<TokenEvent> {
  readonly id: string;
  /** Unix seconds. */
  readonly created: number;
  readonly model: string;
  readonly promptTokens: number;
  /**
   * Which tier answers, and why: decided at admission, a cascade's probe included. A fallback during the stream
   * changes it; the final event carries the route that finished the request.
   */
  readonly route: RouteDecision;
}

/** The tier a request is on, and what it holds there. */
interface Segment {
  readonly tier: Tier;
  readonly generator: Generator;
  readonly reservation?: Reservation | undefined;
}

/** One admitted request, as `run` carries it out. */
interface Plan {
  route: RouteDecision;
  segment: Segment;
  readonly request: GenerationRequest;
  readonly prompt: EncodedPrompt;
  /** The route is not `auto` (the request or `routing.default` named a tier): no cascade, no fallback. */
  readonly pinned: boolean;
  /** The cascade's probe, for an `auto` request routed locally by a router with `routing.cascade`. */
  readonly cascade: CascadeOptions | undefined;
  /** Its API key's quotas: whether it may reach the frontier, where its spending and tokens are counted. */
  readonly quota: QuotaHold | undefined;
}

/** What a request has sent its client so far, over every tier it was on. */
interface Sent {
  text: string;
  tokens: number;
  readonly bySource: Record<TokenSource, number>;
  readonly byTier: Partial<Record<Tier, number>>;
  /** Frontier spend, by the tier whose generation paid it. */
  readonly costByTier: Partial<Record<Tier, number>>;
}

/** Errors of a tier itself (a worker, the frontier), after which another tier may take the request over. */
const tierFailures: ReadonlySet<string> = new Set(['worker_failed', 'model_unavailable', 'internal', 'frontier_unavailable']);

/**
 * Admission, queueing, deadlines and cancellation in front of the engine, and the moves between tiers that
 * adaptive routing makes (docs/ARCHITECTURE.md#adaptive-routing): the context-window fallback, the cascade's
 * probe, and failure fallbacks that continue a stream from the text already sent. Every transport goes through
 * `admit`; metrics about requests are recorded here, once.
 */
export class Scheduler {
  private active = 0;
  /** Local requests admitted whose generation has not asked for a sequence yet (they will queue like the others). */
  private admittedLocal = 0;
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

  /** What the router is told of the local tiers' load (a request admitted but not yet started counts as queued). */
  get load(): LocalLoad {
    return { active: this.active, queued: this.waiting.length + this.admittedLocal, maxConcurrent: this.options.maxConcurrent, maxQueue: this.options.maxQueue };
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
   * event) for bad input, an unknown model, a tier this server lacks, a prompt too long for the context (unless it
   * can go to the frontier), a full queue (with `routing.slo`, the router spills an `auto` request to the frontier
   * first), a frontier whose limits or breaker refuse an explicit `route: frontier`, or a server shutting down.
   *
   * The route: the request's `route`, else `routing.default`. `auto` asks the router (latency SLO, semantic
   * routes, then the trained router); when it picks the frontier and the frontier refuses, the request is served
   * by `hybrid` (reason `fallback`). A request routed by a cascade returns once its probe has decided.
   */
  async admit(request: GenerationRequest, { transport, signal, key }: AdmitOptions): Promise<Generation> {
    let plan: Plan;
    let promptTokens: number;
    try {
      plan = await this.plan(request, signal, key);
      promptTokens = plan.prompt.tokens.length;
    } catch (error) {
      const status = error instanceof SpecrouteError ? error.code : 'internal';
      this.metrics.requestFinished(transport, status, key?.name);
      throw error;
    }
    const events = this.run(plan, transport, signal, key?.name);
    let first: IteratorResult<TokenEvent> | undefined;
    // A cascade's probe decides the tier before anything is sent (so the response header names the tier that
    // answers): the first event is awaited here. `run` records the outcome of a request that fails meanwhile.
    if (plan.cascade) first = await events.next();
    const replay = async function* (): AsyncGenerator<TokenEvent> {
      if (first) {
        if (first.done) return;
        yield first.value;
      }
      yield* events;
    };
    const iterator = replay();
    return {
      id: randomUUID(),
      created: Math.floor(Date.now() / 1000),
      model: this.options.modelId,
      promptTokens,
      get route() {
        return plan.route;
      },
      [Symbol.asyncIterator]: () => iterator,
    };
  }

  /** Everything up to the start of generation: checks, the route, the frontier's reservation, the queue. */
  private async plan(request: GenerationRequest, signal: AbortSignal, key: KeyQuota | undefined): Promise<Plan> {
    if (this.draining) throw new SpecrouteError('shutting_down', 'the server is shutting down');
    validateGenerationRequest(request, this.options.speculation);
    if (request.model !== this.options.modelId) {
      throw new SpecrouteError('model_not_found', `the model '${request.model}' does not exist; this server serves '${this.options.modelId}'`, { param: 'model' });
    }
    const choice = tierChoice(request, this.options.defaultRoute);
    if (choice !== 'auto' && choice !== 'hybrid' && !this.tiers[choice]) {
      throw invalidArgument('route', `route '${choice}' is not available on this server: it needs ${tierNeeds[choice]}`);
    }
    if (choice !== 'auto' && !tierAllowed(key, choice)) {
      throw new SpecrouteError('permission_denied', `the API key '${key!.name}' may not use the ${choice} tier (auth.keys tiers: ${key!.tiers!.join(', ')})`, { param: 'route' });
    }
    // Only an `auto` request may be moved between tiers; a named tier (by the request or routing.default) is kept.
    const pinned = choice !== 'auto';
    const prompt = this.tiers.hybrid.encode(request.input);
    const overflow = choice === 'frontier' ? undefined : this.localOverflow(prompt, request.maxTokens);
    const room = this.tiers.hybrid.contextSize - prompt.tokens.length;
    const maxTokens = request.maxTokens ?? (overflow || choice === 'frontier' ? this.options.defaultMaxTokens : Math.min(this.options.defaultMaxTokens, room));
    const quota = key && this.options.quotas ? await this.options.quotas.admit(key, prompt.tokens.length + maxTokens) : undefined;
    try {
      if (choice === 'frontier' && quota?.frontierRefusal) throw quota.frontierRefusal;
      // A key kept off the frontier keeps its text off it: no escalation either.
      const resolved = { ...request, maxTokens, ...(quota && !quota.frontierAllowed ? { escalation: false as const } : {}) };
      const frontier = this.frontierFor(quota);
      // A prompt the local tiers cannot take goes to the frontier when the request is `auto`.
      if (overflow && (pinned || !frontier)) throw overflow;
      const decided = !pinned && !overflow && this.options.router !== undefined;
      let route: RouteDecision = overflow
        ? { tier: 'frontier', reason: 'context', latencyMs: 0 }
        : pinned
          ? { tier: choice, reason: request.route !== undefined ? 'request' : 'default', latencyMs: 0 }
          : ((await this.options.router?.decide(resolved, prompt, { signal, load: this.load, frontier: frontier !== undefined })) ?? { tier: 'hybrid', reason: 'default', latencyMs: 0 });
      // A router's choice the key may not use: the nearest tier it may (a local one before the frontier).
      const usable = (t: Tier): boolean => tierAllowed(key, t) && (t === 'frontier' ? frontier !== undefined : t === 'hybrid' || this.tiers[t] !== undefined);
      if (!pinned && !usable(route.tier)) {
        const tier = (['hybrid', 'slm', 'frontier'] as const).find(usable);
        if (!tier) throw new SpecrouteError('permission_denied', `the API key '${key!.name}' may use no tier this server has`, { param: 'route' });
        route = { ...route, tier, reason: 'fallback' };
      }
      if (signal.aborted) throw signal.reason;
      if (this.draining) throw new SpecrouteError('shutting_down', 'the server is shutting down');
      // A refusal of the tier it was routed to is counted against that tier.
      const refused = (error: SpecrouteError): SpecrouteError => {
        this.metrics.tierRequests.inc({ tier: route.tier, reason: route.reason, status: error.code });
        return error;
      };
      let segment: Segment;
      try {
        segment = await this.segment(route.tier, resolved, prompt);
      } catch (error) {
        if (pinned || overflow) throw error instanceof SpecrouteError ? refused(error) : error;
        route = { ...route, tier: 'hybrid', reason: 'fallback' };
        segment = await this.segment('hybrid', resolved, prompt);
      }
      if (segment.tier !== 'frontier' && localQueueFull(this.load)) {
        throw refused(new SpecrouteError('overloaded', 'the server is at capacity; retry shortly'));
      }
      this.metrics.routeDecided(route, decided);
      if (segment.tier !== 'frontier') this.admittedLocal++;
      const cascade = !pinned && frontier !== undefined && segment.tier !== 'frontier' && route.reason !== 'fallback' ? this.options.router?.cascade : undefined;
      return { route, segment, request: resolved, prompt, pinned, cascade, quota };
    } catch (error) {
      quota?.settle(0); // refused after its quota was taken: it used no tokens
      throw error;
    }
  }

  /** The error a prompt gets from the local tiers when it (with `maxTokens`) does not fit them; none when it does. */
  private localOverflow(prompt: EncodedPrompt, maxTokens: number | undefined): SpecrouteError | undefined {
    const { tokens, param } = prompt;
    const contextSize = this.tiers.hybrid.contextSize;
    const room = contextSize - tokens.length;
    if (room < 1) return new SpecrouteError('context_length_exceeded', `the prompt is ${tokens.length} tokens; this model's context holds ${contextSize}`, { param });
    const limit = this.options.maxInputTokens;
    if (limit !== undefined && tokens.length > limit) {
      return new SpecrouteError('context_length_exceeded', `the prompt is ${tokens.length} tokens; the local tiers take at most ${limit} (routing.local.maxInputTokens)`, { param });
    }
    if (maxTokens !== undefined && maxTokens > room) {
      return new SpecrouteError('context_length_exceeded', `this model's context is ${contextSize} tokens; the prompt takes ${tokens.length} and max_tokens asks for ${maxTokens}`, { param: 'max_tokens' });
    }
    return undefined;
  }

  /** A tier's generator with its reservation taken; throws the tier's refusal. */
  private async segment(tier: Tier, request: GenerationRequest, prompt: EncodedPrompt): Promise<Segment> {
    const generator = this.tiers[tier] ?? this.tiers.hybrid;
    return { tier, generator, reservation: await generator.reserve?.(request, prompt) };
  }

  /** The frontier tier, unless this server has none or the request's key may not reach it. */
  private frontierFor(quota: QuotaHold | undefined): Generator | undefined {
    return quota && !quota.frontierAllowed ? undefined : this.tiers.frontier;
  }

  /** The frontier tier with its reservation, or nothing when there is none, the key may not reach it, or it refuses. */
  private async tryFrontier(request: GenerationRequest, prompt: EncodedPrompt, quota: QuotaHold | undefined): Promise<Segment | undefined> {
    if (!this.frontierFor(quota)) return undefined;
    try {
      return await this.segment('frontier', request, prompt);
    } catch {
      return undefined;
    }
  }

  private async *run(plan: Plan, transport: Transport, clientSignal: AbortSignal, key: string | undefined): AsyncGenerator<TokenEvent> {
    const admitted = performance.now();
    const timeoutMs = Math.min(plan.request.timeoutMs ?? Infinity, this.options.requestTimeoutMs);
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([clientSignal, deadline, this.shutdown.signal]);
    const router = this.options.router;
    let status = 'ok';
    let completed = false;
    let finished!: () => void;
    const tracked = new Promise<void>((resolve) => (finished = resolve));
    this.inFlight.add(tracked);
    let heldSince: number | undefined;
    let heldTier: Tier = plan.segment.tier;
    let admittedLocal = plan.segment.tier !== 'frontier'; // counted in `this.admittedLocal` until it asks for a sequence
    const started = (): void => {
      if (admittedLocal) this.admittedLocal--;
      admittedLocal = false;
    };
    const letGo = (): void => {
      if (heldSince === undefined) return;
      router?.observe?.({ kind: 'served', tier: heldTier, ms: performance.now() - heldSince });
      heldSince = undefined;
      this.release();
    };
    const reservations = new Set<Reservation>();
    // What the client has been sent, across tiers: a fallback continues after `sent.text`.
    const sent: Sent = { text: '', tokens: 0, bySource: emptyBySource(), byTier: {}, costByTier: {} };
    let firstTokenAt: number | undefined;
    let last = 0;
    let cascade = plan.cascade;
    const strip = (plan.request.topLogprobs ?? 0) === 0;

    /** Records one token event as sent (it is yielded right after). */
    const send = (event: TokenEventToken): TokenEvent => {
      const now = performance.now();
      if (firstTokenAt === undefined) {
        firstTokenAt = now;
        this.metrics.timeToFirstToken.observe({ transport }, (now - admitted) / 1000);
        if (plan.segment.tier !== 'frontier') router?.observe?.({ kind: 'first-token', tier: plan.segment.tier, ms: now - admitted });
      } else this.metrics.interTokenLatency.observe({ transport }, (now - last) / 1000);
      last = now;
      const count = event.tokenIds.length;
      this.metrics.generatedTokens.inc({ source: event.source }, count);
      sent.text += event.text;
      sent.tokens += count;
      sent.byTier[plan.segment.tier] = (sent.byTier[plan.segment.tier] ?? 0) + count;
      sent.bySource[event.source] += count;
      if (strip && event.topLogprobs) {
        const { topLogprobs: _, ...rest } = event;
        return rest;
      }
      return event;
    };

    try {
      for (;;) {
        const { segment } = plan;
        if (segment.reservation) reservations.add(segment.reservation);
        if (segment.tier === 'frontier') letGo();
        else if (heldSince === undefined) {
          started();
          await this.acquire(signal);
          heldSince = performance.now();
          heldTier = segment.tier;
        }
        const request = sent.tokens > 0 ? { ...plan.request, maxTokens: (plan.request.maxTokens ?? 0) - sent.tokens } : cascade && strip ? { ...plan.request, topLogprobs: 1 } : plan.request;
        const tier = segment.tier;
        const events = segment.generator.generate(request, plan.prompt, {
          signal,
          ...(segment.reservation ? { reservation: segment.reservation } : {}),
          ...(sent.text ? { prefix: sent.text } : {}),
          onFrontierCost: (cost) => {
            sent.costByTier[tier] = (sent.costByTier[tier] ?? 0) + cost;
            plan.quota?.spent(cost);
          },
        });
        const iterator = events[Symbol.asyncIterator]();
        // What earlier tiers sent, added to this tier's stats at the end.
        const earlier = { tokens: sent.tokens, bySource: { ...sent.bySource } };
        /** An event of this tier as the client gets it. */
        const out = (event: TokenEvent): TokenEvent => (event.kind === 'token' ? send(event) : event.kind === 'done' ? this.finish(event, plan, sent, earlier) : event);
        try {
          if (cascade) {
            const { probeTokens, minConfidence } = cascade;
            cascade = undefined;
            const held: TokenEvent[] = [];
            let tokens = 0;
            let confidence = 0;
            for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
              held.push(next.value);
              if (next.value.kind === 'token') {
                const n = next.value.tokenIds.length;
                tokens += n;
                confidence += n * Math.exp(next.value.topLogprobs?.[0]?.logprob ?? next.value.logprob);
              }
              if (next.value.kind === 'done' || tokens >= probeTokens) break;
            }
            const mean = tokens > 0 ? confidence / tokens : 1;
            const moved = mean < minConfidence ? await this.tryFrontier(plan.request, plan.prompt, plan.quota) : undefined;
            this.metrics.cascadeProbes.inc({ outcome: mean >= minConfidence ? 'stayed' : moved ? 'moved' : 'refused' });
            if (moved) {
              plan.route = { tier: 'frontier', reason: 'cascade', score: mean, threshold: minConfidence, latencyMs: plan.route.latencyMs };
              this.metrics.routeDecided(plan.route, false);
              plan.segment = moved;
              continue; // the probe's tokens were never sent (`finally` closes the local generation)
            }
            for (const event of held) {
              yield out(event);
              if (event.kind === 'done') completed = true;
            }
            if (completed) break;
          }
          for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
            yield out(next.value);
            if (next.value.kind === 'done') completed = true;
          }
          break;
        } catch (error) {
          const next = signal.aborted || plan.pinned || !isTierFailure(error) ? undefined : await this.fallback(plan, (plan.request.maxTokens ?? 0) - sent.tokens);
          if (!next) throw error;
          this.metrics.fallbacks.inc({ from: segment.tier, to: next.tier, phase: sent.tokens > 0 ? 'mid_stream' : 'before_first_token' });
          plan.route = { tier: next.tier, reason: 'fallback', latencyMs: plan.route.latencyMs };
          this.metrics.routeDecided(plan.route, false);
          plan.segment = next;
        } finally {
          // Ends this tier's generation however it left the loop (done, moved, failed, or the consumer gone), so
          // that it frees its sequences before anything else starts.
          await iterator.return?.(undefined as never).catch(() => undefined);
        }
      }
    } catch (error) {
      const reason = abortReason(error, signal, deadline);
      status = reason instanceof SpecrouteError ? reason.code : 'internal';
      throw reason;
    } finally {
      // A consumer that stopped iterating before the final event ended the request too: for the reason of an abort
      // it stopped on (a transport that stops pulling at its call's deadline between two events, a client gone),
      // else as cancelled.
      if (status === 'ok' && !completed) {
        const reason = abortReason(undefined, signal, deadline);
        status = reason instanceof SpecrouteError ? reason.code : 'cancelled';
      }
      started();
      letGo();
      for (const reservation of reservations) reservation.release(); // unused ones; the others already ended
      plan.quota?.settle(plan.prompt.tokens.length + sent.tokens);
      const { tier, reason } = plan.route;
      const seconds = (performance.now() - admitted) / 1000;
      this.metrics.requestDuration.observe({ transport }, seconds);
      this.metrics.requestFinished(transport, status, key);
      if (key !== undefined) {
        this.metrics.keyTokens.inc({ key }, plan.prompt.tokens.length + sent.tokens);
        const cost = Object.values(sent.costByTier).reduce((sum, c) => sum + c, 0);
        if (cost > 0) this.metrics.keyFrontierCost.inc({ key }, cost);
      }
      this.metrics.tierRequests.inc({ tier, reason, status });
      this.metrics.tierDuration.observe({ tier, reason }, seconds);
      if (firstTokenAt !== undefined) this.metrics.tierTimeToFirstToken.observe({ tier, reason }, (firstTokenAt - admitted) / 1000);
      for (const [t, cost] of Object.entries(sent.costByTier)) this.metrics.tierCost.inc({ tier: t, reason }, cost);
      this.inFlight.delete(tracked);
      finished();
    }
  }

  /**
   * The tier that takes over from a failed one: the frontier after a local tier (its limits and breaker allowing),
   * `hybrid` after the frontier; none when the request has no tokens left to generate.
   */
  private async fallback(plan: Plan, left: number): Promise<Segment | undefined> {
    if (left < 1) return undefined;
    const request = { ...plan.request, maxTokens: left };
    return plan.segment.tier === 'frontier' ? this.segment('hybrid', request, plan.prompt) : this.tryFrontier(request, plan.prompt, plan.quota);
  }

  /**
   * The final event of a request, over all its tiers: usage counts every token sent (whichever tier sent it), with
   * the frontier cost and the tokens by tier; stats are the last tier's, with the tokens earlier tiers sent added
   * to its counts by source.
   */
  private finish(done: TokenEventDone, plan: Plan, sent: Sent, earlier: Pick<Sent, 'tokens' | 'bySource'>): TokenEventDone {
    const promptTokens = plan.prompt.tokens.length;
    const frontierCost = Object.values(sent.costByTier).reduce((sum, c) => sum + c, 0);
    const stats =
      earlier.tokens === 0
        ? done.stats
        : {
            ...done.stats,
            generatedTokens: done.stats.generatedTokens + earlier.tokens,
            tokensBySource: Object.fromEntries(Object.entries(done.stats.tokensBySource).map(([k, v]) => [k, v + earlier.bySource[k as TokenSource]])) as Record<TokenSource, number>,
          };
    this.metrics.promptTokens.inc(promptTokens);
    const { reason } = plan.route;
    this.metrics.tierTokens.inc({ tier: plan.route.tier, reason, kind: 'prompt' }, promptTokens);
    for (const [tier, count] of Object.entries(sent.byTier)) this.metrics.tierTokens.inc({ tier, reason, kind: 'completion' }, count);
    this.metrics.recordStats(stats);
    return {
      ...done,
      usage: { promptTokens, completionTokens: sent.tokens, totalTokens: promptTokens + sent.tokens, frontierCost, completionTokensByTier: { ...sent.byTier } },
      stats,
      route: plan.route,
    };
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

function isTierFailure(error: unknown): boolean {
  return !(error instanceof SpecrouteError) || tierFailures.has(error.code);
}

/**
 * The registry error that says why a request ended, once `signal` (any of the client's signal, the deadline and
 * shutdown) has aborted: the reason of whichever aborted first, whatever error that abort surfaced as. Several can
 * land in one turn (a gRPC call's deadline is also the request's `timeoutMs`), and the error thrown may come from
 * the first (a timeout wrapped as a cancel) while another has aborted by the time it is caught.
 */
function abortReason(error: unknown, signal: AbortSignal, deadline: AbortSignal): unknown {
  if (!signal.aborted) return error;
  const first: unknown = signal.reason;
  if (deadline.aborted && first === deadline.reason) return new SpecrouteError('deadline_exceeded', 'the request ran past its deadline', { cause: error });
  if (first instanceof SpecrouteError) return first; // the client's (cancelled, or its own deadline) or shutdown's
  return new SpecrouteError('cancelled', 'the client cancelled the request', { cause: first });
}

/**
 * The tier a request asks for: its `route`, else `routing.default`, else `hybrid`. A structured request (a JSON
 * `response_format`, a tool call) is served where its grammar runs, locally: `route: frontier` is refused, and
 * `auto` or a frontier default becomes `hybrid` (docs/ARCHITECTURE.md#structured-output).
 */
function tierChoice(request: GenerationRequest, defaultRoute: RouteChoice | undefined): RouteChoice {
  const choice = request.route ?? defaultRoute ?? 'hybrid';
  if (!isConstrained(request) || choice === 'slm' || choice === 'hybrid') return choice;
  if (request.route === 'frontier') throw invalidArgument('route', 'a JSON response_format or a tool call is enforced by the local grammar: route frontier cannot serve it');
  return 'hybrid';
}
