import { basename } from 'node:path';
import type { GenerationRequest } from '../contract/generation-request.js';
import type { EncodedPrompt } from '../contract/generator.js';
import type { PromptSignals } from '../contract/router-features.js';
import type { TierRouter } from '../contract/tier-router.js';
import { SpecrouteError } from '../errors/registry.js';
import type { RouteDecision, Tier } from '../events/route-decision.js';
import { featureVectorFromSignals } from './feature-vector.js';
import { loadRouterFile, type TrainedRouter } from './router-file.js';
import { SemanticRoutes } from './semantic-routes.js';
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
}

/**
 * The query-level decision for `auto` requests (docs/ARCHITECTURE.md#query-level-routing): semantic routes first
 * (the request's text against each route's examples, by embedding similarity), then the trained router over the
 * prompt's features; with neither configured, or neither deciding, `hybrid`.
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
  ) {}

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
    return new QueryRouter(options, routes, router, options.routerPath === undefined ? undefined : basename(options.routerPath));
  }

  /** Whether anything here decides (otherwise every `auto` request is `hybrid`). */
  get decides(): boolean {
    return this.routes !== undefined || this.router !== undefined;
  }

  async decide(request: GenerationRequest, prompt: EncodedPrompt, signal: AbortSignal): Promise<RouteDecision> {
    const started = performance.now();
    const elapsed = (): number => performance.now() - started;
    if (!this.decides) return { tier: 'hybrid', reason: 'default', latencyMs: 0 };
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
      const tier: Tier = this.router.toFrontier(score) ? 'frontier' : this.router.localTier;
      return { tier, reason: 'router', score, ...(Number.isFinite(this.router.threshold) ? { threshold: this.router.threshold } : {}), router: this.routerName!, latencyMs: elapsed() };
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
