/**
 * Cost–quality evaluation of escalation. The frontier is stories260K served by a second specroute over its
 * OpenAI-compatible API on 127.0.0.1; the local verifier and draft are weaker copies made by `draft make`.
 * Sweeping the confidence threshold traces the share of tokens from the frontier against agreement with
 * frontier-only output, with APGR, as a Markdown table, an SVG chart and a JSON report.
 *
 *   specroute bench escalation [--out bench/out/escalation]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { integer } from '../src/cli/options.js';
import { loadConfig } from '../src/config/load-config.js';
import { Escalator } from '../src/escalation/escalator.js';
import { defaultFrontier } from '../src/escalation/frontier-client.js';
import { defaultEscalationPolicy } from '../src/escalation/policy.js';
import { startServer } from '../src/main.js';
import { SpeculativeEngine, type RequestSettings } from '../src/pipeline/engine.js';
import { tokenAgreement } from '../src/routing/agreement.js';
import { apgr } from '../src/routing/routing-evaluation.js';
import { prepareDrafts, parseDraftSpec } from './lib/drafts.js';
import { machineInfo, sha256File } from './lib/machine.js';
import { fixed, markdownTable, percent } from './lib/markdown.js';
import { loadPrompts } from './lib/prompts.js';
import { lineChart } from './lib/svg-chart.js';

interface Flags {
  modelsDir: string;
  verifier: string;
  local: string;
  draft: string;
  prompts: number;
  maxTokens: number;
  thresholds: string;
  spans: string;
  trigger: 'confidence' | 'margin';
  out: string;
}

interface Point {
  span: number;
  threshold: number;
  frontierShare: number;
  agreement: number;
  apgr: number;
  escalations: number;
  skipped: number;
  tokensPerSecond: number;
}

/** The `bench escalation` command. */
export function escalationBenchCommand(): Command {
  return new Command('escalation')
  .description('Cost–quality curve of escalation: frontier share of tokens against agreement with frontier-only output, and APGR.')
  .option('--models-dir <dir>', 'folder of the models', '../shared/models')
  .option('--verifier <file>', 'the frontier model, and the source of the weaker local copies', 'stories260K.gguf')
  .option('--local <spec>', 'the local verifier, made from it (draft make syntax: q8_0, q4_0, L0-3, L0-3+q8_0)', 'q8_0')
  .option('--draft <spec>', 'the local draft, made from it', 'L0-1')
  .option('--prompts <n>', 'prompts from bench/prompts/stories.jsonl', integer(1), 12)
  .option('--max-tokens <n>', 'tokens per generation', integer(1, 480), 96)
  .option('--thresholds <list>', 'thresholds to sweep', '0.02,0.05,0.1,0.2,0.3')
  .option('--spans <list>', 'frontier tokens per escalation to sweep', '1,4')
  .option('--trigger <kind>', 'what the threshold applies to: confidence (top probability, BiLD) or margin (top − second)', 'margin')
  .option('--out <dir>', 'where to write report.json, report.md and the SVG', 'bench/out/escalation')
  .addHelpText('after', '\nExample:\n  $ specroute bench escalation --prompts 8 --thresholds 0.3,0.6,0.9')
  .action((flags: Flags) => main(flags));
}

async function main(flags: Flags): Promise<void> {
  const started = performance.now();
  const source = resolve(flags.modelsDir, flags.verifier);
  const scratch = await mkdtemp(join(tmpdir(), 'specroute-escalation-'));
  const progress = (m: string): void => void process.stderr.write(`${m}\n`);
  try {
    const [local, draft] = await prepareDrafts(source, [parseDraftSpec(flags.local), parseDraftSpec(flags.draft)], scratch);
    const prompts = await loadPrompts(resolve('bench/prompts/stories.jsonl'), flags.prompts);

    // The frontier: a second specroute, verifier-only stories260K, OpenAI-compatible HTTP on 127.0.0.1.
    const frontierServer = await startServer(
      loadConfig(undefined, { port: 0, grpcPort: -1, host: '127.0.0.1' }, { SPECROUTE_MODEL__VERIFIER__PATH: source, SPECROUTE_MODEL__ID: 'frontier', SPECROUTE_LIMITS__MAX_CONCURRENT: '2' }),
    );
    const escalator = new Escalator(
      {
        frontier: { ...defaultFrontier, baseUrl: `${frontierServer.httpUrl}/v1`, model: 'frontier', api: 'completions', totalTimeoutMs: 30_000, firstByteTimeoutMs: 10_000 },
        breaker: { failureThreshold: 1000, cooldownMs: 1000, halfOpenProbes: 1 },
        budget: { maxTokensPerRequest: 100_000, maxCallsPerRequest: 100_000, callsPerMinute: 1_000_000, maxCostPerHour: 0, inputPricePerMillion: 0, outputPricePerMillion: 0 },
        policy: { ...defaultEscalationPolicy, window: 1, cooldownTokens: 0 },
      },
      {},
      {},
    );
    const opts = (path: string) => ({ modelPath: path, threads: 1, contextSize: 512, batchSize: 512, sequences: 1, gpuLayers: 0 });
    const frontierOnly = await SpeculativeEngine.load({ verifier: opts(source) });
    const mixed = await SpeculativeEngine.load({ verifier: opts(local!.path), draft: opts(draft!.path), escalator });
    try {
      const run = async (engine: SpeculativeEngine, prompt: string, extra: RequestSettings) => {
        const tokens: number[] = [];
        let frontier = 0;
        let escalations = 0;
        let skipped = 0;
        let tps = 0;
        for await (const e of engine.generateFromTokens(engine.encodePrompt(prompt), { maxTokens: flags.maxTokens, ignoreEos: true, ...extra })) {
          if (e.kind === 'token') {
            tokens.push(...e.tokenIds);
            if (e.source === 'frontier') frontier += e.tokenIds.length;
          } else if (e.kind === 'escalation') {
            if (e.status === 'spliced') escalations++;
            else skipped++;
          } else tps = e.stats.tokensPerSecond;
        }
        return { tokens, frontier, escalations, skipped, tps };
      };
      progress(`references: frontier-only and local-only on ${prompts.length} prompts`);
      const reference: number[][] = [];
      const localOnly: number[][] = [];
      for (const p of prompts) {
        reference.push((await run(frontierOnly, p.prompt, {})).tokens);
        localOnly.push((await run(mixed, p.prompt, { escalation: false })).tokens);
      }
      const meanAgreement = (outputs: number[][]): number => outputs.reduce((s, o, i) => s + tokenAgreement(o, reference[i]!), 0) / outputs.length;
      const weak = meanAgreement(localOnly);
      const points: Point[] = [];
      for (const span of flags.spans.split(',').map(Number)) {
        for (const threshold of flags.thresholds.split(',').map(Number)) {
          progress(`span ${span}, threshold ${threshold}`);
          const outputs: number[][] = [];
          let frontier = 0;
          let total = 0;
          let escalations = 0;
          let skipped = 0;
          let tps = 0;
          for (const p of prompts) {
            const trigger = flags.trigger === 'margin' ? { minMargin: threshold, minConfidence: 0 } : { minConfidence: threshold, minMargin: 0 };
            const r = await run(mixed, p.prompt, { escalation: { ...trigger, spanTokens: span, window: 1, cooldownTokens: 0 } });
            outputs.push(r.tokens);
            frontier += r.frontier;
            total += r.tokens.length;
            escalations += r.escalations;
            skipped += r.skipped;
            tps += r.tps / prompts.length;
          }
          const agreement = meanAgreement(outputs);
          points.push({ span, threshold, frontierShare: frontier / total, agreement, apgr: apgr(agreement, weak, 1) ?? 1, escalations, skipped, tokensPerSecond: tps });
        }
      }

      const target = points.filter((p) => p.frontierShare <= 0.25).sort((a, b) => b.apgr - a.apgr)[0];
      const machine = await machineInfo();
      const report = {
        command: ['specroute', ...process.argv.slice(2)].join(' '),
        machine,
        models: {
          frontier: { path: source, sha256: await sha256File(source) },
          localVerifier: { spec: local!.spec.label, sha256: local!.sha256 },
          localDraft: { spec: draft!.spec.label, sha256: draft!.sha256 },
        },
        settings: { prompts: prompts.map((p) => p.id), maxTokens: flags.maxTokens, temperature: 0, policy: `window 1, ${flags.trigger} threshold swept, no cool-down` },
        quality: 'agreement = LCS(output, frontier-only output) / length, over tokens (ROUGE-L recall); APGR = (agreement − local-only) / (1 − local-only)',
        localOnlyAgreement: weak,
        points,
        bestWithin25PercentFrontier: target ?? null,
        seconds: (performance.now() - started) / 1000,
      };
      const table = markdownTable(
        ['span', `min ${flags.trigger}`, 'frontier share', 'agreement', 'APGR', 'escalations', 'skipped', 'tok/s'],
        [
          ['–', 'local only', '0%', fixed(weak, 3), '0%', '0', '0', '–'],
          ...points.map((p) => [String(p.span), fixed(p.threshold, 2), percent(p.frontierShare, 1), fixed(p.agreement, 3), percent(p.apgr, 1), String(p.escalations), String(p.skipped), fixed(p.tokensPerSecond, 0)]),
        ],
        ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      );
      const verdict = target
        ? `Best within ≤ 25% frontier tokens: span ${target.span}, threshold ${target.threshold}: ${percent(target.frontierShare, 1)} of tokens from the frontier recover ${percent(target.apgr, 1)} of the gap (target: ≥ 80%).`
        : 'No setting stayed within 25% frontier tokens.';
      const markdown = [
        '# Escalation: cost against quality',
        '',
        `- frontier: stories260K (sha256 ${report.models.frontier.sha256.slice(0, 16)}…), served by a second specroute on 127.0.0.1`,
        `- local: verifier ${local!.spec.label}, draft ${draft!.spec.label} (made from it by draft make)`,
        `- ${prompts.length} prompts × ${flags.maxTokens} tokens, greedy; ${report.quality}`,
        `- machine: ${machine.os}, ${machine.cpuModel}, ${machine.cores} cores; command: \`${report.command}\``,
        '',
        table,
        '',
        verdict,
        '',
      ].join('\n');
      const series = [...new Set(points.map((p) => p.span))].map((span) => ({
        label: `span ${span}`,
        points: [[0, 0] as const, ...points.filter((p) => p.span === span).map((p) => [p.frontierShare, p.apgr] as const)],
      }));
      const svg = lineChart(series, {
        title: 'Escalation: quality gap recovered against frontier share',
        xLabel: 'share of tokens from the frontier',
        yLabel: 'APGR (agreement with frontier-only output)',
        xRange: [0, Math.max(0.5, ...points.map((p) => p.frontierShare))],
        yRange: [Math.min(0, ...points.map((p) => p.apgr)), 1],
        xTick: (v) => `${Math.round(v * 100)}%`,
        yTick: (v) => `${Math.round(v * 100)}%`,
        hLines: [{ y: 0.8, label: 'target 80%' }],
        vLines: [{ x: 0.25, label: '25%' }],
      });
      await mkdir(flags.out, { recursive: true });
      await writeFile(join(flags.out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
      await writeFile(join(flags.out, 'report.md'), markdown);
      await writeFile(join(flags.out, 'cost-quality.svg'), svg);
      process.stdout.write(`${markdown}\nwrote ${join(flags.out, 'report.md')}, report.json, cost-quality.svg (${report.seconds.toFixed(0)} s)\n`);
    } finally {
      await Promise.allSettled([frontierOnly.dispose(), mixed.dispose()]);
      await frontierServer.close();
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
