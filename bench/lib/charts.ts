/** The report's SVG charts, drawn from plan results with `lineChart`. */
import type { CellResult } from './run-plan.js';
import { lineChart, type Series } from './svg-chart.js';

const times = (v: number): string => `${v.toFixed(2)}×`;

/** Measured speed-up against γ, with both ideals, for one cell's fixed-γ settings. */
export function speedupVsGammaChart(cell: CellResult): string | undefined {
  const fixed = cell.settings.filter((s) => s.setting.gamma !== undefined && s.setting.pMin === 0);
  if (fixed.length < 2) return undefined;
  const points = (pick: (s: (typeof fixed)[number]) => number): Array<[number, number]> => fixed.map((s) => [s.setting.gamma!, pick(s)]);
  const series: Series[] = [
    { label: 'measured', points: points((s) => s.analysis.speedup) },
    { label: 'hw-aware ideal', points: points((s) => s.analysis.hardwareAwareIdeal) },
    { label: 'textbook ideal', points: points((s) => s.analysis.textbookIdeal) },
  ];
  const adaptive = cell.settings.find((s) => s.setting.gamma === undefined && s.setting.pMin === 0);
  const hLines = [
    { y: 1, label: 'verifier-only' },
    ...(cell.dstp ? [{ y: cell.dstp.overVerifier, label: `DSTP ${times(cell.dstp.overVerifier)}` }] : []),
    ...(adaptive ? [{ y: adaptive.analysis.speedup, label: `adaptive ${times(adaptive.analysis.speedup)}` }] : []),
  ];
  return lineChart(series, {
    title: `Speed-up over verifier-only vs γ (${cell.draft.label}, ${cell.suite}, T=${cell.temperature})`,
    xLabel: 'draft length γ',
    yLabel: 'speed-up (tokens/s ratio)',
    yTick: times,
    xTick: (v) => v.toFixed(0),
    hLines,
  });
}

/** Acceptance rate at each draft position, one series per setting of the cell. */
export function acceptanceByPositionChart(cell: CellResult): string | undefined {
  const series: Series[] = cell.settings
    .map((s) => ({
      label: s.setting.label,
      points: s.analysis.byPosition.flatMap((p, i): Array<[number, number]> => (p.drafted > 0 ? [[i + 1, p.accepted / p.drafted]] : [])),
    }))
    .filter((s) => s.points.length > 0);
  if (series.length === 0) return undefined;
  return lineChart(series, {
    title: `Acceptance by draft position (${cell.draft.label}, ${cell.suite}, T=${cell.temperature})`,
    xLabel: 'draft position',
    yLabel: 'accepted / drafted',
    xRange: [1, Math.max(2, ...series.flatMap((s) => s.points.map((p) => p[0])))],
    yRange: [0, 1],
    xTick: (v) => v.toFixed(0),
  });
}

/** Every speculative setting: measured speed-up against its hardware-aware ideal, with the y = x line. */
export function measuredVsIdealChart(cells: readonly CellResult[]): string | undefined {
  const all = cells.flatMap((c) => c.settings.map((s) => ({ c, s })));
  if (all.length === 0) return undefined;
  const groups = new Map<string, Array<[number, number]>>();
  for (const { c, s } of all) {
    const key = `${c.draft.label} ${c.suite} T=${c.temperature}`;
    groups.set(key, [...(groups.get(key) ?? []), [s.analysis.hardwareAwareIdeal, s.analysis.speedup]]);
  }
  const top = Math.max(1, ...all.flatMap(({ s }) => [s.analysis.hardwareAwareIdeal, s.analysis.speedup])) * 1.05;
  return lineChart(
    [
      { label: 'measured = ideal', points: [[0, 0], [top, top]] },
      ...[...groups].map(([label, points]) => ({ label, points, line: false })),
    ],
    {
      title: 'Measured speed-up against the hardware-aware ideal',
      xLabel: 'hardware-aware ideal speed-up',
      yLabel: 'measured speed-up',
      xRange: [0, top],
      yRange: [0, top],
      xTick: times,
      yTick: times,
      hLines: [{ y: 1, label: 'verifier-only' }],
    },
  );
}

/** Acceptance against temperature: each fixed-γ setting, and DSTP's sample-and-match. */
export function acceptanceVsTemperatureChart(cells: readonly CellResult[]): string | undefined {
  const temps = [...new Set(cells.map((c) => c.temperature))];
  if (temps.length < 2) return undefined;
  const bySetting = new Map<string, Array<[number, number]>>();
  const dstp: Array<[number, number]> = [];
  for (const c of cells) {
    for (const s of c.settings) bySetting.set(`ours ${s.setting.label}`, [...(bySetting.get(`ours ${s.setting.label}`) ?? []), [c.temperature, s.analysis.acceptanceRate]]);
    if (c.dstp) dstp.push([c.temperature, c.dstp.acceptanceRate]);
  }
  return lineChart([...[...bySetting].map(([label, points]) => ({ label, points })), ...(dstp.length ? [{ label: 'DSTP (sample+match)', points: dstp }] : [])], {
    title: `Acceptance rate vs temperature (${cells[0]!.draft.label}, ${cells[0]!.suite})`,
    xLabel: 'temperature',
    yLabel: 'accepted / drafted',
    yRange: [0, 1],
  });
}
