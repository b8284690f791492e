import { Command } from 'commander';
import { defaultModelLoadOptions, type ModelLoadOptions } from '../../backends/types.js';
import type { GenerationRequest, SamplingSettings } from '../../contract/generation-request.js';
import { parseResponseFormat } from '../../contract/response-format.js';
import { invalidArgument } from '../../errors/registry.js';
import { validateGenerationRequest } from '../../scheduler/validate.js';
import { requestSettings, type SettingSpec } from '../../contract/request-settings.js';
import type { TokenEventDone } from '../../events/token-event.js';
import { SpeculativeEngine } from '../../pipeline/engine.js';
import type { SpeculationStats } from '../../events/speculation-stats.js';
import { localModelPath } from '../local-model.js';
import { colorBySource, legend, useColor } from '../terminal.js';
import { collect, integer, jsonFile, setting } from '../options.js';

const { request: req, sampling: smp, speculation: spec } = requestSettings;

interface GenerateFlags extends Partial<SamplingSettings> {
  verifier: string;
  draft?: string;
  prompt: string;
  maxTokens: number;
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
  jsonSchema?: unknown;
  jsonObject: boolean;
}

export function generateCommand(): Command {
  const command = new Command('generate')
    .description('Generate text from a prompt with a draft and a verifier, streaming each token coloured by its source.')
    .requiredOption('--verifier <file>', 'verifier GGUF model (or a URI: hf:OWNER/REPO/FILE, https://…; fetched into SPECROUTE_CACHE_DIR)')
    .option('--draft <file>', 'draft GGUF model (sharing the verifier\'s tokenizer; or a URI)')
    .option('--no-draft', 'decode with the verifier alone (the baseline)')
    .requiredOption('-p, --prompt <text>', 'prompt text')
    .option('-n, --max-tokens <n>', req.maxTokens.doc, setting(req.maxTokens), 200);
  // One flag per sampling setting, named after it (`--top-k`, `--min-p`), with its range and default.
  for (const spec of Object.values(smp) as SettingSpec[]) {
    const flag = `${spec.name === 'temperature' ? '-t, ' : ''}--${spec.name.replace(/_/g, '-')} <value>`;
    if (spec.default === undefined) command.option(flag, spec.doc, setting(spec));
    else command.option(flag, spec.doc, setting(spec), spec.default);
  }
  return command
    .option('--stop <text>', 'stop sequence (repeatable)', collect)
    .option('--draft-max <n>', spec.max.doc, setting(spec.max), spec.max.default)
    .option('--draft-min <n>', spec.min.doc, setting(spec.min), spec.min.default)
    .option('--no-adaptive', 'keep γ fixed at --draft-max')
    .option('--draft-p-min <p>', spec.pMin.doc, setting(spec.pMin), spec.pMin.default)
    .option('--threads <n>', 'verifier threads', integer(1, 256), defaultModelLoadOptions.threads)
    .option('--draft-threads <n>', 'draft threads', integer(1, 256), defaultModelLoadOptions.threads)
    .option('--context-size <n>', 'context size in tokens (per model; the config\'s default)', integer(16), defaultModelLoadOptions.contextSize)
    .option('--ignore-eos', 'keep generating past the end-of-sequence token', false)
    .option('--json-schema <file>', 'constrain the output to JSON matching this JSON Schema file (response_format json_schema)', jsonFile)
    .option('--json-object', 'constrain the output to a JSON object (response_format json_object)', false)
    .option('--json', 'write the events as JSON lines (the last one holds the stats)', false)
    .addHelpText(
      'after',
      `
Examples:
  $ specroute generate --verifier ../shared/models/stories260K.gguf --draft draft-q8.gguf -p "Once upon a time"
  $ specroute generate --verifier v.gguf --draft d.gguf -p "Hello" -t 0.8 --min-p 0.05 --seed 42 --json
  $ specroute generate --verifier v.gguf --no-draft -p "Hello"     # verifier-only baseline
  $ specroute generate --verifier v.gguf --draft d.gguf -p "A user:" --json-schema user.schema.json
  $ specroute generate --verifier hf:ggml-org/models/tinyllamas/stories260K.gguf --no-draft -p "Once upon a time"`,
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
  const verifierPath = await localModelPath(flags.verifier, '--verifier');
  const draftPath = typeof flags.draft === 'string' ? await localModelPath(flags.draft, '--draft') : undefined;
  const engine = await SpeculativeEngine.load({
    verifier: model(verifierPath, flags.threads),
    ...(draftPath !== undefined ? { draft: model(draftPath, flags.draftThreads) } : {}),
    speculation: { max: flags.draftMax, min: Math.min(flags.draftMin, flags.draftMax), initial: Math.min(spec.initial.default, flags.draftMax), adaptive: flags.adaptive, pMin: flags.draftPMin },
  });
  const abort = new AbortController();
  const onSigint = (): void => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    const color = useColor(process.stdout);
    let done: TokenEventDone | undefined;
    const input = { kind: 'text', text: flags.prompt } as const;
    const request = {
      model: 'generate',
      input,
      maxTokens: flags.maxTokens,
      sampling: Object.fromEntries(Object.keys(smp).flatMap((field) => (flags[field as keyof SamplingSettings] !== undefined ? [[field, flags[field as keyof SamplingSettings]]] : []))),
      stop: flags.stop ?? [],
      ignoreEos: flags.ignoreEos,
      ...responseFormat(flags),
    };
    validateGenerationRequest(request);
    for await (const event of engine.generate(request, engine.encode(input), { signal: abort.signal })) {
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

/** `--json-schema` / `--json-object` as the request's `response_format` (its schema is checked with the request). */
function responseFormat(flags: GenerateFlags): Pick<GenerationRequest, 'responseFormat'> {
  if (flags.jsonSchema !== undefined && flags.jsonObject) throw invalidArgument('--json-schema', '--json-schema and --json-object exclude each other');
  if (flags.jsonObject) return { responseFormat: { type: 'json_object' } };
  if (flags.jsonSchema === undefined) return {};
  const format = parseResponseFormat({ type: 'json_schema', json_schema: { name: 'cli', schema: flags.jsonSchema } });
  return format ? { responseFormat: format } : {};
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
