/**
 * A model flag's value as a local file, for the commands that load or read a model (`generate`, `draft make`,
 * `convert`): a path as given; a URI (`hf:…`, `https://…`) fetched into the cache (`SPECROUTE_CACHE_DIR`, else
 * `<os tmpdir>/specroute-cache`), or found there, with its progress on stderr. Errors name the flag.
 */
import { SpecrouteError, isSpecrouteError } from '../errors/registry.js';
import { cacheDirFromEnv } from '../models/model-cache.js';
import { downloadModel } from '../models/model-download.js';
import { isModelUri } from '../models/model-uri.js';
import { DownloadReporter } from './download-progress.js';

export async function localModelPath(value: string, flag: string, options: { cacheDir?: string; signal?: AbortSignal } = {}): Promise<string> {
  if (!isModelUri(value)) return value;
  const reporter = new DownloadReporter();
  try {
    const got = await downloadModel(value, { cacheDir: options.cacheDir ?? cacheDirFromEnv(), onProgress: reporter.onProgress, ...(options.signal ? { signal: options.signal } : {}) });
    reporter.finish();
    if (!got.checked) process.stderr.write(`specroute: the server of ${value} could not be reached; using the copy verified earlier, ${got.path}\n`);
    return got.path;
  } catch (error) {
    reporter.finish();
    if (isSpecrouteError(error)) throw new SpecrouteError(error.code, error.message, { param: flag, cause: error });
    throw error;
  }
}
