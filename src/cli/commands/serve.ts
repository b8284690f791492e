import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { fetchConfigModels } from '../../config/fetch-models.js';
import { loadConfig, type ConfigOverrides, type ModelOverride } from '../../config/load-config.js';
import { SpecrouteError, isSpecrouteError } from '../../errors/registry.js';
import { startServer } from '../../main.js';
import { ModelDownloadError } from '../../models/model-download-error.js';
import { isModelUri, parseModelUri } from '../../models/model-uri.js';
import { DownloadReporter } from '../download-progress.js';
import { draftDerive, integer, type DraftDeriveSpec } from '../options.js';

const DEFAULT_CONFIG = 'specroute.yaml';

interface ServeFlags {
  config?: string;
  host?: string;
  port?: number;
  grpcPort?: number;
  modelsDir?: string;
  verifier?: string;
  draft?: string;
  draftDerive?: DraftDeriveSpec;
  modelId?: string;
  threads?: number;
  draftThreads?: number;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('Serve the OpenAI-compatible HTTP API (SSE) and the gRPC API over one loaded draft/verifier pair.')
    .option('-c, --config <file>', `YAML config file (default: ./${DEFAULT_CONFIG} when present)`)
    .option('--host <address>', 'address to listen on')
    .option('--port <n>', 'HTTP port (0 picks a free one)', integer(0, 65535))
    .option('--grpc-port <n>', 'gRPC port (0 picks a free one, -1 disables gRPC)', integer(-1, 65535))
    .option('--models-dir <dir>', 'folder that relative model paths in the config file start from')
    .option('--verifier <file>', "serve this verifier (GGUF, or .onnx; from the current directory, or a URI: hf:OWNER/REPO/FILE, https://…) in place of the config file's whole model section")
    .option('--draft <file>', "draft model sharing the verifier's tokenizer (from the current directory, or a URI; needs --verifier)")
    .addOption(
      new Option('--draft-derive <spec>', 'derive the draft from the verifier at boot, cached: layers=LIST and/or quantize=q8_0|q4_0 (needs --verifier)')
        .argParser(draftDerive)
        .conflicts('draft'),
    )
    .option('--model-id <id>', 'the id clients send as "model" (default: the verifier file name without its extension)')
    .option('--threads <n>', 'verifier threads (default: 1)', integer(1, 256))
    .option('--draft-threads <n>', 'draft threads (default: 1)', integer(1, 256))
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
your machine has: the default is 1, which suits tiny models on few cores.

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
  $ specroute serve --verifier hf:ggml-org/models/tinyllamas/stories260K.gguf --draft-derive quantize=q8_0
  $ SPECROUTE_API_KEYS=sk-local-123456 specroute serve --models-dir /models`,
    )
    .action(async (flags: ServeFlags, command: Command) => {
      if (flags.verifier === undefined) {
        for (const [flag, given] of [['--draft <file>', flags.draft], ['--draft-derive <spec>', flags.draftDerive]] as const) {
          if (given !== undefined) command.error(`error: option '${flag}' needs --verifier (it names the draft of a model given on the command line)`);
        }
      }
      const file = flags.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
      const overrides: ConfigOverrides = {
        ...(flags.host !== undefined ? { host: flags.host } : {}),
        ...(flags.port !== undefined ? { port: flags.port } : {}),
        ...(flags.grpcPort !== undefined ? { grpcPort: flags.grpcPort } : {}),
        ...(flags.modelsDir !== undefined ? { modelsDir: flags.modelsDir } : {}),
        ...(flags.verifier !== undefined ? { model: modelOverride(flags.verifier, flags) } : {}),
        ...(flags.modelId !== undefined ? { modelId: flags.modelId } : {}),
        ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
        ...(flags.draftThreads !== undefined ? { draftThreads: flags.draftThreads } : {}),
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

/**
 * The `model` section the flags describe; its files must exist (relative paths from the current directory), or be
 * well-formed URIs (fetched at boot).
 */
function modelOverride(verifier: string, flags: ServeFlags): ModelOverride {
  const existing = (path: string, flag: string): string => {
    if (isModelUri(path)) {
      parseModelUri(path, flag);
      return path;
    }
    if (!existsSync(path)) throw new SpecrouteError('invalid_argument', `no such file: ${resolve(path)}`, { param: flag });
    return path;
  };
  return {
    verifier: existing(verifier, '--verifier'),
    ...(flags.draft !== undefined ? { draft: { path: existing(flags.draft, '--draft') } } : {}),
    ...(flags.draftDerive !== undefined ? { draft: { derive: flags.draftDerive } } : {}),
  };
}

/**
 * An error about the derived draft (a layer the verifier lacks, found as the draft is made; an ONNX verifier) names
 * `--draft-derive` when the flag asked for it, or else the config key. A model that could not be downloaded names
 * `--verifier` or `--draft` when the flag gave its URI.
 */
function nameTheFlag(error: unknown, flags: ServeFlags): unknown {
  if (!isSpecrouteError(error) || error.param === undefined) return error;
  const flag = flags.verifier !== undefined ? { 'model.verifier.path': '--verifier', 'model.draft.path': '--draft' }[error.param] : undefined;
  if (flag !== undefined && error.cause instanceof SpecrouteError) {
    const cause = error.cause;
    return new SpecrouteError(cause.code, cause instanceof ModelDownloadError ? cause.message : error.message, { param: flag, cause });
  }
  const fromDraftMaking = error.param === 'layers' || error.param === 'quantize';
  if (!fromDraftMaking && error.param !== 'model.draft.derive') return error;
  const param = flags.draftDerive !== undefined ? '--draft-derive' : fromDraftMaking ? `model.draft.derive.${error.param}` : error.param;
  return new SpecrouteError(error.code, error.message, { param, cause: error.cause });
}
