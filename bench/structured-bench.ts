/**
 * Structured output on stories260K: the structured suite (bench/fixtures/structured-suite.ts) decoded with its
 * JSON Schema and as free text (same prompt, same max_tokens), speculative and verifier-only, at each temperature,
 * repeated and interleaved; then the grammar's own cost: the mask per position walked along the outputs, at the
 * verifier's vocabulary and at a 32k one (the texts re-tokenized), and each schema's compile time.
 *
 *   specroute bench structured [--temperature 0,0.7] [--max-tokens 96] [--repeats 3] [--out-dir bench/out/structured]
 *
 * Markdown on stdout, progress on stderr; report.md and report.json (machine, model hashes, settings, every
 * request) in --out-dir. The committed report is bench/report/structured/.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { Command, InvalidArgumentError } from 'commander';
import { LlamaTokenizer } from '../src/backends/llama/llama-tokenizer.js';
import { defaultModelLoadOptions } from '../src/backends/types.js';
import { integer, numberList } from '../src/cli/options.js';
import { ProgressBar } from '../src/cli/progress.js';
import { requestSettings } from '../src/contract/request-settings.js';
import { grammarSpecOf, type GrammarSpec } from '../src/grammar/grammar-spec.js';
import { packageRoot } from '../src/package-root.js';
import { SpeculativeEngine } from '../src/pipeline/engine.js';
import { tokenizeContinuation } from '../src/pipeline/escalation-step.js';
import { structuredSuite, type StructuredCase } from './fixtures/structured-suite.js';
import { benchDrafts } from './lib/drafts.js';
import { machineInfo, sha256File, type MachineInfo } from './lib/machine.js';
import { fixed, markdownTable, percent } from './lib/markdown.js';
import { measureMaskWalks, type MaskSample, type MaskWalkResult, type WalkSequence } from './lib/mask-walk.js';
import type { BenchDraft } from './lib/plan.js';
import { armLabel, runStructuredRequest, runStructuredSuite, STRUCTURED_ARMS, type StructuredArm, type StructuredSuiteRun } from './lib/structured-runs.js';
import { median, quantile } from './lib/summary.js';

interface Flags {
  verifier: string;
  draft: string;
  maskModels: string[];
  cases?: string[];
  temperature: number[];
  maxTokens: number;
  repeats: number;
  threads: number;
  draftThreads?: number;
  seed: number;
  maskWalks: number;
  outDir: string;
}

/** The runs of one arm at one temperature, one per repeat. */
interface Cell {
  readonly temperature: number;
  readonly arm: StructuredArm;
  readonly runs: StructuredSuiteRun[];
}

/** The mask measurement of one model file's vocabulary, summarised. */
interface MaskReport {
  readonly model: string;
  readonly sequencesFrom: 'generated tokens' | 're-tokenized texts';
  readonly result: Omit<MaskWalkResult, 'masks' | 'acceptUs'>;
  readonly positions: { readonly all: Quantiles; readonly inString: Quantiles; readonly structural: Quantiles; readonly firstWalk: Quantiles };
  readonly acceptUs: Quantiles;
}

interface Quantiles {
  readonly n: number;
  readonly p50: number;
  readonly p95: number;
  readonly mean: number;
}

const root = packageRoot();
const modelsDir = resolve(root, '../shared/models');
const log = (line: string): void => void process.stderr.write(`[structured-bench] ${line}\n`);
const stringList = (value: string): string[] => value.split(',').map((s) => s.trim()).filter(Boolean);

function quantiles(values: readonly number[]): Quantiles {
  return { n: values.length, p50: quantile(values, 0.5), p95: quantile(values, 0.95), mean: values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN };
}

/** The cases to run: the whole suite, or those named by --cases (in the suite's order). */
function selectCases(names: readonly string[] | undefined): StructuredCase[] {
  if (!names) return [...structuredSuite];
  const unknown = names.filter((n) => !structuredSuite.some((c) => c.name === n));
  if (unknown.length > 0) throw new InvalidArgumentError(`--cases: no case named ${unknown.join(', ')} (the suite: ${structuredSuite.map((c) => c.name).join(', ')})`);
  return structuredSuite.filter((c) => names.includes(c.name));
}

/** One validator per case (ajv, its default draft-07 dialect; `$defs` and `$ref` resolve). */
function validators(cases: readonly StructuredCase[]): Map<string, ValidateFunction> {
  const ajv = new Ajv();
  return new Map(cases.map((c) => [c.name, ajv.compile(c.schema)]));
}

/** A path relative to the repository root when it is inside it, else absolute. */
function displayPath(path: string): string {
  const rel = relative(root, path);
  return rel === '' || rel.startsWith('..') ? path : rel;
}

/** Pretty-printed JSON with each array of numbers (token ids) on one line. */
function compactNumberArrays(json: string): string {
  return json.replace(/\[\s+(-?[\d.e+-]+(?:,\s+-?[\d.e+-]+)*)\s+\]/g, (_, inner: string) => `[${inner.replace(/\s+/g, '')}]`);
}

function specOf(c: StructuredCase): GrammarSpec {
  return grammarSpecOf({ responseFormat: { type: 'json_schema', name: c.name, schema: c.schema } })!;
}

async function main(flags: Flags): Promise<void> {
  const started = performance.now();
  const cases = selectCases(flags.cases);
  const checks = validators(cases);
  const verifierPath = resolve(flags.verifier);
  const draftThreads = flags.draftThreads ?? flags.threads;
  const scratch = await mkdtemp(join(tmpdir(), 'specroute-structured-bench-'));
  let cells: Cell[];
  let draft: BenchDraft;
  try {
    [draft] = (await benchDrafts([flags.draft], { from: verifierPath, dir: scratch, modelsDir })) as [BenchDraft];
    cells = await runSuites(flags, cases, checks, verifierPath, draft, draftThreads);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }

  const masks: MaskReport[] = [];
  for (const model of flags.maskModels.map((m) => resolve(m))) masks.push(await maskReport(model, model === verifierPath, cases, cells, flags.maskWalks));

  const machine = await machineInfo();
  const models = { verifier: { path: relative(root, verifierPath), sha256: await sha256File(verifierPath) }, draft: { spec: flags.draft, sha256: draft.sha256, description: draft.description } };
  const command =
    `specroute bench structured --temperature ${flags.temperature.join(',')} --max-tokens ${flags.maxTokens} --repeats ${flags.repeats} ` +
    `--threads ${flags.threads} --draft-threads ${draftThreads} --seed ${flags.seed} --mask-walks ${flags.maskWalks}` +
    (flags.cases ? ` --cases ${flags.cases.join(',')}` : '') +
    ` --out-dir ${displayPath(resolve(flags.outDir))}`;
  const markdown = render({ flags, cases, cells, masks, machine, models, command, draftThreads, seconds: (performance.now() - started) / 1000 });
  process.stdout.write(markdown);
  const outDir = resolve(flags.outDir);
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'report.md'), markdown);
  const json = {
    benchmark: 'structured',
    date: new Date().toISOString(),
    command,
    machine,
    loadAverage: os.loadavg(),
    models,
    settings: { ...flags, verifier: relative(root, verifierPath), maskModels: flags.maskModels.map((m) => relative(root, resolve(m))), draftThreads, outDir: undefined, speculation: 'engine defaults (adaptive γ, initial 4, max 8)', sampling: 'top_k 0, top_p 1, min_p 0; case i seeded seed + i' },
    cells: cells.map((c) => ({ temperature: c.temperature, ...c.arm, summary: cellSummary(c), runs: c.runs })),
    masks,
  };
  await writeFile(join(outDir, 'report.json'), `${compactNumberArrays(JSON.stringify(json, null, 2))}\n`);
  log(`wrote ${relative(process.cwd(), outDir) || outDir}/report.md and report.json`);
}

/** Part 1: every arm at every temperature, `repeats` times, interleaved (reversed on odd repeats). */
async function runSuites(flags: Flags, cases: readonly StructuredCase[], checks: Map<string, ValidateFunction>, verifierPath: string, draft: BenchDraft, draftThreads: number): Promise<Cell[]> {
  const engine = await SpeculativeEngine.load({
    verifier: { ...defaultModelLoadOptions, modelPath: verifierPath, threads: flags.threads },
    draft: { ...defaultModelLoadOptions, modelPath: draft.path, threads: draftThreads },
  });
  try {
    const progress = new ProgressBar({ total: cases.length + flags.temperature.length * flags.repeats * STRUCTURED_ARMS.length, label: 'structured' });
    // Warm-up: every schema compiled on every thread (main, verifier and draft workers), every arm run once.
    for (const [index, c] of cases.entries()) {
      for (const arm of STRUCTURED_ARMS) await runStructuredRequest(engine, c, arm, { validators: checks, maxTokens: 8, temperature: 0, seed: flags.seed, index });
      progress.tick(`warm-up ${c.name}`);
    }
    const cells: Cell[] = [];
    for (const temperature of flags.temperature) {
      const byArm = STRUCTURED_ARMS.map((arm): Cell => ({ temperature, arm, runs: [] }));
      for (let r = 0; r < flags.repeats; r++) {
        const order = r % 2 === 0 ? byArm : [...byArm].reverse();
        for (const cell of order) {
          const run = await runStructuredSuite(engine, cell.arm, { cases, validators: checks, maxTokens: flags.maxTokens, temperature, seed: flags.seed });
          cell.runs.push(run);
          progress.tick(`T=${temperature} repeat ${r + 1}/${flags.repeats} ${armLabel(cell.arm)}: ${run.tokensPerSecond.toFixed(0)} tok/s`);
        }
      }
      cells.push(...byArm);
    }
    progress.finish();
    return cells;
  } finally {
    await engine.dispose();
  }
}

/** Medians over a cell's repeats. */
function cellSummary(cell: Cell): { tokensPerSecond: number; acceptanceRate: number; grammarShare: number; completionTokens: number; stop: number; length: number; parses: number | null; valid: number | null } {
  const m = (f: (r: StructuredSuiteRun) => number): number => median(cell.runs.map(f));
  const schema = cell.arm.format === 'schema';
  return {
    tokensPerSecond: m((r) => r.tokensPerSecond),
    acceptanceRate: m((r) => r.acceptanceRate),
    grammarShare: m((r) => r.grammarShare),
    completionTokens: m((r) => r.completionTokens / r.requests.length),
    stop: m((r) => r.stop),
    length: m((r) => r.length),
    parses: schema ? m((r) => r.parses!) : null,
    valid: schema ? m((r) => r.valid!) : null,
  };
}

/** The median over repeats of speculative ÷ verifier-only tokens/s, paired by repeat. */
function pairedRatio(cells: readonly Cell[], temperature: number, format: StructuredArm['format']): number {
  const of = (mode: StructuredArm['mode']): Cell => cells.find((c) => c.temperature === temperature && c.arm.format === format && c.arm.mode === mode)!;
  const spec = of('speculative');
  const base = of('verifier-only');
  return median(spec.runs.map((run, i) => run.tokensPerSecond / base.runs[i]!.tokensPerSecond));
}

/**
 * Part 2 for one model file: the distinct schema outputs of part 1 walked along its vocabulary. On the verifier's
 * own file the generated tokens are walked; on any other the texts are re-tokenized (after the prompt, as the
 * tokenizer writes them there).
 */
async function maskReport(model: string, isVerifier: boolean, cases: readonly StructuredCase[], cells: readonly Cell[], walks: number): Promise<MaskReport> {
  const tokenizer = await LlamaTokenizer.load(model);
  try {
    const seen = new Set<string>();
    const sequences: WalkSequence[] = [];
    for (const cell of cells.filter((c) => c.arm.format === 'schema')) {
      for (const run of cell.runs) {
        for (const request of run.requests) {
          const key = `${request.case}\n${isVerifier ? request.tokens.join(',') : request.text}`;
          if (seen.has(key)) continue;
          seen.add(key);
          const c = cases.find((x) => x.name === request.case)!;
          const tokens = isVerifier ? request.tokens : tokenizeContinuation(tokenizer, tokenizer.tokenize(c.prompt), request.text);
          sequences.push({ case: c.name, spec: specOf(c), tokens });
        }
      }
    }
    log(`${basename(model)}: compiling ${cases.length} schemas, then walking ${sequences.length} outputs ${walks} time(s) each`);
    const result = await measureMaskWalks(tokenizer, cases.map((c) => ({ case: c.name, spec: specOf(c) })), sequences, { walks, cachedStarts: 5 });
    const us = (samples: readonly MaskSample[]): Quantiles => quantiles(samples.map((s) => s.us));
    const { masks, acceptUs, ...rest } = result;
    const report: MaskReport = {
      model: relative(root, model) || model,
      sequencesFrom: isVerifier ? 'generated tokens' : 're-tokenized texts',
      result: rest,
      positions: { all: us(masks), inString: us(masks.filter((s) => s.inString)), structural: us(masks.filter((s) => !s.inString)), firstWalk: us(masks.filter((s) => s.walk === 0)) },
      acceptUs: quantiles(acceptUs),
    };
    log(`${basename(model)} (vocabulary ${result.vocabSize}): mask p50 ${fixed(report.positions.all.p50, 1)} µs, p95 ${fixed(report.positions.all.p95, 1)} µs over ${masks.length} positions; ${result.refused.length} walk(s) refused`);
    return report;
  } finally {
    await tokenizer.dispose();
  }
}

interface RenderInputs {
  flags: Flags;
  cases: readonly StructuredCase[];
  cells: readonly Cell[];
  masks: readonly MaskReport[];
  machine: MachineInfo;
  models: { verifier: { path: string; sha256: string }; draft: { spec: string; sha256: string; description: string } };
  command: string;
  draftThreads: number;
  seconds: number;
}

/** Text as inline Markdown code in a table cell. */
function code(text: string): string {
  return `\`${text.replaceAll('|', '\\|').replaceAll('\n', '\\n')}\``;
}

function render(x: RenderInputs): string {
  const { flags, cells, masks, machine } = x;
  const n = x.cases.length;
  const lines: string[] = [`# Structured output on ${basename(x.models.verifier.path)}`, ''];
  lines.push(
    `\`${x.command}\` (${(x.seconds / 60).toFixed(1)} min on ${machine.cpuModel}, ${machine.cores} logical CPUs, ${machine.os}; Node ${machine.node}, ` +
      `node-llama-cpp ${machine.nodeLlamaCpp}; load average at the end ${os.loadavg().map((l) => fixed(l, 2)).join(', ')}).`,
    '',
    `Verifier \`${x.models.verifier.path}\` (sha256 \`${x.models.verifier.sha256.slice(0, 16)}…\`), draft \`${x.models.draft.spec}\` ${x.models.draft.description} ` +
      `(sha256 \`${x.models.draft.sha256.slice(0, 16)}…\`); llama.cpp threads ${flags.threads} (verifier) and ${x.draftThreads} (draft), the default load options otherwise ` +
      `(context 512, F16 KV cache). ${n} cases of \`bench/fixtures/structured-suite.ts\`, each with its \`json_schema\` and as free text (same prompt), ` +
      `max_tokens ${flags.maxTokens}, EOS honoured; speculation at the engine's defaults (adaptive γ, initial 4, max 8); case i sampled with seed ${flags.seed} + i. ` +
      `${flags.repeats} repeats, each running every arm on the whole suite, the order reversed on odd repeats; figures are medians over the repeats.`,
    '',
  );

  lines.push('## Throughput, acceptance and validity', '');
  const rows: string[][] = [];
  for (const temperature of flags.temperature) {
    for (const format of ['schema', 'free'] as const) {
      for (const mode of ['verifier-only', 'speculative'] as const) {
        const cell = cells.find((c) => c.temperature === temperature && c.arm.format === format && c.arm.mode === mode)!;
        const s = cellSummary(cell);
        rows.push([
          String(temperature),
          format === 'schema' ? 'json_schema' : 'free text',
          mode,
          fixed(s.tokensPerSecond, 0),
          mode === 'speculative' ? `${fixed(pairedRatio(cells, temperature, format), 2)}×` : '',
          mode === 'speculative' ? fixed(s.acceptanceRate, 3) : '',
          percent(s.grammarShare, 1),
          fixed(s.completionTokens, 1),
          `${fixed(s.stop, 0)} / ${fixed(s.length, 0)}`,
          s.parses === null ? '' : `${fixed(s.parses, 0)} / ${n}`,
          s.valid === null ? '' : `${fixed(s.valid, 0)} / ${n}`,
        ]);
      }
    }
  }
  lines.push(
    markdownTable(
      ['T', 'format', 'mode', 'tokens/s', 'spec ÷ verifier-only', 'acceptance', 'grammar tokens', 'tokens / request', 'stop / length', 'parses as JSON', 'validates (ajv)'],
      rows,
      ['r', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    '- tokens/s = Σ completion tokens / Σ wall time of the requests (from the call to the `done` event: prompt pass, grammar set-up, decoding), over the suite; ' +
      'spec ÷ verifier-only is the median of the per-repeat ratios. Acceptance = Σ accepted / Σ drafted. Grammar tokens = completion tokens emitted with ' +
      "`source: 'grammar'` (forced by the grammar without a model pass) ÷ completion tokens. Stop / length: requests ending on EOS / on max_tokens.",
    '',
  );

  // Greedy identity, case by case.
  if (flags.temperature.includes(0)) {
    const first = (format: StructuredArm['format'], mode: StructuredArm['mode']) => cells.find((c) => c.temperature === 0 && c.arm.format === format && c.arm.mode === mode)!.runs[0]!;
    const same = (format: StructuredArm['format']) => {
      const v = first(format, 'verifier-only').requests;
      const s = first(format, 'speculative').requests;
      return { text: v.filter((r, i) => r.text === s[i]!.text).length, tokens: v.filter((r, i) => r.tokens.join() === s[i]!.tokens.join()).length };
    };
    const [schema, free] = [same('schema'), same('free')];
    lines.push(
      '## T = 0: speculative (S) against verifier-only (V), case by case (json_schema)',
      '',
      `Same text in ${schema.text} of ${n} cases (same tokens in ${schema.tokens}) under the schema; in ${free.text} of ${n} (same tokens in ${free.tokens}) as free text.`,
      '',
    );
    const perCase = x.cases.map((c, i) => {
      const arm = (mode: StructuredArm['mode']) => cells.find((cell) => cell.temperature === 0 && cell.arm.format === 'schema' && cell.arm.mode === mode)!;
      const v = arm('verifier-only');
      const s = arm('speculative');
      const rv = v.runs[0]!.requests[i]!;
      const rs = s.runs[0]!.requests[i]!;
      const tps = (cell: Cell) => median(cell.runs.map((r) => (r.requests[i]!.completionTokens * 1000) / r.requests[i]!.wallMs));
      return [
        c.name,
        `${rv.completionTokens} / ${rs.completionTokens}`,
        `${percent(rv.grammarTokens / rv.completionTokens, 0)} / ${percent(rs.grammarTokens / rs.completionTokens, 0)}`,
        `${fixed(tps(v), 0)} / ${fixed(tps(s), 0)}`,
        rv.text === rs.text ? (rv.tokens.join() === rs.tokens.join() ? 'yes' : 'text only') : 'no',
        `${rv.valid ? '✓' : '✗'} / ${rs.valid ? '✓' : '✗'}`,
        rv.text === rs.text ? code(rs.text) : `S ${code(rs.text)}<br>V ${code(rv.text)}`,
      ];
    });
    lines.push(
      markdownTable(['case', 'tokens V / S', 'grammar V / S', 'tokens/s V / S', 'same output', 'valid V / S', 'output'], perCase, ['l', 'r', 'r', 'r', 'l', 'l', 'l']),
      '',
    );
  }

  lines.push('## Grammar cost per position', '');
  lines.push(
    markdownTable(
      ['vocabulary', 'model', 'walked', 'outputs', 'positions', 'mask p50 µs', 'p95 µs', 'mean µs', 'in strings p50 / mean µs', 'structural p50 / mean µs', 'first walk p50 µs', 'accept mean µs'],
      masks.map((m) => [
        String(m.result.vocabSize),
        basename(m.model),
        m.sequencesFrom,
        String(m.result.sequences),
        String(m.positions.all.n),
        fixed(m.positions.all.p50, 1),
        fixed(m.positions.all.p95, 1),
        fixed(m.positions.all.mean, 1),
        `${fixed(m.positions.inString.p50, 1)} / ${fixed(m.positions.inString.mean, 1)} (${m.positions.inString.n})`,
        `${fixed(m.positions.structural.p50, 1)} / ${fixed(m.positions.structural.mean, 1)} (${m.positions.structural.n})`,
        fixed(m.positions.firstWalk.p50, 1),
        fixed(m.acceptUs.mean, 1),
      ]),
      ['r', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `- \`GrammarState.mask()\` timed at every position of each distinct json_schema output of the runs above, ${flags.maskWalks} walk(s) per output, each on a fresh ` +
      'state of the cached compiled grammar, accepting the output\'s tokens one by one (`accept()` timed apart); the position after the last token counts too ' +
      '(where a complete value allows only the end of sequence). At the verifier\'s vocabulary the generated tokens are walked; at the others the texts are ' +
      're-tokenized after the prompt (`tokenizeContinuation`, as the engine tokenizes forced text). In strings: the text before the position ends inside a ' +
      'JSON string (a key or a string value); structural: anywhere else (punctuation, numbers, literals).' +
      masks.map((m) => (m.result.refused.length > 0 ? ` ${basename(m.model)}: the grammar refused a token in ${m.result.refused.length} walk(s), which stop there.` : '')).join(''),
    '',
  );

  lines.push('## Compile time per schema (ms)', '');
  lines.push(`\`GrammarCompiler.create\` (XGrammar's tokenizer info and compiler): ${masks.map((m) => `${fixed(m.result.compilerCreateMs, 1)} ms at ${m.result.vocabSize}`).join(', ')}.`, '');
  lines.push(
    markdownTable(
      ['case', ...masks.flatMap((m) => [`first @${m.result.vocabSize}`, `cached @${m.result.vocabSize}`])],
      [
        ...x.cases.map((c) => [c.name, ...masks.flatMap((m) => {
          const row = m.result.compile.find((r) => r.case === c.name)!;
          return [fixed(row.firstMs, 2), fixed(row.cachedMs, 3)];
        })]),
        ['**median**', ...masks.flatMap((m) => [`**${fixed(median(m.result.compile.map((r) => r.firstMs)), 2)}**`, `**${fixed(median(m.result.compile.map((r) => r.cachedMs)), 3)}**`])],
      ],
      ['l', ...masks.flatMap(() => ['r', 'r'] as const)],
    ),
    '',
    '- First: `GrammarCompiler.start(spec)` on a fresh compiler (JSON Schema → grammar → compiled grammar with its token-mask cache, then a matcher); ' +
      'cached: the median of 5 further starts of the same schema (the compiled grammar from the compiler\'s cache, a new matcher). The engine compiles each ' +
      'schema once per thread that masks (the main thread and each model worker) and keeps the last 32.',
    '',
  );
  return `${lines.join('\n')}`;
}

/** The structured-output benchmark as a command (`structured`), for the `specroute bench` family. */
export function structuredBenchCommand(): Command {
  return new Command('structured')
    .description(
      'Structured output: the structured suite with its JSON Schemas and as free text, speculative and verifier-only (tokens/s, acceptance, grammar-forced share, ' +
        'finish reasons, valid JSON), and the grammar\'s mask cost per position and compile time at vocabulary 512 and 32k.',
    )
    .option('--verifier <path>', 'the verifier GGUF', resolve(modelsDir, 'stories260K.gguf'))
    .option('--draft <spec>', 'the draft: q8_0 | q4_0 | L<layers> | L0-2+q8_0 (derived from the verifier) or a GGUF file', 'q8_0')
    .option('--mask-models <list>', 'GGUF files whose vocabularies the mask cost is measured at, comma-separated', (v: string) => stringList(v), [resolve(modelsDir, 'stories260K.gguf'), resolve(modelsDir, 'llama-2-tiny-random.gguf')])
    .option('--cases <list>', 'run only these cases of the suite, comma-separated', stringList)
    .option('--temperature <list>', 'sampling temperatures (0 = greedy)', numberList(requestSettings.sampling.temperature.min, requestSettings.sampling.temperature.max), [0, 0.7])
    .option('--max-tokens <n>', 'max_tokens of every request', integer(2, 480), 96)
    .option('--repeats <n>', 'interleaved repeats (medians are taken over them)', integer(1), 3)
    .option('--threads <n>', "llama.cpp threads of the verifier's context", integer(1, 256), 1)
    .option('--draft-threads <n>', "llama.cpp threads of the draft's context (default: --threads)", integer(1, 256))
    .option('--seed <n>', 'case i is sampled with seed n + i', integer(0, 2 ** 32 - 64), 1)
    .option('--mask-walks <n>', 'timed walks of each output in the mask measurement', integer(1), 3)
    .option('--out-dir <dir>', 'where report.md and report.json go', resolve(root, 'bench/out/structured'))
    .addHelpText(
      'after',
      '\nExamples:\n  $ specroute bench structured\n  $ specroute bench structured --out-dir bench/report/structured   # the committed report\n' +
        '  $ specroute bench structured --cases character,refs --temperature 0 --repeats 1',
    )
    .action((flags: Flags) => main(flags));
}
