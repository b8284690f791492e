/**
 * Where files made or fetched for the server are kept (`cacheDir`): derived drafts at its top, models fetched
 * by URI under `models/`, one file per URI:
 * - `models/hf/OWNER/REPO/REVISION/PATH/IN/REPO` for `hf:` URIs;
 * - `models/url/HOST/KEY/FILE` for URLs, KEY the first 16 hex digits of the URL's sha256 (two URLs that end in
 *   the same file name never share a file).
 * Beside each file, while it downloads, `FILE.part`; once verified, `FILE.sha256` (`sha256sum`'s format).
 */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { modelUriFileName, type ModelUri } from './model-uri.js';

/** `cacheDir` when the config sets none: `<os tmpdir>/specroute-cache`. */
export function defaultCacheDir(): string {
  return resolve(tmpdir(), 'specroute-cache');
}

/**
 * The cache folder of commands that read no config file (`generate`, `draft make`, `convert`):
 * `SPECROUTE_CACHE_DIR` when set, else the default.
 */
export function cacheDirFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.SPECROUTE_CACHE_DIR;
  return dir !== undefined && dir !== '' ? resolve(dir) : defaultCacheDir();
}

/** The local file a model URI is downloaded to, under `cacheDir`. */
export function cachedModelPath(uri: ModelUri, cacheDir: string): string {
  if (uri.kind === 'hf') return join(resolve(cacheDir), 'models', 'hf', uri.owner, uri.repo, uri.revision, ...uri.path.split('/'));
  const url = new URL(uri.url);
  const host = url.host.replace(/[^A-Za-z0-9.-]+/g, '_');
  const key = createHash('sha256').update(uri.url).digest('hex').slice(0, 16);
  const name = modelUriFileName(uri).replace(/[\\/\u0000-\u001f]+/g, '_');
  return join(resolve(cacheDir), 'models', 'url', host, key, name === '' || name === '.' || name === '..' ? 'model' : name);
}
