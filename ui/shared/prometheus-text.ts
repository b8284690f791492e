/**
 * The Prometheus text exposition format (what `GET /metrics` serves), read without Node or the DOM: the dashboard
 * parses its scrapes with it, and the tests theirs (test/helpers/prometheus.ts).
 */

/** One sample of the Prometheus text exposition format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A label value as written between quotes, with its escapes (`\\`, `\"`, `\n`) undone. */
function unescapeLabelValue(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/** Parses the Prometheus text format: `# HELP`/`# TYPE` lines and samples. A line that is neither throws. */
export function parsePrometheus(text: string): { samples: Sample[]; types: Record<string, string> } {
  const samples: Sample[] = [];
  const types: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const type = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (type) types[type[1]!] = type[2]!;
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = unescapeLabelValue(value!);
    const raw = match[3]!;
    samples.push({ name: match[1]!, labels, value: raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw) });
  }
  return { samples, types };
}

/** Whether a sample is of metric `name` and carries every label of `labels` (other labels may differ). */
export function sampleMatches(sample: Sample, name: string, labels: Readonly<Record<string, string>> = {}): boolean {
  return sample.name === name && Object.entries(labels).every(([k, v]) => sample.labels[k] === v);
}

/** The sum of a metric's samples whose labels include `labels`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  return parsePrometheus(text)
    .samples.filter((s) => sampleMatches(s, name, labels))
    .reduce((sum, s) => sum + s.value, 0);
}
