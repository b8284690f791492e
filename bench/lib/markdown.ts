/** Markdown tables for benchmark reports. */

/** Column alignment: `l`eft or `r`ight. */
export type Align = 'l' | 'r';

/** A Markdown table with padded columns (readable as plain text too). `align` defaults to left for every column. */
export function markdownTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>, align: readonly Align[] = []): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length), 3));
  const pad = (cell: string, c: number): string => (align[c] === 'r' ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!));
  const line = (cells: readonly string[]): string => `| ${headers.map((_, c) => pad(cells[c] ?? '', c)).join(' | ')} |`;
  const rule = `|${widths.map((w, c) => (align[c] === 'r' ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

/** `x` with `digits` decimals, or `–` for NaN/undefined. */
export function fixed(x: number | undefined, digits: number): string {
  return x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}

/** `x` as a percentage with `digits` decimals. */
export function percent(x: number | undefined, digits = 0): string {
  return x === undefined || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(digits)}%`;
}
