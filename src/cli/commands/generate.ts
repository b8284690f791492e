import { Command } from 'commander';
import { defaultModelLoadOptions, type ModelLoadOptions } from '../../backends/types.js';
import type { TokenEventDone } from '../../events/token-event.js';
import { SpeculativeEngine } from '../../pipeline/engine.js';
import { defaultSpeculation } from '../../pipeline/generate-options.js';
import type { SpeculationStats } from '../../pipeline/stats.js';
import { randomSeed } from '../../sampling/rng.js';
import { colorBySource, legend, useColor } from '../terminal.js';
import { collect, integer, number } from '../options.js';

interface GenerateFlags {
  verifier: string;
  draft?: string;
  prompt: string;
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed?: number;
  stop?: string[];
  draftMax: number;
  draftMin: number;
  adaptive: boolean;
  draftPMin: number;
  threads: number;
  draftThreads: number;
  contextSize: number;
  ignoreEos: boolean;
  json: boolean;
}

export function generateCommand(): Command {
  return new Command('generate')
    .description('Generate text from a prompt with a draft and a verifier, streaming each token coloured by its source.')
    .requiredOption('--verifier <file>', 'verifier GGUF model')
    .option('--draft <file>', 'draft GGUF model (sharing the verifier\'s tokenizer)')
    .option('--no-draft', 'decode with the verifier alone (the baseline)')
    .requiredOption('-p, --prompt <text>', 'prompt text')
    .option('-n, --max-tokens <n>', 'most tokens to generate', integer(1), 200)
    .option('-t, --temperature <t>', 'sampling temperature; 0 is greedy', number(0, 100), 0)
    .option('--top-k <k>', 'keep the k most likely tokens; 0 disables', integer(0), 0)
    .option('--top-p <p>', 'nucleus sampling mass; 1 disables', number(0, 1), 1)
    .option('--seed <n>', 'random seed (default: random)', integer(0, 2 ** 32 - 1))
    .option('--stop <text>', 'stop sequence (repeatable)', collect)
    .option('--draft-max <n>', 'largest draft length γ', integer(0, 64), 8)
    .option('--draft-min <n>', 'smallest draft length γ when adapting (0: pause drafting while it fails, then probe)', integer(0, 64), defaultSpeculation.min)
    .option('--no-adaptive', 'keep γ fixed at --draft-max')
    .option('--draft-p-min <p>', 'stop drafting when the draft\'s confidence falls below p', number(0, 1), 0)
    .option('--threads <n>', 'verifier threads', integer(1, 256), defaultModelLoadOptions.threads)
    .option('--draft-threads <n>', 'draft threads', integer(1, 256), defaultModelLoadOptions.threads)
    .option('--context-size <n>', 'context size in tokens', integer(16), 2048)
    .option('--ignore-eos', 'keep generating past the end-of-sequence token', false)
    .option('--json', 'write the events as JSON lines (the last one holds the stats)', false)
    .addHelpText(
      'after',
      `
Examples:
  $ specroute generate --verifier ../shared/models/stories260K.gguf --draft draft-q8.gguf -p "Once upon a time"
  $ specroute generate --verifier v.gguf --draft d.gguf -p "Hello" -t 0.8 --seed 42 --json
  $ specroute generate --verifier v.gguf --no-draft -p "Hello"     # verifier-only baseline`,
    )
    .action(async (flags: GenerateFlags & { draft?: string | false }) => {
      await runGenerate(flags);
    });
}

async function runGenerate(flags: GenerateFlags & { draft?: string | false }): Promise<void> {
  const model = (modelPath: string, threads: number): ModelLoadOptions => ({
    ...defaultModelLoadOptions,
    modelPath,
    threads,
    contextSize: flags.contextSize,
  });
  const engine = await SpeculativeEngine.load({
    verifier: model(flags.verifier, flags.threads),
    ...(typeof flags.draft === 'string' ? { draft: model(flags.draft, flags.draftThreads) } : {}),
    speculation: { max: flags.draftMax, min: Math.min(flags.draftMin, flags.draftMax), initial: Math.min(4, flags.draftMax), adaptive: flags.adaptive, pMin: flags.draftPMin },
  });
  const abort = new AbortController();
  const onSigint = (): void => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    const color = useColor(process.stdout);
    let done: TokenEventDone | undefined;
    for await (const event of engine.generate({
      promptTokens: engine.encodePrompt(flags.prompt),
      maxTokens: flags.maxTokens,
      sampling: { temperature: flags.temperature, topK: flags.topK, topP: flags.topP, seed: flags.seed ?? randomSeed() },
      stop: flags.stop ?? [],
      ignoreEos: flags.ignoreEos,
      signal: abort.signal,
    })) {
      if (flags.json) process.stdout.write(`${JSON.stringify(event)}\n`);
      else if (event.kind === 'token') process.stdout.write(colorBySource(event.text, event.source, color));
      else if (event.kind === 'done') done = event;
    }
    if (done && !flags.json) process.stderr.write(`\n\n${formatStats(done, useColor(process.stderr))}\n`);
  } finally {
    process.off('SIGINT', onSigint);
    await engine.dispose();
  }
}

function formatStats(done: TokenEventDone, color: boolean): string {
  const s: SpeculationStats = done.stats;
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  const lines = [
    `finish: ${done.finishReason}   tokens: ${done.usage.completionTokens} (prompt ${done.usage.promptTokens})   mode: ${s.mode}   sources: ${legend(color)}`,
    `speed: ${s.tokensPerSecond.toFixed(1)} tok/s   verifier passes: ${s.verifierPasses}   tokens/pass: ${s.tokensPerPass.toFixed(2)}`,
  ];
  if (s.mode === 'speculative') {
    lines.push(`drafted: ${s.drafted}   accepted: ${s.accepted} (${pct(s.acceptanceRate)})   mean accepted length: ${s.meanAcceptedLength.toFixed(2)}`);
    lines.push(`draft blocks: ${s.draftBlocks} (${s.fullyAcceptedBlocks} fully accepted)   plain verifier steps: ${s.verifierPasses - s.draftBlocks}`);
    lines.push(`acceptance by position: ${s.byPosition.map((p, i) => `${i + 1}:${pct(p.rate)}`).join(' ')}`);
  }
  const t = s.timeMs;
  lines.push(`time: ${t.total.toFixed(1)} ms = prefill ${t.prefill.toFixed(1)} + draft ${t.draft.toFixed(1)} + verify ${t.verify.toFixed(1)} + other ${t.other.toFixed(1)}`);
  return lines.join('\n');
}
