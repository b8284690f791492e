import { Command } from 'commander';
import { fetchConfigModels } from '../../config/fetch-models.js';
import { loadConfig, type ConfigOverrides } from '../../config/load-config.js';
import { startServer } from '../../main.js';
import { DownloadReporter } from '../download-progress.js';
import { addModelFlags, checkModelFlags, configFile, DEFAULT_CONFIG, modelOverrides, nameTheFlag, type ModelFlags } from '../model-flags.js';
import { integer } from '../options.js';

interface ServeFlags extends ModelFlags {
  host?: string;
  port?: number;
  grpcPort?: number;
  modelId?: string;
  profile?: string;
}

export function serveCommand(): Command {
  const command = new Command('serve').description('Serve the OpenAI-compatible HTTP API (SSE) and the gRPC API over one loaded draft/verifier pair.');
  return addModelFlags(command, 'serve')
    .option('--host <address>', 'address to listen on')
    .option('--port <n>', 'HTTP port (0 picks a free one)', integer(0, 65535))
    .option('--grpc-port <n>', 'gRPC port (0 picks a free one, -1 disables gRPC)', integer(-1, 65535))
    .option('--model-id <id>', 'the id clients send as "model" (default: the verifier file name without its extension)')
    .option('--profile <file>', 'a hardware profile from `specroute profile --write FILE`, merged over the config file: threads, maxConcurrent, and the draft length for each batch size (batching.profile)')
    .addHelpText(
      'after',
      `
Your own model, no YAML (like llama.cpp's -m / -md): --verifier replaces the config file's model section
whole, so there is no draft unless --draft or --draft-derive names one, and per-model keys (contextSize,
kvCacheType…) take their defaults. The file's other sections (server, limits, speculation, escalation, auth)
still apply, and ./${DEFAULT_CONFIG} is still read when present: pass --config to use another file.
Paths given as flags are relative to the current directory, as with \`specroute generate\`; paths in a config
file are relative to its modelsDir. --draft-derive takes layers (0-based: 0-2, or 0,1,4) and/or quantize,
comma-separated; the draft is made once and cached in cacheDir (SPECROUTE_CACHE_DIR).
--model-id, --threads and --draft-threads also apply over a config file's model section. Set threads to what
your machine has: the default is 1, which suits tiny models on few cores, or let \`specroute profile\` measure them.

--profile FILE merges a fragment written by \`specroute profile --write FILE\` over the config file (before the
flags and the environment): model threads, limits.maxConcurrent and batching.profile, the measured pass times
and the draft length γ for each batch size that lock-step steps use. With --verifier, the fragment's per-model
keys (threads) apply to the models the flags name.

A model may be a URI, as a flag or in the config file: hf:OWNER/REPO/FILE (hf:OWNER/REPO:REVISION/PATH/TO/FILE
for a branch, tag or commit; the hub is HF_ENDPOINT, its token HF_TOKEN) or an https:// URL. It is fetched into
cacheDir at boot, before any model loads, or found there (see \`specroute pull --help\`).

Flags override the config file; SPECROUTE_* environment variables override both
(SPECROUTE_PORT, SPECROUTE_GRPC_PORT, SPECROUTE_HOST, SPECROUTE_MODELS_DIR, SPECROUTE_API_KEYS=k1,k2,
or any key as SPECROUTE_SECTION__KEY, e.g. SPECROUTE_LIMITS__MAX_QUEUE=8, SPECROUTE_MODEL__VERIFIER__CONTEXT_SIZE=2048).

Examples:
  $ specroute serve                                  # ./specroute.yaml: stories260K from ../shared/models
  $ specroute serve --config prod.yaml --port 9000 --grpc-port -1
  $ specroute serve --verifier ../shared/models/stories260K.gguf --draft-derive quantize=q8_0
  $ specroute serve --verifier model.gguf --draft draft.gguf --threads 4 --draft-threads 2 --model-id my-model
  $ specroute serve --verifier model.gguf --draft-derive layers=0-2,quantize=q8_0 --port 9000
  $ specroute serve --verifier model.gguf            # the verifier alone, no draft
  $ specroute profile --write profile.yaml && specroute serve --profile profile.yaml
  $ specroute serve --verifier hf:ggml-org/models/tinyllamas/stories260K.gguf --draft-derive quantize=q8_0
  $ SPECROUTE_API_KEYS=sk-local-123456 specroute serve --models-dir /models`,
    )
    .action(async (flags: ServeFlags, command: Command) => {
      checkModelFlags(flags, command);
      const file = configFile(flags);
      const overrides: ConfigOverrides = {
        ...(flags.host !== undefined ? { host: flags.host } : {}),
        ...(flags.port !== undefined ? { port: flags.port } : {}),
        ...(flags.grpcPort !== undefined ? { grpcPort: flags.grpcPort } : {}),
        ...modelOverrides(flags),
        ...(flags.modelId !== undefined ? { modelId: flags.modelId } : {}),
        ...(flags.profile !== undefined ? { profile: flags.profile } : {}),
      };
      const log = (message: string): void => void process.stderr.write(`specroute: ${message}\n`);
      const reporter = new DownloadReporter();
      const server = await (async () => {
        // Models named by URI first, with a progress bar on a terminal.
        const config = await fetchConfigModels(loadConfig(file, overrides), { onProgress: reporter.onProgress, log }).finally(() => reporter.finish());
        return startServer(config, log);
      })().catch((error: unknown) => {
        throw nameTheFlag(error, flags);
      });
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          log(`${signal}: draining streams in flight, then shutting down`);
          process.off('SIGINT', onInt);
          process.off('SIGTERM', onTerm);
          void server.close().then(resolve);
        };
        const onInt = (): void => stop('SIGINT');
        const onTerm = (): void => stop('SIGTERM');
        process.on('SIGINT', onInt);
        process.on('SIGTERM', onTerm);
      });
      log('stopped');
    });
}
