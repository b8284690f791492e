import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Transport } from '../contract/generation-request.js';
import type { SpeculationStats } from '../events/speculation-stats.js';

/**
 * What the escalator reports to the metrics. It is the escalator's `EscalationObserver` written structurally, so
 * that observability (a floor) does not import escalation; main.ts hands one to the `Escalator`, and the type
 * checker compares the two there.
 */
export interface EscalationMetricsObserver {
  breakerChanged(state: 'closed' | 'open' | 'half-open'): void;
  outcome(
    outcome: { readonly kind: 'spliced' | 'skipped'; readonly reason?: string; readonly latencyMs: number; readonly attempts: number },
    usage: { readonly inputTokens: number; readonly outputTokens: number; readonly cost: number },
  ): void;
  frontierCall(usage: { readonly inputTokens: number; readonly outputTokens: number; readonly cost: number }): void;
}

/** Live values read at scrape time. */
export interface MetricsSources {
  queueDepth(): number;
  activeSequences(): number;
  /** Sequences per verifier batch since start: size → batches (from the verifier worker). */
  verifierBatchSizes(): Promise<Record<number, number>>;
  /** Whether each model worker (by role: `verifier`, `draft`) has its model loaded on a live thread now. */
  workersUp?(): Record<string, boolean>;
  /** Adaptive routing's live state; absent readings are not exported. */
  routing?(): RoutingGauges;
  /** The lock-step passes (docs/ARCHITECTURE.md#lock-step-steps); absent when requests step on their own. */
  steps?(): StepGauges;
}

/** What the lock-step passes carried since start, by model, and the γ ceiling by batch size. */
export interface StepGauges {
  /** By model role (`verifier`, `draft`): passes, sequences and tokens in them, evaluations split over passes. */
  readonly passes: Readonly<Record<string, { readonly passes: number; readonly sequences: number; readonly tokens: number; readonly chunked: number }>>;
  /** The γ ceiling for 1, 2, … sequences in a step, when speculation adapts to load (a profile is loaded). */
  readonly gammaByBatchSize?: readonly number[] | undefined;
}

/** Adaptive routing's live state (docs/ARCHITECTURE.md#adaptive-routing). */
export interface RoutingGauges {
  /** The trained router's threshold now. */
  readonly threshold?: number | undefined;
  /** The controller's EMA of the router's frontier share. */
  readonly frontierShare?: number | undefined;
  /** The share the controller aims for (the target, lowered as the cost budget runs out). */
  readonly targetShare?: number | undefined;
  /** The local tiers' TTFT p95 over the SLO window, in seconds. */
  readonly localTtftP95Seconds?: number | undefined;
  /** The projected wait of a local request admitted now, in seconds. */
  readonly projectedWaitSeconds?: number | undefined;
  /** 1 while `auto` requests spill to the frontier. */
  readonly spilling?: number | undefined;
}

/**
 * The server's Prometheus metrics, in one registry. Speculation counters are named after vLLM's
 * (`spec_decode_num_drafts`, `…_num_draft_tokens`, `…_num_accepted_tokens`, `…_num_accepted_tokens_per_pos`).
 */
export class Metrics {
  readonly registry = new Registry();
  private sources: MetricsSources | undefined;

  readonly requests = new Counter({
    name: 'specroute_requests_total',
    help: 'Requests by transport and final status (ok, or the error code).',
    labelNames: ['transport', 'status'] as const,
    registers: [this.registry],
  });
  readonly drafts = new Counter({
    name: 'specroute_spec_decode_num_drafts_total',
    help: 'Draft blocks proposed (one per verifier pass that had a draft).',
    registers: [this.registry],
  });
  readonly draftTokens = new Counter({
    name: 'specroute_spec_decode_num_draft_tokens_total',
    help: 'Draft tokens proposed.',
    registers: [this.registry],
  });
  readonly acceptedTokens = new Counter({
    name: 'specroute_spec_decode_num_accepted_tokens_total',
    help: 'Draft tokens accepted by the verifier.',
    registers: [this.registry],
  });
  readonly acceptedPerPosition = new Counter({
    name: 'specroute_spec_decode_num_accepted_tokens_per_pos_total',
    help: 'Draft tokens accepted, by 0-based position in the draft block.',
    labelNames: ['position'] as const,
    registers: [this.registry],
  });
  readonly draftedPerPosition = new Counter({
    name: 'specroute_spec_decode_num_draft_tokens_per_pos_total',
    help: 'Draft tokens proposed, by 0-based position in the draft block.',
    labelNames: ['position'] as const,
    registers: [this.registry],
  });
  readonly generatedTokens = new Counter({
    name: 'specroute_generation_tokens_total',
    help: 'Tokens generated, by source.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly promptTokens = new Counter({
    name: 'specroute_prompt_tokens_total',
    help: 'Prompt tokens processed.',
    registers: [this.registry],
  });
  readonly timeToFirstToken = new Histogram({
    name: 'specroute_time_to_first_token_seconds',
    help: 'From admission to the first token event, queueing included.',
    labelNames: ['transport'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly interTokenLatency = new Histogram({
    name: 'specroute_inter_token_latency_seconds',
    help: 'Between consecutive token events of one stream.',
    labelNames: ['transport'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'specroute_request_duration_seconds',
    help: 'From admission to the end of the stream.',
    labelNames: ['transport'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly escalations = new Counter({
    name: 'specroute_escalations_total',
    help: 'Escalations to the frontier by outcome (spliced, skipped) and reason (for skipped ones).',
    labelNames: ['outcome', 'reason'] as const,
    registers: [this.registry],
  });
  readonly frontierLatency = new Histogram({
    name: 'specroute_frontier_latency_seconds',
    help: 'Time of an escalation that reached the frontier, retries included.',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly frontierTokens = new Counter({
    name: 'specroute_frontier_tokens_total',
    help: 'Tokens exchanged with the frontier, as it counts them (direction: input, output).',
    labelNames: ['direction'] as const,
    registers: [this.registry],
  });
  readonly frontierCost = new Counter({
    name: 'specroute_frontier_cost_total',
    help: 'Spent on the frontier, from the configured prices per million tokens.',
    registers: [this.registry],
  });
  readonly routeDecisions = new Counter({
    name: 'specroute_route_decisions_total',
    help: 'Tier decisions, by tier and reason (request, default, route:<name>, router, slo, context, cascade, fallback); a request a cascade or a fallback moves counts once more.',
    labelNames: ['tier', 'reason'] as const,
    registers: [this.registry],
  });
  readonly routerLatency = new Histogram({
    name: 'specroute_router_latency_seconds',
    help: 'Time to decide the tier of an `auto` request (features, semantic routes, the trained router).',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [this.registry],
  });
  readonly tierRequests = new Counter({
    name: 'specroute_tier_requests_total',
    help: 'Requests by the tier that finished them, the reason of that route, and final status (ok, or the error code).',
    labelNames: ['tier', 'reason', 'status'] as const,
    registers: [this.registry],
  });
  readonly tierTokens = new Counter({
    name: 'specroute_tier_tokens_total',
    help: 'Tokens by tier, the reason of the route that finished the request, and kind: completion tokens by the tier that generated them, prompt tokens by the tier that finished the request.',
    labelNames: ['tier', 'reason', 'kind'] as const,
    registers: [this.registry],
  });
  readonly tierCost = new Counter({
    name: 'specroute_tier_cost_total',
    help: 'Spent on the frontier, by the tier that spent it (hybrid: escalated spans; frontier: whole requests) and the reason of the route that finished the request.',
    labelNames: ['tier', 'reason'] as const,
    registers: [this.registry],
  });
  readonly tierDuration = new Histogram({
    name: 'specroute_tier_request_duration_seconds',
    help: 'Time from admission to the last event, by the tier that finished the request and the reason of its route.',
    labelNames: ['tier', 'reason'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });
  readonly tierTimeToFirstToken = new Histogram({
    name: 'specroute_tier_time_to_first_token_seconds',
    help: 'Time from admission to the first token (queueing and a cascade probe included), by the tier that finished the request and the reason of its route.',
    labelNames: ['tier', 'reason'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly cascadeProbes = new Counter({
    name: 'specroute_cascade_probes_total',
    help: 'Cascade probes by outcome: stayed (confident), moved (to the frontier), refused (not confident, but the frontier refused).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly fallbacks = new Counter({
    name: 'specroute_fallbacks_total',
    help: 'Requests a failing tier handed to another, by tier from and to, and phase (before_first_token, mid_stream).',
    labelNames: ['from', 'to', 'phase'] as const,
    registers: [this.registry],
  });
  readonly keyRequests = new Counter({
    name: 'specroute_key_requests_total',
    help: 'Requests by API key name (auth.keys) and final status (ok, or the error code: quota_exceeded over a quota).',
    labelNames: ['key', 'status'] as const,
    registers: [this.registry],
  });
  readonly keyTokens = new Counter({
    name: 'specroute_key_tokens_total',
    help: 'Tokens by API key name: its requests\' prompts and completions, as tokensPerMinute counts them.',
    labelNames: ['key'] as const,
    registers: [this.registry],
  });
  readonly keyFrontierCost = new Counter({
    name: 'specroute_key_frontier_cost_total',
    help: 'Frontier spending by API key name, in the currency of the configured prices (as frontierCostPerDay counts it).',
    labelNames: ['key'] as const,
    registers: [this.registry],
  });
  readonly redisUp = new Gauge({
    name: 'specroute_state_redis_up',
    help: 'Whether the shared state (state.redis) answers: 1, or 0 while this replica uses its own limits.',
    registers: [this.registry],
  });
  readonly stateLocal = new Counter({
    name: 'specroute_state_local_total',
    help: 'Operations on shared state answered by this replica alone because Redis did not (down, slow or failing).',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  readonly workerRestarts = new Counter({
    name: 'specroute_worker_restarts_total',
    help: 'Model worker threads that died and were replaced by a new thread with the model loaded again, by role (verifier, draft).',
    labelNames: ['role'] as const,
    registers: [this.registry],
  });
  readonly breakerState = new Gauge({
    name: 'specroute_frontier_breaker_state',
    help: 'The frontier circuit breaker: 1 for its current state, 0 for the others.',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });

  constructor() {
    for (const state of ['closed', 'open', 'half-open']) this.breakerState.set({ state }, state === 'closed' ? 1 : 0);
    collectDefaultMetrics({ register: this.registry, prefix: 'specroute_' });
    const self = this;
    new Gauge({
      name: 'specroute_queue_depth',
      help: 'Requests admitted and waiting for a sequence.',
      registers: [this.registry],
      collect() {
        this.set(self.sources?.queueDepth() ?? 0);
      },
    });
    new Gauge({
      name: 'specroute_active_sequences',
      help: 'Requests holding a sequence (KV cache) on the models now.',
      registers: [this.registry],
      collect() {
        this.set(self.sources?.activeSequences() ?? 0);
      },
    });
    new Gauge({
      name: 'specroute_verifier_batches_by_sequences',
      help: 'Verifier evaluation batches since start, by how many sequences (requests) shared the batch.',
      labelNames: ['sequences'] as const,
      registers: [this.registry],
      async collect() {
        const sizes = (await self.sources?.verifierBatchSizes()) ?? {};
        for (const [size, count] of Object.entries(sizes)) this.set({ sequences: size }, count);
      },
    });
    const stepCounter = (name: string, help: string, key: 'passes' | 'sequences' | 'tokens' | 'chunked'): void => {
      new Counter({
        name,
        help,
        labelNames: ['model'] as const,
        registers: [this.registry],
        collect() {
          const passes = self.sources?.steps?.().passes;
          if (!passes) return;
          this.reset();
          for (const [model, counts] of Object.entries(passes)) this.inc({ model }, counts[key]);
        },
      });
    };
    stepCounter('specroute_step_passes_total', 'Lock-step passes by model (verifier, draft).', 'passes');
    stepCounter('specroute_step_sequences_total', 'Sequences (requests) in the lock-step passes, added up: divided by the passes, the mean batch.', 'sequences');
    stepCounter('specroute_step_tokens_total', 'Tokens evaluated in the lock-step passes, added up (a draft pass counts each drafted position).', 'tokens');
    stepCounter('specroute_step_chunked_total', 'Evaluations split over passes (batching.prefillChunk): long prompts prefilled in chunks.', 'chunked');
    new Gauge({
      name: 'specroute_speculation_gamma_ceiling',
      help: 'The largest draft length a step of this many sequences may use (speculation that adapts to load; from batching.profile, refined online).',
      labelNames: ['batch_size'] as const,
      registers: [this.registry],
      collect() {
        const table = self.sources?.steps?.().gammaByBatchSize;
        if (!table) return;
        table.forEach((gamma, i) => this.set({ batch_size: String(i + 1) }, gamma));
      },
    });
    new Gauge({
      name: 'specroute_worker_up',
      help: 'Whether a model worker has its model loaded on a live thread (1), or is restarting after its thread died (0), by role.',
      labelNames: ['role'] as const,
      registers: [this.registry],
      collect() {
        for (const [role, up] of Object.entries(self.sources?.workersUp?.() ?? {})) this.set({ role }, up ? 1 : 0);
      },
    });
    const routingGauge = (name: string, help: string, key: keyof RoutingGauges): void => {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const value = self.sources?.routing?.()[key];
          if (value !== undefined && Number.isFinite(value)) this.set(value);
        },
      });
    };
    routingGauge('specroute_router_threshold', "The trained router's threshold now (moved by the share controller).", 'threshold');
    routingGauge('specroute_router_frontier_share', "The share controller's EMA of the router's decisions that went to the frontier.", 'frontierShare');
    routingGauge('specroute_router_target_share', 'The frontier share the controller aims for: routing.targetFrontierShare, lowered as the hourly cost budget runs out.', 'targetShare');
    routingGauge('specroute_slo_local_ttft_p95_seconds', "The local tiers' time to first token at p95 over the SLO window.", 'localTtftP95Seconds');
    routingGauge('specroute_slo_projected_wait_seconds', 'How long a local request admitted now would wait for a sequence.', 'projectedWaitSeconds');
    routingGauge('specroute_slo_spilling', '1 while the local tiers breach their latency SLO and auto requests spill to the frontier.', 'spilling');
  }

  /** Connects the live gauges to the running server. */
  bind(sources: MetricsSources): void {
    this.sources = sources;
  }

  /** Records the speculation counters of one finished generation. */
  recordStats(stats: SpeculationStats): void {
    const blocksWithDraft = stats.byPosition[0]?.drafted ?? 0;
    this.drafts.inc(blocksWithDraft);
    this.draftTokens.inc(stats.drafted);
    this.acceptedTokens.inc(stats.accepted);
    stats.byPosition.forEach((p, i) => {
      this.draftedPerPosition.inc({ position: String(i) }, p.drafted);
      this.acceptedPerPosition.inc({ position: String(i) }, p.accepted);
    });
  }

  /** Wires the escalator's outcomes and breaker changes into the metrics. */
  escalationObserver(): EscalationMetricsObserver {
    return {
      breakerChanged: (state) => {
        for (const s of ['closed', 'open', 'half-open']) this.breakerState.set({ state: s }, s === state ? 1 : 0);
      },
      outcome: (outcome, usage) => {
        this.escalations.inc({ outcome: outcome.kind, reason: outcome.kind === 'skipped' ? (outcome.reason ?? '') : '' });
        if (outcome.attempts > 0) this.frontierLatency.observe(outcome.latencyMs / 1000);
        this.frontierTokens.inc({ direction: 'input' }, usage.inputTokens);
        this.frontierTokens.inc({ direction: 'output' }, usage.outputTokens);
        this.frontierCost.inc(usage.cost);
      },
      frontierCall: (usage) => {
        this.frontierTokens.inc({ direction: 'input' }, usage.inputTokens);
        this.frontierTokens.inc({ direction: 'output' }, usage.outputTokens);
        this.frontierCost.inc(usage.cost);
      },
    };
  }

  /** Records a tier decision (and, for an `auto` request, how long it took). */
  routeDecided(decision: { readonly tier: string; readonly reason: string; readonly latencyMs: number }, decided: boolean): void {
    this.routeDecisions.inc({ tier: decision.tier, reason: decision.reason });
    if (decided) this.routerLatency.observe(decision.latencyMs / 1000);
  }

  /** A request's end, counted by transport and status, and by API key name when its key has one (`auth.keys`). */
  requestFinished(transport: Transport, status: string, key?: string): void {
    this.requests.inc({ transport, status });
    if (key !== undefined) this.keyRequests.inc({ key, status });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
