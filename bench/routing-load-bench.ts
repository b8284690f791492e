/**
 * Adaptive routing under load (`specroute bench routing --load`): the latency SLO's spill-over during a burst, and
 * what a cascade probe costs in time to first token. The local tier is the stories ladder's hybrid pair with few
 * sequences; the frontier is stories260K on a second specroute over HTTP on 127.0.0.1 (on the same cores, so its
 * own latency is pessimistic). Clients are real SSE streams (bench/lib/load-drivers.ts).
 *
 * Each run sends the same open-loop schedule: a quiet phase, a burst well beyond local capacity, a quiet phase.
 * Runs alternate between a server without `routing.slo` and one with it; figures are medians over the repeats.
 * Writes report.md, report.json, frontier-share-over-time.svg and ttft-over-time.svg to --out-dir.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { loadConfig } from '../src/config/load-config.js';
import { startServer, type RunningServer } from '../src/main.js';
import { SseDriver, type StreamResult } from './lib/load-drivers.js';
import { machineInfo, type MachineInfo } from './lib/machine.js';
import { fixed, markdownTable } from './lib/markdown.js';
import { loadPrompts, loadSuite, suitePath } from './lib/prompts.js';
import { median, quantile } from './lib/summary.js';
import { startLadder } from './lib/stories-ladder.js';
import { lineChart } from './lib/svg-chart.js';

export interface LoadFlags {
  readonly modelsDir: string;
  readonly verifier: string;
  readonly local: string;
  readonly slm: string;
  readonly work: string;
  readonly outDir: string;
  /** `routing.slo.ttftP95Ms` of the SLO runs. */
  readonly sloMs: number;
  /** `limits.maxConcurrent` of the local tier. */
  readonly sequences: number;
  /** `limits.maxQueue` of the local tier. */
  readonly queue: number;
  readonly repeats: number;
  readonly maxTokens: number;
  /** Requests per second in the quiet phases and in the burst. */
  readonly quietRate: number;
  readonly burstRate: number;
  /** Seconds: quiet, burst, quiet. */
  readonly phases: readonly [number, number, number];
  readonly cascadeMinConfidence: number;
  readonly cascadeProbeTokens: number;
  readonly cascadeRequests: number;
}

/** One request of a run, as the client saw it. Times in seconds from the run's start. */
interface Sample {
  readonly at: number;
  readonly ok: boolean;
  readonly status?: number;
  readonly ttftMs?: number;
  readonly tier?: string;
  readonly reason?: string;
}

interface RunFigures {
  readonly slo: boolean;
  readonly sent: number;
  readonly completed: number;
  readonly refused: number;
  readonly failed: number;
  readonly ttftP50: number;
  readonly ttftP95: number;
  readonly ttftP99: number;
  /** TTFT p95 of requests sent during the burst. */
  readonly burstTtftP95: number;
  readonly frontierShare: number;
  readonly spilled: number;
  readonly samples: readonly Sample[];
}

interface CascadeFigures {
  readonly cascade: boolean;
  readonly requests: number;
  readonly ttftP50: number;
  readonly ttftP95: number;
  readonly moved: number;
  /** TTFT p50 of the requests that stayed local, and of those that moved (ms; NaN when none). */
  readonly stayedP50: number;
  readonly movedP50: number;
}

const log = (line: string): void => void process.stderr.write(`[routing-load] ${line}\n`);

/** Arrival offsets (seconds) of the open-loop schedule. */
function schedule(flags: LoadFlags): number[] {
  const [quiet1, burst, quiet2] = flags.phases;
  const out: number[] = [];
  const phase = (from: number, seconds: number, rate: number): void => {
    for (let t = 0; t < seconds; t += 1 / rate) out.push(from + t);
  };
  phase(0, quiet1, flags.quietRate);
  phase(quiet1, burst, flags.burstRate);
  phase(quiet1 + burst, quiet2, flags.quietRate);
  return out;
}

export async function routingLoadBench(flags: LoadFlags): Promise<void> {
  const started = performance.now();
  await mkdir(flags.work, { recursive: true });
  await mkdir(flags.outDir, { recursive: true });
  const { frontier, config } = await startLadder({ ...flags, frontierLimits: { maxConcurrent: 16, maxQueue: 256 } });
  const base = { ...config, limits: { maxConcurrent: flags.sequences, maxQueue: flags.queue } };
  const prompts = (await loadPrompts(suitePath('stories'))).map((p) => p.prompt);
  const runs: RunFigures[] = [];
  let cascade: CascadeFigures[] = [];
  try {
    for (let repeat = 0; repeat < flags.repeats; repeat++) {
      for (const slo of [false, true]) {
        const routing = { default: 'auto', ...(slo ? { slo: { ttftP95Ms: flags.sloMs, windowSeconds: 5 } } : {}) };
        const server = await serve(join(flags.work, `load-${slo ? 'slo' : 'plain'}.json`), { ...base, routing });
        try {
          const run = await burstRun(server, prompts, flags, slo);
          log(`repeat ${repeat + 1}/${flags.repeats}, ${slo ? 'with' : 'without'} the SLO: ${run.completed}/${run.sent} completed, ${run.refused} refused, TTFT p95 ${run.ttftP95.toFixed(0)} ms, frontier share ${(run.frontierShare * 100).toFixed(0)} %`);
          runs.push(run);
        } finally {
          await server.close();
        }
      }
    }
    cascade = await cascadeRuns(base, flags);
  } finally {
    await frontier.close();
  }
  const machine = await machineInfo();
  const command = `specroute bench routing --load --slo-ms ${flags.sloMs} --sequences ${flags.sequences} --queue ${flags.queue} --repeats ${flags.repeats}`;
  const seconds = (performance.now() - started) / 1000;
  const charts = { share: join(flags.outDir, 'frontier-share-over-time.svg'), ttft: join(flags.outDir, 'ttft-over-time.svg') };
  await writeFile(charts.share, shareChart(runs, flags));
  await writeFile(charts.ttft, ttftChart(runs, flags));
  const markdown = render(runs, cascade, flags, machine, command, seconds);
  process.stdout.write(markdown);
  await writeFile(join(flags.outDir, 'report.md'), markdown);
  await writeFile(
    join(flags.outDir, 'report.json'),
    `${JSON.stringify({ command, machine, flags: { ...flags, work: undefined, outDir: undefined }, runs: runs.map(({ samples, ...r }) => ({ ...r, samples })), cascade }, null, 2)}\n`,
  );
  log(`wrote ${relative(process.cwd(), flags.outDir)}/report.md, report.json and 2 charts`);
}

async function serve(file: string, config: Record<string, unknown>): Promise<RunningServer> {
  await writeFile(file, JSON.stringify(config));
  return startServer(loadConfig(file, { port: 0, grpcPort: -1, host: '127.0.0.1' }));
}

/** Sends the schedule open-loop over SSE and waits for every stream. */
async function burstRun(server: RunningServer, prompts: readonly string[], flags: LoadFlags, slo: boolean): Promise<RunFigures> {
  const driver = new SseDriver(server.httpUrl, 'local', undefined);
  const arrivals = schedule(flags);
  const t0 = performance.now();
  const streams: Array<Promise<{ at: number; result: StreamResult }>> = [];
  try {
    for (const [i, at] of arrivals.entries()) {
      const wait = t0 + at * 1000 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const prompt = prompts[i % prompts.length]!;
      streams.push(driver.stream({ prompt, maxTokens: flags.maxTokens, seed: i, signal: AbortSignal.timeout(120_000) }).then((result) => ({ at: (result.sentAt - t0) / 1000, result })));
    }
    const done = await Promise.all(streams);
    const samples: Sample[] = done.map(({ at, result }) => ({
      at,
      ok: result.ok,
      ...(result.status !== undefined ? { status: result.status } : {}),
      ...(result.chunkTimes[0] !== undefined ? { ttftMs: result.chunkTimes[0] - result.sentAt } : {}),
      ...(result.route ? { tier: result.route.tier, reason: result.route.reason } : {}),
    }));
    const ttfts = samples.filter((s) => s.ok && s.ttftMs !== undefined).map((s) => s.ttftMs!);
    const [quiet1, burst] = flags.phases;
    const inBurst = samples.filter((s) => s.ok && s.ttftMs !== undefined && s.at >= quiet1 && s.at < quiet1 + burst).map((s) => s.ttftMs!);
    const completed = samples.filter((s) => s.ok);
    return {
      slo,
      sent: samples.length,
      completed: completed.length,
      refused: samples.filter((s) => s.status === 429).length,
      failed: samples.filter((s) => !s.ok && s.status !== 429).length,
      ttftP50: quantile(ttfts, 0.5),
      ttftP95: quantile(ttfts, 0.95),
      ttftP99: quantile(ttfts, 0.99),
      burstTtftP95: inBurst.length > 0 ? quantile(inBurst, 0.95) : Number.NaN,
      frontierShare: completed.filter((s) => s.tier === 'frontier').length / Math.max(1, completed.length),
      spilled: completed.filter((s) => s.reason === 'slo').length,
      samples,
    };
  } finally {
    await driver.close();
  }
}

/**
 * The cascade's cost: the same mixed prompts one at a time, without and with `routing.cascade`; the probe's time
 * shows in TTFT (a moved request pays the probe, then the frontier's own first token).
 */
async function cascadeRuns(base: Record<string, unknown>, flags: LoadFlags): Promise<CascadeFigures[]> {
  const prompts = (await loadSuite(suitePath('routing-agreement'))).flatMap((p) => ('prompt' in p ? [p.prompt] : []));
  const out: CascadeFigures[] = [];
  for (const cascade of [false, true]) {
    const routing = { default: 'auto', ...(cascade ? { cascade: { probeTokens: flags.cascadeProbeTokens, minConfidence: flags.cascadeMinConfidence } } : {}) };
    const server = await serve(join(flags.work, `cascade-${cascade}.json`), { ...base, limits: { maxConcurrent: 4, maxQueue: 64 }, routing });
    const driver = new SseDriver(server.httpUrl, 'local', undefined);
    const ttfts: number[] = [];
    const stayed: number[] = [];
    const movedTtfts: number[] = [];
    try {
      for (let i = 0; i < flags.cascadeRequests; i++) {
        const result = await driver.stream({ prompt: prompts[(i * 7) % prompts.length]!, maxTokens: flags.maxTokens, seed: i, signal: AbortSignal.timeout(120_000) });
        if (!result.ok) throw new Error(`cascade run: ${result.error ?? 'failed'}`);
        const ttft = result.chunkTimes[0]! - result.sentAt;
        ttfts.push(ttft);
        (result.route?.reason === 'cascade' ? movedTtfts : stayed).push(ttft);
      }
    } finally {
      await driver.close();
      await server.close();
    }
    const p50 = (values: readonly number[]): number => (values.length > 0 ? quantile(values, 0.5) : Number.NaN);
    const moved = movedTtfts.length;
    out.push({ cascade, requests: ttfts.length, ttftP50: quantile(ttfts, 0.5), ttftP95: quantile(ttfts, 0.95), moved, stayedP50: p50(stayed), movedP50: p50(movedTtfts) });
    log(`cascade ${cascade ? 'on' : 'off'}: TTFT p50 ${quantile(ttfts, 0.5).toFixed(1)} ms, p95 ${quantile(ttfts, 0.95).toFixed(1)} ms, ${moved} moved`);
  }
  return out;
}

/** Per-second bins of a run by send time. */
function bins(run: RunFigures, flags: LoadFlags, value: (samples: readonly Sample[]) => number | undefined): Array<readonly [number, number]> {
  const total = flags.phases[0] + flags.phases[1] + flags.phases[2];
  const out: Array<readonly [number, number]> = [];
  for (let t = 0; t < total; t++) {
    const v = value(run.samples.filter((s) => s.at >= t && s.at < t + 1));
    if (v !== undefined) out.push([t + 0.5, v]);
  }
  return out;
}

function burstLines(flags: LoadFlags): Array<{ x: number; label: string }> {
  return [
    { x: flags.phases[0], label: 'burst starts' },
    { x: flags.phases[0] + flags.phases[1], label: 'burst ends' },
  ];
}

function shareChart(runs: readonly RunFigures[], flags: LoadFlags): string {
  const first = (slo: boolean): RunFigures => runs.find((r) => r.slo === slo)!;
  const share = (samples: readonly Sample[]): number | undefined => {
    const done = samples.filter((s) => s.ok);
    return done.length === 0 ? undefined : (done.filter((s) => s.tier === 'frontier').length / done.length) * 100;
  };
  const refused = (samples: readonly Sample[]): number | undefined => (samples.length === 0 ? undefined : (samples.filter((s) => s.status === 429).length / samples.length) * 100);
  return lineChart(
    [
      { label: 'with SLO: to frontier', points: bins(first(true), flags, share) },
      { label: 'without: to frontier', points: bins(first(false), flags, share) },
      { label: 'without: refused (429)', points: bins(first(false), flags, refused) },
      { label: 'with SLO: refused (429)', points: bins(first(true), flags, refused) },
    ],
    {
      title: 'Requests sent each second: frontier share and refusals (first repeat)',
      xLabel: 'seconds since the run started (requests by send time)',
      yLabel: '% of the second\'s requests',
      yRange: [0, 100],
      xTick: (v) => v.toFixed(0),
      yTick: (v) => v.toFixed(0),
      vLines: burstLines(flags),
    },
  );
}

function ttftChart(runs: readonly RunFigures[], flags: LoadFlags): string {
  const first = (slo: boolean): RunFigures => runs.find((r) => r.slo === slo)!;
  const p95 = (samples: readonly Sample[]): number | undefined => {
    const t = samples.filter((s) => s.ok && s.ttftMs !== undefined).map((s) => s.ttftMs!);
    return t.length === 0 ? undefined : quantile(t, 0.95);
  };
  return lineChart(
    [
      { label: 'with SLO', points: bins(first(true), flags, p95) },
      { label: 'without SLO', points: bins(first(false), flags, p95) },
    ],
    {
      title: 'TTFT p95 of the requests sent each second (first repeat)',
      xLabel: 'seconds since the run started (requests by send time)',
      yLabel: 'TTFT p95 (ms)',
      xTick: (v) => v.toFixed(0),
      yTick: (v) => v.toFixed(0),
      hLines: [{ y: flags.sloMs, label: `SLO ${flags.sloMs} ms` }],
      vLines: burstLines(flags),
    },
  );
}

function render(runs: readonly RunFigures[], cascade: readonly CascadeFigures[], flags: LoadFlags, machine: MachineInfo, command: string, seconds: number): string {
  const med = (slo: boolean, pick: (r: RunFigures) => number): number => median(runs.filter((r) => r.slo === slo).map(pick));
  const [quiet1, burst, quiet2] = flags.phases;
  const lines: string[] = [];
  lines.push('# Adaptive routing under a burst: latency SLO spill-over, and the cascade\'s cost', '');
  lines.push(`\`${command}\` (${(seconds / 60).toFixed(1)} min on ${machine.cpuModel}, ${machine.cores} cores; Node ${machine.node}).`, '');
  lines.push(
    `Local tier: \`${flags.local}\` of ${flags.verifier} with the \`${flags.slm}\` draft, \`limits.maxConcurrent: ${flags.sequences}\`, \`maxQueue: ${flags.queue}\`. ` +
      `Frontier: ${flags.verifier} on a second specroute on 127.0.0.1, sharing the same cores (a remote frontier would not). ` +
      `Schedule (open loop, SSE clients, ${flags.maxTokens} tokens each, end of text ignored): ${quiet1} s at ${flags.quietRate}/s, a ${burst} s burst at ${flags.burstRate}/s, ${quiet2} s at ${flags.quietRate}/s. ` +
      `Every request is \`auto\` with no router, so it is \`hybrid\` unless the SLO (\`routing.slo: {ttftP95Ms: ${flags.sloMs}, windowSeconds: 5}\`) spills it (its readings are breached, or the local queue is full); without the SLO a full queue refuses with 429. Medians of ${flags.repeats} runs each, alternating.`,
    '',
  );
  const row = (slo: boolean): string[] => [
    slo ? `with \`routing.slo\` (${flags.sloMs} ms)` : 'without',
    `${med(slo, (r) => r.completed)} / ${med(slo, (r) => r.sent)}`,
    String(med(slo, (r) => r.refused)),
    fixed(med(slo, (r) => r.ttftP50), 0),
    fixed(med(slo, (r) => r.ttftP95), 0),
    fixed(med(slo, (r) => r.burstTtftP95), 0),
    `${fixed(med(slo, (r) => r.frontierShare) * 100, 0)} %`,
    String(med(slo, (r) => r.spilled)),
  ];
  lines.push('## The burst, with and without the SLO', '');
  lines.push(markdownTable(['server', 'completed / sent', 'refused (429)', 'TTFT p50 ms', 'TTFT p95 ms', 'TTFT p95 ms, burst', 'frontier share', 'spilled (reason slo)'], [row(false), row(true)], ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']), '');
  lines.push('Each run:', '');
  lines.push(
    markdownTable(
      ['server', 'completed / sent', 'refused', 'TTFT p50 / p95 / p99 ms', 'burst p95 ms', 'frontier share'],
      runs.map((r) => [r.slo ? 'with SLO' : 'without', `${r.completed} / ${r.sent}`, String(r.refused), `${fixed(r.ttftP50, 0)} / ${fixed(r.ttftP95, 0)} / ${fixed(r.ttftP99, 0)}`, fixed(r.burstTtftP95, 0), `${fixed(r.frontierShare * 100, 0)} %`]),
      ['l', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
  );
  lines.push('![frontier share over time](frontier-share-over-time.svg)', '', '![TTFT over time](ttft-over-time.svg)', '');
  if (cascade.length === 2) {
    const [off, on] = cascade as [CascadeFigures, CascadeFigures];
    lines.push('## What a cascade probe costs', '');
    lines.push(
      `${off.requests} prompts of the routing-agreement suite, one at a time, on the same local tier: without \`routing.cascade\`, and with \`{probeTokens: ${flags.cascadeProbeTokens}, minConfidence: ${flags.cascadeMinConfidence}}\`. A request that stays local sends its probe tokens at once after the probe; a moved one pays the probe, then the frontier's own first token.`,
      '',
    );
    lines.push(
      markdownTable(
        ['cascade', 'TTFT p50 ms', 'TTFT p95 ms', 'moved to the frontier', 'TTFT p50 ms, stayed local', 'TTFT p50 ms, moved'],
        [
          ['off', fixed(off.ttftP50, 1), fixed(off.ttftP95, 1), '–', fixed(off.stayedP50, 1), '–'],
          ['on', fixed(on.ttftP50, 1), fixed(on.ttftP95, 1), `${on.moved} / ${on.requests}`, fixed(on.stayedP50, 1), fixed(on.movedP50, 1)],
        ],
        ['l', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The defaults `bench routing --load` runs with. */
export const loadDefaults = {
  sloMs: 250,
  sequences: 2,
  queue: 8,
  repeats: 3,
  maxTokens: 64,
  quietRate: 2,
  burstRate: 25,
  phases: [6, 3, 10] as const,
  cascadeMinConfidence: 0.45,
  cascadeProbeTokens: 8,
  cascadeRequests: 60,
};
