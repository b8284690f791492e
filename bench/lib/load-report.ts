/** The load benchmark's figures over repeats, and its Markdown report. */
import type { MachineInfo } from './machine.js';
import { fixed, markdownTable } from './markdown.js';
import { median, quantile } from './summary.js';
import type { Transport } from './load-drivers.js';
import type { EngineTimeSplit, LatencyFigures, RunResult, RunSummary } from './load-run.js';

/**
 * One (transport, concurrency) cell. Latency percentiles pool every request (TTFT) and every inter-chunk gap
 * (ITL) of all its repeats, so that p95 rests on enough samples even at concurrency 1; throughput figures and
 * the engine's time split are medians over the repeats, and the ratio to in-process is paired per repeat.
 */
export interface CellSummary extends LatencyFigures {
  readonly transport: Transport;
  readonly concurrency: number;
  readonly repeats: number;
  readonly requests: number;
  readonly failed: number;
  readonly capped: boolean;
  readonly e2eMean: number;
  readonly tokensPerSecond: number;
  readonly requestsPerSecond: number;
  /** Median over repeats of this transport's tok/s ÷ in-process tok/s in the same repeat and concurrency; null without in-process. */
  readonly ratioToInProcess: number | null;
  /** Per-repeat ratios, for the range. */
  readonly ratios: readonly number[];
  /** Mean latency of the requests with engine stats (the time split below is over the same requests). */
  readonly timedLatencyMs: number | null;
  /** Means over every completed request of all repeats of the engine's time split. */
  readonly engine: EngineTimeSplit | null;
  /** Mean of (latency − engine total) over the same requests. */
  readonly outsideEngineMs: number | null;
  readonly acceptanceRate: number | null;
  readonly tokensPerPass: number | null;
  /** Sequences per verifier batch over all the cell's runs (from /metrics). */
  readonly verifierBatchMeanSequences: number | null;
  /** Requests whose tokens equal the prompt's reference tokens (generated alone), over those compared. */
  readonly sameTokens: { same: number; compared: number } | null;
}

const med = (xs: readonly (number | null)[]): number | null => {
  const values = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  return values.length > 0 ? median(values) : null;
};

const pooledMean = (xs: readonly number[]): number => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

export interface MeasuredRun {
  readonly summary: RunSummary;
  readonly run: RunResult;
  readonly sameTokens: { same: number; compared: number } | null;
}

export function summarizeCells(measured: readonly MeasuredRun[]): CellSummary[] {
  const cells: CellSummary[] = [];
  const runs = measured.map((m) => m.summary);
  const keys = [...new Set(runs.map((r) => `${r.transport}|${r.concurrency}`))];
  for (const key of keys) {
    const group = measured.filter((m) => `${m.summary.transport}|${m.summary.concurrency}` === key);
    const list = group.map((m) => m.summary);
    const first = list[0]!;
    const ttfts = group.flatMap((m) => m.run.requests.flatMap((r) => (r.ttftMs === null ? [] : [r.ttftMs])));
    const gaps = group.flatMap((m) => m.run.gapsMs);
    const latencies = group.flatMap((m) => m.run.requests.filter((r) => r.ok).map((r) => r.endMs - r.startMs));
    const ratios = list.flatMap((r) => {
      const base = runs.find((b) => b.transport === 'in-process' && b.concurrency === r.concurrency && b.repeat === r.repeat);
      return base && r.transport !== 'in-process' ? [r.tokensPerSecond / base.tokensPerSecond] : [];
    });
    // The time split pools every request with engine stats, so that latency = engine total + outside engine exactly.
    const timed = group.flatMap((m) => m.run.requests.flatMap((r) => (r.ok && r.engine ? [{ latency: r.endMs - r.startMs, e: r.engine }] : [])));
    const timedMean = (pick: (t: (typeof timed)[number]) => number): number => pooledMean(timed.map(pick));
    let batches = 0;
    let sequences = 0;
    for (const r of list) for (const [size, count] of Object.entries(r.verifierBatches?.histogram ?? {})) (batches += count), (sequences += count * Number(size));
    const sameList = group.flatMap((m) => (m.sameTokens ? [m.sameTokens] : []));
    cells.push({
      transport: first.transport,
      concurrency: first.concurrency,
      repeats: list.length,
      requests: list.reduce((a, r) => a + r.requests, 0),
      failed: list.reduce((a, r) => a + r.failed, 0),
      capped: list.some((r) => r.capped),
      ttftP50: quantile(ttfts, 0.5),
      ttftP95: quantile(ttfts, 0.95),
      itlP50: quantile(gaps, 0.5),
      itlP95: quantile(gaps, 0.95),
      itlMean: pooledMean(gaps),
      e2eP50: quantile(latencies, 0.5),
      e2eMean: pooledMean(latencies),
      tokensPerSecond: med(list.map((r) => r.tokensPerSecond)) ?? Number.NaN,
      requestsPerSecond: med(list.map((r) => r.requestsPerSecond)) ?? Number.NaN,
      ratioToInProcess: first.transport === 'in-process' ? null : med(ratios),
      ratios,
      timedLatencyMs: timed.length > 0 ? timedMean((t) => t.latency) : null,
      engine:
        timed.length > 0
          ? {
              totalMs: timedMean((t) => t.e.totalMs),
              prefillMs: timedMean((t) => t.e.prefillMs),
              draftMs: timedMean((t) => t.e.draftMs),
              verifyMs: timedMean((t) => t.e.verifyMs),
              otherMs: timedMean((t) => t.e.otherMs),
            }
          : null,
      outsideEngineMs: timed.length > 0 ? timedMean((t) => t.latency - t.e.totalMs) : null,
      acceptanceRate: timed.length > 0 ? timedMean((t) => t.e.acceptanceRate) : null,
      tokensPerPass: timed.length > 0 ? timedMean((t) => t.e.tokensPerPass) : null,
      verifierBatchMeanSequences: batches > 0 ? sequences / batches : null,
      sameTokens: sameList.length > 0 ? { same: sameList.reduce((a, s) => a + s.same, 0), compared: sameList.reduce((a, s) => a + s.compared, 0) } : null,
    });
  }
  const order: Transport[] = ['sse', 'grpc', 'in-process'];
  return cells.sort((a, b) => a.concurrency - b.concurrency || order.indexOf(a.transport) - order.indexOf(b.transport));
}

export interface ReportHeader {
  readonly title: string;
  readonly machine: MachineInfo;
  /** Lines describing the server and its models (files, sha256). */
  readonly server: readonly string[];
  readonly settings: string;
  readonly command: string;
  readonly wallSeconds: number;
}

const ms = (x: number | null | undefined, digits = 1): string => fixed(x ?? undefined, digits);

export function renderMarkdown(header: ReportHeader, cells: readonly CellSummary[]): string {
  const { machine } = header;
  const out: string[] = [];
  out.push(`# ${header.title}`, '');
  out.push(`- machine: ${machine.os}, ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB; node ${machine.node}, node-llama-cpp ${machine.nodeLlamaCpp}`);
  for (const line of header.server) out.push(`- ${line}`);
  out.push(`- settings: ${header.settings}`);
  out.push(`- command: \`${header.command}\` (${header.wallSeconds.toFixed(0)} s)`, '');

  const hasInProcess = cells.some((c) => c.transport === 'in-process');
  out.push('## Latency and throughput', '');
  out.push(
    markdownTable(
      ['transport', 'conc.', 'TTFT p50', 'TTFT p95', 'ITL p50', 'ITL p95', 'ITL mean', 'latency p50', 'tok/s', 'req/s', ...(hasInProcess ? ['÷ in-process'] : []), 'ok', 'same tokens'],
      cells.map((c) => [
        c.transport,
        String(c.concurrency),
        ms(c.ttftP50),
        ms(c.ttftP95),
        ms(c.itlP50, 2),
        ms(c.itlP95, 2),
        ms(c.itlMean, 2),
        ms(c.e2eP50, 0),
        fixed(c.tokensPerSecond, 0),
        fixed(c.requestsPerSecond, 2),
        ...(hasInProcess
          ? [c.ratioToInProcess === null ? (c.transport === 'in-process' ? '1 (base)' : '–') : `${fixed(c.ratioToInProcess, 3)} (${fixed(Math.min(...c.ratios), 2)}–${fixed(Math.max(...c.ratios), 2)})`]
          : []),
        `${c.requests - c.failed}/${c.requests}${c.capped ? ' (capped)' : ''}`,
        c.sameTokens ? `${c.sameTokens.same}/${c.sameTokens.compared}` : '–',
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', ...(hasInProcess ? ['r' as const] : []), 'r', 'r'],
    ),
    '',
    '- times in ms, measured on the client, percentiles over every request (TTFT, latency) or every gap (ITL) of all repeats. TTFT: request sent → first chunk ' +
      'carrying a token. ITL: gaps between consecutive token chunks of one stream (tokens that one verifier pass accepts together arrive as a burst of ' +
      'near-zero gaps; the other gaps are whole passes). latency: request sent → stream end.',
    '- tok/s and req/s: tokens (and completed requests) of one run over its wall time, first request sent → last stream ended, median over repeats; ' +
      'closed-loop clients, each sending its next request when the previous one ends.',
    ...(hasInProcess
      ? ['- ÷ in-process: this transport\'s tok/s over `engine.generate` called directly on the same server\'s engine at the same concurrency, paired per repeat (median; range in brackets).']
      : []),
    '- same tokens: requests whose token ids equal those of the same prompt generated alone beforehand (greedy, so they must match).',
    '',
  );

  out.push('## Where a request\'s time goes (ms per request, means over every request of all repeats)', '');
  out.push(
    markdownTable(
      ['transport', 'conc.', 'latency mean', 'engine total', 'prefill', 'draft', 'verify', 'other', 'outside engine', 'seqs / verifier batch', 'α', 'tokens / pass'],
      cells.map((c) => [
        c.transport,
        String(c.concurrency),
        ms(c.timedLatencyMs),
        ms(c.engine?.totalMs),
        ms(c.engine?.prefillMs),
        ms(c.engine?.draftMs),
        ms(c.engine?.verifyMs),
        ms(c.engine?.otherMs),
        ms(c.outsideEngineMs),
        fixed(c.verifierBatchMeanSequences ?? undefined, 2),
        fixed(c.acceptanceRate ?? undefined, 3),
        fixed(c.tokensPerPass ?? undefined, 2),
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    '- engine total / prefill / draft / verify / other: the engine\'s own split of each generation (its final stats): waiting on the draft worker, on the verifier ' +
      'worker, and the rest (opening the request\'s sequences, acceptance, detokenizing, handing events to the transport, and the event loop shared with the other ' +
      'streams and the transport).',
    '- outside engine: latency − engine total: admission, tokenizing and queueing before the engine starts its clock; closing the request\'s sequences on both ' +
      'workers after its final event (a worker round trip that waits behind other requests\' passes); and, on the wire transports, serialization, the socket ' +
      'and the client\'s parsing. The in-process row has all of it but the wire.',
    '- seqs / verifier batch: sequences per verifier evaluation during the run (from `/metrics`, `specroute_verifier_batches_by_sequences`); > 1 means passes of different requests batched together.',
    '',
  );
  return `${out.join('\n')}\n`;
}
