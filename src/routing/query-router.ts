import { basename } from 'node:path';
import type { GenerationRequest } from '../contract/generation-request.js';
import type { EncodedPrompt } from '../contract/generator.js';
import type { PromptSignals } from '../contract/router-features.js';
import { localQueueFull, type CascadeOptions, type LocalLoad, type LocalObservation, type RouteContext, type TierRouter } from '../contract/tier-router.js';
import type { RoutingGauges } from '../observability/metrics.js';
import { SpecrouteError } from '../errors/registry.js';
import type { RouteDecision, Tier } from '../events/route-decision.js';
import { featureVectorFromSignals } from './feature-vector.js';
import { loadRouterFile, type TrainedRouter } from './router-file.js';
import { SemanticRoutes } from './semantic-routes.js';
import { LatencySlo, type LatencySloOptions } from './latency-slo.js';
import { ShareController, defaultShareController, type SharedShareState, type ShareControllerOptions } from './share-controller.js';
import type { TokenizerFingerprint } from '../backends/tokenizer-fingerprint.js';

/** A semantic route as configured: example prompts as text (`routing.routes[i]`). */
export interface RouteConfig {
  readonly name: string;
  readonly tier: Tier;
  readonly examples: readonly string[];
  readonly threshold: number;
}

export interface QueryRouterOptions {
  /** What the local model says about a prompt (its tokens, BOS included): the verifier's pass and the embedding. */
  readonly signals: (tokens: readonly number[], options?: { signal?: AbortSignal }) => Promise<PromptSignals>;
  /** Raw text as the model's tokens (BOS included): how examples and chat messages are embedded for semantic routes. */
  readonly encodeText: (text: string) => number[];
  /** The verifier's tokenizer: a router must have been trained for it. */
  readonly tokenizer: TokenizerFingerprint;
  /** `routing.routes`. Defaults to `[]`. */
  readonly routes?: readonly RouteConfig[];
  /** `routing.router`, resolved. Defaults to none. */
  readonly routerPath?: string;
  /** `routing.targetFrontierShare`. Defaults to the router file's threshold. */
  readonly targetFrontierShare?: number;
  /** `routing.controller`: with a target share, the threshold follows traffic to hold it. */
  readonly controller?: ShareControllerOptions;
  /** The fraction of the frontier's hourly cost budget spent (the controller aims lower as it runs out). */
  readonly budgetUsed?: () => number;
  /** Makes the controller's state one for every replica (`state.redis`). Defaults to this process's own. */
  readonly sharedState?: (router: string, options: { window: number; smoothing: number; target: number }) => SharedShareState;
  /** `routing.slo`. Defaults to none: the local tiers' latency never spills requests. */
  readonly slo?: LatencySloOptions;
  /** `routing.cascade`. Defaults to none. */
  readonly cascade?: CascadeOptions;
}

/**
 * The query-level decision for `auto` requests (docs/ARCHITECTURE.md#query-level-routing): the latency SLO first
 * (while the local tiers breach it, the frontier, reason `slo`, without computing anything about the prompt), then
 * semantic routes (the request's text against each route's examples, by embedding similarity), then the trained
 * router over the prompt's features, its threshold held at the target share by the controller
 * (docs/ARCHITECTURE.md#adaptive-routing); with none of them configured, or none deciding, `hybrid`.
 *
 * Semantic routes compare raw text with raw text: a completion's prompt, or a chat's last user message (the
 * examples are embedded the same way at boot). The router reads the whole prompt as the model sees it (the chat
 * template applied), as its training did.
 */
export class QueryRouter implements TierRouter {
  private constructor(
    private readonly options: QueryRouterOptions,
    private readonly routes: SemanticRoutes | undefined,
    readonly router: TrainedRouter | undefined,
    private readonly routerName: string | undefined,
    /** Holds the router's frontier share at `routing.targetFrontierShare`, when both are configured. */
    readonly controller: ShareController | undefined,
    /** The local tiers' latency SLO, when `routing.slo` is configured. */
    readonly slo: LatencySlo | undefined,
  ) {}

  get cascade(): CascadeOptions | undefined {
    return this.options.cascade;
  }

  /**
   * Loads the router file (checked against the verifier's tokenizer and embedding) and embeds the semantic routes'
   * examples. Every problem names its config key (`routing.router`, `routing.routes[i]…`).
   */
  static async create(options: QueryRouterOptions): Promise<QueryRouter> {
    const configs = options.routes ?? [];
    let routes: SemanticRoutes | undefined;
    let embeddingDims: number | undefined;
    if (configs.length > 0) {
      const embedded = await Promise.all(
        configs.map(async (route) => ({
          name: route.name,
          tier: route.tier,
          threshold: route.threshold,
          examples: await Promise.all(route.examples.map(async (text) => (await options.signals(options.encodeText(text))).embedding)),
        })),
      );
      routes = renameParams(() => new SemanticRoutes(embedded));
      embeddingDims = routes.dims;
    }
    let router: TrainedRouter | undefined;
    if (options.routerPath !== undefined) {
      embeddingDims ??= (await options.signals(options.encodeText('Once upon a time'))).embedding.length;
      router = loadRouterFile(options.routerPath, { tokenizer: options.tokenizer, embeddingDims });
      if (options.targetFrontierShare !== undefined) router = router.withTargetShare(options.targetFrontierShare);
    }
    const controllerOptions = options.controller ?? defaultShareController;
    const controller =
      router && options.targetFrontierShare !== undefined && controllerOptions.enabled
        ? new ShareController(
            options.targetFrontierShare,
            router.trainingScores,
            controllerOptions,
            options.budgetUsed,
            options.sharedState?.(basename(options.routerPath!), { ...controllerOptions, target: options.targetFrontierShare }),
          )
        : undefined;
    const slo = options.slo ? new LatencySlo(options.slo) : undefined;
    return new QueryRouter(options, routes, router, options.routerPath === undefined ? undefined : basename(options.routerPath), controller, slo);
  }

  /** Whether anything here decides (otherwise every `auto` request is `hybrid`). */
  get decides(): boolean {
    return this.routes !== undefined || this.router !== undefined || this.slo !== undefined;
  }

  /** The router's threshold now: the controller's, or the calibrated one. */
  get threshold(): number | undefined {
    return this.controller?.threshold ?? this.router?.threshold;
  }

  /** The live state for the metrics' gauges. */
  gauges(load: LocalLoad): RoutingGauges {
    return {
      threshold: this.threshold,
      frontierShare: this.controller?.observedShare,
      targetShare: this.controller?.effectiveTarget,
      localTtftP95Seconds: this.slo ? this.slo.p95Ms / 1000 : undefined,
      projectedWaitSeconds: this.slo ? this.slo.projectedWaitMs(load) / 1000 : undefined,
      spilling: this.slo ? (this.slo.isSpilling ? 1 : 0) : undefined,
    };
  }

  observe(observation: LocalObservation): void {
    if (observation.kind === 'first-token') this.slo?.recordFirstToken(observation.ms);
    else this.slo?.recordServed(observation.ms);
  }

  async decide(request: GenerationRequest, prompt: EncodedPrompt, { signal, load, frontier }: RouteContext): Promise<RouteDecision> {
    const started = performance.now();
    const elapsed = (): number => performance.now() - started;
    if (!this.decides) return { tier: 'hybrid', reason: 'default', latencyMs: 0 };
    // The SLO spills when its readings are breached, and whenever the local queue is full (rather than a 429).
    if (frontier && this.slo && (this.slo.breached(load) || localQueueFull(load))) {
      const score = Math.max(this.slo.p95Ms, this.slo.projectedWaitMs(load));
      return { tier: 'frontier', reason: 'slo', score, threshold: this.slo.options.ttftP95Ms, latencyMs: elapsed() };
    }
    // The whole prompt's signals, computed once and only when needed: a chat that a semantic route matches (on its
    // last user message) never needs them.
    let promptSignals: Promise<PromptSignals> | undefined;
    const signalsOfPrompt = (): Promise<PromptSignals> => (promptSignals ??= this.options.signals(prompt.tokens, { signal }));
    if (this.routes) {
      const input = request.input;
      const last = input.kind === 'chat' ? ([...input.messages].reverse().find((m) => m.role === 'user') ?? input.messages[input.messages.length - 1]!) : undefined;
      const { embedding } = last ? await this.options.signals(this.options.encodeText(last.content), { signal }) : await signalsOfPrompt();
      const match = this.routes.match(embedding);
      if (match) return { tier: match.tier, reason: `route:${match.name}`, score: match.score, threshold: match.threshold, router: match.name, latencyMs: elapsed() };
    }
    if (this.router) {
      const score = this.router.score(featureVectorFromSignals(this.router.featureSpec, await signalsOfPrompt(), request.maxTokens ?? 0));
      const threshold = this.threshold!;
      const toFrontier = score >= threshold;
      this.controller?.observe(score, toFrontier);
      const tier: Tier = toFrontier ? 'frontier' : this.router.localTier;
      return { tier, reason: 'router', score, ...(Number.isFinite(threshold) ? { threshold } : {}), router: this.routerName!, latencyMs: elapsed() };
    }
    return { tier: 'hybrid', reason: 'default', latencyMs: elapsed() };
  }
}

/** SemanticRoutes names `routes[i]…`; the config key is `routing.routes[i]…`. */
function renameParams<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof SpecrouteError && error.param?.startsWith('routes[')) {
      throw new SpecrouteError(error.code, `config: routing.${error.message.replace('(routes[', '(routing.routes[')}`, { param: `routing.${error.param}`, cause: error });
    }
    throw error;
  }
}
