/**
 * The cost of the router's prompt signals (`ModelWorker.promptSignals`), as the server pays it: whole calls from
 * the main thread, against the prompt pass a request makes anyway (a prefill scoring the last position only, on
 * a request sequence of the same worker). Calls of the two kinds alternate, so machine noise falls on both.
 *
 *   specroute bench router-features [--model stories260K.gguf] [--lengths 10,60,200] [--calls 200] [--threads 1]
 *
 * Markdown on stdout, progress on stderr, every sample as JSON (`--json`).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { Command } from 'commander';
import { LlamaTokenizer } from '../src/backends/llama/llama-tokenizer.js';
import { defaultModelLoadOptions } from '../src/backends/types.js';
import { integer, integerList } from '../src/cli/options.js';
import { packageRoot } from '../src/package-root.js';
import { ModelWorker } from '../src/workers/model-worker-client.js';
import { machineInfo } from './lib/machine.js';
import { fixed, markdownTable } from './lib/markdown.js';
import { loadSuite, suitePath } from './lib/prompts.js';
import { quantile } from './lib/summary.js';

interface Flags {
  model: string;
  lengths: number[];
  calls: number;
  threads: number;
  json: string;
}

interface Result {
  readonly tokens: number;
  /** Milliseconds of each whole `promptSignals` call. */
  readonly signalsMs: number[];
  /** Milliseconds of each prompt pass (prefill, last position scored). */
  readonly promptPassMs: number[];
}

const root = packageRoot();
const log = (line: string): void => void process.stderr.write(`[router-features-bench] ${line}\n`);

async function timed(run: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function main(flags: Flags): Promise<void> {
  const modelPath = resolve(flags.model);
  const [worker, tokenizer] = await Promise.all([
    ModelWorker.start({ ...defaultModelLoadOptions, modelPath, threads: flags.threads, sequences: 1 }, 'verifier'),
    LlamaTokenizer.load(modelPath),
  ]);
  const results: Result[] = [];
  try {
    // One long text of the stories suite; each call takes a window of it, so consecutive prompts differ.
    const text = (await loadSuite(suitePath('stories'))).flatMap((p) => ('prompt' in p ? [p.prompt] : [])).join(' ');
    const stream = tokenizer.tokenize(`${text} ${text} ${text}`);
    const sequence = await worker.open();
    for (const length of flags.lengths) {
      const prompt = (i: number): number[] => {
        const start = (i * 7) % Math.max(1, stream.length - length);
        return [...(tokenizer.bos !== null ? [tokenizer.bos] : []), ...stream.slice(start, start + length - (tokenizer.bos !== null ? 1 : 0))];
      };
      const request = { sampling: { temperature: 0, topK: 0, topP: 1, minP: 0 } };
      for (let i = 0; i < 10; i++) {
        await worker.promptSignals(prompt(i));
        await sequence.evaluate(0, prompt(i), 1, request);
      }
      const result: Result = { tokens: prompt(0).length, signalsMs: [], promptPassMs: [] };
      for (let i = 0; i < flags.calls; i++) {
        const tokens = prompt(i);
        const pass = (): Promise<number> => timed(() => sequence.evaluate(0, tokens, 1, request));
        const signals = (): Promise<number> => timed(() => worker.promptSignals(tokens));
        if (i % 2 === 0) {
          result.signalsMs.push(await signals());
          result.promptPassMs.push(await pass());
        } else {
          result.promptPassMs.push(await pass());
          result.signalsMs.push(await signals());
        }
      }
      results.push(result);
      log(`${result.tokens} tokens: promptSignals median ${fixed(quantile(result.signalsMs, 0.5), 2)} ms, prompt pass ${fixed(quantile(result.promptPassMs, 0.5), 2)} ms`);
    }
    await sequence.close();
  } finally {
    await Promise.allSettled([worker.dispose(), tokenizer.dispose()]);
  }

  const machine = await machineInfo();
  const load = os.loadavg().map((l) => fixed(l, 2)).join(', ');
  const table = markdownTable(
    ['prompt tokens', 'promptSignals p50 ms', 'p99 ms', 'prompt pass p50 ms', 'p99 ms', 'overhead p50 ms', 'overhead p99 ms'],
    results.map((r) => {
      const [s50, s99, p50, p99] = [quantile(r.signalsMs, 0.5), quantile(r.signalsMs, 0.99), quantile(r.promptPassMs, 0.5), quantile(r.promptPassMs, 0.99)];
      return [String(r.tokens), fixed(s50, 2), fixed(s99, 2), fixed(p50, 2), fixed(p99, 2), fixed(s50 - p50, 2), fixed(s99 - p99, 2)];
    }),
    ['r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
  process.stdout.write(
    `## Router prompt signals: cost per call\n\n` +
      `${relative(process.cwd(), modelPath) || modelPath}, threads ${flags.threads}; ${machine.cpuModel} (${machine.cores} logical CPUs), Node ${machine.node}, ` +
      `node-llama-cpp ${machine.nodeLlamaCpp}; load average at the end ${load}. ${flags.calls} calls per length, timed from the main thread, ` +
      `alternating with a prompt pass (prefill scoring the last position) of the same tokens on a request sequence. ` +
      `Overhead = promptSignals − prompt pass, per quantile.\n\n${table}\n`,
  );
  const json = resolve(flags.json);
  await mkdir(dirname(json), { recursive: true });
  await writeFile(json, `${JSON.stringify({ benchmark: 'router-features', date: new Date().toISOString(), machine, loadAverage: os.loadavg(), settings: flags, results }, null, 2)}\n`);
  log(`wrote ${relative(process.cwd(), json) || json}`);
}

/** The prompt-signals benchmark as a command (`router-features`), for the `specroute bench` family. */
export function routerFeaturesBenchCommand(): Command {
  return new Command('router-features')
    .description("Cost of the router's prompt signals (one pass over the prompt in the model worker: log-probabilities, entropies, pooled embedding) per call, against the prompt pass alone.")
    .option('--model <path>', 'the verifier GGUF', resolve(root, '../shared/models/stories260K.gguf'))
    .option('--lengths <list>', 'prompt lengths in tokens (BOS included), comma-separated', integerList(1, 1 << 20), [10, 60, 200])
    .option('--calls <n>', 'timed calls per length', integer(1), 200)
    .option('--threads <n>', 'CPU threads of the model', integer(1), 1)
    .option('--json <file>', 'where every sample goes', resolve(root, 'bench/out/router-features.json'))
    .addHelpText('after', '\nExamples:\n  $ specroute bench router-features\n  $ specroute bench router-features --lengths 200,500 --calls 500')
    .action((flags: Flags) => main(flags));
}
