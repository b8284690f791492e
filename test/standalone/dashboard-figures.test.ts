/**
 * The dashboard's arithmetic (ui/dashboard/): what it reads from scrapes of GET /metrics — rates from counter rises,
 * acceptance, histogram quantiles as Prometheus's histogram_quantile computes them, counter resets — checked on
 * scrapes shaped like the server's, and on the server's own metrics (src/observability/metrics.ts) rendered.
 */
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/observability/metrics.js';
import { figureTexts, FIGURE_NAMES } from '../../ui/dashboard/figure-texts.js';
import { readFigures } from '../../ui/dashboard/figures.js';
import { histogramQuantile } from '../../ui/dashboard/histogram-quantile.js';
import { MetricsWindow, readScrape } from '../../ui/dashboard/metrics-window.js';
import { DEFAULT_INTERVAL_MS, MIN_INTERVAL_MS, pollInterval } from '../../ui/dashboard/poll-interval.js';
import { parsePrometheus } from '../../ui/shared/prometheus-text.js';

/** specroute_time_to_first_token_seconds's bounds (src/observability/metrics.ts). */
const TTFT_BOUNDS = ['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '+Inf'];

/** A histogram's lines as prom-client writes them, from its cumulative counts per bound. */
function histogram(name: string, transport: string, cumulative: Record<string, number>): string {
  let last = 0;
  const lines = TTFT_BOUNDS.map((le) => {
    last = cumulative[le] ?? last;
    return `${name}_bucket{le="${le}",transport="${transport}"} ${last}`;
  });
  return [...lines, `${name}_sum{transport="${transport}"} 0`, `${name}_count{transport="${transport}"} ${last}`].join('\n');
}

interface Counts {
  draft: number;
  verifier: number;
  bonus: number;
  drafted: number;
  accepted: number;
  /** TTFT cumulative counts by bound, per transport. */
  http: Record<string, number>;
  grpc: Record<string, number>;
  active: number;
}

/** A scrape of the server's shape (HELP/TYPE lines, label order, blank lines between families). */
function exposition(c: Counts): string {
  return `# HELP specroute_generation_tokens_total Tokens generated, by source.
# TYPE specroute_generation_tokens_total counter
specroute_generation_tokens_total{source="draft"} ${c.draft}
specroute_generation_tokens_total{source="verifier"} ${c.verifier}
specroute_generation_tokens_total{source="bonus"} ${c.bonus}

# HELP specroute_spec_decode_num_draft_tokens_total Draft tokens proposed.
# TYPE specroute_spec_decode_num_draft_tokens_total counter
specroute_spec_decode_num_draft_tokens_total ${c.drafted}

# HELP specroute_spec_decode_num_accepted_tokens_total Draft tokens accepted by the verifier.
# TYPE specroute_spec_decode_num_accepted_tokens_total counter
specroute_spec_decode_num_accepted_tokens_total ${c.accepted}

# HELP specroute_time_to_first_token_seconds From admission to the first token event, queueing included.
# TYPE specroute_time_to_first_token_seconds histogram
${histogram('specroute_time_to_first_token_seconds', 'http', c.http)}
${histogram('specroute_time_to_first_token_seconds', 'grpc', c.grpc)}

# HELP specroute_active_sequences Requests holding a sequence (KV cache) on the models now.
# TYPE specroute_active_sequences gauge
specroute_active_sequences ${c.active}

# HELP specroute_frontier_breaker_state The frontier circuit breaker: 1 for its current state, 0 for the others.
# TYPE specroute_frontier_breaker_state gauge
specroute_frontier_breaker_state{state="closed"} 0
specroute_frontier_breaker_state{state="open"} 0
specroute_frontier_breaker_state{state="half-open"} 1
`;
}

const first: Counts = { draft: 100, verifier: 40, bonus: 10, drafted: 200, accepted: 100, http: { '0.01': 3 }, grpc: { '0.025': 1 }, active: 2 };
// One second later: 60 draft, 20 verifier, 5 bonus tokens; 100 drafted, 60 accepted; 10 first tokens: 2 at most
// 25 ms, 6 more at most 50 ms, 2 more at most 100 ms (split over both transports).
const second: Counts = {
  draft: 160,
  verifier: 60,
  bonus: 15,
  drafted: 300,
  accepted: 160,
  http: { '0.01': 3, '0.025': 4, '0.05': 8, '0.1': 10 },
  grpc: { '0.025': 2, '0.05': 4 },
  active: 3,
};

describe('the dashboard figures', () => {
  it('reads rates and acceptance from the rise of counters between scrapes', () => {
    const window = new MetricsWindow(3);
    window.push(readScrape(10_000, exposition(first)));
    expect(window.rate('specroute_generation_tokens_total')).toBeNull();
    window.push(readScrape(11_000, exposition(second)));
    expect(window.seconds).toBe(1);
    expect(window.increase('specroute_generation_tokens_total')).toBe(85);
    expect(window.rate('specroute_generation_tokens_total', { source: 'draft' })).toBe(60);
    expect(window.current('specroute_generation_tokens_total')).toBe(235);

    const f = readFigures(window)!;
    expect(f.time).toBe(11_000);
    expect(f.generatedTokens).toBe(235);
    expect(f.tokensPerSecond).toBe(85);
    expect(f.tokensPerSecondBySource).toEqual({ draft: 60, verifier: 20, bonus: 5, frontier: 0, grammar: 0 });
    expect(f.acceptanceRate).toBeCloseTo(60 / 100, 12);
    expect(f.activeSequences).toBe(3);
    expect(f.breakerState).toBe('half-open');
  });

  it('computes p50 and p95 from the bucket rises over the window, summed across transports, as histogram_quantile does', () => {
    const window = new MetricsWindow(3);
    window.push(readScrape(0, exposition(first)));
    window.push(readScrape(1000, exposition(second)));
    // Cumulative rises: ≤25 ms: 2, ≤50 ms: 8, ≤100 ms: 10 (the 4 observations of the first scrape are not in the window).
    // p50: rank 5 falls in (25, 50] ms, 3 of its 6 in: 25 + 25 × 3/6 = 37.5 ms.
    // p95: rank 9.5 falls in (50, 100] ms, 1.5 of its 2 in: 50 + 50 × 1.5/2 = 87.5 ms.
    const f = readFigures(window)!;
    expect(f.ttftP50).toBeCloseTo(0.0375, 12);
    expect(f.ttftP95).toBeCloseTo(0.0875, 12);
    expect(f.itlP50).toBeNull();
    expect(figureTexts(f)['ttft-p50']).toEqual({ text: '37.5', value: String(f.ttftP50) });
    expect(figureTexts(f)['ttft-p95'].text).toBe('87.5');
  });

  it('counts a counter that restarts (the server did) from zero, never as a fall', () => {
    const window = new MetricsWindow(3);
    window.push(readScrape(0, exposition(first)));
    window.push(readScrape(1000, exposition(second)));
    // The server restarted: its counters start again from 0 and reach these by the third scrape.
    const restarted: Counts = { draft: 30, verifier: 10, bonus: 2, drafted: 40, accepted: 10, http: { '0.1': 1 }, grpc: {}, active: 0 };
    window.push(readScrape(2000, exposition(restarted)));
    expect(window.increase('specroute_generation_tokens_total', { source: 'draft' })).toBe(60 + 30);
    expect(window.rate('specroute_generation_tokens_total')).toBe((85 + 42) / 2);
    const f = readFigures(window)!;
    expect(f.acceptanceRate).toBeCloseTo((60 + 10) / (100 + 40), 12);
    expect(f.generatedTokens).toBe(42);
    // TTFT: the 10 of the second scrape plus the restarted server's 1 in (50, 100] ms: p95's rank 10.45 is there.
    expect(f.ttftP95).toBeCloseTo(0.05 + 0.05 * ((10.45 - 8) / 3), 12);
  });

  it('keeps only its last scrapes', () => {
    const window = new MetricsWindow(2);
    window.push(readScrape(0, exposition(first)));
    window.push(readScrape(1000, exposition(second)));
    window.push(readScrape(3000, exposition({ ...second, draft: second.draft + 50 })));
    expect(window.seconds).toBe(2);
    expect(window.rate('specroute_generation_tokens_total', { source: 'draft' })).toBe(25);
    expect(() => new MetricsWindow(1)).toThrow(RangeError);
  });

  it('reads the server’s own metrics: every figure, by position, escalations and routes', async () => {
    const metrics = new Metrics();
    const observer = metrics.escalationObserver();
    const render = async (): Promise<string> => (await metrics.render()).body;
    const window = new MetricsWindow(10);
    window.push(readScrape(0, await render()));
    metrics.generatedTokens.inc({ source: 'draft' }, 30);
    metrics.generatedTokens.inc({ source: 'grammar' }, 2);
    metrics.recordStats({ drafted: 12, accepted: 9, byPosition: [{ drafted: 4, accepted: 4 }, { drafted: 4, accepted: 3 }, { drafted: 4, accepted: 2 }] } as never);
    metrics.timeToFirstToken.observe({ transport: 'http' }, 0.2);
    metrics.interTokenLatency.observe({ transport: 'grpc' }, 0.003);
    metrics.requestFinished('http', 'ok');
    metrics.requestFinished('grpc', 'deadline_exceeded');
    observer.outcome({ kind: 'skipped', reason: 'budget', latencyMs: 0, attempts: 0 }, { inputTokens: 0, outputTokens: 0, cost: 0 });
    observer.outcome({ kind: 'spliced', latencyMs: 40, attempts: 1 }, { inputTokens: 120, outputTokens: 8, cost: 0.0125 });
    observer.breakerChanged('open');
    metrics.routeDecided({ tier: 'local', reason: 'default', latencyMs: 0 }, false);
    metrics.routeDecided({ tier: 'local', reason: 'default', latencyMs: 0 }, false);
    metrics.routeDecided({ tier: 'frontier', reason: 'router', latencyMs: 1 }, true);
    window.push(readScrape(2000, await render()));

    const f = readFigures(window)!;
    expect(f.tokensPerSecond).toBe(16);
    expect(f.tokensPerSecondBySource.grammar).toBe(1);
    expect(f.acceptanceRate).toBe(0.75);
    expect(f.acceptanceByPosition).toEqual([
      { position: 0, drafted: 4, accepted: 4, rate: 1 },
      { position: 1, drafted: 4, accepted: 3, rate: 0.75 },
      { position: 2, drafted: 4, accepted: 2, rate: 0.5 },
    ]);
    // One observation in (0.1, 0.25]: p50 at half of it, 0.1 + 0.15 / 2.
    expect(f.ttftP50).toBeCloseTo(0.175, 12);
    expect(f.itlP50).toBeCloseTo(0.0025 + 0.0025 / 2, 12);
    expect(f).toMatchObject({ requests: 2, failedRequests: 1, escalations: 2, skippedEscalations: 1, breakerState: 'open', queueDepth: 0, activeSequences: 0 });
    expect(f.escalationsByOutcome).toEqual([
      { labels: ['skipped', 'budget'], count: 1 },
      { labels: ['spliced', ''], count: 1 },
    ]);
    expect(f).toMatchObject({ frontierInputTokens: 120, frontierOutputTokens: 8, frontierCost: 0.0125 });
    expect(f.routeDecisions).toEqual([
      { labels: ['local', 'default'], count: 2 },
      { labels: ['frontier', 'router'], count: 1 },
    ]);
    const texts = figureTexts(f);
    expect(Object.keys(texts).sort()).toEqual([...FIGURE_NAMES].sort());
    expect(texts).toMatchObject({
      'tokens-per-second': { text: '16.0', value: '16' },
      'acceptance-rate': { text: '75.0%', value: '0.75' },
      'ttft-p50': { text: '175' },
      'itl-p50': { text: '3.75' },
      'breaker-state': { text: 'open', value: 'open' },
      'frontier-tokens': { text: '128' },
      'frontier-cost': { text: '0.0125' },
      'route-decisions': { text: '3' },
    });
  });

  it('shows nothing it cannot know as a dash', () => {
    const window = new MetricsWindow(2);
    expect(readFigures(window)).toBeUndefined();
    window.push(readScrape(0, exposition(first)));
    const texts = figureTexts(readFigures(window)!);
    expect(texts['tokens-per-second']).toEqual({ text: '–', value: '' });
    expect(texts['ttft-p95']).toEqual({ text: '–', value: '' });
    expect(texts['generated-tokens']).toEqual({ text: '150', value: '150' });
  });
});

describe('histogram_quantile', () => {
  const buckets = (counts: Array<[number, number]>) => counts.map(([upperBound, count]) => ({ upperBound, count }));

  it('interpolates inside the bucket that holds the rank; the first bucket starts at 0', () => {
    const h = buckets([[1, 10], [2, 30], [4, 40], [Infinity, 40]]);
    expect(histogramQuantile(0.1, h)).toBe(0.4);
    expect(histogramQuantile(0.5, h)).toBe(1.5);
    expect(histogramQuantile(0.875, h)).toBe(3);
  });

  it('answers the highest finite bound for a rank only +Inf reaches, and null with nothing observed or no +Inf', () => {
    expect(histogramQuantile(0.95, buckets([[1, 5], [2, 6], [Infinity, 10]]))).toBe(2);
    expect(histogramQuantile(0.5, buckets([[1, 0], [Infinity, 0]]))).toBeNull();
    expect(histogramQuantile(0.5, buckets([[1, 1], [2, 2]]))).toBeNull();
    expect(histogramQuantile(0.5, buckets([[Infinity, 2]]))).toBeNull();
    expect(() => histogramQuantile(1.5, buckets([[1, 1], [Infinity, 1]]))).toThrow(RangeError);
  });

  it('raises counts that fall between buckets, and reads buckets in any order', () => {
    expect(histogramQuantile(0.5, buckets([[Infinity, 4], [2, 3], [1, 4]]))).toBe(0.5);
  });
});

describe('the Prometheus text parser', () => {
  it('undoes the escapes of label values', () => {
    const { samples, types } = parsePrometheus('# TYPE c_total counter\nc_total{reason="a \\"b\\"\\n\\\\"} 1\nd{le="+Inf"} +Inf\n');
    expect(types).toEqual({ c_total: 'counter' });
    expect(samples).toEqual([
      { name: 'c_total', labels: { reason: 'a "b"\n\\' }, value: 1 },
      { name: 'd', labels: { le: '+Inf' }, value: Infinity },
    ]);
    expect(() => parsePrometheus('not a sample')).toThrow(/not a Prometheus sample line/);
  });
});

describe('the polling interval', () => {
  it('is ?interval= in ms, at least the minimum, or the default', () => {
    expect(pollInterval('')).toBe(DEFAULT_INTERVAL_MS);
    expect(pollInterval('?interval=500')).toBe(500);
    expect(pollInterval('?interval=10')).toBe(MIN_INTERVAL_MS);
    expect(pollInterval('?interval=soon')).toBe(DEFAULT_INTERVAL_MS);
    expect(pollInterval('?interval=')).toBe(DEFAULT_INTERVAL_MS);
  });
});
