import type { Figures } from './figures.js';
import { formatCost, formatCount, formatMilliseconds, formatPercent, formatRate } from '../shared/format.js';

/** The dashboard's figures, each shown by the element with `data-figure="<name>"` in dashboard.html. */
export const FIGURE_NAMES = [
  'tokens-per-second',
  'generated-tokens',
  'acceptance-rate',
  'ttft-p50',
  'ttft-p95',
  'itl-p50',
  'itl-p95',
  'queue-depth',
  'active-sequences',
  'requests',
  'failed-requests',
  'escalations',
  'skipped-escalations',
  'breaker-state',
  'frontier-tokens',
  'frontier-input-tokens',
  'frontier-output-tokens',
  'frontier-cost',
  'route-decisions',
] as const;
export type FigureName = (typeof FIGURE_NAMES)[number];

/** What a figure's element shows (`text`), and the value it stands for, unformatted (its `data-value`; '' for none). */
export interface FigureText {
  readonly text: string;
  readonly value: string;
}

const shown = (value: number | string | null, format: (value: number) => string): FigureText =>
  value === null ? { text: '–', value: '' } : typeof value === 'string' ? { text: value, value } : { text: format(value), value: String(value) };

/** The text of every figure. */
export function figureTexts(f: Figures): Record<FigureName, FigureText> {
  return {
    'tokens-per-second': shown(f.tokensPerSecond, formatRate),
    'generated-tokens': shown(f.generatedTokens, formatCount),
    'acceptance-rate': shown(f.acceptanceRate, formatPercent),
    'ttft-p50': shown(f.ttftP50, formatMilliseconds),
    'ttft-p95': shown(f.ttftP95, formatMilliseconds),
    'itl-p50': shown(f.itlP50, formatMilliseconds),
    'itl-p95': shown(f.itlP95, formatMilliseconds),
    'queue-depth': shown(f.queueDepth, formatCount),
    'active-sequences': shown(f.activeSequences, formatCount),
    requests: shown(f.requests, formatCount),
    'failed-requests': shown(f.failedRequests, formatCount),
    escalations: shown(f.escalations, formatCount),
    'skipped-escalations': shown(f.skippedEscalations, formatCount),
    'breaker-state': shown(f.breakerState, String),
    'frontier-tokens': shown(f.frontierInputTokens + f.frontierOutputTokens, formatCount),
    'frontier-input-tokens': shown(f.frontierInputTokens, formatCount),
    'frontier-output-tokens': shown(f.frontierOutputTokens, formatCount),
    'frontier-cost': shown(f.frontierCost, formatCost),
    'route-decisions': shown(f.routeDecisions.reduce((sum, d) => sum + d.count, 0), formatCount),
  };
}
