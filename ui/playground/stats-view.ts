import 'uplot/dist/uPlot.min.css';
import uPlot from 'uplot';
import { TOKEN_SOURCES, type TokenSource } from '../../src/events/token-event.js';
import type { WireRoute, WireSummary, WireUsage } from '../../src/streaming/openai-wire.js';

/**
 * The request's closing figures: the route, tokens/s, acceptance, tokens by source and the time split as labelled
 * bars (each count also written out, so colour is never the only cue), and acceptance by draft position as a
 * uPlot bar chart.
 */
export class StatsView {
  private chart: uPlot | null = null;

  constructor(private readonly root: HTMLElement) {}

  reset(): void {
    this.root.hidden = true;
    this.chart?.destroy();
    this.chart = null;
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
    const host = this.root.querySelector<HTMLElement>('#acceptance-chart')!;
    this.chart?.destroy();
    this.chart = null;
    host.replaceChildren();
    host.dataset.points = String(rates.length);
    if (rates.length === 0) {
      host.textContent = 'Nothing was drafted.';
      return;
    }
    const positions = rates.map((_, i) => i);
    const width = Math.max(240, Math.min(host.clientWidth || 480, 640));
    this.chart = new uPlot(
      {
        width,
        height: 180,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: false, range: [-0.5, rates.length - 0.5] }, y: { range: [0, 1] } },
        axes: [{ label: 'draft position', splits: () => positions }, { label: 'accepted share' }],
        series: [{}, { label: 'acceptance', fill: 'rgba(0, 158, 115, 0.55)', stroke: '#009e73', paths: uPlot.paths.bars!({ size: [0.7, 48] }), points: { show: false } }],
      },
      [positions, rates],
      host,
    );
    host.setAttribute('role', 'img');
    host.setAttribute('aria-label', `acceptance by draft position: ${rates.map((r, i) => `${i}: ${(r * 100).toFixed(0)}%`).join(', ')}`);
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
