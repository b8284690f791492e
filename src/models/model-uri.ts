/**
 * Models named by URI instead of a local path, wherever a model path is accepted:
 * - `hf:OWNER/REPO/PATH/IN/REPO/FILE.gguf`, a file of a Hugging Face repository at `main`, or
 *   `hf:OWNER/REPO:REVISION/PATH…` at a branch, tag or commit (a revision without `/`);
 * - `https://…` or `http://…`, any URL, optionally ending in `#sha256=<64 hex digits>` to check the file.
 * Anything else is a local path. Where a URI's file lands is `model-cache.ts`'s business; fetching it,
 * `model-download.ts`'s.
 */
import { SpecrouteError } from '../errors/registry.js';

/** A file of a Hugging Face repository. */
export interface HfModelUri {
  readonly kind: 'hf';
  /** The URI as written. */
  readonly text: string;
  readonly owner: string;
  readonly repo: string;
  /** Branch, tag or commit. Defaults to `main`. */
  readonly revision: string;
  /** The file's path inside the repository, `/`-separated. */
  readonly path: string;
}

/** A file at a plain HTTP(S) URL. */
export interface UrlModelUri {
  readonly kind: 'url';
  /** The URI as written. */
  readonly text: string;
  /** The URL to fetch (the `#…` fragment removed). */
  readonly url: string;
  /** The lowercase sha256 given as `#sha256=<hex>`, checked after the download; none when not given. */
  readonly sha256: string | undefined;
}

export type ModelUri = HfModelUri | UrlModelUri;

/** Whether `text` is a model URI (`hf:`, `http://`, `https://`) rather than a local path. */
export function isModelUri(text: string): boolean {
  return /^(hf:|https?:\/\/)/i.test(text);
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Reads a model URI, refusing what could not name one file: a missing file path, `.` or `..` segments (the path
 * becomes a folder of the cache), characters no repository name has. Errors are `invalid_argument` naming
 * `param` (the flag or config key that gave the URI).
 */
export function parseModelUri(text: string, param = 'uri'): ModelUri {
  const bad = (why: string): never => {
    throw new SpecrouteError('invalid_argument', `${JSON.stringify(text)} is not a model URI: ${why}`, { param });
  };
  if (/^hf:/i.test(text)) {
    const usage = 'expected hf:OWNER/REPO/FILE or hf:OWNER/REPO:REVISION/PATH/TO/FILE';
    const [owner, repoAndRevision, ...path] = text.slice(3).split('/');
    if (owner === undefined || repoAndRevision === undefined || path.length === 0) return bad(usage);
    const colon = repoAndRevision.indexOf(':');
    const repo = colon < 0 ? repoAndRevision : repoAndRevision.slice(0, colon);
    const revision = colon < 0 ? 'main' : repoAndRevision.slice(colon + 1);
    if (!NAME.test(owner)) return bad(`the owner ${JSON.stringify(owner)} is not a repository name (${usage})`);
    if (!NAME.test(repo)) return bad(`the repository ${JSON.stringify(repo)} is not a repository name (${usage})`);
    if (!NAME.test(revision) || revision.includes('..')) return bad(`the revision ${JSON.stringify(revision)} is not a branch, tag or commit without "/"`);
    checkSegments(path, bad);
    return { kind: 'hf', text, owner, repo, revision, path: path.join('/') };
  }
  if (!/^https?:\/\//i.test(text)) return bad('expected hf:OWNER/REPO/FILE, https://… or http://…');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return bad('not a valid URL');
  }
  let sha256: string | undefined;
  if (url.hash !== '') {
    const match = /^#sha256=([0-9a-f]{64})$/i.exec(url.hash);
    if (match === null) return bad('the only fragment a model URL takes is #sha256=<64 hex digits>');
    sha256 = match[1]!.toLowerCase();
    url.hash = '';
  }
  const segments = url.pathname.split('/').slice(1);
  if (segments.at(-1) === '') return bad('the URL names a folder, not a file');
  return { kind: 'url', text, url: url.href, sha256 };
}

function checkSegments(segments: readonly string[], bad: (why: string) => never): void {
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') bad(`the path in the repository has an empty, "." or ".." part`);
    if (/[\\\u0000-\u001f]/.test(segment)) bad('the path in the repository has a backslash or a control character');
  }
}

/** The file name a URI names (its last path part), e.g. `stories260K.gguf`. */
export function modelUriFileName(uri: ModelUri): string {
  if (uri.kind === 'hf') return uri.path.split('/').at(-1)!;
  const last = new URL(uri.url).pathname.split('/').at(-1)!;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/**
 * The file name of a model path or URI: the model's default id and its format (by extension) come from it, so a
 * model by URI gets the same as the same file given by path.
 */
export function modelFileName(pathOrUri: string): string {
  if (isModelUri(pathOrUri)) return modelUriFileName(parseModelUri(pathOrUri));
  return pathOrUri.split(/[\\/]/).at(-1)!;
}
