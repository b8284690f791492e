/**
 * Routing quality of the trained router on the stories ladder: `slm` = a layer-truncated copy of stories260K,
 * `hybrid` = a quantized copy as verifier with that draft, `frontier` = stories260K itself served by a second
 * specroute over HTTP on 127.0.0.1. For each suite it labels every prompt (`router label`'s code), trains on one
 * split (`router train`'s code), calibrates to the target frontier share, and evaluates on the held-out split
 * against a random router and the oracle; then it serves the held-out prompts through the real `auto` path to
 * measure the router's decision latency against a plain prompt pass. Markdown on stdout, report.md, report.json
 * and one SVG cost–quality chart per suite in --out-dir.
 *
 *   specroute bench routing [--suites routing-agreement,routing-checkable] [--out-dir bench/report/routing]
 *
 * With --load it measures adaptive routing under a burst instead (bench/routing-load-bench.ts), into
 * <out-dir>/load.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { Command } from 'commander';
import { labelPromptFile } from '../src/cli/commands/router-label.js';
import { integer, number } from '../src/cli/options.js';
import { loadConfig } from '../src/config/load-config.js';
import { startServer } from '../src/main.js';
import { packageRoot } from '../src/package-root.js';
import { featureVectorFromRecord } from '../src/routing/feature-vector.js';
import { readLabelledData, qualityPairs, type LabelledRow } from '../src/routing/labelled-data.js';
import { routerFromDocument, saveRouterFile } from '../src/routing/router-file.js';
import { evaluateAtThreshold, evaluateRouting, type RoutingEvaluation, type ThresholdEvaluation } from '../src/routing/routing-evaluation.js';
import { trainRouter, type CrossValidation } from '../src/routing/train-router.js';
import { startLadder } from './lib/stories-ladder.js';
import { machineInfo, sha256File, type MachineInfo } from './lib/machine.js';
import { fixed, markdownTable } from './lib/markdown.js';
import { suitePath } from './lib/prompts.js';
import { median as medianOf, quantile } from './lib/summary.js';
import { lineChart } from './lib/svg-chart.js';
import { loadDefaults, routingLoadBench } from './routing-load-bench.js';

interface Flags {
  modelsDir: string;
  verifier: string;
  local: string;
  slm: string;
  suites: string;
  agreementTokens: number;
  checkableTokens: number;
  trainFraction: number;
  targetFrontierShare: number;
  seed: number;
  splits: number;
  latencyPrompts: number;
  work: string;
  outDir: string;
  load: boolean;
  sloMs: number;
  sequences: number;
  queue: number;
  repeats: number;
  cascadeMinConfidence: number;
}

interface SuiteResult {
  readonly suite: string;
  readonly maxTokens: number;
  readonly train: number;
  readonly test: number;
  readonly meanQuality: Record<string, number>;
  readonly crossValidation: CrossValidation['mean'] | undefined;
  /** The first split's held-out evaluation (the chart, the table at fixed shares). */
  readonly heldOut: RoutingEvaluation;
  /** Each split's result at its calibrated threshold, and their medians. */
  readonly splits: ReadonlyArray<{ readonly seed: number; readonly atThreshold: ThresholdEvaluation; readonly apgrAt: RoutingEvaluation['apgrAt'] }>;
  readonly median: { readonly share: number; readonly apgr: number | null; readonly oracleApgr: number | null; readonly gainOverRandomRecovered: number | null; readonly recoveredAt: Record<string, number | null> };
  readonly atThreshold: ThresholdEvaluation;
  readonly latency: Latency;
  readonly chart: string;
}

/** Milliseconds, p50 and p99. */
interface Latency {
  readonly decision: readonly [number, number];
  readonly promptPass: readonly [number, number];
  readonly overhead: readonly [number, number];
  readonly samples: number;
}

const root = packageRoot();
const log = (line: string): void => void process.stderr.write(`[routing-bench] ${line}\n`);

/** The `bench routing` command. */
export function routingBenchCommand(): Command {
  return new Command('routing')
    .description('Routing quality of the trained router on the stories ladder: held-out APGR against random and the oracle, at the calibrated frontier share, and the decision latency.')
    .option('--models-dir <dir>', 'folder of the models', resolve(root, '../shared/models'))
    .option('--verifier <file>', 'the frontier model, and the source of the local copies', 'stories260K.gguf')
    .option('--local <spec>', 'the hybrid tier\'s verifier, made from it (draft make syntax: q8_0, q4_0, L0-3…)', 'q4_0')
    .option('--slm <spec>', 'the slm tier (and the hybrid tier\'s draft), made from it', 'L0-1')
    .option('--suites <list>', 'prompt suites (bench/prompts/NAME.jsonl or paths)', 'routing-agreement,routing-checkable')
    .option('--agreement-tokens <n>', 'tokens per output on suites without checkable answers', integer(1, 480), 48)
    .option('--checkable-tokens <n>', 'tokens per output on suites with checkable answers', integer(1, 480), 24)
    .option('--train-fraction <x>', 'share of each suite the router is trained on (the rest is held out)', number(0.05, 0.95), 0.5)
    .option('--target-frontier-share <x>', 'the share the threshold is calibrated to', number(0, 1), 0.3)
    .option('--seed <n>', 'seeds the first split and the cross-validation folds', integer(0), 0)
    .option('--splits <n>', 'train/held-out splits (seeds seed, seed+1, …); figures are their medians', integer(1, 50), 5)
    .option('--latency-prompts <n>', 'held-out prompts served through the auto path to time decisions', integer(1), 200)
    .option('--work <dir>', 'models, configs and labelled data (labelling resumes from here)', resolve(root, 'bench/out/routing'))
    .option('--out-dir <dir>', 'where report.md, report.json and the charts go', resolve(root, 'bench/report/routing'))
    .option('--load', 'measure adaptive routing under a burst instead: TTFT and completed requests with and without routing.slo, the frontier share over time, the cascade probe\'s cost (into <out-dir>/load)', false)
    .option('--slo-ms <n>', '--load: routing.slo.ttftP95Ms of the SLO runs', number(1, 600_000), loadDefaults.sloMs)
    .option('--sequences <n>', '--load: limits.maxConcurrent of the local tier', integer(1, 64), loadDefaults.sequences)
    .option('--queue <n>', '--load: limits.maxQueue of the local tier', integer(0, 10_000), loadDefaults.queue)
    .option('--repeats <n>', '--load: runs with and without the SLO (figures are their medians)', integer(1, 20), loadDefaults.repeats)
    .option('--cascade-min-confidence <x>', '--load: routing.cascade.minConfidence of the cascade run', number(0.01, 1), loadDefaults.cascadeMinConfidence)
    .addHelpText('after', '\nExamples:\n  $ specroute bench routing\n  $ specroute bench routing --suites routing-checkable --local q8_0 --target-frontier-share 0.3\n  $ specroute bench routing --load --slo-ms 250 --sequences 2')
    .action((flags: Flags) =>
      flags.load
        ? routingLoadBench({
            ...loadDefaults,
            modelsDir: flags.modelsDir,
            verifier: flags.verifier,
            local: flags.local,
            slm: flags.slm,
            work: flags.work,
            outDir: join(flags.outDir, 'load'),
            sloMs: flags.sloMs,
            sequences: flags.sequences,
            queue: flags.queue,
            repeats: flags.repeats,
            cascadeMinConfidence: flags.cascadeMinConfidence,
          })
        : main(flags),
    );
}

async function main(flags: Flags): Promise<void> {
  const started = performance.now();
  await mkdir(flags.work, { recursive: true });
  await mkdir(flags.outDir, { recursive: true });
  const { source, localPath, slmPath, frontier, config } = await startLadder({ ...flags, frontierLimits: { maxConcurrent: 4, maxQueue: 64 } });
  const results: SuiteResult[] = [];
  try {
    for (const suite of flags.suites.split(',').map((s) => s.trim()).filter(Boolean)) {
      results.push(await runSuite(suite, flags, config));
    }
  } finally {
    await frontier.close();
  }
  const machine = await machineInfo();
  const models = {
    frontier: { path: relative(root, source), sha256: await sha256File(source) },
    hybrid: { spec: flags.local, sha256: await sha256File(localPath) },
    slm: { spec: flags.slm, sha256: await sha256File(slmPath) },
  };
  const command = `specroute bench routing --suites ${flags.suites} --local ${flags.local} --slm ${flags.slm} --train-fraction ${flags.trainFraction} --target-frontier-share ${flags.targetFrontierShare} --seed ${flags.seed} --splits ${flags.splits}`;
  const markdown = render(results, flags, machine, models, command, (performance.now() - started) / 1000);
  process.stdout.write(markdown);
  await writeFile(join(flags.outDir, 'report.md'), markdown);
  await writeFile(join(flags.outDir, 'report.json'), `${JSON.stringify({ command, machine, models, flags: { ...flags, work: undefined, outDir: undefined }, results: results.map(({ chart, ...r }) => ({ ...r, chart: relative(flags.outDir, chart), heldOut: { ...r.heldOut, curves: undefined } })) }, null, 2)}\n`);
  log(`wrote ${relative(process.cwd(), flags.outDir)}/report.md, report.json and ${results.length} chart(s)`);
}

async function runSuite(suite: string, flags: Flags, config: Record<string, unknown>): Promise<SuiteResult> {
  const prompts = suitePath(suite);
  const name = suite.replace(/^.*\//, '').replace(/\.jsonl$/, '');
  const checkable = readFileSync(prompts, 'utf8').includes('"expected"');
  const maxTokens = checkable ? flags.checkableTokens : flags.agreementTokens;
  const configFile = join(flags.work, 'local.json');
  await writeFile(configFile, JSON.stringify(config));
  const labelled = join(flags.work, `labelled-${name}-${flags.local}-${flags.slm}-${maxTokens}.jsonl`);
  log(`${name}: labelling ${existsSync(labelled) ? '(resuming) ' : ''}into ${relative(process.cwd(), labelled)}`);
  await labelPromptFile({ config: configFile, prompts, out: labelled, maxTokens });
  const rows = readLabelledData(labelled);
  const provenance = { data: relative(root, labelled), sha256: await sha256File(labelled), specroute: '0.1.0' };
  const splits: Array<SuiteResult['splits'][number] & { heldOut: RoutingEvaluation; trained: ReturnType<typeof trainRouter>; test: LabelledRow[]; train: LabelledRow[] }> = [];
  for (let seed = flags.seed; seed < flags.seed + flags.splits; seed++) {
    const { train, test } = split(rows, flags.trainFraction, seed);
    const trained = trainRouter(train, { targetFrontierShare: flags.targetFrontierShare, seed, localTier: 'hybrid' }, provenance);
    const router = routerFromDocument(trained.document);
    const scores = test.map((row) => router.score(featureVectorFromRecord(router.featureSpec, row.features, row.id)));
    const pairs = qualityPairs(test, 'hybrid');
    const heldOut = evaluateRouting(pairs, scores);
    const atThreshold = evaluateAtThreshold(pairs, scores, router.threshold);
    log(`${name}: split ${seed}: trained on ${train.length}, held out ${test.length}: share ${(atThreshold.share * 100).toFixed(1)} %, gain over random recovered ${atThreshold.gainOverRandomRecovered?.toFixed(2) ?? 'n/a'}`);
    splits.push({ seed, atThreshold, apgrAt: heldOut.apgrAt, heldOut, trained, test, train });
  }
  const first = splits[0]!;
  const { trained, test, train, heldOut, atThreshold } = first;
  const med = (values: ReadonlyArray<number | null>): number | null => {
    const known = values.filter((v): v is number => v !== null);
    return known.length === 0 ? null : medianOf(known);
  };
  const median = {
    share: med(splits.map((x) => x.atThreshold.share))!,
    apgr: med(splits.map((x) => x.atThreshold.apgr)),
    oracleApgr: med(splits.map((x) => x.atThreshold.oracleApgr)),
    gainOverRandomRecovered: med(splits.map((x) => x.atThreshold.gainOverRandomRecovered)),
    recoveredAt: Object.fromEntries(first.apgrAt.map((a, i) => [`${Math.round(a.share * 100)}`, med(splits.map((x) => x.apgrAt[i]!.gainOverRandomRecovered))])),
  };
  const routerFile = join(flags.work, `router-${name}.json`);
  saveRouterFile(routerFile, trained.document);
  const latency = await measureLatency(config, routerFile, test, flags.latencyPrompts);
  const chart = join(flags.outDir, `${name}-cost-quality.svg`);
  await writeFile(chart, costQualityChart(name, heldOut, atThreshold));
  const meanQuality: Record<string, number> = {};
  for (const tier of ['slm', 'hybrid', 'frontier']) {
    const values = rows.map((r) => r.quality[tier as 'slm']).filter((v): v is number => v !== undefined);
    if (values.length > 0) meanQuality[tier] = values.reduce((a, b) => a + b, 0) / values.length;
  }
  return {
    suite: name,
    maxTokens,
    train: train.length,
    test: test.length,
    meanQuality,
    crossValidation: trained.crossValidation?.mean,
    heldOut,
    splits: splits.map(({ seed, atThreshold: at, apgrAt }) => ({ seed, atThreshold: at, apgrAt })),
    median,
    atThreshold,
    latency,
    chart,
  };
}

/** A seeded split by id: the same rows land on the same side whatever their order in the file. */
function split(rows: readonly LabelledRow[], trainFraction: number, seed: number): { train: LabelledRow[]; test: LabelledRow[] } {
  const key = (row: LabelledRow): string => createHash('sha256').update(`${seed}:${row.id}`).digest('hex');
  const sorted = [...rows].sort((a, b) => (key(a) < key(b) ? -1 : 1));
  const cut = Math.round(sorted.length * trainFraction);
  return { train: sorted.slice(0, cut), test: sorted.slice(cut) };
}

/**
 * Serves held-out prompts through the real `auto` path (semantic routes none, the trained router) and times each
 * decision (features + score, as `specroute_router_latency_seconds` sees it) against a plain prompt pass of the
 * same prompt on a request sequence of the same verifier, alternating.
 */
async function measureLatency(config: Record<string, unknown>, routerFile: string, rows: readonly LabelledRow[], count: number): Promise<Latency> {
  const dir = resolve(routerFile, '..');
  const file = join(dir, 'latency.json');
  await writeFile(file, JSON.stringify({ ...config, routing: { default: 'auto', router: routerFile } }));
  const server = await startServer(loadConfig(file, { port: 0, grpcPort: -1, host: '127.0.0.1' }));
  const decision: number[] = [];
  const pass: number[] = [];
  try {
    const router = server.router!;
    const context = { signal: new AbortController().signal, load: server.scheduler.load, frontier: false };
    for (let i = 0; i < count; i++) {
      const row = rows[i % rows.length] as LabelledRow & { prompt?: string; messages?: Array<{ role: 'system' | 'user' | 'assistant'; content: string }> };
      const input = row.prompt !== undefined ? { kind: 'text' as const, text: row.prompt } : { kind: 'chat' as const, messages: row.messages! };
      const encoded = server.engine.encode(input);
      const request = { model: 'local', input, maxTokens: row.max_tokens ?? 48 };
      const t0 = performance.now();
      await router.decide(request, encoded, context);
      decision.push(performance.now() - t0);
      const sequence = await server.engine.verifier.open();
      try {
        const t1 = performance.now();
        await sequence.evaluate(0, encoded.tokens, 1, { sampling: { temperature: 0, topK: 0, topP: 1, minP: 0 } });
        pass.push(performance.now() - t1);
      } finally {
        await sequence.close();
      }
    }
  } finally {
    await server.close();
  }
  const overhead = decision.map((d, i) => d - pass[i]!);
  return { decision: [quantile(decision, 0.5), quantile(decision, 0.99)], promptPass: [quantile(pass, 0.5), quantile(pass, 0.99)], overhead: [quantile(overhead, 0.5), quantile(overhead, 0.99)], samples: decision.length };
}

function costQualityChart(name: string, evaluation: RoutingEvaluation, at: ThresholdEvaluation): string {
  const { router, random, oracle } = evaluation.curves;
  const points = (curve: typeof router): Array<readonly [number, number]> => curve.shares.map((s, i) => [s * 100, curve.quality[i]!] as const);
  return lineChart(
    [
      { label: 'router', points: points(router), line: true },
      { label: 'random', points: points(random), line: true },
      { label: 'oracle', points: points(oracle), line: true },
      { label: 'calibrated threshold', points: [[at.share * 100, at.quality]] },
    ],
    {
      title: `${name}: held-out cost–quality (${evaluation.rows} prompts)`,
      xLabel: 'share of prompts sent to the frontier (%)',
      yLabel: 'mean quality',
      xRange: [0, 100],
      xTick: (v) => `${v.toFixed(0)}`,
      yTick: (v) => v.toFixed(2),
      hLines: [
        { y: evaluation.qualityLocal, label: 'all hybrid' },
        { y: evaluation.qualityFrontier, label: 'all frontier' },
      ],
    },
  );
}

function render(results: readonly SuiteResult[], flags: Flags, machine: MachineInfo, models: Record<string, { sha256: string }>, command: string, seconds: number): string {
  const f = (x: number | null | undefined, d = 2): string => (x === null || x === undefined ? 'n/a' : fixed(x, d));
  const lines: string[] = [];
  lines.push('# Query-level routing on the stories ladder', '');
  lines.push(`\`${command}\` (${(seconds / 60).toFixed(1)} min on ${machine.cpuModel}, ${machine.cores} cores; Node ${machine.node}).`, '');
  lines.push(
    `Tiers: slm = \`${flags.slm}\` of ${flags.verifier}, hybrid = \`${flags.local}\` verifier with that draft (escalation off), frontier = ${flags.verifier} served by a second specroute on 127.0.0.1. ` +
      `Outputs are greedy. Quality: token agreement (LCS over the frontier's tokens) without \`expected\`, else 1/0 for a satisfied answer (the frontier judged the same way). ` +
      `The router is a logistic regression over every feature (prompt embedding, the verifier's prompt means over its last 8 positions, the first token's entropy and margin, sizes), trained on ${Math.round(flags.trainFraction * 100)} % of each suite (split by a seeded hash of the id; ${flags.splits} splits, seeds ${flags.seed}–${flags.seed + flags.splits - 1}) and calibrated to a ${Math.round(flags.targetFrontierShare * 100)} % frontier share on its training scores. Everything below is on the held-out prompts.`,
    '',
  );
  lines.push(`Model sha256: ${Object.entries(models).map(([k, v]) => `${k} \`${v.sha256.slice(0, 16)}…\``).join(', ')}.`, '');
  lines.push(`## At the calibrated threshold (${flags.splits} splits; the median first)`, '');
  lines.push(
    markdownTable(
      ['suite', 'split', 'held out', 'Q hybrid → Q frontier', 'realised frontier share', 'APGR router', 'APGR random', 'APGR oracle', 'gain over random recovered'],
      results.flatMap((r) => [
        [`**${r.suite}**`, '**median**', String(r.test), '', `**${(r.median.share * 100).toFixed(1)} %**`, `**${f(r.median.apgr)}**`, `**${f(r.median.share)}**`, `**${f(r.median.oracleApgr)}**`, `**${f(r.median.gainOverRandomRecovered)}**`],
        ...r.splits.map((x) => [r.suite, `seed ${x.seed}`, '', x === r.splits[0] ? `${f(r.heldOut.qualityLocal, 3)} → ${f(r.heldOut.qualityFrontier, 3)}` : '', `${(x.atThreshold.share * 100).toFixed(1)} %`, f(x.atThreshold.apgr), f(x.atThreshold.share), f(x.atThreshold.oracleApgr), f(x.atThreshold.gainOverRandomRecovered)]),
      ]),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
  );
  lines.push(
    'Gain over random recovered = (APGR router − share) / (APGR oracle − share): 0 is a random router, 1 the oracle. A random router\'s APGR equals its share.',
    '',
  );
  lines.push('## APGR at fixed shares, and AUC (the first split; the last column also as the median over the splits)', '');
  lines.push(
    markdownTable(
      ['suite', 'share', 'router', 'random', 'oracle', 'recovered', 'recovered, median of splits'],
      results.flatMap((r) => [
        ...r.heldOut.apgrAt.map((a) => [r.suite, `${Math.round(a.share * 100)} %`, f(a.router), f(a.random), f(a.oracle), f(a.gainOverRandomRecovered), f(r.median.recoveredAt[`${Math.round(a.share * 100)}`])]),
        [r.suite, 'AUC', f(r.heldOut.curves.router.auc), f(r.heldOut.curves.random.auc), f(r.heldOut.curves.oracle.auc), '', ''],
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
  );
  lines.push('## Mean quality per tier (all prompts), and the router\'s decision latency', '');
  lines.push(
    markdownTable(
      ['suite', 'tokens', 'slm', 'hybrid', 'frontier', 'decision p50 / p99 ms', 'prompt pass p50 / p99 ms', 'overhead p50 / p99 ms'],
      results.map((r) => [
        r.suite,
        String(r.maxTokens),
        f(r.meanQuality.slm, 3),
        f(r.meanQuality.hybrid, 3),
        f(r.meanQuality.frontier, 3),
        `${f(r.latency.decision[0])} / ${f(r.latency.decision[1])}`,
        `${f(r.latency.promptPass[0])} / ${f(r.latency.promptPass[1])}`,
        `${f(r.latency.overhead[0])} / ${f(r.latency.overhead[1])}`,
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
  );
  lines.push(
    'Decision = the whole `auto` decision as served (the verifier\'s prompt signals and embedding on its routing context, then the score); prompt pass = a plain prefill of the same prompt on a request sequence; overhead = their difference, per quantile, over alternating calls.',
    '',
  );
  for (const r of results) {
    lines.push(`![${r.suite}](${relative(flags.outDir, r.chart)})`, '');
    for (const note of r.heldOut.notes) lines.push(`- ${r.suite}: ${note}`);
  }
  lines.push('');
  return `${lines.join('\n')}\n`;
}
