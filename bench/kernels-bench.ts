/**
 * The scoring kernels, native addon against the TypeScript reference, at vocabulary sizes of real models:
 * the median time of one call of each kernel over interleaved repeats, and the speed-up.
 *
 *   specroute bench kernels [--sizes 512,32000,128256] [--repeats 15] [--json bench/out/kernels.json]
 *   npm run bench:kernels                       # builds first
 *
 * Markdown on stdout, progress on stderr, the full report (machine, settings, seed, every sample) as JSON.
 * Needs the addon (`npm run build:native`).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { Command } from 'commander';
import { integer, integerList } from '../src/cli/options.js';
import { kernels, nativeUnavailableReason, typescriptKernels, type ScoringKernels } from '../src/native/kernels.js';
import { Rng } from '../src/sampling/rng.js';
import { machineInfo } from './lib/machine.js';
import { fixed, markdownTable } from './lib/markdown.js';
import { packageRoot } from '../src/package-root.js';
import { median } from './lib/summary.js';

interface Flags {
  sizes: number[];
  repeats: number;
  sampleMs: number;
  seed: number;
  json: string;
}

/** One benchmarked operation: `run` is called many times on inputs prepared once per vocabulary size. */
interface Case {
  readonly name: string;
  readonly run: (k: ScoringKernels) => unknown;
}

interface Result {
  readonly vocab: number;
  readonly kernel: string;
  readonly iterations: number;
  /** Median microseconds per call. */
  readonly typescriptUs: number;
  readonly nativeUs: number;
  readonly speedup: number;
  /** Microseconds per call of every repeat. */
  readonly typescriptSamplesUs: number[];
  readonly nativeSamplesUs: number[];
}

const root = packageRoot();
const log = (line: string): void => void process.stderr.write(`[kernels-bench] ${line}\n`);

/** Logits shaped like a language model's: normal with standard deviation 3 (Box–Muller on the seeded Rng). */
function randomLogits(n: number, rng: Rng): Float32Array {
  const logits = new Float32Array(n);
  for (let i = 0; i < n; i++) logits[i] = 3 * Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  return logits;
}

function cases(n: number, rng: Rng): Case[] {
  const logits = randomLogits(n, rng);
  const logZ = typescriptKernels.logSumExp(logits);
  const out = new Float32Array(n);
  const p = typescriptKernels.warp(logits, { temperature: 0.8, topK: 0, topP: 1, minP: 0 });
  const q = typescriptKernels.warp(randomLogits(n, rng), { temperature: 0.8, topK: 0, topP: 1, minP: 0 });
  if (p.kind !== 'dense' || q.kind !== 'dense') throw new Error('warp gave a one-hot distribution');
  const u = rng.next();
  return [
    { name: 'logSumExp', run: (k) => k.logSumExp(logits) },
    { name: 'argmax', run: (k) => k.argmax(logits) },
    { name: 'warp T=0.8', run: (k) => k.warp(logits, { temperature: 0.8, topK: 0, topP: 1, minP: 0 }, out) },
    { name: 'warp T=0.8 top-k 50', run: (k) => k.warp(logits, { temperature: 0.8, topK: 50, topP: 1, minP: 0 }, out) },
    { name: 'warp T=0.8 top-p 0.9', run: (k) => k.warp(logits, { temperature: 0.8, topK: 0, topP: 0.9 , minP: 0}, out) },
    { name: 'warp T=0.8 top-k 50 top-p 0.9', run: (k) => k.warp(logits, { temperature: 0.8, topK: 50, topP: 0.9 , minP: 0}, out) },
    { name: 'residual', run: (k) => k.residual(p.probs, q.probs, out) },
    { name: 'sampleDense', run: (k) => k.sampleDense(p.probs, u) },
    { name: 'topLogprobs 5', run: (k) => k.topLogprobs(logits, logZ, 5) },
    { name: 'entropy', run: (k) => k.entropy(logits, logZ) },
  ];
}

/** Calls `run` for about `ms` milliseconds (at least 3 times), so the JIT has settled; returns µs per call. */
function warmUp(run: () => unknown, ms: number): number {
  const start = process.hrtime.bigint();
  let calls = 0;
  let elapsed = 0;
  while (calls < 3 || elapsed < ms * 1000) {
    run();
    calls++;
    elapsed = Number(process.hrtime.bigint() - start) / 1000;
  }
  return elapsed / calls;
}

/** Microseconds per call over `iterations` calls. */
function time(run: () => unknown, iterations: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) run();
  return Number(process.hrtime.bigint() - start) / 1000 / iterations;
}

async function main(flags: Flags): Promise<void> {
  if (kernels.name !== 'native') {
    log(`the native kernels are not loaded (${nativeUnavailableReason ?? 'unknown reason'}); run \`npm run build:native\` first`);
    process.exitCode = 1;
    return;
  }
  const native = kernels;
  const results: Result[] = [];
  for (const n of flags.sizes) {
    for (const c of cases(n, new Rng(flags.seed + n))) {
      // Warm both up (JIT, caches), then size a sample to last about --sample-ms for the slower of the two.
      const slowest = Math.max(warmUp(() => c.run(typescriptKernels), 5 * flags.sampleMs), warmUp(() => c.run(native), 5 * flags.sampleMs));
      const iterations = Math.max(1, Math.round((flags.sampleMs * 1000) / slowest));
      const ts: number[] = [];
      const nat: number[] = [];
      for (let r = 0; r < flags.repeats; r++) {
        // Alternate which goes first, so drift and GC pressure fall on both.
        if (r % 2 === 0) {
          ts.push(time(() => c.run(typescriptKernels), iterations));
          nat.push(time(() => c.run(native), iterations));
        } else {
          nat.push(time(() => c.run(native), iterations));
          ts.push(time(() => c.run(typescriptKernels), iterations));
        }
      }
      const typescriptUs = median(ts);
      const nativeUs = median(nat);
      results.push({ vocab: n, kernel: c.name, iterations, typescriptUs, nativeUs, speedup: typescriptUs / nativeUs, typescriptSamplesUs: ts, nativeSamplesUs: nat });
      log(`vocab ${n}, ${c.name}: TypeScript ${fixed(typescriptUs, 1)} µs, native ${fixed(nativeUs, 1)} µs`);
    }
  }

  const machine = await machineInfo();
  const table = markdownTable(
    ['vocab', 'kernel', 'TypeScript µs', 'native µs', 'speed-up'],
    results.map((r) => [String(r.vocab), r.kernel, fixed(r.typescriptUs, 1), fixed(r.nativeUs, 1), `${fixed(r.speedup, 1)}×`]),
    ['r', 'l', 'r', 'r', 'r'],
  );
  process.stdout.write(
    `## Scoring kernels: native addon vs TypeScript\n\n` +
      `${machine.cpuModel} (${machine.cores} logical CPUs), ${machine.os}, Node ${machine.node}. ` +
      `Median microseconds per call over ${flags.repeats} interleaved repeats of about ${flags.sampleMs} ms each; ` +
      `random normal logits (σ = 3), seed ${flags.seed} + vocab.\n\n${table}\n`,
  );
  const json = resolve(flags.json);
  await mkdir(dirname(json), { recursive: true });
  await writeFile(json, `${JSON.stringify({ benchmark: 'kernels', date: new Date().toISOString(), machine, settings: flags, results }, null, 2)}\n`);
  log(`wrote ${relative(process.cwd(), json) || json}`);
}

/** The kernels benchmark as a command (`kernels`), for the `specroute bench` family. */
export function kernelsBenchCommand(): Command {
  return new Command('kernels')
    .description('Scoring kernels (log-softmax, argmax, warping, residual, sampling, top log-probabilities, entropy): native addon vs TypeScript, median µs per call and speed-up per vocabulary size.')
    .option('--sizes <list>', 'vocabulary sizes, comma-separated', integerList(1, 1 << 24), [512, 32000, 128256])
    .option('--repeats <n>', 'interleaved repeats per kernel and size; figures are medians over them', integer(1), 15)
    .option('--sample-ms <ms>', 'each repeat runs the kernel this long (at least one call)', integer(1), 20)
    .option('--seed <n>', 'seed of the random logits (plus the vocabulary size)', integer(0, 2 ** 31), 1)
    .option('--json <file>', 'where the full report goes', resolve(root, 'bench/out/kernels.json'))
    .addHelpText('after', '\nExamples:\n  $ specroute bench kernels\n  $ specroute bench kernels --sizes 32000 --repeats 31 --json /tmp/kernels.json')
    .action((flags: Flags) => main(flags));
}
