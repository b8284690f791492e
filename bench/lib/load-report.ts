/** The load benchmark's figures over repeats, and its Markdown report. */
import type { MachineInfo } from './machine.js';
import { fixed, markdownTable } from './markdown.js';
import { median, quantile } from './summary.js';
import type { Transport } from './load-drivers.js';
import { MODES, modeLabel, type EngineTimeSplit, type LatencyFigures, type Mode, type RunResult, type RunSummary } from './load-run.js';

/**
 * One (transport, mode, concurrency) cell. Latency percentiles pool every request (TTFT) and every inter-chunk gap
 * (ITL) of all its repeats, so that p95 rests on enough samples even at concurrency 1; throughput figures and
 * the engine's time split are medians over the repeats, and the ratio to in-process is paired per repeat (same mode).
 */
export interface CellSummary extends LatencyFigures {
  readonly transport: Transport;
  readonly mode: Mode;
  readonly concurrency: number;
  readonly repeats: number;
  readonly requests: number;
  readonly failed: number;
  readonly capped: boolean;
  readonly e2eMean: number;
  readonly tokensPerSecond: number;
  readonly requestsPerSecond: number;
  /** Median over repeats of this transport's tok/s ÷ in-process tok/s in the same repeat, mode and concurrency; null without in-process. */
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
  /** Sequences per verifier lock-step pass over all the cell's runs (from /metrics `specroute_step_*_total`; null when not exported). */
  readonly sequencesPerVerifierPass: number | null;
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
  const keyOf = (r: RunSummary): string => `${r.transport}|${r.mode}|${r.concurrency}`;
  const keys = [...new Set(runs.map(keyOf))];
  for (const key of keys) {
    const group = measured.filter((m) => keyOf(m.summary) === key);
    const list = group.map((m) => m.summary);
    const first = list[0]!;
    const ttfts = group.flatMap((m) => m.run.requests.flatMap((r) => (r.ttftMs === null ? [] : [r.ttftMs])));
    const gaps = group.flatMap((m) => m.run.gapsMs);
    const latencies = group.flatMap((m) => m.run.requests.filter((r) => r.ok).map((r) => r.endMs - r.startMs));
    const ratios = list.flatMap((r) => {
      const base = runs.find((b) => b.transport === 'in-process' && b.mode === r.mode && b.concurrency === r.concurrency && b.repeat === r.repeat);
      return base && r.transport !== 'in-process' ? [r.tokensPerSecond / base.tokensPerSecond] : [];
    });
    // The time split pools every request with engine stats, so that latency = engine total + outside engine exactly.
    const timed = group.flatMap((m) => m.run.requests.flatMap((r) => (r.ok && r.engine ? [{ latency: r.endMs - r.startMs, e: r.engine }] : [])));
    const timedMean = (pick: (t: (typeof timed)[number]) => number): number => pooledMean(timed.map(pick));
    let batches = 0;
    let sequences = 0;
    for (const r of list) for (const [size, count] of Object.entries(r.verifierBatches?.histogram ?? {})) (batches += count), (sequences += count * Number(size));
    const stepped = list.flatMap((r) => (r.verifierPasses ? [r.verifierPasses] : []));
    const passes = stepped.reduce((a, p) => a + p.passes, 0);
    const passSequences = stepped.reduce((a, p) => a + p.sequences, 0);
    const sameList = group.flatMap((m) => (m.sameTokens ? [m.sameTokens] : []));
    cells.push({
      transport: first.transport,
      mode: first.mode,
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
      sequencesPerVerifierPass: passes > 0 ? passSequences / passes : null,
      sameTokens: sameList.length > 0 ? { same: sameList.reduce((a, s) => a + s.same, 0), compared: sameList.reduce((a, s) => a + s.compared, 0) } : null,
    });
  }
  return cells.sort((a, b) => a.concurrency - b.concurrency || TRANSPORT_ORDER.indexOf(a.transport) - TRANSPORT_ORDER.indexOf(b.transport) || MODES.indexOf(a.mode) - MODES.indexOf(b.mode));
}

const TRANSPORT_ORDER: readonly Transport[] = ['sse', 'grpc', 'in-process'];
const WIRE_NAMES = { sse: 'SSE', grpc: 'gRPC' } as const;

/** What the summary needs of a run. */
export type RunFigures = Pick<RunSummary, 'transport' | 'mode' | 'concurrency' | 'repeat' | 'tokensPerSecond'>;
/** What the summary needs of a cell. */
export type CellFigures = Pick<CellSummary, 'transport' | 'mode' | 'concurrency' | 'tokensPerSecond' | 'ttftP50' | 'verifierBatchMeanSequences' | 'sequencesPerVerifierPass' | 'sameTokens'>;

/** A median over repeats of paired ratios, with the per-repeat ratios it came from (for the range). */
export interface PairedRatio {
  readonly median: number;
  readonly ratios: readonly number[];
}

/** (i) One (mode, transport, concurrency): its tok/s against concurrency 1 of the same transport and mode. */
export interface ScalingRow {
  readonly mode: Mode;
  readonly transport: Transport;
  readonly concurrency: number;
  /** Median over repeats. */
  readonly tokensPerSecond: number;
  /** tok/s ÷ tok/s at concurrency 1, paired per repeat; null when concurrency 1 did not run. */
  readonly vsConcurrency1: PairedRatio | null;
  readonly sequencesPerVerifierPass: number | null;
  readonly verifierBatchMeanSequences: number | null;
}

/** (ii) One wire transport against in-process at one (mode, concurrency). */
export interface TransportRow {
  readonly mode: Mode;
  readonly concurrency: number;
  readonly transport: Exclude<Transport, 'in-process'>;
  /** tok/s ÷ in-process tok/s, paired per repeat. */
  readonly throughput: PairedRatio | null;
  /** TTFT p50 − in-process TTFT p50 (each pooled over the cell's repeats), ms. */
  readonly ttftOverheadMs: number | null;
}

/** (iii) `served` against the baselines at one (transport, concurrency). */
export interface ModeRow {
  readonly transport: Transport;
  readonly concurrency: number;
  /** Median tok/s of each mode that ran (null: it did not). */
  readonly tokensPerSecond: Readonly<Record<Mode, number | null>>;
  /** served ÷ verifier-only, served ÷ fixed, served ÷ max(verifier-only, fixed): each paired per repeat. */
  readonly vsVerifierOnly: PairedRatio | null;
  readonly vsFixed: PairedRatio | null;
  readonly vsBetter: PairedRatio | null;
}

export interface SameTokensSummary {
  readonly same: number;
  readonly compared: number;
  /** Cells where some compared request differed. */
  readonly differing: ReadonlyArray<{ transport: Transport; mode: Mode; concurrency: number; same: number; compared: number }>;
}

export interface LoadSummary {
  readonly scaling: readonly ScalingRow[];
  readonly transports: readonly TransportRow[];
  /** Null unless `served` and at least one baseline ran. */
  readonly modes: readonly ModeRow[] | null;
  /** Null when the output was not checked. */
  readonly sameTokens: SameTokensSummary | null;
}

function pairedRatio(ratios: readonly number[]): PairedRatio | null {
  const finite = ratios.filter((x) => Number.isFinite(x));
  return finite.length > 0 ? { median: median(finite), ratios: finite } : null;
}

/**
 * The acceptance figures: (i) tok/s against concurrency 1, (ii) the wire transports against in-process, (iii)
 * `served` against the better of `verifier-only` and `fixed`. Ratios are medians over repeats of ratios paired
 * within a repeat (the runs of one repeat are interleaved, so machine drift cancels).
 */
export function summarizeLoad(runs: readonly RunFigures[], cells: readonly CellFigures[]): LoadSummary {
  const key = (transport: Transport, mode: Mode, concurrency: number, repeat: number): string => `${transport}|${mode}|${concurrency}|${repeat}`;
  const tps = new Map(runs.map((r) => [key(r.transport, r.mode, r.concurrency, r.repeat), r.tokensPerSecond]));
  const repeats = [...new Set(runs.map((r) => r.repeat))].sort((a, b) => a - b);
  /** Per repeat where both ran: numerator ÷ denominator (the denominator: the largest of those listed that ran). */
  const paired = (num: [Transport, Mode, number], dens: ReadonlyArray<[Transport, Mode, number]>): PairedRatio | null =>
    pairedRatio(
      repeats.flatMap((r) => {
        const a = tps.get(key(...num, r));
        const bs = dens.flatMap((d) => {
          const b = tps.get(key(...d, r));
          return b !== undefined && Number.isFinite(b) ? [b] : [];
        });
        return a !== undefined && bs.length > 0 ? [a / Math.max(...bs)] : [];
      }),
    );
  const cell = (transport: Transport, mode: Mode, concurrency: number): CellFigures | undefined =>
    cells.find((c) => c.transport === transport && c.mode === mode && c.concurrency === concurrency);
  const sorted = [...cells].sort(
    (a, b) => MODES.indexOf(a.mode) - MODES.indexOf(b.mode) || TRANSPORT_ORDER.indexOf(a.transport) - TRANSPORT_ORDER.indexOf(b.transport) || a.concurrency - b.concurrency,
  );
  const hasConcurrency1 = (c: CellFigures): boolean => cell(c.transport, c.mode, 1) !== undefined;

  const scaling: ScalingRow[] = sorted.map((c) => ({
    mode: c.mode,
    transport: c.transport,
    concurrency: c.concurrency,
    tokensPerSecond: c.tokensPerSecond,
    vsConcurrency1: hasConcurrency1(c) ? paired([c.transport, c.mode, c.concurrency], [[c.transport, c.mode, 1]]) : null,
    sequencesPerVerifierPass: c.sequencesPerVerifierPass,
    verifierBatchMeanSequences: c.verifierBatchMeanSequences,
  }));

  const transports: TransportRow[] = [];
  for (const c of sorted) {
    if (c.transport === 'in-process') continue;
    const base = cell('in-process', c.mode, c.concurrency);
    if (!base) continue;
    transports.push({
      mode: c.mode,
      concurrency: c.concurrency,
      transport: c.transport,
      throughput: paired([c.transport, c.mode, c.concurrency], [['in-process', c.mode, c.concurrency]]),
      ttftOverheadMs: Number.isFinite(c.ttftP50) && Number.isFinite(base.ttftP50) ? c.ttftP50 - base.ttftP50 : null,
    });
  }
  transports.sort((a, b) => MODES.indexOf(a.mode) - MODES.indexOf(b.mode) || a.concurrency - b.concurrency || TRANSPORT_ORDER.indexOf(a.transport) - TRANSPORT_ORDER.indexOf(b.transport));

  const ran = new Set(cells.map((c) => c.mode));
  let modes: ModeRow[] | null = null;
  if (ran.has('served') && (ran.has('verifier-only') || ran.has('fixed'))) {
    modes = [];
    for (const c of sorted) {
      if (c.mode !== 'served') continue;
      const at = (mode: Mode): [Transport, Mode, number] => [c.transport, mode, c.concurrency];
      const tokensPerSecond = Object.fromEntries(MODES.map((m) => [m, cell(c.transport, m, c.concurrency)?.tokensPerSecond ?? null])) as Record<Mode, number | null>;
      modes.push({
        transport: c.transport,
        concurrency: c.concurrency,
        tokensPerSecond,
        vsVerifierOnly: paired(at('served'), [at('verifier-only')]),
        vsFixed: paired(at('served'), [at('fixed')]),
        vsBetter: paired(at('served'), [at('verifier-only'), at('fixed')]),
      });
    }
    modes.sort((a, b) => TRANSPORT_ORDER.indexOf(a.transport) - TRANSPORT_ORDER.indexOf(b.transport) || a.concurrency - b.concurrency);
  }

  const checked = cells.flatMap((c) => (c.sameTokens ? [{ transport: c.transport, mode: c.mode, concurrency: c.concurrency, ...c.sameTokens }] : []));
  const sameTokens: SameTokensSummary | null =
    checked.length > 0
      ? {
          same: checked.reduce((a, c) => a + c.same, 0),
          compared: checked.reduce((a, c) => a + c.compared, 0),
          differing: checked.filter((c) => c.same < c.compared),
        }
      : null;
  return { scaling, transports, modes, sameTokens };
}

export interface ReportHeader {
  readonly title: string;
  readonly machine: MachineInfo;
  /** Lines describing the server and its models (files, sha256). */
  readonly server: readonly string[];
  readonly settings: string;
  readonly command: string;
  readonly wallSeconds: number;
  /** γ of the `fixed` mode (for its label). */
  readonly fixedGamma?: number;
  /** A line saying what this report is for when it is not a measurement (a smoke run). */
  readonly note?: string;
}

const ms = (x: number | null | undefined, digits = 1): string => fixed(x ?? undefined, digits);

/** `4.21× (4.02–4.40)`: the median and, over several repeats, the range. */
function ratioText(r: PairedRatio | null, digits = 2): string {
  if (!r) return '–';
  const range = r.ratios.length > 1 ? ` (${fixed(Math.min(...r.ratios), digits)}–${fixed(Math.max(...r.ratios), digits)})` : '';
  return `${fixed(r.median, digits)}×${range}`;
}

const signed = (x: number | null, digits = 1): string => (x === null || !Number.isFinite(x) ? '–' : `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`);

/** The summary section: the figures the acceptance criteria quote, as ratios. */
export function renderSummary(summary: LoadSummary, fixedGamma?: number): string {
  const label = (mode: Mode): string => modeLabel(mode, fixedGamma);
  const out: string[] = ['## Summary', ''];
  if (summary.sameTokens) {
    const s = summary.sameTokens;
    out.push(
      `- same tokens: ${s.same}/${s.compared} greedy requests equal their prompt generated alone` +
        (s.differing.length === 0 ? ', in every cell.' : `; differing in ${s.differing.map((d) => `${d.transport} ${label(d.mode)} c=${d.concurrency} (${d.same}/${d.compared})`).join(', ')}.`),
      '',
    );
  } else out.push('- same tokens: not checked (--no-check).', '');

  out.push('### Scaling with concurrency', '');
  out.push(
    markdownTable(
      ['mode', 'transport', 'conc.', 'tok/s', '÷ conc. 1', 'seqs / verifier pass', 'seqs / verifier batch'],
      summary.scaling.map((r) => [label(r.mode), r.transport, String(r.concurrency), fixed(r.tokensPerSecond, 0), r.concurrency === 1 ? '1 (base)' : ratioText(r.vsConcurrency1), fixed(r.sequencesPerVerifierPass ?? undefined, 2), fixed(r.verifierBatchMeanSequences ?? undefined, 2)]),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    '- ÷ conc. 1: tok/s over tok/s at concurrency 1 of the same transport and mode, paired per repeat (median; range in brackets when several repeats ran); – without concurrency 1 in the run.',
    '- seqs / verifier pass: sequences per lock-step verifier pass during the runs (`specroute_step_sequences_total` ÷ `specroute_step_passes_total`, `model="verifier"`, deltas over the runs); ' +
      'seqs / verifier batch: sequences per verifier evaluation (`specroute_verifier_batches_by_sequences`). – where the server does not export them.',
    '',
  );

  if (summary.transports.length > 0) {
    const keys = [...new Set(summary.transports.map((t) => `${t.mode}|${t.concurrency}`))];
    const wires = (['sse', 'grpc'] as const).filter((w) => summary.transports.some((t) => t.transport === w));
    out.push('### Transports against in-process', '');
    out.push(
      markdownTable(
        ['mode', 'conc.', ...wires.flatMap((w) => [`${WIRE_NAMES[w]} ÷ in-process tok/s`, `${WIRE_NAMES[w]} TTFT overhead ms`])],
        keys.map((k) => {
          const row = summary.transports.filter((t) => `${t.mode}|${t.concurrency}` === k);
          const first = row[0]!;
          return [
            label(first.mode),
            String(first.concurrency),
            ...wires.flatMap((w) => {
              const t = row.find((x) => x.transport === w);
              return [ratioText(t?.throughput ?? null, 3), signed(t?.ttftOverheadMs ?? null)];
            }),
          ];
        }),
        ['l', 'r', ...wires.flatMap(() => ['r' as const, 'r' as const])],
      ),
      '',
      '- ÷ in-process tok/s: paired per repeat with in-process generation on the same engine, same mode and concurrency (median; range). ' +
        'TTFT overhead: the transport\'s TTFT p50 − in-process TTFT p50, each pooled over every request of all repeats.',
      '',
    );
  }

  if (summary.modes) {
    out.push('### Served against verifier-only and fixed γ', '');
    const ran = MODES.filter((m) => summary.modes!.some((r) => r.tokensPerSecond[m] !== null));
    out.push(
      markdownTable(
        ['transport', 'conc.', ...ran.map((m) => `${label(m)} tok/s`), ...(ran.includes('verifier-only') ? ['served ÷ verifier-only'] : []), ...(ran.includes('fixed') ? [`served ÷ ${label('fixed')}`] : []), 'served ÷ better'],
        summary.modes.map((r) => [
          r.transport,
          String(r.concurrency),
          ...ran.map((m) => fixed(r.tokensPerSecond[m] ?? undefined, 0)),
          ...(ran.includes('verifier-only') ? [ratioText(r.vsVerifierOnly, 3)] : []),
          ...(ran.includes('fixed') ? [ratioText(r.vsFixed, 3)] : []),
          ratioText(r.vsBetter, 3),
        ]),
        ['l', 'r', ...ran.map(() => 'r' as const), ...(ran.includes('verifier-only') ? ['r' as const] : []), ...(ran.includes('fixed') ? ['r' as const] : []), 'r'],
      ),
      '',
      '- served ÷ better: served tok/s over the larger of the baselines\' tok/s in the same repeat (verifier-only and fixed γ, those that ran), median over repeats (range). ' +
        'tok/s columns: medians over repeats.',
      '',
    );
  }
  return out.join('\n');
}

export function renderMarkdown(header: ReportHeader, cells: readonly CellSummary[], summary?: LoadSummary): string {
  const { machine } = header;
  const label = (mode: Mode): string => modeLabel(mode, header.fixedGamma);
  const out: string[] = [];
  out.push(`# ${header.title}`, '');
  if (header.note) out.push(`> ${header.note}`, '');
  out.push(`- machine: ${machine.os}, ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB; node ${machine.node}, node-llama-cpp ${machine.nodeLlamaCpp}`);
  for (const line of header.server) out.push(`- ${line}`);
  out.push(`- settings: ${header.settings}`);
  out.push(`- command: \`${header.command}\` (${header.wallSeconds.toFixed(0)} s)`, '');
  if (summary) out.push(renderSummary(summary, header.fixedGamma));

  const hasInProcess = cells.some((c) => c.transport === 'in-process');
  out.push('## Latency and throughput', '');
  out.push(
    markdownTable(
      ['transport', 'mode', 'conc.', 'TTFT p50', 'TTFT p95', 'ITL p50', 'ITL p95', 'ITL mean', 'latency p50', 'tok/s', 'req/s', ...(hasInProcess ? ['÷ in-process'] : []), 'ok', 'same tokens'],
      cells.map((c) => [
        c.transport,
        label(c.mode),
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
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', ...(hasInProcess ? ['r' as const] : []), 'r', 'r'],
    ),
    '',
    '- times in ms, measured on the client, percentiles over every request (TTFT, latency) or every gap (ITL) of all repeats. TTFT: request sent → first chunk ' +
      'carrying a token. ITL: gaps between consecutive token chunks of one stream (tokens that one verifier pass accepts together arrive as a burst of ' +
      'near-zero gaps; the other gaps are whole passes). latency: request sent → stream end.',
    '- tok/s and req/s: tokens (and completed requests) of one run over its wall time, first request sent → last stream ended, median over repeats; ' +
      'closed-loop clients, each sending its next request when the previous one ends.',
    ...(hasInProcess
      ? ['- ÷ in-process: this transport\'s tok/s over `engine.generate` called directly on the same server\'s engine at the same concurrency and mode, paired per repeat (median; range in brackets).']
      : []),
    '- same tokens: requests whose token ids equal those of the same prompt generated alone beforehand (greedy, so they must match whatever the mode: the output is the verifier\'s).',
    '',
  );

  out.push('## Where a request\'s time goes (ms per request, means over every request of all repeats)', '');
  out.push(
    markdownTable(
      ['transport', 'mode', 'conc.', 'latency mean', 'engine total', 'prefill', 'draft', 'verify', 'other', 'outside engine', 'seqs / verifier pass', 'seqs / verifier batch', 'α', 'tokens / pass'],
      cells.map((c) => [
        c.transport,
        label(c.mode),
        String(c.concurrency),
        ms(c.timedLatencyMs),
        ms(c.engine?.totalMs),
        ms(c.engine?.prefillMs),
        ms(c.engine?.draftMs),
        ms(c.engine?.verifyMs),
        ms(c.engine?.otherMs),
        ms(c.outsideEngineMs),
        fixed(c.sequencesPerVerifierPass ?? undefined, 2),
        fixed(c.verifierBatchMeanSequences ?? undefined, 2),
        fixed(c.acceptanceRate ?? undefined, 3),
        fixed(c.tokensPerPass ?? undefined, 2),
      ]),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    '- engine total / prefill / draft / verify / other: the engine\'s own split of each generation (its final stats): waiting on the draft worker, on the verifier ' +
      'worker, and the rest (opening the request\'s sequences, acceptance, detokenizing, handing events to the transport, and the event loop shared with the other ' +
      'streams and the transport).',
    '- outside engine: latency − engine total: admission, tokenizing and queueing before the engine starts its clock; closing the request\'s sequences on both ' +
      'workers after its final event (a worker round trip that waits behind other requests\' passes); and, on the wire transports, serialization, the socket ' +
      'and the client\'s parsing. The in-process row has all of it but the wire.',
    '- seqs / verifier pass: sequences per lock-step verifier pass during the runs (from `/metrics`, `specroute_step_sequences_total` ÷ `specroute_step_passes_total` for `model="verifier"`). ' +
      'seqs / verifier batch: sequences per verifier evaluation (`specroute_verifier_batches_by_sequences`); > 1 means passes of different requests batched together.',
    '',
  );
  return `${out.join('\n')}\n`;
}
