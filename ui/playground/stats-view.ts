import 'uplot/dist/uPlot.min.css';
import { BarChart } from '../shared/charts.js';
import { formatPercent, formatPercentTick } from '../shared/format.js';
import { TOKEN_SOURCES, type TokenSource } from '../../src/events/token-event.js';
import type { WireRoute, WireSummary, WireUsage } from '../../src/streaming/openai-wire.js';

/**
 * The request's closing figures: the route, tokens/s, acceptance, tokens by source and the time split as labelled
 * bars (each count also written out, so colour is never the only cue), and acceptance by draft position as the
 * dashboard's uPlot bar chart.
 */
export class StatsView {
  /** Acceptance by draft position: the dashboard's bar chart. */
  private readonly acceptance: BarChart;
  /** Said in place of bars when nothing was drafted. */
  private readonly noDrafts: HTMLElement;

  constructor(private readonly root: HTMLElement) {
    this.acceptance = new BarChart(root.querySelector<HTMLElement>('#acceptance-chart')!, { label: 'accepted', color: '--draft', dash: [] }, 'draft position', formatPercent, formatPercentTick, [0, 1]);
    this.noDrafts = root.querySelector<HTMLElement>('#no-drafts')!;
  }

  reset(): void {
    this.root.hidden = true;
  }

  show(summary: WireSummary, usage: WireUsage | null): void {
    const { stats } = summary;
    this.root.hidden = false;
    const figures: Array<[string, string, string]> = [
      ['mode', stats.mode, 'mode'],
      ['tokens-per-second', stats.tokens_per_second.toFixed(1), 'tokens/s'],
      ['generated-tokens', String(stats.generated_tokens), 'tokens generated'],
      ['acceptance-rate', stats.drafted > 0 ? stats.acceptance_rate.toFixed(3) : '—', 'acceptance rate'],
      ['mean-accepted-length', stats.mean_accepted_length.toFixed(2), 'mean accepted length'],
      ['tokens-per-pass', stats.tokens_per_pass.toFixed(2), 'tokens per verifier pass'],
      ['escalations', String(stats.escalations), 'escalations'],
    ];
    if (usage) figures.push(['prompt-tokens', String(usage.prompt_tokens), 'prompt tokens'], ['frontier-cost', (usage.frontier_cost ?? 0).toFixed(6), 'frontier cost']);
    const list = this.root.querySelector('#figures')!;
    list.replaceChildren(
      ...figures.flatMap(([hook, value, label]) => {
        const dd = Object.assign(document.createElement('dd'), { textContent: value });
        dd.dataset.figure = hook;
        return [Object.assign(document.createElement('dt'), { textContent: label }), dd];
      }),
    );
    const sources = summary.tokens_by_source;
    bar(
      this.root.querySelector('#by-source')!,
      TOKEN_SOURCES.map((source: TokenSource) => ({ label: source, swatch: source, value: sources[source] })),
      (v) => `${v}`,
    );
    const time = stats.time_ms;
    bar(
      this.root.querySelector('#time-split')!,
      (['prefill', 'draft', 'verify', 'other'] as const).map((part) => ({ label: part, swatch: `time-${part}`, value: time[part] })),
      (v) => `${v.toFixed(1)} ms`,
    );
    this.acceptanceChart(stats.by_position.map((p) => p.rate));
  }

  private acceptanceChart(rates: number[]): void {
    this.acceptance.set(
      rates.map((_, i) => i),
      rates,
    );
    this.noDrafts.hidden = rates.length > 0;
    const host = this.root.querySelector<HTMLElement>('#acceptance-chart')!;
    host.setAttribute('role', 'img');
    host.setAttribute('aria-label', `acceptance by draft position: ${rates.map((r, i) => `${i}: ${(r * 100).toFixed(0)}%`).join(', ') || 'nothing was drafted'}`);
  }
}

/** The route line: which tier answered and why. */
export function describeRoute(route: WireRoute | undefined | null, header: string | null): string {
  if (route) {
    const score = route.score !== undefined ? `, score ${route.score.toFixed(3)}${route.threshold !== undefined ? ` vs threshold ${route.threshold.toFixed(3)}` : ''}` : '';
    return `route: ${route.tier} (${route.reason}${score}; decided in ${route.latency_ms.toFixed(1)} ms)`;
  }
  return header ? `route: ${header}` : '';
}

/** A horizontal bar of parts, each sized by its share and labelled with its value. */
function bar(host: HTMLElement, parts: Array<{ label: string; swatch: string; value: number }>, format: (value: number) => string): void {
  const total = parts.reduce((sum, part) => sum + part.value, 0);
  const track = document.createElement('div');
  track.className = 'track';
  const legend = document.createElement('ul');
  legend.className = 'parts';
  for (const part of parts) {
    if (total > 0 && part.value > 0) {
      const segment = document.createElement('span');
      segment.dataset.swatch = part.swatch;
      segment.style.width = `${(100 * part.value) / total}%`;
      segment.title = `${part.label}: ${format(part.value)}`;
      track.append(segment);
    }
    const item = document.createElement('li');
    item.dataset.swatch = part.swatch;
    item.dataset.count = String(part.value);
    item.textContent = `${part.label} ${format(part.value)}`;
    legend.append(item);
  }
  host.replaceChildren(track, legend);
}
