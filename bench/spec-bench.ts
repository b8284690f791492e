#!/usr/bin/env node
/**
 * Speculative decoding benchmark: the verifier (stories260K by default) with drafts derived from it, speculative
 * against verifier-only decoding in one run, and both against the textbook and hardware-aware ideals of DESIGN.md.
 *
 *   npm run build && node dist/bench/spec-bench.js [--gamma 2,4,8] [--json report.json]
 *
 * Markdown on stdout, progress on stderr.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { defaultModelLoadOptions, type ModelLoadOptions } from '../src/backends/types.js';
import { repoRoot } from './lib/repo-root.js';
import { integer, integerList } from '../src/cli/options.js';
import { SpeculativeEngine } from '../src/pipeline/engine.js';
import { defaultSpeculation, type SpeculationOptions } from '../src/pipeline/generate-options.js';
import type { SamplingParams } from '../src/sampling/params.js';
import { analyzePairs, type PairAnalysis, type PairedRun } from './lib/analysis.js';
import { measureCosts, type ModelCosts } from './lib/costs.js';
import { defaultDraftSpecs, parseDraftSpec, prepareDrafts, type PreparedDraft } from './lib/drafts.js';
import { machineInfo, sha256File, type MachineInfo } from './lib/machine.js';
import { fixed, markdownTable, percent } from './lib/markdown.js';
import { loadPrompts, type BenchPrompt } from './lib/prompts.js';
import { runPromptSet } from './lib/run-set.js';

interface Flags {
  modelsDir: string;
  verifier: string;
  draftFrom?: string;
  draft: string[];
  gamma: number[];
  adaptive: boolean;
  prompts: number;
  promptsFile: string;
  maxTokens: number;
  repeats: number;
  threads: number;
  seed: number;
  costRounds: number;
  json?: string;
}

/** One speculation setting benchmarked for every draft. */
interface Setting {
  /** `γ=4` or `adaptive`. */
  readonly label: string;
  /** The fixed γ, or undefined for the adaptive schedule. */
  readonly gamma: number | undefined;
  readonly speculation: Partial<SpeculationOptions>;
}

const root = repoRoot();
const log = (line: string): void => void process.stderr.write(`[spec-bench] ${line}\n`);

const gammaList = integerList(1, 64);

function draftOption(value: string, previous: string[] | undefined): string[] {
  try {
    parseDraftSpec(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
  // The first --draft replaces the defaults.
  return previous === defaultDraftList ? [value] : [...(previous ?? []), value];
}
const defaultDraftList: string[] = [...defaultDraftSpecs];

function program(): Command {
  return new Command('spec-bench')
    .description(
      'Benchmark speculative decoding: a verifier with drafts derived from it (quantized, layer-truncated), speculative vs verifier-only ' +
        'tokens/s (median of interleaved repeats), acceptance, and the textbook and hardware-aware ideal speed-ups from costs measured in-process.',
    )
    .addOption(new Option('--models-dir <dir>', 'folder holding the verifier').default(resolve(root, '../shared/models'), '../shared/models from the repository root'))
    .option('--verifier <file>', 'verifier GGUF file name in --models-dir (or a path)', 'stories260K.gguf')
    .option('--draft-from <file>', 'make the drafts from this GGUF instead of the verifier (e.g. stories260K.gguf for a scaled verifier)')
    .option('--draft <spec>', 'draft made from the verifier (or --draft-from), repeatable: q8_0 | q4_0 | L<layers> (e.g. L0-2) | L0-2+q8_0', draftOption, defaultDraftList)
    .option('--gamma <list>', 'fixed draft lengths γ to benchmark, comma-separated', gammaList, [4])
    .option('--no-adaptive', 'skip the adaptive-γ row (engine defaults)')
    .option('--prompts <n>', 'prompts taken from the start of the suite', integer(1), 8)
    .addOption(new Option('--prompts-file <file>', 'prompt suite (JSON Lines of {"id","prompt"})').default(resolve(root, 'bench/prompts/stories.jsonl'), 'bench/prompts/stories.jsonl'))
    .option('--max-tokens <n>', 'tokens generated per prompt (EOS ignored)', integer(2, 480), 128)
    .option('--repeats <n>', 'interleaved speculative/verifier-only repeats per setting', integer(1), 3)
    .option('--threads <n>', 'threads of every model context (verifier, draft, cost measurement)', integer(1, 256), 1)
    .option('--seed <n>', 'sampling seed (greedy decoding does not use it; recorded for re-runs)', integer(0, 2 ** 32 - 1), 1)
    .option('--cost-rounds <n>', 'timed rounds of the in-process cost measurement (each: one walk per model and pass width)', integer(1), 3)
    .option('--json <file>', 'also write the full machine-readable report here')
    .addHelpText(
      'after',
      `
Each repeat runs, for every draft and setting, the prompt set speculatively and then verifier-only (the order
flips on odd repeats), so machine drift cancels in the paired ratio. Costs (T_step, T_draft, T_verify(k)) are
timed in-process with LlamaBackend before any engine runs.

Examples:
  $ npm run build && node dist/bench/spec-bench.js
  $ node dist/bench/spec-bench.js --gamma 2,4,8 --json spec-report.json
  $ node dist/bench/spec-bench.js --draft q4_0 --draft L0-3 --prompts 4 --max-tokens 64 --repeats 5
  $ node dist/bench/fixtures/scale-verifier.js --from ../shared/models/stories260K.gguf --width 16 --out /tmp/x16.gguf
  $ node dist/bench/spec-bench.js --verifier /tmp/x16.gguf --draft-from stories260K.gguf --draft q8_0 --gamma 8 --prompts 4 --max-tokens 64`,
    );
}

async function main(): Promise<void> {
  const cli = program();
  await cli.parseAsync(process.argv);
  const flags = cli.opts<Flags>();
  const startedAt = new Date().toISOString();
  const wallStart = performance.now();

  const verifierPath = resolve(flags.modelsDir, flags.verifier);
  if (!existsSync(verifierPath)) throw new Error(`verifier not found: ${verifierPath} (set --models-dir or --verifier)`);
  const specs = flags.draft.map(parseDraftSpec);
  const settings: Setting[] = [
    ...flags.gamma.map((g) => ({ label: `γ=${g}`, gamma: g, speculation: { adaptive: false, min: 1, initial: g, max: g, pMin: 0 } })),
    ...(flags.adaptive ? [{ label: 'adaptive', gamma: undefined, speculation: {} }] : []),
  ];
  const maxDraftLength = Math.max(...flags.gamma, ...(flags.adaptive ? [defaultSpeculation.max] : []));
  const sampling: SamplingParams = { temperature: 0, topK: 0, topP: 1, seed: flags.seed };
  const load = (modelPath: string): ModelLoadOptions => ({ ...defaultModelLoadOptions, modelPath, threads: flags.threads });

  const machine = await machineInfo();
  const verifierSha = await sha256File(verifierPath);
  const prompts = await loadPrompts(flags.promptsFile, flags.prompts);
  log(`${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}; verifier ${basename(verifierPath)} ${verifierSha.slice(0, 12)}…`);

  const scratch = await mkdtemp(join(tmpdir(), 'spec-bench-'));
  try {
    log(`making ${specs.length} drafts in ${scratch}`);
    const drafts = await prepareDrafts(flags.draftFrom ? resolve(flags.modelsDir, flags.draftFrom) : verifierPath, specs, scratch);

    // Costs first, while nothing else runs.
    log(`timing in-process: verifier T_step and T_verify(k) for k = 0..${maxDraftLength}, each draft's T_draft`);
    const costs = await measureCosts({
      models: [
        { id: 'verifier', load: load(verifierPath), verifyDraftLengths: Array.from({ length: maxDraftLength + 1 }, (_, k) => k) },
        ...drafts.map((d) => ({ id: `draft ${d.spec.label}`, load: load(d.path), verifyDraftLengths: [] })),
      ],
      prompt: prompts[0]!.prompt,
      steps: flags.maxTokens,
      rounds: flags.costRounds,
      onProgress: (line) => log(`  costs: ${line}`),
    });
    const verifierCosts = costs.verifier!;
    const draftCosts = new Map<PreparedDraft, ModelCosts>(drafts.map((d) => [d, costs[`draft ${d.spec.label}`]!]));
    log(
      `  T_step ${verifierCosts.step.median.toFixed(3)} ms; T_verify ${Object.entries(verifierCosts.verify).map(([k, v]) => `${k}:${v.median.toFixed(3)}`).join(' ')}; ` +
        `T_draft ${drafts.map((d) => `${d.spec.label}:${draftCosts.get(d)!.step.median.toFixed(3)}`).join(' ')}`,
    );
    const verifyMedians = Object.fromEntries(Object.entries(verifierCosts.verify).map(([k, s]) => [Number(k), s.median]));

    const results: Array<{ draft: PreparedDraft; setting: Setting; pairs: PairedRun[]; analysis: PairAnalysis }> = [];
    for (const draft of drafts) {
      log(`draft ${draft.spec.label}: loading the engine`);
      const engine = await SpeculativeEngine.load({ verifier: load(verifierPath), draft: load(draft.path) });
      try {
        const promptTokens = prompts.map((p) => engine.encodePrompt(p.prompt));
        const run = (speculation: false | Partial<SpeculationOptions>) => runPromptSet(engine, { prompts: promptTokens, maxTokens: flags.maxTokens, sampling, speculation });
        // Warm-up: one short prompt set each way (JIT, worker caches, allocator).
        await runPromptSet(engine, { prompts: promptTokens.slice(0, 2), maxTokens: Math.min(32, flags.maxTokens), sampling, speculation: settings[0]!.speculation });
        await runPromptSet(engine, { prompts: promptTokens.slice(0, 2), maxTokens: Math.min(32, flags.maxTokens), sampling, speculation: false });

        const pairs = new Map<Setting, PairedRun[]>(settings.map((s) => [s, []]));
        for (let r = 0; r < flags.repeats; r++) {
          for (const setting of settings) {
            const specFirst = r % 2 === 0;
            const first = await run(specFirst ? setting.speculation : false);
            const second = await run(specFirst ? false : setting.speculation);
            const pair = specFirst ? { spec: first, base: second } : { spec: second, base: first };
            pairs.get(setting)!.push(pair);
            log(
              `  ${draft.spec.label} ${setting.label} repeat ${r + 1}/${flags.repeats}: spec ${pair.spec.tokensPerSecond.toFixed(0)} tok/s, ` +
                `base ${pair.base.tokensPerSecond.toFixed(0)} tok/s, ratio ${(pair.spec.tokensPerSecond / pair.base.tokensPerSecond).toFixed(3)}`,
            );
          }
        }
        const draftStepMs = draftCosts.get(draft)!.step.median;
        for (const setting of settings) {
          const list = pairs.get(setting)!;
          results.push({
            draft,
            setting,
            pairs: list,
            analysis: analyzePairs(list, { stepMs: verifierCosts.step.median, draftStepMs, verifyMs: verifyMedians }, setting.gamma),
          });
        }
      } finally {
        await engine.dispose();
      }
    }

    const wallSeconds = (performance.now() - wallStart) / 1000;
    const report = {
      tool: 'spec-bench',
      startedAt,
      wallSeconds,
      command: ['node', relative(process.cwd(), fileURLToPath(import.meta.url)) || 'spec-bench.js', ...process.argv.slice(2)].join(' '),
      machine,
      models: {
        verifier: { path: verifierPath, sha256: verifierSha },
        drafts: drafts.map((d) => ({ label: d.spec.label, layers: d.made.layers, quantize: d.spec.quantize ?? null, sha256: d.sha256, bytes: d.made.bytesWritten, quantizedTensors: d.made.quantizedTensorCount })),
      },
      settings: {
        sampling,
        ignoreEos: true,
        maxTokens: flags.maxTokens,
        prompts: prompts.map((p) => p.id),
        promptsFile: flags.promptsFile,
        repeats: flags.repeats,
        threads: flags.threads,
        contextSize: defaultModelLoadOptions.contextSize,
        costRounds: flags.costRounds,
        speculation: settings.map((s) => ({ label: s.label, ...defaultSpeculation, ...s.speculation })),
      },
      costs: {
        note: 'ms per call, in-process LlamaBackend, greedy; medians are what the ideals use',
        prompt: prompts[0]!.id,
        verifier: verifierCosts,
        drafts: Object.fromEntries(drafts.map((d) => [d.spec.label, draftCosts.get(d)!])),
      },
      results: results.map(({ draft, setting, pairs, analysis }) => ({
        draft: draft.spec.label,
        setting: setting.label,
        gamma: setting.gamma ?? null,
        ...analysis,
        runs: pairs.map(({ spec, base }) => ({
          spec: { tokensPerSecond: spec.tokensPerSecond, decodeTokens: spec.decodeTokens, decodeMs: spec.decodeMs, wallMs: spec.wallMs, stats: spec.stats },
          base: { tokensPerSecond: base.tokensPerSecond, decodeTokens: base.decodeTokens, decodeMs: base.decodeMs, wallMs: base.wallMs },
        })),
      })),
    };

    process.stdout.write(renderMarkdown({ machine, verifierPath, verifierSha, drafts, prompts, flags, verifierCosts, draftCosts, results, wallSeconds, command: report.command }));
    if (flags.json) {
      await writeFile(flags.json, `${JSON.stringify(report, null, 2)}\n`);
      log(`wrote ${flags.json}`);
    }
    log(`done in ${wallSeconds.toFixed(1)} s`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

interface RenderInputs {
  machine: MachineInfo;
  verifierPath: string;
  verifierSha: string;
  drafts: PreparedDraft[];
  prompts: BenchPrompt[];
  flags: Flags;
  verifierCosts: ModelCosts;
  draftCosts: Map<PreparedDraft, ModelCosts>;
  results: Array<{ draft: PreparedDraft; setting: Setting; analysis: PairAnalysis }>;
  wallSeconds: number;
  command: string;
}

function renderMarkdown(x: RenderInputs): string {
  const { machine, flags } = x;
  const out: string[] = [];
  out.push(`# Speculative decoding: ${basename(x.verifierPath)} with derived drafts`, '');
  out.push(`- machine: ${machine.os}, ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB; node ${machine.node}, node-llama-cpp ${machine.nodeLlamaCpp}`);
  out.push(`- verifier: \`${basename(x.verifierPath)}\` sha256 \`${x.verifierSha}\``);
  for (const d of x.drafts) {
    out.push(
      `- draft ${d.spec.label}: layers ${d.made.layers.join(',')} of ${d.made.sourceLayerCount}, ${d.spec.quantize ?? 'source types'}` +
        `${d.spec.quantize ? ` (${d.made.quantizedTensorCount} tensors)` : ''}, ${d.made.bytesWritten} bytes, sha256 \`${d.sha256}\``,
    );
  }
  out.push(
    `- settings: greedy (temperature 0, seed ${flags.seed}), EOS ignored, ${flags.maxTokens} tokens per prompt, ${x.prompts.length} prompts ` +
      `(${x.prompts[0]!.id}…${x.prompts[x.prompts.length - 1]!.id} of \`${relative(root, flags.promptsFile)}\`), ${flags.repeats} interleaved repeats, ` +
      `threads ${flags.threads} per model, context ${defaultModelLoadOptions.contextSize}`,
  );
  out.push(`- command: \`${x.command}\` (${x.wallSeconds.toFixed(0)} s)`, '');

  out.push('## Speed-up', '');
  out.push(
    markdownTable(
      ['draft', 'γ', 'spec tok/s', 'base tok/s', 'speed-up', 'α', 'acc. len', 'E', 'γ̄', 'c', 'textbook ideal', 'hw-aware ideal', 'measured / hw ideal', 'same output'],
      x.results.map(({ draft, setting, analysis: a }) => [
        draft.spec.label,
        setting.gamma !== undefined ? String(setting.gamma) : 'adaptive',
        fixed(a.specTokensPerSecond, 0),
        fixed(a.baseTokensPerSecond, 0),
        `${fixed(a.speedup, 2)}× (${fixed(Math.min(...a.perRepeat.map((r) => r.ratio)), 2)}–${fixed(Math.max(...a.perRepeat.map((r) => r.ratio)), 2)})`,
        fixed(a.acceptanceRate, 3),
        fixed(a.meanAcceptedLength, 2),
        fixed(a.tokensPerPass, 2),
        fixed(a.meanDraftLength, 2),
        fixed(a.costRatio, 3),
        `${fixed(a.textbookIdeal, 2)}×`,
        `${fixed(a.hardwareAwareIdeal, 2)}×`,
        percent(a.fractionOfHardwareIdeal),
        `${a.outputComparisons - a.outputMismatches}/${a.outputComparisons}`,
      ]),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
  );
  out.push(
    '- tok/s: decode phase (after each prompt\'s first token), median of the repeats; speed-up: median of the paired per-repeat spec/base ratios (range over the repeats in brackets).',
    '- α = accepted / drafted; acc. len = accepted draft tokens per verifier pass; E = decoded tokens per verifier pass; γ̄ = drafted tokens per pass (γ except the last pass of each prompt; the adaptive row\'s own mean).',
    '- c = T_draft / T_step. textbook ideal = E / (γ̄·c + 1). hw-aware ideal = tokens·T_step / Σ_passes (k·T_draft + T_verify(k)), k = that pass\'s draft length ' +
      '(read exactly from the per-position counts); for a fixed γ this is E·T_step / (γ·T_draft + T_verify(γ)).',
    '- same output: prompts whose speculative tokens equal the verifier-only tokens (greedy must match, up to batched-vs-single logit flips).',
    '',
  );

  out.push('## Where a pass\'s time goes (ms per verifier pass, measured in the engine vs ideal in-process costs)', '');
  out.push(
    markdownTable(
      ['draft', 'γ', 'draft', 'ideal γ̄·T_draft', 'verify', 'ideal T_verify', 'other', 'total', 'ideal total', 'base ms/token', 'T_step'],
      x.results.map(({ draft, setting, analysis: a }) => [
        draft.spec.label,
        setting.gamma !== undefined ? String(setting.gamma) : 'adaptive',
        fixed(a.perPass.draftMs, 3),
        fixed(a.perPass.idealDraftMs, 3),
        fixed(a.perPass.verifyMs, 3),
        fixed(a.perPass.idealVerifyMs, 3),
        fixed(a.perPass.otherMs, 3),
        fixed(a.perPass.totalMs, 3),
        fixed(a.perPass.idealTotalMs, 3),
        fixed(a.basePerToken.measuredMs, 3),
        fixed(a.basePerToken.idealMs, 3),
      ]),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    '- draft / verify: main-thread time waiting on the draft worker / verifier worker (engine stats), so it includes the worker round trip; other: acceptance, detokenizing, streaming, event loop.',
    '',
  );

  out.push(`## Measured costs (in-process LlamaBackend, greedy, median ms per call after warm-up; prompt ${x.prompts[0]!.id})`, '');
  const ks = Object.keys(x.verifierCosts.verify).map(Number);
  out.push(
    markdownTable(
      ['model', 'T_step', ...ks.map((k) => `T_verify(${k})`)],
      [
        ['verifier', fixed(x.verifierCosts.step.median, 3), ...ks.map((k) => fixed(x.verifierCosts.verify[k]!.median, 3))],
        ...x.drafts.map((d) => [`draft ${d.spec.label}`, fixed(x.draftCosts.get(d)!.step.median, 3), ...ks.map(() => '')]),
      ],
      ['l', 'r', ...ks.map((): 'r' => 'r')],
    ),
    '',
    `- T_verify(k): one verifier pass over k + 1 tokens, all scored, rolling back the previous pass's extra tokens; relative to T_step: ${ks
      .map((k) => `${k}: ${fixed(x.verifierCosts.verify[k]!.median / x.verifierCosts.step.median, 2)}×`)
      .join(', ')}.`,
    '',
  );
  return `${out.join('\n')}\n`;
}

try {
  await main();
} catch (error) {
  process.stderr.write(`spec-bench: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exitCode = 1;
}
