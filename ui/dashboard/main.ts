// The live dashboard (/dashboard): scrapes the server's own GET /metrics, keeps the last few scrapes, and shows
// their figures as numbers, tables and uPlot charts.
import 'uplot/dist/uPlot.min.css';
import './dashboard.css';
import { TOKEN_SOURCES, type TokenSource } from '../../src/events/token-event.js';
import { markCurrentPage } from '../shared/page-header.js';
import { BarChart, TimeChart, type Line } from '../shared/charts.js';
import { fillCountTable } from './count-table.js';
import { FIGURE_NAMES, figureTexts } from './figure-texts.js';
import { readFigures, type Figures } from './figures.js';
import { formatCount, formatMilliseconds, formatMillisecondsTick, formatPercent, formatPercentTick, formatRate, formatTick } from '../shared/format.js';
import { MetricsWindow, readScrape } from './metrics-window.js';
import { pollInterval } from './poll-interval.js';
import { Poller } from './poller.js';

/** Rates and percentiles are over the scrapes of about this many seconds. */
const WINDOW_SECONDS = 10;
/** The charts show about this many seconds. */
const HISTORY_SECONDS = 300;
/** Each source's line: its colour (specroute.css) and a dash of its own, echoing its underline style in the playground. */
const SOURCE_LINES: Readonly<Record<TokenSource, Omit<Line, 'label'>>> = {
  draft: { color: '--draft', dash: [] },
  verifier: { color: '--verifier', dash: [2, 3] },
  bonus: { color: '--bonus', dash: [10, 4] },
  frontier: { color: '--frontier', dash: [12, 4, 2, 4] },
  grammar: { color: '--grammar', dash: [5, 5] },
};
const P50: Line = { label: 'p50 (ms)', color: '--bonus', dash: [] };
const P95: Line = { label: 'p95 (ms)', color: '--verifier', dash: [6, 4] };

function element<T extends HTMLElement>(selector: string, type: new () => T): T {
  const found = document.querySelector(selector);
  if (!(found instanceof type)) throw new Error(`dashboard.html has no ${type.name} at ${selector}`);
  return found;
}

markCurrentPage('dashboard');
const intervalMs = pollInterval(location.search);
const historyPoints = Math.ceil((HISTORY_SECONDS * 1000) / intervalMs) + 1;
const windowScrapes = Math.ceil((WINDOW_SECONDS * 1000) / intervalMs) + 1;
let metrics = new MetricsWindow(windowScrapes);

const figures = FIGURE_NAMES.map((name) => [name, element(`[data-figure="${name}"]`, HTMLElement)] as const);
const status = element('[data-status]', HTMLElement);
const lastScrape = element('time[data-last-scrape]', HTMLTimeElement);
const breakerBadge = element('[data-figure="breaker-state"]', HTMLElement);
const pauseButton = element('button[data-action="pause"]', HTMLButtonElement);
const chart = (name: string): HTMLElement => element(`[data-chart="${name}"]`, HTMLElement);
const table = (name: string): HTMLTableSectionElement => element(`[data-table="${name}"] tbody`, HTMLTableSectionElement);
for (const hint of document.querySelectorAll('[data-window-seconds]')) hint.textContent = String(WINDOW_SECONDS);

const charts = {
  tokens: new TimeChart(chart('tokens-per-second'), TOKEN_SOURCES.map((source) => ({ label: source, ...SOURCE_LINES[source] })), { capacity: historyPoints, format: formatRate, tick: formatTick }),
  acceptance: new TimeChart(chart('acceptance-rate'), [{ label: 'accepted', color: '--draft', dash: [] }], { capacity: historyPoints, format: formatPercent, tick: formatPercentTick, range: [0, 1] }),
  positions: new BarChart(chart('acceptance-by-position'), { label: 'accepted', color: '--draft', dash: [] }, 'position', formatPercent, formatPercentTick, [0, 1]),
  ttft: new TimeChart(chart('ttft'), [P50, P95], { capacity: historyPoints, format: formatMilliseconds, tick: formatMillisecondsTick }),
  itl: new TimeChart(chart('itl'), [P50, P95], { capacity: historyPoints, format: formatMilliseconds, tick: formatMillisecondsTick }),
  sequences: new TimeChart(
    chart('sequences'),
    [
      { label: 'active sequences', color: '--bonus', dash: [] },
      { label: 'queue depth', color: '--verifier', dash: [6, 4] },
    ],
    { capacity: historyPoints, format: formatCount, tick: formatCount, wholeNumbers: true },
  ),
};

function show(f: Figures): void {
  const texts = figureTexts(f);
  for (const [name, shown] of figures) {
    shown.textContent = texts[name].text;
    shown.dataset.value = texts[name].value;
  }
  breakerBadge.dataset.state = f.breakerState ?? '';
  charts.tokens.push(f.time, TOKEN_SOURCES.map((source) => f.tokensPerSecondBySource[source]));
  charts.acceptance.push(f.time, [f.acceptanceRate]);
  charts.positions.set(
    f.acceptanceByPosition.map((p) => p.position),
    f.acceptanceByPosition.map((p) => p.rate),
  );
  charts.ttft.push(f.time, [f.ttftP50, f.ttftP95]);
  charts.itl.push(f.time, [f.itlP50, f.itlP95]);
  charts.sequences.push(f.time, [f.activeSequences, f.queueDepth]);
  fillCountTable(table('escalations'), f.escalationsByOutcome, 'No escalations yet.');
  fillCountTable(table('route-decisions'), f.routeDecisions, 'No route decisions yet.');
  const at = new Date(f.time);
  lastScrape.dateTime = at.toISOString();
  lastScrape.textContent = at.toLocaleTimeString();
}

/** Says how polling goes, in the status line (a screen reader hears it when it changes). */
function say(text: string, isError = false): void {
  if (status.textContent !== text) status.textContent = text;
  status.classList.toggle('error', isError);
}

const every = `every ${intervalMs / 1000} s`;
let failing = false;

async function scrapeOnce(): Promise<void> {
  try {
    const response = await fetch('/metrics', { cache: 'no-store' });
    if (!response.ok) throw new Error(`GET /metrics answered ${response.status} ${response.statusText}`.trim());
    metrics.push(readScrape(Date.now(), await response.text()));
    const f = readFigures(metrics);
    if (f) show(f);
    failing = false;
    say(poller.running ? `Live: reading the server's metrics ${every}.` : 'Paused.');
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // Shown in the page; the console hears of it once per outage.
    if (!failing) console.warn('specroute dashboard: cannot read /metrics', error);
    failing = true;
    say(`Cannot read the server's metrics (${message}); ${poller.running ? `trying again ${every}` : 'paused'}.`, true);
  }
}

const poller = new Poller(intervalMs, scrapeOnce);
pauseButton.addEventListener('click', () => {
  if (poller.running) {
    poller.stop();
    pauseButton.textContent = 'Resume updates';
    say('Paused.');
  } else {
    // Rates start afresh: a window spanning the pause would average it in.
    metrics = new MetricsWindow(windowScrapes);
    pauseButton.textContent = 'Pause updates';
    poller.start();
  }
});
poller.start();
