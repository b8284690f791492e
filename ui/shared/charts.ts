import uPlot from 'uplot';

/** A chart's drawing height in CSS pixels (its legend comes below). */
export const CHART_HEIGHT = 200;

/** One line of a chart. */
export interface Line {
  readonly label: string;
  /** A colour of specroute.css, by custom property (e.g. `--draft`). */
  readonly color: string;
  /** Canvas dash segments ([] is solid); the lines of one chart differ in dash too, so colour is never the only cue. */
  readonly dash: readonly number[];
}

/** How a chart writes a value (in its legend, or as a tick of its y axis). */
export type ValueFormat = (value: number) => string;

function cssColor(property: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(property).trim() || '#808080';
}

function axis(): uPlot.Axis {
  const line = { stroke: cssColor('--line'), width: 1 };
  return { stroke: cssColor('--muted'), grid: line, ticks: line };
}

/** A y axis writing its ticks with `format`, as wide as its longest tick needs (uPlot's default width clips long ones). */
function valueAxis(format: ValueFormat): uPlot.Axis {
  return {
    ...axis(),
    values: (_, splits) => splits.map(format),
    size: (_, values) => Math.ceil(18 + 7.5 * Math.max(3, ...(values ?? []).map((v) => v.length))),
  };
}

function series(line: Line, format: ValueFormat): uPlot.Series {
  return { label: line.label, stroke: cssColor(line.color), dash: [...line.dash], width: 2, value: (_, v) => (v === null ? '–' : format(v)) };
}

/** A y scale from 0 to a little above the highest value (0–1 while there is none). */
const fromZero: uPlot.Scale.Range = (_, __, max) => [0, max !== null && max > 0 ? max * 1.1 : 1];

/** Keeps a chart as wide as its container (the page's grid decides that width). */
function fitWidth(chart: uPlot, container: HTMLElement): void {
  new ResizeObserver(() => {
    const width = Math.floor(container.clientWidth);
    if (width > 0 && width !== chart.width) chart.setSize({ width, height: CHART_HEIGHT });
  }).observe(container);
}

/** What a time chart shows and how. */
export interface TimeChartOptions {
  /** How many points it keeps (the oldest goes when one more comes). */
  readonly capacity: number;
  /** How the legend writes a line's value under the cursor. */
  readonly format: ValueFormat;
  /** How the y axis writes its ticks. */
  readonly tick: ValueFormat;
  /** The y scale: fixed, or (by default) from 0 to a little above the highest value shown. */
  readonly range?: uPlot.Scale.Range;
  /** Whether the y axis marks whole numbers only (counts). Defaults to false. */
  readonly wholeNumbers?: boolean;
}

const WHOLE_NUMBER_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000];

/** A uPlot chart of some lines over time, drawn into `container`. The container's `data-points` tells how many points it holds. */
export class TimeChart {
  private readonly times: number[] = [];
  private readonly columns: Array<Array<number | null>>;
  private readonly chart: uPlot;
  private readonly capacity: number;

  constructor(
    private readonly container: HTMLElement,
    lines: readonly Line[],
    options: TimeChartOptions,
  ) {
    this.capacity = options.capacity;
    this.columns = lines.map(() => []);
    const yAxis = valueAxis(options.tick);
    this.chart = new uPlot(
      {
        width: Math.max(1, Math.floor(container.clientWidth)),
        height: CHART_HEIGHT,
        scales: { x: { time: true }, y: { range: options.range ?? fromZero } },
        series: [{ label: 'Time' }, ...lines.map((line) => series(line, options.format))],
        axes: [axis(), options.wholeNumbers ? { ...yAxis, incrs: WHOLE_NUMBER_STEPS } : yAxis],
      },
      [this.times, ...this.columns],
      container,
    );
    fitWidth(this.chart, container);
  }

  /** Adds the values (one per line; null for none) at `time` (ms since the epoch), dropping the oldest past the capacity. */
  push(time: number, values: ReadonlyArray<number | null>): void {
    this.times.push(time / 1000);
    this.columns.forEach((column, i) => column.push(values[i] ?? null));
    if (this.times.length > this.capacity) for (const column of [this.times, ...this.columns]) column.shift();
    this.chart.setData([this.times, ...this.columns]);
    this.container.dataset.points = String(this.times.length);
  }
}

/**
 * A uPlot bar chart of one value per whole number (e.g. per draft position), drawn into `container`. The container's
 * `data-points` tells how many bars it shows.
 */
export class BarChart {
  private readonly chart: uPlot;

  constructor(
    private readonly container: HTMLElement,
    line: Line,
    xLabel: string,
    format: ValueFormat,
    tick: ValueFormat,
    range: uPlot.Scale.Range,
  ) {
    this.chart = new uPlot(
      {
        width: Math.max(1, Math.floor(container.clientWidth)),
        height: CHART_HEIGHT,
        scales: { x: { time: false, range: (_, min, max) => [(min ?? 0) - 0.5, (max ?? 0) + 0.5] }, y: { range } },
        series: [
          { label: xLabel },
          { ...series(line, format), fill: cssColor(line.color), points: { show: false }, paths: uPlot.paths.bars!({ size: [0.6, 48] }) },
        ],
        axes: [{ ...axis(), incrs: [1], values: (_, splits) => splits.map((v) => (Number.isInteger(v) ? String(v) : '')) }, valueAxis(tick)],
      },
      [[], []],
      container,
    );
    fitWidth(this.chart, container);
  }

  /** Shows one bar per x (whole numbers, ascending); null draws none. */
  set(xs: readonly number[], values: ReadonlyArray<number | null>): void {
    this.chart.setData([[...xs], [...values]]);
    this.container.dataset.points = String(xs.length);
  }
}
