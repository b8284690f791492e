/**
 * Boot's first step for a config that names models by URI (`hf:…`, `https://…`): each is fetched into `cacheDir`
 * (or found there) and replaced by its local file, before any model loads, so that a config with `hf:` paths
 * serves on a fresh machine. A failure names the config key and the URI.
 */
import { SpecrouteError } from '../errors/registry.js';
import { downloadModel, type DownloadedModel, type DownloadModelOptions, type DownloadProgress } from '../models/model-download.js';
import { isModelUri, modelFileName } from '../models/model-uri.js';
import { isOnnxPath } from '../models/onnx/tokenizer-path.js';
import type { ResolvedConfig } from './load-config.js';

/** Options of `fetchConfigModels`. */
export interface FetchModelsOptions extends Pick<DownloadModelOptions, 'signal' | 'env' | 'retries' | 'retryDelayMs' | 'idleTimeoutMs'> {
  /** Each download's progress (a terminal's progress bar). Defaults to none: `log` says when a transfer starts. */
  onProgress?: (progress: DownloadProgress) => void;
  /** One line per transfer started, and when a copy is used without the hub's say. Defaults to none. */
  log?: (message: string) => void;
}

/** A config key that names a model by URI, and the URI. */
export interface ConfigModelUri {
  /** `model.verifier.path`, `model.draft.path`, `model.verifier.tokenizer` or `model.draft.tokenizer`. */
  readonly key: string;
  readonly uri: string;
}

/** The config's models given by URI, verifier first. */
export function configModelUris(config: ResolvedConfig): ConfigModelUri[] {
  const found: ConfigModelUri[] = [];
  const add = (key: string, value: string | undefined): void => {
    if (value !== undefined && isModelUri(value)) found.push({ key, uri: value });
  };
  add('model.verifier.path', config.verifierPath);
  add('model.verifier.tokenizer', config.model.verifier.tokenizer);
  if (config.draftSource.kind === 'file') add('model.draft.path', config.draftSource.path);
  add('model.draft.tokenizer', config.model.draft?.tokenizer);
  return found;
}

/**
 * Fetches every model the config names by URI and returns the config with their local paths in their place
 * (the same config when it names none). Errors: `model_download_failed` (or `cancelled`, `invalid_argument`)
 * naming the key as `param` and, in the message, the config file, the key and the URI.
 */
export async function fetchConfigModels(config: ResolvedConfig, options: FetchModelsOptions = {}): Promise<ResolvedConfig> {
  const wanted = configModelUris(config);
  if (wanted.length === 0) return config;
  const { verifier, draft } = config.model;
  for (const [key, model, tokenizer] of [['model.verifier', config.verifierPath, verifier.tokenizer], ['model.draft', config.draftSource.kind === 'file' ? config.draftSource.path : undefined, draft?.tokenizer]] as const) {
    if (model !== undefined && isModelUri(model) && isOnnxPath(modelFileName(model)) && tokenizer === undefined) {
      throw new SpecrouteError(
        'invalid_argument',
        `config ${config.source}: ${key}.tokenizer: an ONNX model fetched by URI (${model}) needs its tokenizer named, as a path or a URI (specroute convert writes it as MODEL.tokenizer.gguf)`,
        { param: `${key}.tokenizer` },
      );
    }
  }
  const { onProgress, log, ...download } = options;
  const local = new Map<string, string>();
  for (const { key, uri } of wanted) {
    let got: DownloadedModel;
    try {
      got = await downloadModel(uri, { cacheDir: config.cacheDir, ...download, ...withProgress(onProgress ?? logStarts(log)) });
    } catch (error) {
      const code = error instanceof SpecrouteError ? error.code : 'model_download_failed';
      throw new SpecrouteError(code, `config ${config.source}: ${key}: ${(error as Error).message}`, { param: key, cause: error });
    }
    if (!got.checked) log?.(`${key}: the server of ${uri} could not be reached; using the copy verified earlier, ${got.path}`);
    local.set(key, got.path);
  }
  const at = (key: string, value: string | undefined): string | undefined => local.get(key) ?? value;
  return {
    ...config,
    verifierPath: at('model.verifier.path', config.verifierPath)!,
    draftSource: config.draftSource.kind === 'file' ? { kind: 'file', path: at('model.draft.path', config.draftSource.path)! } : config.draftSource,
    model: {
      ...config.model,
      verifier: withTokenizer(verifier, at('model.verifier.tokenizer', verifier.tokenizer)),
      draft: draft ? withTokenizer(draft, at('model.draft.tokenizer', draft.tokenizer)) : draft,
    },
  };
}

function withProgress(onProgress: ((progress: DownloadProgress) => void) | undefined): Pick<DownloadModelOptions, 'onProgress'> {
  return onProgress ? { onProgress } : {};
}

function withTokenizer<M extends { tokenizer?: string | undefined }>(model: M, tokenizer: string | undefined): M {
  return tokenizer === undefined ? model : { ...model, tokenizer };
}

/** Progress as log lines: one when each transfer starts. */
function logStarts(log: ((message: string) => void) | undefined): ((progress: DownloadProgress) => void) | undefined {
  if (!log) return undefined;
  let attempt = 0;
  let path = '';
  return (progress) => {
    if (progress.path === path && progress.attempt === attempt) return;
    ({ path, attempt } = progress);
    const size = progress.total !== undefined ? ` (${progress.total} bytes)` : '';
    log(progress.resumedFrom > 0 ? `resuming ${progress.uri}${size} at byte ${progress.resumedFrom}, into ${progress.path}` : `downloading ${progress.uri}${size} to ${progress.path}`);
  };
}
