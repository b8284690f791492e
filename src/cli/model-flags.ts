/**
 * The flags that choose what `serve` loads, shared by `serve` and `profile` so that a profile measures exactly
 * what the server would run: `--config` (default `./specroute.yaml` when present), `--models-dir`, and
 * `--verifier V [--draft D | --draft-derive SPEC]` replacing the file's `model` section, with `--model-id`,
 * `--threads` and `--draft-threads` over it.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { ConfigOverrides, ModelOverride } from '../config/load-config.js';
import { SpecrouteError, isSpecrouteError } from '../errors/registry.js';
import { ModelDownloadError } from '../models/model-download-error.js';
import { isModelUri, parseModelUri } from '../models/model-uri.js';
import { draftDerive, integer, type DraftDeriveSpec } from './options.js';

export const DEFAULT_CONFIG = 'specroute.yaml';

export interface ModelFlags {
  config?: string;
  modelsDir?: string;
  verifier?: string;
  draft?: string;
  draftDerive?: DraftDeriveSpec;
  threads?: number;
  draftThreads?: number;
}

/**
 * Adds `--config`, `--models-dir`, `--verifier`, `--draft`, `--draft-derive`, and unless `threads` is false (a
 * command that measures them), `--threads` and `--draft-threads`.
 */
export function addModelFlags(command: Command, verb: string, { threads = true }: { threads?: boolean } = {}): Command {
  command
    .option('-c, --config <file>', `YAML config file (default: ./${DEFAULT_CONFIG} when present)`)
    .option('--models-dir <dir>', 'folder that relative model paths in the config file start from')
    .option('--verifier <file>', `${verb} this verifier (GGUF, or .onnx; from the current directory, or a URI: hf:OWNER/REPO/FILE, https://…) in place of the config file's whole model section`)
    .option('--draft <file>', "draft model sharing the verifier's tokenizer (from the current directory, or a URI; needs --verifier)")
    .addOption(
      new Option('--draft-derive <spec>', 'derive the draft from the verifier at boot, cached: layers=LIST and/or quantize=q8_0|q4_0 (needs --verifier)')
        .argParser(draftDerive)
        .conflicts('draft'),
    );
  if (!threads) return command;
  return command.option('--threads <n>', 'verifier threads (default: 1)', integer(1, 256)).option('--draft-threads <n>', 'draft threads (default: 1)', integer(1, 256));
}

/** `--draft` and `--draft-derive` name the draft of a model given on the command line: alone they are an error. */
export function checkModelFlags(flags: ModelFlags, command: Command): void {
  if (flags.verifier !== undefined) return;
  for (const [flag, given] of [['--draft <file>', flags.draft], ['--draft-derive <spec>', flags.draftDerive]] as const) {
    if (given !== undefined) command.error(`error: option '${flag}' needs --verifier (it names the draft of a model given on the command line)`);
  }
}

/** The config file the flags name: `--config`, else `./specroute.yaml` when present. */
export function configFile(flags: ModelFlags): string | undefined {
  return flags.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
}

/** The overrides of `loadConfig` that the model flags give. */
export function modelOverrides(flags: ModelFlags): ConfigOverrides {
  return {
    ...(flags.modelsDir !== undefined ? { modelsDir: flags.modelsDir } : {}),
    ...(flags.verifier !== undefined ? { model: modelOverride(flags.verifier, flags) } : {}),
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
    ...(flags.draftThreads !== undefined ? { draftThreads: flags.draftThreads } : {}),
  };
}

/**
 * The `model` section the flags describe; its files must exist (relative paths from the current directory), or be
 * well-formed URIs (fetched at boot).
 */
function modelOverride(verifier: string, flags: ModelFlags): ModelOverride {
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
 * A profile file that cannot be read names `--profile`. An error about the derived draft (a layer the verifier lacks, found as the draft is made; an ONNX verifier) names
 * `--draft-derive` when the flag asked for it, or else the config key. A model that could not be downloaded names
 * `--verifier` or `--draft` when the flag gave its URI.
 */
export function nameTheFlag(error: unknown, flags: ModelFlags): unknown {
  if (!isSpecrouteError(error) || error.param === undefined) return error;
  // loadConfig names the file it could not read by its kind: the profile's is `--profile`.
  if (error.param === 'profile') return new SpecrouteError(error.code, error.message, { param: '--profile', cause: error.cause });
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
