/**
 * One load run: `concurrency` closed-loop clients, each sending up to `requestsPerClient` streamed requests one
 * after another (no new request after the time cap; each request under its own timeout), then the run's figures.
 */
import http from 'node:http';
import type { BenchPrompt } from './prompts.js';
import { quantile } from './summary.js';
import type { Driver, EngineSplit, SpeculationRequest, StreamResult, Transport } from './load-drivers.js';

/**
 * What the requests of a run ask for: `served`, the request as clients send it (no speculation field: the
 * server's settings, load-adaptive γ included); `verifier-only`, speculation off; `fixed`, exactly γ = G draft
 * tokens per block (not adaptive, so no load ceiling either).
 */
export type Mode = 'served' | 'verifier-only' | 'fixed';
export const MODES: readonly Mode[] = ['served', 'verifier-only', 'fixed'];

/** The speculation settings a mode's requests carry. `fixed`: min = initial = max = G, not adaptive, no `p_min` cut-off. */
export function modeSpeculation(mode: Mode, fixedGamma: number): SpeculationRequest {
  if (mode === 'served') return undefined;
  if (mode === 'verifier-only') return false;
  return { adaptive: false, min: fixedGamma, initial: fixedGamma, max: fixedGamma, pMin: 0 };
}

/** The mode as the report names it: `fixed γ=4`. */
export function modeLabel(mode: Mode, fixedGamma: number | undefined): string {
  return mode === 'fixed' && fixedGamma !== undefined ? `fixed γ=${fixedGamma}` : mode;
}

export interface RunSpec {
  readonly mode: Mode;
  /** What each request carries for `mode` (see `modeSpeculation`). */
  readonly speculation: SpeculationRequest;
  readonly concurrency: number;
  readonly requestsPerClient: number;
  /** No client starts a request after this many milliseconds from the run's start. */
  readonly timeCapMs: number;
  /** Each request is aborted after this long. */
  readonly requestTimeoutMs: number;
  readonly maxTokens: number;
  /** Request k of the run uses seed `seed + k` (greedy decoding ignores it; recorded for re-runs). */
  readonly seed: number;
  readonly prompts: readonly BenchPrompt[];
}

/** One request as the report keeps it. Times in ms from the run's start. */
export interface RequestRecord {
  readonly client: number;
  /** Its index in the run: client + j·concurrency for the client's j-th request (also picks the prompt). */
  readonly index: number;
  readonly promptId: string;
  readonly seed: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly startMs: number;
  /** Time to the first chunk carrying a token; null when none came. */
  readonly ttftMs: number | null;
  readonly endMs: number;
  readonly tokens: number;
  readonly chunks: number;
  readonly engine?: EngineSplit;
}

/** The run's raw material: its records, every inter-chunk gap, and the token ids per request (for the output check). */
export interface RunResult {
  readonly transport: Transport;
  readonly mode: Mode;
  readonly concurrency: number;
  readonly wallMs: number;
  /** True when some client stopped early because of the time cap. */
  readonly capped: boolean;
  readonly requests: readonly RequestRecord[];
  readonly gapsMs: readonly number[];
  readonly tokenIds: ReadonlyMap<number, readonly number[]>;
}

export async function runLoad(driver: Driver, spec: RunSpec): Promise<RunResult> {
  const start = performance.now();
  const deadline = start + spec.timeCapMs;
  const requests: RequestRecord[] = [];
  const gapsMs: number[] = [];
  const tokenIds = new Map<number, readonly number[]>();
  let capped = false;
  const client = async (c: number): Promise<void> => {
    for (let j = 0; j < spec.requestsPerClient; j++) {
      if (performance.now() >= deadline) {
        capped = true;
        return;
      }
      const index = c + j * spec.concurrency;
      const prompt = spec.prompts[index % spec.prompts.length]!;
      const seed = spec.seed + index;
      const result: StreamResult = await driver.stream({
        prompt: prompt.prompt,
        maxTokens: spec.maxTokens,
        seed,
        ...(spec.speculation !== undefined ? { speculation: spec.speculation } : {}),
        signal: AbortSignal.timeout(spec.requestTimeoutMs),
      });
      const times = result.chunkTimes;
      for (let i = 1; i < times.length; i++) gapsMs.push(times[i]! - times[i - 1]!);
      tokenIds.set(index, result.tokenIds);
      requests.push({
        client: c,
        index,
        promptId: prompt.id,
        seed,
        ok: result.ok,
        ...(result.error !== undefined ? { error: result.error } : {}),
        startMs: result.sentAt - start,
        ttftMs: times.length > 0 ? times[0]! - result.sentAt : null,
        endMs: result.endAt - start,
        tokens: result.tokenIds.length,
        chunks: times.length,
        ...(result.engine ? { engine: result.engine } : {}),
      });
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, (_, c) => client(c)));
  const wallMs = Math.max(0, ...requests.map((r) => r.endMs));
  requests.sort((a, b) => a.index - b.index);
  return { transport: driver.transport, mode: spec.mode, concurrency: spec.concurrency, wallMs, capped, requests, gapsMs, tokenIds };
}

/** Verifier batches by how many sequences shared them (cumulative since the server started). */
export type BatchHistogram = Record<string, number>;

/** The verifier's lock-step passes and the sequences they carried, added up (cumulative since the server started). */
export interface StepCounts {
  readonly passes: number;
  readonly sequences: number;
}

/** What the bench reads from /metrics before and after a run. */
export interface MetricsSample {
  readonly batches: BatchHistogram;
  /** `specroute_step_*_total{model="verifier"}`; null when the server does not export them (lock-step off, older server). */
  readonly verifierSteps: StepCounts | null;
}

/** The run's figures. Latencies in ms; throughput over the run's wall time (first request sent to last one ended). */
/** Latency figures over a set of requests (which set, the summary holding them says). */
export interface LatencyFigures {
  readonly ttftP50: number;
  readonly ttftP95: number;
  /** Gaps between consecutive token chunks of one stream, pooled over the streams. */
  readonly itlP50: number;
  readonly itlP95: number;
  readonly itlMean: number;
  /** Request latency, sent to last byte. */
  readonly e2eP50: number;
}

/** The engine's time split, in ms per request (from each request's final stats). */
export type EngineTimeSplit = { totalMs: number; prefillMs: number; draftMs: number; verifyMs: number; otherMs: number };

export interface RunSummary extends LatencyFigures {
  readonly transport: Transport;
  readonly mode: Mode;
  readonly concurrency: number;
  readonly repeat: number;
  readonly requests: number;
  readonly ok: number;
  readonly failed: number;
  readonly capped: boolean;
  readonly tokens: number;
  readonly wallMs: number;
  readonly tokensPerSecond: number;
  readonly requestsPerSecond: number;
  /** Means over the run's requests of the engine's time split. */
  readonly engine: EngineTimeSplit | null;
  /** Mean of (request latency − engine total): queueing, transport, serialization and client parsing. */
  readonly outsideEngineMs: number | null;
  readonly acceptanceRate: number | null;
  readonly tokensPerPass: number | null;
  /** Verifier batches during the run, from /metrics: count and mean sequences per batch (null when not scraped). */
  readonly verifierBatches: { batches: number; meanSequences: number; histogram: BatchHistogram } | null;
  /** Verifier lock-step passes during the run and the sequences they carried, from /metrics (null when not exported). */
  readonly verifierPasses: { passes: number; sequences: number; meanSequences: number } | null;
  /** Up to 3 distinct error messages. */
  readonly errors: readonly string[];
}

const mean = (values: readonly number[]): number => (values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length);

export function summarizeRun(run: RunResult, repeat: number, metrics: { before: MetricsSample; after: MetricsSample } | null): RunSummary {
  const ok = run.requests.filter((r) => r.ok);
  const tokens = run.requests.reduce((a, r) => a + r.tokens, 0);
  const ttfts = run.requests.flatMap((r) => (r.ttftMs === null ? [] : [r.ttftMs]));
  const withEngine = ok.filter((r): r is RequestRecord & { engine: EngineSplit } => r.engine !== undefined);
  const engineMean = (pick: (e: EngineSplit) => number): number => mean(withEngine.map((r) => pick(r.engine)));
  let verifierBatches: RunSummary['verifierBatches'] = null;
  let verifierPasses: RunSummary['verifierPasses'] = null;
  if (metrics) {
    const histogram: BatchHistogram = {};
    let count = 0;
    let sequences = 0;
    for (const [size, after] of Object.entries(metrics.after.batches)) {
      const delta = after - (metrics.before.batches[size] ?? 0);
      if (delta <= 0) continue;
      histogram[size] = delta;
      count += delta;
      sequences += delta * Number(size);
    }
    verifierBatches = { batches: count, meanSequences: count > 0 ? sequences / count : Number.NaN, histogram };
    const [before, after] = [metrics.before.verifierSteps, metrics.after.verifierSteps];
    if (before && after) {
      const passes = after.passes - before.passes;
      const seqs = after.sequences - before.sequences;
      verifierPasses = { passes, sequences: seqs, meanSequences: passes > 0 ? seqs / passes : Number.NaN };
    }
  }
  return {
    transport: run.transport,
    mode: run.mode,
    concurrency: run.concurrency,
    repeat,
    requests: run.requests.length,
    ok: ok.length,
    failed: run.requests.length - ok.length,
    capped: run.capped,
    tokens,
    wallMs: run.wallMs,
    tokensPerSecond: run.wallMs > 0 ? (tokens / run.wallMs) * 1000 : Number.NaN,
    requestsPerSecond: run.wallMs > 0 ? (ok.length / run.wallMs) * 1000 : Number.NaN,
    ttftP50: quantile(ttfts, 0.5),
    ttftP95: quantile(ttfts, 0.95),
    itlP50: quantile(run.gapsMs, 0.5),
    itlP95: quantile(run.gapsMs, 0.95),
    itlMean: mean(run.gapsMs),
    e2eP50: quantile(ok.map((r) => r.endMs - r.startMs), 0.5),
    engine:
      withEngine.length > 0
        ? { totalMs: engineMean((e) => e.totalMs), prefillMs: engineMean((e) => e.prefillMs), draftMs: engineMean((e) => e.draftMs), verifyMs: engineMean((e) => e.verifyMs), otherMs: engineMean((e) => e.otherMs) }
        : null,
    outsideEngineMs: withEngine.length > 0 ? mean(withEngine.map((r) => r.endMs - r.startMs - r.engine.totalMs)) : null,
    acceptanceRate: withEngine.length > 0 ? engineMean((e) => e.acceptanceRate) : null,
    tokensPerPass: withEngine.length > 0 ? engineMean((e) => e.tokensPerPass) : null,
    verifierBatches,
    verifierPasses,
    errors: [...new Set(run.requests.flatMap((r) => (r.error !== undefined ? [r.error] : [])))].slice(0, 3),
  };
}

/**
 * Reads `specroute_verifier_batches_by_sequences` and the verifier's `specroute_step_passes_total` /
 * `specroute_step_sequences_total` from Prometheus text.
 */
export function parseMetrics(text: string): MetricsSample {
  const batches: BatchHistogram = {};
  for (const match of text.matchAll(/^specroute_verifier_batches_by_sequences\{sequences="(\d+)"\} (\S+)$/gm)) batches[match[1]!] = Number(match[2]);
  const step = (name: string): number | undefined => {
    const match = new RegExp(`^${name}\\{model="verifier"\\} (\\S+)$`, 'm').exec(text);
    return match ? Number(match[1]) : undefined;
  };
  const passes = step('specroute_step_passes_total');
  const sequences = step('specroute_step_sequences_total');
  return { batches, verifierSteps: passes !== undefined && sequences !== undefined ? { passes, sequences } : null };
}

/** Reads the bench's figures from the server's /metrics (null when it cannot). */
export function scrapeMetrics(baseUrl: string, apiKey: string | undefined, timeoutMs = 5000): Promise<MetricsSample | null> {
  return new Promise((resolve) => {
    const req = http.get(new URL('/metrics', baseUrl), { agent: false, timeout: timeoutMs, headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (t: string) => (text += t));
      res.on('end', () => resolve(res.statusCode === 200 ? parseMetrics(text) : null));
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(null));
  });
}

/** How many requests produced exactly the reference tokens for their prompt (compared where both are complete). */
export function sameTokens(run: RunResult, reference: ReadonlyMap<string, readonly number[]>): { same: number; compared: number } {
  let same = 0;
  let compared = 0;
  for (const r of run.requests) {
    const ref = reference.get(r.promptId);
    const ids = run.tokenIds.get(r.index);
    if (!r.ok || !ref || !ids) continue;
    compared++;
    if (ids.length === ref.length && ids.every((t, i) => t === ref[i])) same++;
  }
  return { same, compared };
}
