import { TOKEN_SOURCES, type TokenSource } from '../../src/events/token-event.js';
import type { MetricsWindow } from './metrics-window.js';

/** The metrics the dashboard reads (src/observability/metrics.ts). */
export const METRICS = {
  generatedTokens: 'specroute_generation_tokens_total',
  draftTokens: 'specroute_spec_decode_num_draft_tokens_total',
  acceptedTokens: 'specroute_spec_decode_num_accepted_tokens_total',
  draftTokensPerPosition: 'specroute_spec_decode_num_draft_tokens_per_pos_total',
  acceptedTokensPerPosition: 'specroute_spec_decode_num_accepted_tokens_per_pos_total',
  timeToFirstToken: 'specroute_time_to_first_token_seconds',
  interTokenLatency: 'specroute_inter_token_latency_seconds',
  queueDepth: 'specroute_queue_depth',
  activeSequences: 'specroute_active_sequences',
  requests: 'specroute_requests_total',
  escalations: 'specroute_escalations_total',
  breakerState: 'specroute_frontier_breaker_state',
  frontierTokens: 'specroute_frontier_tokens_total',
  frontierCost: 'specroute_frontier_cost_total',
  routeDecisions: 'specroute_route_decisions_total',
} as const;

/** How often the verifier accepted the draft's token at one position of the draft block, since the server started. */
export interface PositionAcceptance {
  /** 0-based position in the draft block. */
  readonly position: number;
  readonly drafted: number;
  readonly accepted: number;
  /** accepted / drafted; null while nothing was drafted there. */
  readonly rate: number | null;
}

/** A total by the values of some labels, e.g. escalations by [outcome, reason]. */
export interface LabelledCount {
  readonly labels: readonly string[];
  readonly count: number;
}

/**
 * What the dashboard shows, read from a metrics window. Rates and percentiles are over the window (null until it
 * holds two scrapes, or when nothing happened in it); totals are since the server started. Latencies in seconds.
 */
export interface Figures {
  /** When the newest scrape was taken, in ms since the epoch. */
  readonly time: number;
  readonly generatedTokens: number;
  readonly tokensPerSecond: number | null;
  readonly tokensPerSecondBySource: Readonly<Record<TokenSource, number | null>>;
  /** Draft tokens accepted / drafted over the window; null when nothing was drafted in it. */
  readonly acceptanceRate: number | null;
  readonly acceptanceByPosition: readonly PositionAcceptance[];
  readonly ttftP50: number | null;
  readonly ttftP95: number | null;
  readonly itlP50: number | null;
  readonly itlP95: number | null;
  readonly queueDepth: number;
  readonly activeSequences: number;
  readonly requests: number;
  /** Requests that ended with an error code (status other than ok). */
  readonly failedRequests: number;
  readonly escalations: number;
  readonly skippedEscalations: number;
  /** By [outcome, reason] (reason '' for spliced ones), most first. */
  readonly escalationsByOutcome: readonly LabelledCount[];
  /** The breaker state whose gauge reads 1 (closed, open, half-open); null if none does. */
  readonly breakerState: string | null;
  readonly frontierInputTokens: number;
  readonly frontierOutputTokens: number;
  readonly frontierCost: number;
  /** By [tier, reason], most first. */
  readonly routeDecisions: readonly LabelledCount[];
}

const ratio = (numerator: number | null, denominator: number | null): number | null =>
  numerator === null || denominator === null || denominator <= 0 ? null : numerator / denominator;

const mostFirst = (groups: Array<{ labels: string[]; value: number }>): LabelledCount[] =>
  groups
    .filter((g) => g.value > 0)
    .map((g) => ({ labels: g.labels, count: g.value }))
    .sort((a, b) => b.count - a.count || a.labels.join('\u0000').localeCompare(b.labels.join('\u0000')));

function acceptanceByPosition(window: MetricsWindow): PositionAcceptance[] {
  const accepted = new Map(window.grouped(METRICS.acceptedTokensPerPosition, ['position']).map((g) => [g.labels[0], g.value]));
  return window
    .grouped(METRICS.draftTokensPerPosition, ['position'])
    .map((g) => {
      const acceptedHere = accepted.get(g.labels[0]) ?? 0;
      return { position: Number(g.labels[0]), drafted: g.value, accepted: acceptedHere, rate: ratio(acceptedHere, g.value) };
    })
    .filter((p) => Number.isInteger(p.position))
    .sort((a, b) => a.position - b.position);
}

/** The figures of the window's newest scrape; undefined before the first. */
export function readFigures(window: MetricsWindow): Figures | undefined {
  const latest = window.latest;
  if (!latest) return undefined;
  const total = (name: string, labels: Readonly<Record<string, string>> = {}): number => window.current(name, labels) ?? 0;
  const requests = total(METRICS.requests);
  const escalations = total(METRICS.escalations);
  const breaker = window.grouped(METRICS.breakerState, ['state']).find((g) => g.value === 1);
  return {
    time: latest.time,
    generatedTokens: total(METRICS.generatedTokens),
    tokensPerSecond: window.rate(METRICS.generatedTokens),
    tokensPerSecondBySource: Object.fromEntries(TOKEN_SOURCES.map((source) => [source, window.rate(METRICS.generatedTokens, { source })])) as Record<TokenSource, number | null>,
    acceptanceRate: ratio(window.increase(METRICS.acceptedTokens), window.increase(METRICS.draftTokens)),
    acceptanceByPosition: acceptanceByPosition(window),
    ttftP50: window.quantile(0.5, METRICS.timeToFirstToken),
    ttftP95: window.quantile(0.95, METRICS.timeToFirstToken),
    itlP50: window.quantile(0.5, METRICS.interTokenLatency),
    itlP95: window.quantile(0.95, METRICS.interTokenLatency),
    queueDepth: total(METRICS.queueDepth),
    activeSequences: total(METRICS.activeSequences),
    requests,
    failedRequests: requests - total(METRICS.requests, { status: 'ok' }),
    escalations,
    skippedEscalations: total(METRICS.escalations, { outcome: 'skipped' }),
    escalationsByOutcome: mostFirst(window.grouped(METRICS.escalations, ['outcome', 'reason'])),
    breakerState: breaker?.labels[0] ?? null,
    frontierInputTokens: total(METRICS.frontierTokens, { direction: 'input' }),
    frontierOutputTokens: total(METRICS.frontierTokens, { direction: 'output' }),
    frontierCost: total(METRICS.frontierCost),
    routeDecisions: mostFirst(window.grouped(METRICS.routeDecisions, ['tier', 'reason'])),
  };
}
