import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Command } from 'commander';
import { fetchConfigModels } from '../../config/fetch-models.js';
import { loadConfig } from '../../config/load-config.js';
import { SpecrouteError } from '../../errors/registry.js';
import { fragmentOf, fragmentYaml } from '../../profile/fragment.js';
import { runProfile } from '../../profile/run-profile.js';
import { DownloadReporter } from '../download-progress.js';
import { addModelFlags, checkModelFlags, configFile, DEFAULT_CONFIG, modelOverrides, nameTheFlag, type ModelFlags } from '../model-flags.js';
import { integer } from '../options.js';
import { profileTable } from '../profile-table.js';
import { useColor } from '../terminal.js';

interface ProfileFlags extends ModelFlags {
  threadsMax?: number;
  maxBatch: number;
  repeats: number;
  warmup: number;
  json?: boolean;
  write?: string;
}

export function profileCommand(): Command {
  const command = new Command('profile').description(
    'Measure this machine and the served model pair (pass times by batch, acceptance, memory) and recommend threads, maxConcurrent and the draft length for each batch size.',
  );
  return addModelFlags(command, 'profile', { threads: false })
    .option('--threads-max <n>', 'most llama.cpp threads to try per model (default: the CPUs this process may use)', integer(1, 256))
    .option('--max-batch <n>', 'batch sizes of the γ table: 1 … N sequences in a step', integer(1, 256), 32)
    .option('--repeats <n>', 'timed passes per figure (the median is kept)', integer(1, 1000), 5)
    .option('--warmup <n>', 'untimed passes before them', integer(0, 1000), 2)
    .option('--json', 'print one JSON document (everything measured, and the profile) instead of the tables')
    .option('--write <file>', 'write the recommendations as a YAML config fragment, for `specroute serve --profile FILE` or to merge into the config')
    .addHelpText(
      'after',
      `
The models are the ones \`specroute serve\` would load with the same flags: ./${DEFAULT_CONFIG} (or --config), or
--verifier with --draft or --draft-derive (a derived draft is made, or found in cacheDir, as at boot). They are
timed in this process with llama.cpp: a decode step (one token) at each thread count; a verifier pass by the
tokens in it (1 … 128, spread over up to 16 sequences evaluated as one batch, as a lock-step step is); a draft
pass by sequences (1 … 32, one token each). The pair's acceptance rate α comes from generating greedily over a
few built-in prompts. Then, with E = (1 − α^(γ+1)) / (1 − α), the γ for B sequences is the one that maximises
  B · E / (γ · T_draft(B) + T_verify(B · (γ + 1)))
(src/pipeline/step-costs.ts, the function the server uses online), maxConcurrent is the batch beyond which that
throughput stops growing (doubling gains < 5 %), capped by the KV caches that fit in memory.
Progress goes to stderr; measure on a quiet machine: other load shows up in every figure.

Examples:
  $ specroute profile                                   # ./specroute.yaml: stories260K and its 3-layer draft
  $ specroute profile --json > profile.json
  $ specroute profile --write profile.yaml && specroute serve --profile profile.yaml
  $ specroute profile --verifier model.gguf --draft draft.gguf --threads-max 8 --max-batch 64
  $ specroute profile --verifier model.gguf --draft-derive layers=0-2 --repeats 9 --write profile.yaml
  $ specroute profile --config prod.yaml --write prod.profile.yaml`,
    )
    .action(async (flags: ProfileFlags, cmd: Command) => {
      checkModelFlags(flags, cmd);
      const file = configFile(flags);
      const overrides = modelOverrides(flags);
      const log = (message: string): void => void process.stderr.write(`specroute: ${message}\n`);
      const reporter = new DownloadReporter();
      const report = await (async () => {
        const config = await fetchConfigModels(loadConfig(file, overrides), { onProgress: reporter.onProgress, log }).finally(() => reporter.finish());
        return runProfile(config, { threadsMax: flags.threadsMax ?? availableParallelism(), maxBatch: flags.maxBatch, repeats: flags.repeats, warmup: flags.warmup, log });
      })().catch((error: unknown) => {
        throw nameTheFlag(error, flags);
      });
      if (flags.write !== undefined) {
        const commandLine = ['specroute', ...process.argv.slice(2)].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' ');
        try {
          writeFileSync(flags.write, fragmentYaml(report, commandLine));
        } catch (error) {
          throw new SpecrouteError('invalid_argument', `cannot write ${flags.write}: ${(error as Error).message}`, { param: '--write' });
        }
        // What serve will do with it: the fragment must merge over the same config and validate.
        loadConfig(file, { ...overrides, profile: flags.write });
        log(`wrote ${flags.write}: pass it to \`specroute serve --profile ${flags.write}\`, or merge it into your config`);
      }
      if (flags.json) process.stdout.write(`${JSON.stringify({ ...report, fragment: fragmentOf(report) }, null, 2)}\n`);
      else process.stdout.write(profileTable(report, useColor(process.stdout)));
    });
}
