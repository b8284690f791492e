import { parsePrometheus, sampleMatches, type Sample } from '../shared/prometheus-text.js';
import { histogramQuantile, type Bucket } from './histogram-quantile.js';

/** Labels a sample must carry (others may differ). */
export type LabelFilter = Readonly<Record<string, string>>;

/** One scrape of `GET /metrics`: when it was taken and what it read. */
export interface Scrape {
  /** When the scrape was taken, in ms since the epoch. */
  readonly time: number;
  readonly samples: readonly Sample[];
}

/** Reads the text of a scrape taken at `time` (ms since the epoch). */
export function readScrape(time: number, text: string): Scrape {
  return { time, samples: parsePrometheus(text).samples };
}

/** A scrape with its samples indexed by series (name and labels), to find a series' previous value. */
interface IndexedScrape extends Scrape {
  readonly bySeries: ReadonlyMap<string, number>;
}

function seriesKey(sample: Sample): string {
  return `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))}`;
}

/**
 * The last `capacity` scrapes of a server's metrics, and what they tell over the time they span: how much counters
 * rose (rates), and the quantiles of what histograms observed meanwhile.
 *
 * A counter's rise is summed scrape to scrape and series by series, so a counter that restarts (the server did) counts
 * from 0 again instead of going negative, as Prometheus's `increase` does; a series that appears between two scrapes
 * rose from 0 (prom-client writes a labelled series first when it first counts).
 */
export class MetricsWindow {
  private readonly scrapes: IndexedScrape[] = [];

  /** @param capacity how many scrapes are kept (at least 2: a rate needs two); the oldest goes when one more comes. */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 2) throw new RangeError(`a metrics window keeps at least 2 scrapes, not ${capacity}`);
  }

  /** Adds the newest scrape, dropping the oldest past the capacity. */
  push(scrape: Scrape): void {
    this.scrapes.push({ ...scrape, bySeries: new Map(scrape.samples.map((s) => [seriesKey(s), s.value])) });
    if (this.scrapes.length > this.capacity) this.scrapes.shift();
  }

  /** The newest scrape, if any. */
  get latest(): Scrape | undefined {
    return this.scrapes[this.scrapes.length - 1];
  }

  /** Seconds from the oldest scrape to the newest (0 with fewer than two). */
  get seconds(): number {
    const first = this.scrapes[0];
    const last = this.latest;
    return first && last ? (last.time - first.time) / 1000 : 0;
  }

  /**
   * The sum of the newest scrape's samples of `name` that carry `labels`: a gauge's value now, or a counter's total
   * since the server started (0 when no series has counted yet). Null before the first scrape.
   */
  current(name: string, labels: LabelFilter = {}): number | null {
    const latest = this.latest;
    if (!latest) return null;
    return latest.samples.filter((s) => sampleMatches(s, name, labels)).reduce((sum, s) => sum + s.value, 0);
  }

  /**
   * The newest scrape's totals of `name` grouped by the values of `labelNames` (a missing label reads as ''), in
   * the order the groups first appear. Empty before the first scrape.
   */
  grouped(name: string, labelNames: readonly string[]): Array<{ labels: string[]; value: number }> {
    const groups = new Map<string, { labels: string[]; value: number }>();
    for (const sample of this.latest?.samples ?? []) {
      if (sample.name !== name) continue;
      const labels = labelNames.map((l) => sample.labels[l] ?? '');
      const key = JSON.stringify(labels);
      const group = groups.get(key) ?? { labels, value: 0 };
      group.value += sample.value;
      groups.set(key, group);
    }
    return [...groups.values()];
  }

  /** How much the counter `name` (its series that carry `labels`, summed) rose over the window. Null with fewer than two scrapes. */
  increase(name: string, labels: LabelFilter = {}): number | null {
    if (this.scrapes.length < 2) return null;
    let total = 0;
    this.forEachRise(name, labels, (_, rise) => (total += rise));
    return total;
  }

  /** The counter's rise per second over the window. Null with fewer than two scrapes (or none apart in time). */
  rate(name: string, labels: LabelFilter = {}): number | null {
    const increase = this.increase(name, labels);
    return increase === null || this.seconds <= 0 ? null : increase / this.seconds;
  }

  /**
   * The `q`-quantile of what the histogram `name` (its `<name>_bucket` series that carry `labels`, summed by
   * bound) observed over the window, by Prometheus's `histogram_quantile` (see histogramQuantile). Null with
   * fewer than two scrapes or nothing observed meanwhile.
   */
  quantile(q: number, name: string, labels: LabelFilter = {}): number | null {
    if (this.scrapes.length < 2) return null;
    const byBound = new Map<string, number>();
    this.forEachRise(`${name}_bucket`, labels, (sample, rise) => {
      const le = sample.labels.le;
      if (le !== undefined) byBound.set(le, (byBound.get(le) ?? 0) + rise);
    });
    const buckets: Bucket[] = [...byBound].map(([le, count]) => ({ upperBound: le === '+Inf' ? Infinity : Number(le), count }));
    return histogramQuantile(q, buckets);
  }

  /** Calls `rise` with each matching series' rise between each pair of consecutive scrapes. */
  private forEachRise(name: string, labels: LabelFilter, rise: (sample: Sample, rise: number) => void): void {
    for (let i = 1; i < this.scrapes.length; i++) {
      const before = this.scrapes[i - 1]!.bySeries;
      for (const sample of this.scrapes[i]!.samples) {
        if (!sampleMatches(sample, name, labels)) continue;
        const previous = before.get(seriesKey(sample)) ?? 0;
        rise(sample, sample.value >= previous ? sample.value - previous : sample.value);
      }
    }
  }
}
