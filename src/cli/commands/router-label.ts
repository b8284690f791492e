/**
 * `specroute router label`: runs every prompt of a prompt file on each local tier and on the frontier
 * (temperature 0) with the server the config describes, and appends one labelled row per prompt (the router's
 * features and each tier's quality) to a JSON Lines file that `router train` and `router eval` read. Resumable:
 * prompts whose id is already in the output are skipped.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { Command } from 'commander';
import { loadConfig } from '../../config/load-config.js';
import { SpecrouteError } from '../../errors/registry.js';
import type { Tier } from '../../events/route-decision.js';
import { startServer } from '../../main.js';
import { tokenizerFingerprint } from '../../backends/tokenizer-fingerprint.js';
import { labelPrompt, type LabelTarget } from '../../routing/label-prompt.js';
import { readPromptFile } from '../../routing/prompt-file.js';
import { integer } from '../options.js';
import { ProgressBar } from '../progress.js';

/** The `router label` subcommand. */
export function routerLabelCommand(): Command {
  return new Command('label')
    .description(
      "Run each prompt on every local tier (slm with a draft, hybrid) and on the frontier at temperature 0, and write each tier's quality with the router's features: the data `router train` learns from.",
    )
    .requiredOption('--config <file>', 'the server config: verifier, draft and escalation.frontier (required)')
    .requiredOption('--prompts <file>', 'JSON Lines: {"id"?, "prompt" | "messages", "expected"?} (the bench\'s prompt format)')
    .requiredOption('--out <file>', 'labelled JSON Lines, appended to; ids already there are skipped (resume)')
    .option('--max-tokens <n>', 'tokens per output', integer(1, 4096), 48)
    .addHelpText(
      'after',
      `
Quality: with "expected" on a line, 1 when a tier's output satisfies it, else 0 (the frontier too); without, the
token agreement (LCS) of a local tier's output with the frontier's. Progress on stderr; a summary on stdout.

Examples:
  $ specroute router label --config specroute.yaml --prompts bench/prompts/routing-agreement.jsonl --out labelled.jsonl
  $ specroute router label --config specroute.yaml --prompts my-logs.jsonl --out labelled.jsonl --max-tokens 64`,
    )
    .action(async (options: LabelFileOptions) => {
      const summary = await labelPromptFile(options);
      process.stdout.write(
        summary.labelled === 0
          ? `all ${summary.total} prompts of ${options.prompts} are already in ${options.out}\n`
          : `labelled ${summary.labelled} prompts into ${options.out}; mean quality: ${Object.entries(summary.meanQuality).map(([t, q]) => `${t} ${q.toFixed(3)}`).join(', ')}\n`,
      );
    });
}

export interface LabelFileOptions {
  /** The server config (verifier, draft, escalation.frontier). */
  readonly config: string;
  /** The prompt file (src/routing/prompt-file.ts). */
  readonly prompts: string;
  /** The labelled JSON Lines, appended to; ids already there are skipped. */
  readonly out: string;
  readonly maxTokens: number;
}

/**
 * Labels every prompt of a prompt file not yet in `out` with the server `config` describes (started here on
 * 127.0.0.1, no gRPC), appending one row per prompt as it is done, with a progress bar on stderr. Returns how many
 * it labelled, of how many, and the mean quality per tier of those.
 */
export async function labelPromptFile(options: LabelFileOptions): Promise<{ labelled: number; total: number; meanQuality: Partial<Record<Tier, number>> }> {
  const prompts = await readPromptFile(options.prompts).catch((error: unknown) => {
    throw new SpecrouteError('invalid_argument', `--prompts: ${(error as Error).message}`, { param: '--prompts' });
  });
  const done = labelledIds(options.out);
  const todo = prompts.filter((p) => !done.has(p.id));
  const config = loadConfig(options.config, { port: 0, grpcPort: -1, host: '127.0.0.1' });
  if (!config.escalation.frontier) throw new SpecrouteError('invalid_argument', `--config ${options.config}: labelling needs a frontier (escalation.frontier)`, { param: '--config' });
  if (todo.length === 0) return { labelled: 0, total: prompts.length, meanQuality: {} };
  const server = await startServer(config);
  try {
    const tiers: Tier[] = [...(server.engine.draft ? (['slm'] as const) : []), 'hybrid', 'frontier'];
    const target: LabelTarget = {
      model: config.modelId,
      tiers,
      tokenizer: tokenizerFingerprint(server.engine.tokenizer),
      encode: (input) => server.engine.encode(input),
      signals: (tokens) => server.engine.verifier.promptSignals(tokens),
      generate: (request) => server.scheduler.admit(request, { transport: 'http', signal: new AbortController().signal }),
    };
    const progress = new ProgressBar({ total: todo.length, label: 'label' });
    if (done.size > 0) progress.log(`resuming: ${done.size} prompts already in ${options.out}`);
    const sums: Partial<Record<Tier, number>> = {};
    for (const prompt of todo) {
      const row = await labelPrompt(target, prompt, options.maxTokens);
      appendFileSync(options.out, `${JSON.stringify(row)}\n`);
      const quality = row.quality as Partial<Record<Tier, number>>;
      for (const tier of tiers) sums[tier] = (sums[tier] ?? 0) + (quality[tier] ?? 0);
      progress.tick(`${prompt.id}: ${tiers.map((t) => `${t} ${(quality[t] ?? 0).toFixed(2)}`).join(', ')}`);
    }
    progress.finish();
    return { labelled: todo.length, total: prompts.length, meanQuality: Object.fromEntries(tiers.map((t) => [t, (sums[t] ?? 0) / todo.length])) };
  } finally {
    await server.close();
  }
}

/** Ids already labelled in `file` (none when it does not exist). */
function labelledIds(file: string): Set<string> {
  if (!existsSync(file)) return new Set();
  const ids = new Set<string>();
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        ids.add(String((JSON.parse(line) as { id: unknown }).id));
      } catch {
        throw new SpecrouteError('invalid_argument', `--out ${file}:${i + 1} is not JSON: an interrupted run leaves whole lines only, so this file is not one of ours`, { param: '--out' });
      }
    });
  return ids;
}
