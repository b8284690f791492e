/**
 * The composition root: config → models → scheduler → ingress (HTTP and gRPC), and graceful shutdown. The only
 * place that listens on sockets.
 */
import { basename, resolve } from 'node:path';
import { fetchConfigModels } from './config/fetch-models.js';
import type { ResolvedConfig } from './config/load-config.js';
import { buildHttpApp } from './ingress/http/app.js';
import { startGrpcServer } from './ingress/grpc/server.js';
import type { ModelCard, ServerContext } from './ingress/server-context.js';
import { Escalator } from './escalation/escalator.js';
import { ensureDerivedDraft } from './models/derived-draft.js';
import { Metrics } from './observability/metrics.js';
import { SpeculativeEngine } from './pipeline/engine.js';
import { FrontierTier } from './pipeline/frontier-tier.js';
import { tokenizerFingerprint } from './backends/tokenizer-fingerprint.js';
import { QueryRouter } from './routing/query-router.js';
import { Scheduler } from './scheduler/scheduler.js';
import { KeyQuotas } from './scheduler/key-quotas.js';
import { ApiKeyRing } from './ingress/auth.js';
import { RedisConnection } from './state/redis-connection.js';
import { MemoryWindows, SharedWindows } from './state/sliding-windows.js';
import { SharedBreaker } from './escalation/shared-breaker.js';
import { RedisShareState } from './routing/redis-share-state.js';

export interface RunningServer {
  /** `http://host:port` of the OpenAI-compatible API. */
  readonly httpUrl: string;
  readonly httpPort: number;
  /** The gRPC port, or null when gRPC is disabled. */
  readonly grpcPort: number | null;
  readonly engine: SpeculativeEngine;
  readonly scheduler: Scheduler;
  readonly metrics: Metrics;
  /** The query router of `auto` requests, when routing has semantic routes or a router file. */
  readonly router: QueryRouter | undefined;
  /** Graceful shutdown: stop admitting, drain streams in flight (up to `server.shutdownGraceMs`), free the models. */
  close(): Promise<void>;
}

export type Log = (message: string) => void;

/**
 * Boots the server. Models the config names by URI are fetched into `cacheDir` (or found there) first, each
 * transfer announced by one `log` line; `specroute serve` fetches them itself beforehand, with a progress bar.
 */
export async function startServer(resolved: ResolvedConfig, log: Log = () => undefined): Promise<RunningServer> {
  const config = await fetchConfigModels(resolved, { log });
  const draftPath = await resolveDraft(config, log);
  const metrics = new Metrics();
  const { frontier, breaker, budget, policy } = config.escalation;
  // Shared state (docs/ARCHITECTURE.md#shared-state): with state.redis, the limits every replica must hold together.
  const redisOptions = config.state.redis;
  const redis = redisOptions
    ? new RedisConnection(redisOptions, (up, reason) => {
        metrics.redisUp.set(up ? 1 : 0);
        log(up ? `state: Redis at ${redactUrl(redisOptions.url)} answers; limits are shared` : `state: Redis does not answer (${reason}); limits are this replica's own until it does`);
      })
    : undefined;
  const onLocal = (operation: string): void => metrics.stateLocal.inc({ operation });
  const windows = redis ? new SharedWindows(redis, onLocal) : new MemoryWindows();
  const observer = metrics.escalationObserver();
  const escalator = frontier
    ? new Escalator({ frontier, breaker, budget, policy }, observer, process.env, {
        windows,
        ...(redis ? { breaker: new SharedBreaker(redis, breaker, (state) => observer.breakerChanged?.(state), onLocal) } : {}),
      })
    : undefined;
  const sequences = config.limits.maxConcurrent;
  const { verifier, draft } = config.model;
  const runtime = (m: Pick<typeof verifier, 'executionProviders' | 'kvCacheType' | 'tokenizer'>) => ({
    executionProviders: m.executionProviders,
    kvCacheType: m.kvCacheType,
    ...(m.tokenizer ? { tokenizerPath: resolve(config.modelsDir, m.tokenizer) } : {}),
  });
  const engine = await SpeculativeEngine.load({
    verifier: { modelPath: config.verifierPath, threads: verifier.threads, contextSize: verifier.contextSize, batchSize: verifier.batchSize, gpuLayers: verifier.gpuLayers, sequences, ...runtime(verifier) },
    ...(draftPath && draft
      ? { draft: { modelPath: draftPath, threads: draft.threads, contextSize: draft.contextSize, batchSize: draft.batchSize, gpuLayers: draft.gpuLayers, sequences, ...runtime(draft) } }
      : {}),
    speculation: config.speculation,
    sampling: config.sampling,
    batching: config.batching,
    ...(escalator ? { escalator } : {}),
    // A worker thread that dies is restarted with its model (docs/ARCHITECTURE.md#workers-that-recover).
    workers: {
      onEvent: (event) => {
        log(event.message);
        if (event.kind === 'restarted') metrics.workerRestarts.inc({ role: event.role });
      },
    },
  });
  // Other replicas spend too: refresh the hour's spending the controller reads, once a second.
  const spending = redis && escalator && budget.maxCostPerHour > 0 ? setInterval(() => void escalator.budget.spentLastHour(), 1000).unref() : undefined;
  const cleanup: Array<() => Promise<void>> = [() => engine.dispose(), async () => (clearInterval(spending), escalator?.dispose()), async () => redis?.dispose()];
  try {
    const tiers = { hybrid: engine, slm: engine.slm, frontier: escalator ? new FrontierTier(escalator, engine.tokenizer, engine) : undefined };
    const { routes, targetFrontierShare, controller, slo, cascade } = config.routing;
    const maxCostPerHour = budget.maxCostPerHour;
    const router =
      routes.length > 0 || config.routerPath !== undefined || slo !== undefined || cascade !== undefined
        ? await QueryRouter.create({
            signals: (tokens, options) => engine.verifier.promptSignals(tokens, options),
            encodeText: (text) => engine.encodePrompt(text),
            tokenizer: tokenizerFingerprint(engine.tokenizer),
            routes,
            ...(config.routerPath !== undefined ? { routerPath: config.routerPath } : {}),
            ...(targetFrontierShare !== undefined ? { targetFrontierShare } : {}),
            controller,
            ...(escalator && maxCostPerHour > 0 ? { budgetUsed: () => escalator.budget.spentRecently / maxCostPerHour } : {}),
            ...(redis ? { sharedState: (name, options) => new RedisShareState(redis, name, options, onLocal) } : {}),
            ...(slo ? { slo } : {}),
            ...(cascade ? { cascade } : {}),
          })
        : undefined;
    const scheduler = new Scheduler(tiers, metrics, {
      modelId: config.modelId,
      maxConcurrent: sequences,
      maxQueue: config.limits.maxQueue,
      requestTimeoutMs: config.limits.requestTimeoutMs,
      defaultMaxTokens: config.limits.defaultMaxTokens,
      speculation: config.speculation,
      defaultRoute: config.routing.default,
      ...(router ? { router } : {}),
      ...(config.routing.local.maxInputTokens !== undefined ? { maxInputTokens: config.routing.local.maxInputTokens } : {}),
      ...(config.authKeys.length > 0 ? { quotas: new KeyQuotas(windows) } : {}),
    });
    metrics.bind({
      queueDepth: () => scheduler.queueDepth,
      activeSequences: () => engine.verifier.openSequences,
      verifierBatchSizes: async () => (await engine.verifier.stats()).batchSizes,
      ...(engine.lockStep ? { steps: () => ({ passes: engine.lockStep!.passCounts(), gammaByBatchSize: engine.lockStep!.loadGamma?.gammaByBatchSize }) } : {}),
      workersUp: () => ({ verifier: engine.verifier.available, ...(engine.draft ? { draft: engine.draft.available } : {}) }),
      ...(router ? { routing: () => router.gauges(scheduler.load) } : {}),
    });
    const card: ModelCard = {
      id: config.modelId,
      created: Math.floor(Date.now() / 1000),
      ownedBy: 'specroute',
      contextSize: engine.contextSize,
      verifier: basename(config.verifierPath),
      draft: draftPath ? basename(draftPath) : null,
    };
    // Ready once listening, until shutdown begins, and while every model worker is up (not restarting).
    let started = false;
    let closing: Promise<void> | undefined;
    const ctx: ServerContext = {
      scheduler,
      metrics,
      models: [card],
      tokenizer: engine.tokenizer,
      keys: new ApiKeyRing(config.auth.apiKeys, config.authKeys),
      maxBodyBytes: config.server.maxBodyBytes,
      heartbeatSeconds: config.server.heartbeatSeconds,
      ui: config.server.ui,
      ready: () => started && closing === undefined && engine.healthy,
    };

    const app = await buildHttpApp(ctx);
    await app.listen({ host: config.server.host, port: config.server.port });
    cleanup.unshift(() => app.close());
    const address = app.server.address();
    const httpPort = typeof address === 'object' && address ? address.port : config.server.port;
    const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;

    let grpcPort: number | null = null;
    if (config.server.grpcPort >= 0) {
      const grpc = await startGrpcServer(ctx, { host: config.server.host, port: config.server.grpcPort });
      grpcPort = grpc.port;
      cleanup.unshift(() => grpc.close(config.server.shutdownGraceMs));
    }
    started = true;
    log(`serving ${config.modelId} (verifier ${config.verifierPath}${draftPath ? `, draft ${draftPath}` : ', no draft'}${frontier ? `, frontier ${frontier.model} at ${frontier.baseUrl}` : ''})`);
    log(`routing: default ${config.routing.default}${router?.router ? `, router ${config.routerPath} (threshold ${router.router.threshold.toFixed(4)})` : ''}${routes.length > 0 ? `, ${routes.length} semantic route(s)` : ''}`);
    log(`HTTP on http://${host}:${httpPort}${grpcPort !== null ? `, gRPC on ${host}:${grpcPort}` : ''}`);

    return {
      httpUrl: `http://${host}:${httpPort}`,
      httpPort,
      grpcPort,
      engine,
      scheduler,
      metrics,
      router,
      close: () =>
        (closing ??= (async () => {
          await scheduler.drain(config.server.shutdownGraceMs);
          for (const step of cleanup) await step().catch((error: unknown) => log(`shutdown: ${(error as Error).message}`));
        })()),
    };
  } catch (error) {
    for (const step of cleanup) await step().catch(() => undefined);
    throw error;
  }
}

async function resolveDraft(config: ResolvedConfig, log: Log): Promise<string | undefined> {
  const source = config.draftSource;
  if (source.kind === 'none') return undefined;
  if (source.kind === 'file') return source.path;
  const { path, made } = await ensureDerivedDraft({
    from: config.verifierPath,
    out: source.out,
    ...(source.layers ? { layers: source.layers } : {}),
    ...(source.quantize ? { quantize: source.quantize } : {}),
  });
  if (made) log(`made draft ${path} from ${config.verifierPath}`);
  return path;
}

/** A URL without its password, for logs. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured URL';
  }
}
