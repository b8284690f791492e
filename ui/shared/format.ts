/** How the web UI writes its numbers (the dashboard, the playground's stats); null (nothing to tell yet) is an en dash. */

const NONE = '–';
const integers = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const twoDecimals = new Intl.NumberFormat('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const money = new Intl.NumberFormat('en', { minimumFractionDigits: 2, maximumFractionDigits: 4 });
const tick = new Intl.NumberFormat('en', { maximumFractionDigits: 2 });

/** A count: `1,234`. */
export function formatCount(value: number | null): string {
  return value === null ? NONE : integers.format(value);
}

/** A rate per second: one decimal below 100 (`12.5`), whole above (`1,234`). */
export function formatRate(value: number | null): string {
  if (value === null) return NONE;
  return Math.abs(value) < 100 ? oneDecimal.format(value) : integers.format(value);
}

/** A fraction as a percentage with one decimal: 0.7236 → `72.4%`. */
export function formatPercent(fraction: number | null): string {
  return fraction === null ? NONE : `${oneDecimal.format(fraction * 100)}%`;
}

/** Seconds as milliseconds, to about three significant digits: 0.0123 → `12.3`, 0.00042 → `0.42`, 1.5 → `1,500`. */
export function formatMilliseconds(seconds: number | null): string {
  if (seconds === null) return NONE;
  const ms = seconds * 1000;
  return Math.abs(ms) >= 100 ? integers.format(ms) : Math.abs(ms) >= 10 ? oneDecimal.format(ms) : twoDecimals.format(ms);
}

/** An amount of money, in the currency of the configured prices: 2 to 4 decimals (`0.0125`). */
export function formatCost(value: number | null): string {
  return value === null ? NONE : money.format(value);
}

/** A chart axis's tick: as few decimals as it needs (`0`, `0.25`, `1,200`). */
export function formatTick(value: number): string {
  return tick.format(value);
}

/** A chart axis's tick for a fraction, as a whole percentage: 0.25 → `25%`. */
export function formatPercentTick(fraction: number): string {
  return `${tick.format(Math.round(fraction * 100))}%`;
}

/** A chart axis's tick for seconds, in milliseconds: 0.2 → `200`. */
export function formatMillisecondsTick(seconds: number): string {
  return tick.format(seconds * 1000);
}
