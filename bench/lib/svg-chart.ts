/** Small, dependency-free SVG charts for benchmark reports. */

export interface Series {
  readonly label: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
  /** Draw lines between points (sorted by x). Defaults to `true`. */
  readonly line?: boolean;
}

export interface ChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  /** Axis ranges; default to the data's range (with 0 included). */
  readonly xRange?: readonly [number, number];
  readonly yRange?: readonly [number, number];
  /** Format tick values (e.g. as percentages). */
  readonly xTick?: (v: number) => string;
  readonly yTick?: (v: number) => string;
  /** Horizontal and vertical reference lines, e.g. a target. */
  readonly hLines?: ReadonlyArray<{ y: number; label: string }>;
  readonly vLines?: ReadonlyArray<{ x: number; label: string }>;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#000000', '#aec7e8'];
const W = 720;
const H = 440;
const M = { left: 70, right: 170, top: 40, bottom: 55 };

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Tick values at a "nice" step (1, 2, 2.5 or 5 × 10^n) covering [min, max] with about `count` intervals. */
function ticks(min: number, max: number, count = 5): number[] {
  const span = max - min;
  if (!(span > 0)) return [min];
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toFixed(12)));
  return out;
}

/** [min, max] with max raised to the next tick, so the top of the data sits under a labelled line. */
function niceRange(min: number, max: number): [number, number] {
  const t = ticks(min, max);
  const step = t.length > 1 ? t[1]! - t[0]! : 0;
  const last = t[t.length - 1] ?? max;
  return [min, last < max - 1e-12 && step > 0 ? last + step : max];
}

/** A line/scatter chart of one or more series. */
export function lineChart(series: readonly Series[], options: ChartOptions): string {
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const [x0, x1] = options.xRange ?? niceRange(Math.min(0, ...xs), Math.max(...xs, 1e-9));
  const [y0, y1] = options.yRange ?? niceRange(Math.min(0, ...ys), Math.max(...ys, 1e-9));
  const px = (x: number): number => M.left + ((x - x0) / (x1 - x0 || 1)) * (W - M.left - M.right);
  const py = (y: number): number => H - M.bottom - ((y - y0) / (y1 - y0 || 1)) * (H - M.top - M.bottom);
  const fx = options.xTick ?? ((v: number) => v.toFixed(2));
  const fy = options.yTick ?? ((v: number) => v.toFixed(2));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - M.right / 2 + M.left / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escape(options.title)}</text>`,
  ];
  for (const t of ticks(x0, x1)) {
    out.push(`<line x1="${px(t)}" y1="${M.top}" x2="${px(t)}" y2="${H - M.bottom}" stroke="#eee"/>`);
    out.push(`<text x="${px(t)}" y="${H - M.bottom + 16}" text-anchor="middle">${escape(fx(t))}</text>`);
  }
  for (const t of ticks(y0, y1)) {
    out.push(`<line x1="${M.left}" y1="${py(t)}" x2="${W - M.right}" y2="${py(t)}" stroke="#eee"/>`);
    out.push(`<text x="${M.left - 6}" y="${py(t) + 4}" text-anchor="end">${escape(fy(t))}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 14}" text-anchor="middle">${escape(options.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${escape(options.yLabel)}</text>`);
  for (const h of options.hLines ?? []) {
    out.push(`<line x1="${M.left}" y1="${py(h.y)}" x2="${W - M.right}" y2="${py(h.y)}" stroke="#999" stroke-dasharray="5 4"/>`);
    out.push(`<text x="${W - M.right - 4}" y="${py(h.y) - 4}" text-anchor="end" fill="#666">${escape(h.label)}</text>`);
  }
  for (const v of options.vLines ?? []) {
    out.push(`<line x1="${px(v.x)}" y1="${M.top}" x2="${px(v.x)}" y2="${H - M.bottom}" stroke="#999" stroke-dasharray="5 4"/>`);
    out.push(`<text x="${px(v.x) + 4}" y="${M.top + 14}" fill="#666">${escape(v.label)}</text>`);
  }
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    if (s.line !== false && pts.length > 1) {
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ')}"/>`);
    }
    for (const p of pts) out.push(`<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="4" fill="${color}"/>`);
    const ly = M.top + 10 + i * 18;
    out.push(`<rect x="${W - M.right + 12}" y="${ly - 8}" width="12" height="12" fill="${color}"/>`);
    out.push(`<text x="${W - M.right + 30}" y="${ly + 2}">${escape(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
