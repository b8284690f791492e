/**
 * What a verify pass costs beyond the model's own work as the vocabulary grows (issue 12, point 6): one pass of k
 * tokens in the model worker, exactly as the server makes it (`WorkerSequence.evaluate` from the main thread), at
 * 512 (stories260K), 32,000 (llama-2-tiny-random) and 128,256 (bench/fixtures/large-vocab.ts) tokens, for
 *
 * - `raw`: the same pass with no scores asked for (scoreLast 0): the model's pass cost;
 * - `greedy top 1`: temperature 0, the argmax and its log-probability (a plain greedy request);
 * - `greedy top 8`: temperature 0 with 8 top log-probabilities (what escalation asks for, for its entropy);
 * - `sampled`: temperature 0.8, dense scores (two Float32Array(vocab) per position cross the thread boundary).
 *
 * Overhead = mode − raw, medians over the repeats (modes interleaved, so machine noise falls on all). Bytes per
 * position: the V8 serialization of the scores (what the worker's postMessage copies), divided by k.
 *
 *   specroute bench vocab [--k 1,5,9] [--repeats 11] [--threads 1] [--out-dir bench/out/vocab] [--before old/report.json]
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, relative, resolve } from 'node:path';
import { serialize } from 'node:v8';
import { Command } from 'commander';
import { LlamaTokenizer } from '../src/backends/llama/llama-tokenizer.js';
import { defaultModelLoadOptions, type PositionScores, type ScoreRequest } from '../src/backends/types.js';
import { integer, integerList } from '../src/cli/options.js';
import { kernels } from '../src/native/kernels.js';
import { packageRoot } from '../src/package-root.js';
import { scoringText } from './lib/model-scoring.js';
import { ModelWorker } from '../src/workers/model-worker-client.js';
import { ensureLargeVocabModel } from './fixtures/large-vocab.js';
import { machineInfo, sha256File } from './lib/machine.js';
import { fixed, markdownTable } from './lib/markdown.js';
import { median } from './lib/summary.js';

interface Flags {
  modelsDir: string;
  fixture?: string;
  k: number[];
  repeats: number;
  threads: number;
  outDir: string;
  before?: string;
  /** What changed since `before`, in the before-and-after section. */
  note?: string;
}

const MODES = ['raw', 'greedy top 1', 'greedy top 8', 'sampled'] as const;
type Mode = (typeof MODES)[number];

const greedy = { temperature: 0, topK: 0, topP: 1, minP: 0 };
const REQUESTS: Record<Mode, ScoreRequest> = {
  raw: { sampling: greedy },
  'greedy top 1': { sampling: greedy, topLogprobs: 1 },
  'greedy top 8': { sampling: greedy, topLogprobs: 8 },
  sampled: { sampling: { temperature: 0.8, topK: 0, topP: 1, minP: 0 } },
};

/** One model × k × mode. */
interface Cell {
  readonly model: string;
  readonly vocabSize: number;
  readonly k: number;
  readonly mode: Mode;
  /** Milliseconds of each pass, from the main thread. */
  readonly ms: number[];
  readonly medianMs: number;
  /** Median of this mode minus the raw pass's median (0 for raw). */
  readonly overheadMs: number;
  /** Bytes of the scores' V8 serialization per scored position (0 for raw). */
  readonly bytesPerPosition: number;
}

interface Report {
  readonly benchmark: 'vocab';
  readonly date: string;
  readonly machine: Awaited<ReturnType<typeof machineInfo>>;
  readonly loadAverage: number[];
  readonly kernels: string;
  readonly settings: Omit<Flags, 'before'>;
  /** `scoring`: where the scores came from (absent in reports made before it was recorded). */
  readonly models: Array<{ name: string; path: string; vocabSize: number; sha256: string; scoring?: string }>;
  readonly cells: Cell[];
}

const root = packageRoot();
const log = (line: string): void => void process.stderr.write(`[vocab-bench] ${line}\n`);

async function timed<T>(run: () => Promise<T>): Promise<[number, T]> {
  const start = process.hrtime.bigint();
  const value = await run();
  return [Number(process.hrtime.bigint() - start) / 1e6, value];
}

const TEXT =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. One day, she saw a big red ball.';

async function measureModel(name: string, modelPath: string, flags: Flags): Promise<{ cells: Cell[]; vocabSize: number; scoring: string }> {
  const [worker, tokenizer] = await Promise.all([
    ModelWorker.start({ ...defaultModelLoadOptions, modelPath, threads: flags.threads, sequences: 1 }, 'verifier'),
    LlamaTokenizer.load(modelPath),
  ]);
  try {
    const stream = tokenizer.tokenize(`${TEXT} ${TEXT}`);
    const prefix = [...(tokenizer.bos !== null ? [tokenizer.bos] : []), ...stream.slice(0, 16)];
    const maxK = Math.max(...flags.k);
    const sequence = await worker.open();
    await sequence.evaluate(0, prefix, 0, REQUESTS.raw);
    const cells: Cell[] = [];
    for (const k of flags.k) {
      const ms = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
      const bytes = new Map<Mode, number>();
      // Passes of k tokens after the prefix; the window moves so consecutive passes see different tokens.
      const pass = (mode: Mode, i: number) => {
        const start = 16 + ((i * 3) % Math.max(1, stream.length - 16 - maxK));
        const tokens = stream.slice(start, start + k);
        return sequence.evaluate(prefix.length, tokens, mode === 'raw' ? 0 : k, REQUESTS[mode]);
      };
      for (let i = 0; i < 2; i++) for (const mode of MODES) await pass(mode, i);
      for (let i = 0; i < flags.repeats; i++) {
        // Rotate the order of the modes each repeat.
        for (let j = 0; j < MODES.length; j++) {
          const mode = MODES[(i + j) % MODES.length]!;
          const [t, scores] = await timed(() => pass(mode, i));
          ms.get(mode)!.push(t);
          if (!bytes.has(mode)) bytes.set(mode, scores.length === 0 ? 0 : serializedBytes(scores) / scores.length);
        }
      }
      const raw = median(ms.get('raw')!);
      for (const mode of MODES) {
        const m = median(ms.get(mode)!);
        cells.push({ model: name, vocabSize: worker.info.vocabSize, k, mode, ms: ms.get(mode)!, medianMs: m, overheadMs: mode === 'raw' ? 0 : m - raw, bytesPerPosition: bytes.get(mode) ?? 0 });
      }
      log(`${name} k=${k}: ${MODES.map((m) => `${m} ${fixed(median(ms.get(m)!), 2)} ms`).join(', ')}`);
    }
    await sequence.close();
    return { cells, vocabSize: worker.info.vocabSize, scoring: scoringText(worker.info) };
  } finally {
    await Promise.allSettled([worker.dispose(), tokenizer.dispose()]);
  }
}

function serializedBytes(scores: PositionScores[]): number {
  return serialize(scores).byteLength;
}

function bytesText(n: number): string {
  if (n >= 1 << 20) return `${fixed(n / (1 << 20), 2)} MiB`;
  if (n >= 1024) return `${fixed(n / 1024, 1)} KiB`;
  return `${Math.round(n)} B`;
}

function render(report: Report, before: Report | undefined, command: string, note: string | undefined): string {
  const { machine } = report;
  const lines: string[] = [];
  lines.push('# Verify-pass overhead by vocabulary size', '');
  lines.push(
    `\`${command}\` on ${machine.cpuModel} (${machine.cores} logical CPUs), Node ${machine.node}, node-llama-cpp ${machine.nodeLlamaCpp}, ` +
      `${report.kernels} kernels, threads ${report.settings.threads}; load average at the end ${report.loadAverage.map((l) => fixed(l, 2)).join(', ')}.`,
    '',
  );
  lines.push(
    `One pass of k tokens after a 16-token prefix, from the main thread through the model worker (\`WorkerSequence.evaluate\`), ` +
      `${report.settings.repeats} repeats per cell (modes interleaved), medians. **raw**: the same pass with no position scored ` +
      `(scoreLast 0: llama.cpp then skips the LM head too, so the overhead below includes the LM head of the k scored positions). ` +
      `**greedy top 1**: temperature 0, the argmax and its log-probability. **greedy top 8**: temperature 0 with 8 top ` +
      `log-probabilities (escalation's entropy estimate). **sampled**: temperature 0.8, dense scores. Bytes per position: the V8 ` +
      `serialization of the scores the worker posts back (what crosses the thread boundary).`,
    '',
  );
  lines.push('Models (sha256):', '');
  for (const m of report.models) lines.push(`- ${m.name}: \`${relative(root, m.path) || m.path}\`, vocabulary ${m.vocabSize}, \`${m.sha256}\`; scores ${m.scoring ?? 'not recorded'}`);
  lines.push('');
  const cell = (r: Report, model: string, k: number, mode: Mode): Cell | undefined => r.cells.find((c) => c.model === model && c.k === k && c.mode === mode);
  const rows: string[][] = [];
  for (const m of report.models) {
    for (const k of report.settings.k) {
      const raw = cell(report, m.name, k, 'raw');
      rows.push([
        `${m.vocabSize}`,
        String(k),
        fixed(raw?.medianMs, 2),
        ...MODES.slice(1).flatMap((mode) => {
          const c = cell(report, m.name, k, mode);
          return [`${fixed(c?.overheadMs, 2)}`, bytesText(c?.bytesPerPosition ?? 0)];
        }),
      ]);
    }
  }
  lines.push('## Overhead over the raw pass (ms, median) and bytes per position', '');
  lines.push(
    markdownTable(
      ['vocab', 'k', 'raw pass ms', 'greedy top 1 +ms', 'bytes/pos', 'greedy top 8 +ms', 'bytes/pos', 'sampled +ms', 'bytes/pos'],
      rows,
      ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
  );
  if (before) {
    const scoring = (r: Report) => [...new Set(r.models.map((m) => m.scoring ?? "through node-llama-cpp's sampler, not recorded then"))].join('; ');
    lines.push('## Before and after', '');
    lines.push(
      `Before: the same bench run ${before.date.slice(0, 16)} (scores ${scoring(before)}). After: this run (scores ${scoring(report)}).` +
        `${note ? ` ${note}` : ''} Overhead over each run's own raw pass, ms (median). On a shared 2-core machine runs differ by up to ±50 % ` +
        `in cells whose code did not change.`,
      '',
    );
    const rows2: string[][] = [];
    for (const m of report.models) {
      for (const k of report.settings.k) {
        rows2.push([
          `${m.vocabSize}`,
          String(k),
          ...MODES.slice(1).flatMap((mode) => [fixed(cell(before, m.name, k, mode)?.overheadMs, 2), fixed(cell(report, m.name, k, mode)?.overheadMs, 2)]),
          `${bytesText(cell(before, m.name, k, 'greedy top 8')?.bytesPerPosition ?? 0)} → ${bytesText(cell(report, m.name, k, 'greedy top 8')?.bytesPerPosition ?? 0)}`,
        ]);
      }
    }
    lines.push(
      markdownTable(
        ['vocab', 'k', 'greedy top 1 before', 'after', 'greedy top 8 before', 'after', 'sampled before', 'after', 'top 8 bytes/pos'],
        rows2,
        ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
    );
  }
  return `${lines.join('\n')}\n`;
}

async function main(flags: Flags): Promise<void> {
  const started = Date.now();
  const fixture = flags.fixture ? resolve(flags.fixture) : await ensureLargeVocabModel();
  const models = [
    { name: 'stories260K', path: resolve(flags.modelsDir, 'stories260K.gguf') },
    { name: 'llama-2-tiny-random', path: resolve(flags.modelsDir, 'llama-2-tiny-random.gguf') },
    { name: 'llama3-vocab-random', path: fixture },
  ];
  const cells: Cell[] = [];
  const described: Report['models'] = [];
  for (const model of models) {
    const result = await measureModel(model.name, model.path, flags);
    cells.push(...result.cells);
    described.push({ ...model, vocabSize: result.vocabSize, sha256: await sha256File(model.path), scoring: result.scoring });
  }
  const { before: beforePath, note, ...settings } = flags;
  const report: Report = {
    benchmark: 'vocab',
    date: new Date().toISOString(),
    machine: await machineInfo(),
    loadAverage: os.loadavg(),
    kernels: kernels.name,
    settings,
    models: described,
    cells,
  };
  // An earlier report's own `before` is dropped: one level of history.
  const before = beforePath ? (({ before: _older, ...previous }) => previous)(JSON.parse(await readFile(resolve(beforePath), 'utf8')) as Report & { before?: unknown }) : undefined;
  const command = `specroute bench vocab --k ${flags.k.join(',')} --repeats ${flags.repeats} --threads ${flags.threads}${beforePath ? ` --before ${relative(process.cwd(), resolve(beforePath))}` : ''}`;
  const markdown = render(report, before, command, note);
  await mkdir(flags.outDir, { recursive: true });
  await writeFile(join(flags.outDir, 'report.json'), `${JSON.stringify(before ? { ...report, before } : report, null, 2)}\n`);
  await writeFile(join(flags.outDir, 'report.md'), markdown);
  process.stdout.write(markdown);
  log(`wrote ${relative(process.cwd(), flags.outDir) || flags.outDir} in ${fixed((Date.now() - started) / 1000, 0)} s`);
}

/** The vocabulary benchmark as a command (`vocab`), for the `specroute bench` family. */
export function vocabBenchCommand(): Command {
  return new Command('vocab')
    .description('Overhead of a verify pass over the raw pass at vocabulary 512, 32k and 128k (greedy top 1, greedy top 8, sampled), and the bytes per position crossing the thread boundary.')
    .option('--models-dir <dir>', 'where stories260K.gguf and llama-2-tiny-random.gguf are', resolve(root, '../shared/models'))
    .option('--fixture <path>', 'the 128k-vocabulary GGUF (default: bench/out/fixtures/llama3-vocab-random.gguf, written on first use)')
    .option('--k <list>', 'tokens per pass, comma-separated', integerList(1, 64), [1, 5, 9])
    .option('--repeats <n>', 'timed passes per model, k and mode', integer(1), 11)
    .option('--threads <n>', 'CPU threads of each model', integer(1), 1)
    .option('--out-dir <dir>', 'where report.md and report.json go', resolve(root, 'bench/out/vocab'))
    .option('--before <report.json>', "an earlier run's report.json, shown beside this one")
    .option('--note <text>', 'what changed since --before, said in the before-and-after section')
    .addHelpText('after', '\nExamples:\n  $ specroute bench vocab\n  $ specroute bench vocab --k 4 --repeats 31 --out-dir bench/out/vocab-k4')
    .action((flags: Flags) => main(flags));
}
