/**
 * Fetches a model named by URI (`model-uri.ts`) into the cache (`model-cache.ts`), resumably and verified:
 * 1. Ask first. A `HEAD` with redirects not followed: the Hugging Face hub answers a large (LFS) file with a
 *    redirect to its CDN that carries the file's sha256 (`X-Linked-Etag`) and size (`X-Linked-Size`); a file it
 *    serves itself, or a mirror, answers 200 with `ETag` (a sha256 when it is 64 hex digits) and `Content-Length`.
 *    A plain URL gives its size (`Content-Length`); its sha256 only by a `#sha256=` fragment.
 * 2. Reuse. A file already in the cache whose size (and sha256, kept beside it in `FILE.sha256` once verified, so
 *    reuse costs no hashing) matches is not fetched again. When the server cannot be reached at all, a verified
 *    copy is used as is (`checked: false`).
 * 3. Fetch into `FILE.part`, hashing as it is written. A `.part` left by an interrupted run is hashed and continued
 *    with a `Range` request; the answer must be 206 from that offset, else the download starts over. A connection
 *    cut mid-way, or silent for `idleTimeoutMs`, is resumed the same way `retries` times.
 * 4. Check, then rename. Only bytes of the expected size and sha256 become `FILE`; on a sha256 mismatch the
 *    `.part` is deleted and the error names both digests. A failure leaves no file that looks complete (a `.part`
 *    at most, which the next try resumes).
 * The hub's token (`HF_TOKEN`) goes to the hub (`HF_ENDPOINT`'s origin) only, never to a redirect target on
 * another host such as the CDN.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SpecrouteError } from '../errors/registry.js';
import { cachedModelPath } from './model-cache.js';
import { ModelDownloadError } from './model-download-error.js';
import { parseModelUri, type ModelUri } from './model-uri.js';

/** Defaults of `DownloadModelOptions`. */
export const defaultModelDownload = {
  retries: 2,
  retryDelayMs: 1000,
  idleTimeoutMs: 60_000,
  hfEndpoint: 'https://huggingface.co',
} as const;

/** Where a download stands; `onProgress` gets one when a transfer starts and one per chunk received. */
export interface DownloadProgress {
  /** The URI as written. */
  readonly uri: string;
  /** The file being written (its `.part` until verified). */
  readonly path: string;
  /** Bytes of the file on disk so far, resumed bytes included. */
  readonly received: number;
  /** The file's size, when the server said; undefined when it did not. */
  readonly total: number | undefined;
  /** Bytes this transfer took over from an earlier, interrupted one (0 when it started from the beginning). */
  readonly resumedFrom: number;
  /** Which transfer of this call: 1, then 2, 3… for each resume after a cut connection. */
  readonly attempt: number;
}

/** Options of `downloadModel`. */
export interface DownloadModelOptions {
  /** The cache folder; models go under `models/` in it (see `cachedModelPath`). Required. */
  cacheDir: string;
  /** Called when a transfer starts (with `received` = `resumedFrom`) and as bytes arrive. Defaults to none. */
  onProgress?: (progress: DownloadProgress) => void;
  /** Stops the download; the `.part` is kept for the next try to resume. Defaults to none. */
  signal?: AbortSignal;
  /**
   * Where `HF_ENDPOINT` (the hub's base URL, default `https://huggingface.co`) and `HF_TOKEN` (sent to the hub
   * as `Authorization: Bearer`) are read. Defaults to `process.env`.
   */
  env?: NodeJS.ProcessEnv;
  /** Resumes after a connection is cut or falls silent, before giving up. Defaults to `2`. */
  retries?: number;
  /** Wait before each resume, in ms. Defaults to `1000`. */
  retryDelayMs?: number;
  /** How long a connection may go without a byte (headers included) before it counts as cut, in ms. Defaults to `60000`. */
  idleTimeoutMs?: number;
}

/** What `downloadModel` left in the cache. */
export interface DownloadedModel {
  /** The local file. */
  readonly path: string;
  /** Its size in bytes. */
  readonly size: number;
  /** Its sha256 (lowercase hex). */
  readonly sha256: string;
  /** Whether the sha256 was checked against one the server (or the URI) gave; else only the size was. */
  readonly sha256Verified: boolean;
  /** Whether the file was already in the cache, so that nothing was downloaded. */
  readonly reused: boolean;
  /** False when the server could not be reached and a copy verified earlier was used without asking it. */
  readonly checked: boolean;
  /** Bytes taken over from an earlier run's `.part` (0 when none). */
  readonly resumedFrom: number;
}

/** What the server says about the file before it is fetched. */
interface Remote {
  /** Where to GET it (the CDN URL of a hub redirect). */
  readonly url: string;
  readonly size: number | undefined;
  readonly sha256: string | undefined;
}

interface Context {
  readonly uri: ModelUri;
  readonly hubOrigin: string;
  readonly token: string | undefined;
  readonly signal: AbortSignal | undefined;
  readonly idleTimeoutMs: number;
}

const MAX_REDIRECTS = 10;

/** A failure that resuming may get past: a cut or silent connection, a 5xx, a 429. */
class Retryable extends Error {}

/**
 * Fetches `uriText` into `options.cacheDir` unless a verified copy is there already, and returns the local file.
 * Errors: `invalid_argument` for a malformed URI or `HF_ENDPOINT`, `cancelled` when `options.signal` stops it,
 * else a `ModelDownloadError` (`model_download_failed`) naming the URI.
 */
export async function downloadModel(uriText: string, options: DownloadModelOptions): Promise<DownloadedModel> {
  const uri = parseModelUri(uriText);
  const env = options.env ?? process.env;
  const endpoint = (env.HF_ENDPOINT || defaultModelDownload.hfEndpoint).replace(/\/+$/, '');
  let hubOrigin: string;
  try {
    hubOrigin = new URL(endpoint).origin;
  } catch {
    throw new SpecrouteError('invalid_argument', `HF_ENDPOINT is not a URL: ${JSON.stringify(endpoint)}`, { param: 'HF_ENDPOINT' });
  }
  const ctx: Context = {
    uri,
    hubOrigin,
    token: env.HF_TOKEN || undefined,
    signal: options.signal,
    idleTimeoutMs: options.idleTimeoutMs ?? defaultModelDownload.idleTimeoutMs,
  };
  const target = cachedModelPath(uri, options.cacheDir);
  const part = `${target}.part`;
  const sidecar = `${target}.sha256`;
  const startUrl = uri.kind === 'hf' ? resolveUrl(endpoint, uri) : uri.url;
  const fail = (reason: string, extra: { cause?: unknown; expectedSha256?: string; actualSha256?: string } = {}): never => {
    throw new ModelDownloadError(uri.text, reason, extra);
  };

  let remote: Remote;
  try {
    remote = await probe(ctx, startUrl);
  } catch (error) {
    throwIfStopped(ctx, part);
    // The server is out of reach: a copy verified earlier serves (a machine restarting while the hub is down).
    const kept = error instanceof Retryable ? await verifiedCopy(target, sidecar) : undefined;
    if (kept) return { path: target, ...kept, sha256Verified: true, reused: true, checked: false, resumedFrom: 0 };
    return fail((error as Error).message, { cause: error });
  }
  const expected = { size: remote.size, sha256: uri.kind === 'url' && uri.sha256 !== undefined ? uri.sha256 : remote.sha256 };

  const cached = await reusable(target, sidecar, expected);
  if (cached) return { path: target, ...cached, sha256Verified: expected.sha256 !== undefined, reused: true, checked: true, resumedFrom: 0 };

  await mkdir(dirname(target), { recursive: true }).catch((error: unknown) => fail(`cannot create ${dirname(target)}: ${(error as Error).message}`, { cause: error }));
  const retries = options.retries ?? defaultModelDownload.retries;
  let resumedFrom: number | undefined;
  let got: { size: number; sha256: string };
  for (let attempt = 0; ; attempt++) {
    try {
      got = await transfer(ctx, remote, part, target, attempt + 1, (progress) => {
        resumedFrom ??= progress.resumedFrom;
        options.onProgress?.(progress);
      });
      break;
    } catch (error) {
      throwIfStopped(ctx, part);
      const kept = (await stat(part).catch(() => undefined))?.size ?? 0;
      const keptNote = kept > 0 ? `; ${kept} bytes are kept in ${part}, and the next try resumes from there` : '';
      if (!(error instanceof Retryable) || attempt >= retries) return fail(`${(error as Error).message}${error instanceof Retryable ? keptNote : ''}`, { cause: error });
      await sleep(options.retryDelayMs ?? defaultModelDownload.retryDelayMs, undefined, ctx.signal ? { signal: ctx.signal } : {}).catch(() => throwIfStopped(ctx, part));
      // Ask again: a CDN link may have expired.
      remote = await probe(ctx, startUrl).catch((again: unknown) => {
        throwIfStopped(ctx, part);
        return fail(`${(again as Error).message}${keptNote}`, { cause: again });
      });
    }
  }

  if (expected.size !== undefined && got.size !== expected.size) {
    await rm(part, { force: true });
    fail(`received ${got.size} bytes where the server reported ${expected.size}; the partial file was deleted`);
  }
  if (expected.sha256 !== undefined && got.sha256 !== expected.sha256) {
    await rm(part, { force: true });
    fail(`sha256 mismatch: expected ${expected.sha256}, got ${got.sha256}; the download was deleted`, { expectedSha256: expected.sha256, actualSha256: got.sha256 });
  }
  await rm(sidecar, { force: true });
  await rename(part, target);
  await writeSidecar(sidecar, target, got.sha256);
  return { path: target, ...got, sha256Verified: expected.sha256 !== undefined, reused: false, checked: true, resumedFrom: resumedFrom ?? 0 };
}

/** `{endpoint}/{owner}/{repo}/resolve/{revision}/{path}`, each part URL-encoded. */
function resolveUrl(endpoint: string, uri: Extract<ModelUri, { kind: 'hf' }>): string {
  const path = uri.path.split('/').map(encodeURIComponent).join('/');
  return `${endpoint}/${encodeURIComponent(uri.owner)}/${encodeURIComponent(uri.repo)}/resolve/${encodeURIComponent(uri.revision)}/${path}`;
}

/** Stopped by the caller's signal: `cancelled`, the `.part` kept. */
function throwIfStopped(ctx: Context, part: string): void {
  if (ctx.signal?.aborted) {
    throw new SpecrouteError('cancelled', `the download of ${ctx.uri.text} was stopped; what arrived is kept in ${part} for the next try to resume`, { cause: ctx.signal.reason });
  }
}

/**
 * One request, redirects followed by hand (`follow`) so that the token goes to the hub's origin only. Every
 * request asks for the bytes as stored (`Accept-Encoding: identity`): ranges and sizes count those.
 */
async function send(ctx: Context, url: string, init: { method: 'HEAD' | 'GET'; headers?: Record<string, string>; follow: boolean; signal?: AbortSignal }): Promise<{ response: Response; url: string }> {
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'specroute', ...init.headers };
    if (ctx.token !== undefined && new URL(url).origin === ctx.hubOrigin) headers.authorization = `Bearer ${ctx.token}`;
    let response: Response;
    try {
      response = await fetch(url, { method: init.method, headers, redirect: 'manual', ...(init.signal ? { signal: init.signal } : {}) });
    } catch (error) {
      if (ctx.signal?.aborted) throw error;
      throw new Retryable(`${init.method} ${url} failed: ${describe(error)}`, { cause: error });
    }
    const location = response.headers.get('location');
    if (!init.follow || !isRedirect(response.status) || location === null) return { response, url };
    await response.body?.cancel();
    if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects from ${url}`);
    url = new URL(location, url).href;
  }
}

/** Asks for the file's size, sha256 and download URL (see the file's comment). */
async function probe(ctx: Context, startUrl: string): Promise<Remote> {
  let url = startUrl;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const { response } = await withIdleTimeout(ctx, (signal) => send(ctx, url, { method: 'HEAD', follow: false, signal }));
    await response.body?.cancel();
    const headers = response.headers;
    const linkedSize = headers.get('x-linked-size');
    const linkedEtag = headers.get('x-linked-etag');
    const location = headers.get('location');
    if (isRedirect(response.status) && location !== null) {
      const next = new URL(location, url).href;
      // The hub's answer for a large file: what it is, and where the CDN serves it.
      if (linkedSize !== null || linkedEtag !== null) return { url: next, size: byteCount(linkedSize), sha256: sha256Etag(linkedEtag) };
      url = next; // a renamed repository, a mirror, a plain URL's redirect
      continue;
    }
    if (response.ok) {
      // A plain server's ETag is rarely a sha256 (nginx, S3 give other things): trusted only from the hub.
      const etag = linkedEtag ?? (ctx.uri.kind === 'hf' ? headers.get('etag') : null);
      return { url, size: byteCount(linkedSize ?? headers.get('content-length')), sha256: sha256Etag(etag) };
    }
    if (ctx.uri.kind === 'url' && response.status !== 404 && response.status !== 401 && response.status < 500) {
      // Some servers refuse HEAD (405, a presigned GET-only link's 403): the GET will tell.
      return { url, size: undefined, sha256: undefined };
    }
    throw httpError(ctx, response.status, url);
  }
  throw new Error(`more than ${MAX_REDIRECTS} redirects from ${startUrl}`);
}

function httpError(ctx: Context, status: number, url: string): Error {
  const hint =
    status === 401 || status === 403
      ? ctx.uri.kind === 'hf'
        ? ctx.token === undefined
          ? ' (a private or gated repository needs a token in HF_TOKEN)'
          : ' (HF_TOKEN was sent: does it grant access to this repository?)'
        : ''
      : status === 404 && ctx.uri.kind === 'hf'
        ? ' (check the owner, repository, revision and file path)'
        : '';
  const message = `HTTP ${status} from ${url}${hint}`;
  return status >= 500 || status === 429 || status === 408 ? new Retryable(message) : new Error(message);
}

/**
 * One GET into `part`: resumed from its end with `Range` when it has bytes (which are hashed first), from the
 * beginning when the server does not honour the range. Returns the whole file's size and sha256.
 */
async function transfer(ctx: Context, remote: Remote, part: string, target: string, attempt: number, onProgress: (progress: DownloadProgress) => void): Promise<{ size: number; sha256: string }> {
  let offset = (await stat(part).catch(() => undefined))?.size ?? 0;
  if (remote.size !== undefined && offset > remote.size) {
    await rm(part, { force: true });
    offset = 0;
  }
  let hash = createHash('sha256');
  if (offset > 0) await hashFile(part, hash, ctx.signal);
  const report = (received: number, total: number | undefined, resumedFrom: number): void => onProgress({ uri: ctx.uri.text, path: target, received, total, resumedFrom, attempt });
  if (remote.size !== undefined && offset === remote.size && offset > 0) {
    // An earlier run received every byte but stopped before checking them.
    report(offset, offset, offset);
    return { size: offset, sha256: hash.digest('hex') };
  }
  return withIdleTimeout(ctx, async (signal, alive) => {
    let { response } = await send(ctx, remote.url, { method: 'GET', follow: true, signal, headers: offset > 0 ? { range: `bytes=${offset}-` } : {} });
    if (offset > 0 && !(response.status === 206 && rangeStart(response) === offset)) {
      // The range was not honoured: start over from byte 0, with this answer when it is the whole file.
      offset = 0;
      hash = createHash('sha256');
      if (response.status !== 200) {
        await response.body?.cancel();
        ({ response } = await send(ctx, remote.url, { method: 'GET', follow: true, signal }));
      }
    }
    if (!response.ok || response.body === null) {
      await response.body?.cancel();
      throw httpError(ctx, response.status, remote.url);
    }
    const length = byteCount(response.headers.get('content-length'));
    const total = remote.size ?? (length !== undefined ? offset + length : undefined);
    const file = await open(part, offset > 0 ? 'a' : 'w');
    let received = offset;
    let overrun = false;
    report(received, total, offset);
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        alive();
        if (total !== undefined && received + chunk.byteLength > total) {
          overrun = true;
          break;
        }
        await file.write(chunk);
        hash.update(chunk);
        received += chunk.byteLength;
        report(received, total, offset);
      }
    } catch (error) {
      if (ctx.signal?.aborted) throw error;
      throw new Retryable(`the connection was lost after ${received}${total !== undefined ? ` of ${total}` : ''} bytes: ${describe(error)}`, { cause: error });
    } finally {
      await file.close().catch(() => undefined);
    }
    if (overrun) {
      await rm(part, { force: true });
      throw new Error(`the server sent more than the ${total} bytes it reported; the partial file was deleted`);
    }
    if (total !== undefined && received < total) throw new Retryable(`the connection ended after ${received} of ${total} bytes`);
    return { size: received, sha256: hash.digest('hex') };
  });
}

/**
 * Runs `body` with a signal that also fires when it goes `idleTimeoutMs` without calling `alive()` (a silent
 * connection), which then counts as cut.
 */
async function withIdleTimeout<T>(ctx: Context, body: (signal: AbortSignal, alive: () => void) => Promise<T>): Promise<T> {
  const idle = new AbortController();
  const timer = setTimeout(() => idle.abort(new Error(`no data for ${ctx.idleTimeoutMs} ms`)), ctx.idleTimeoutMs);
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, idle.signal]) : idle.signal;
  try {
    return await body(signal, () => timer.refresh());
  } catch (error) {
    if (idle.signal.aborted && !ctx.signal?.aborted) throw new Retryable((idle.signal.reason as Error).message, { cause: error });
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** A cached file that matches what the server reports, with its sha256 (from its `.sha256`, else hashed once now). */
async function reusable(target: string, sidecar: string, expected: { size: number | undefined; sha256: string | undefined }): Promise<{ size: number; sha256: string } | undefined> {
  const found = await stat(target).catch(() => undefined);
  if (!found?.isFile() || (expected.size !== undefined && found.size !== expected.size)) return undefined;
  let sha256 = await readSidecar(sidecar);
  if (sha256 === undefined) {
    // Put there by hand, or the sidecar was lost: hash it once, and remember when it checks out.
    const hash = createHash('sha256');
    await hashFile(target, hash);
    sha256 = hash.digest('hex');
    if (expected.sha256 !== undefined && sha256 !== expected.sha256) return undefined;
    await writeSidecar(sidecar, target, sha256);
  }
  if (expected.sha256 !== undefined && sha256 !== expected.sha256) return undefined;
  return { size: found.size, sha256 };
}

/** The cached file and its recorded sha256, when both are there (the server being out of reach). */
async function verifiedCopy(target: string, sidecar: string): Promise<{ size: number; sha256: string } | undefined> {
  const [found, sha256] = await Promise.all([stat(target).catch(() => undefined), readSidecar(sidecar)]);
  return found?.isFile() && sha256 !== undefined ? { size: found.size, sha256 } : undefined;
}

async function readSidecar(sidecar: string): Promise<string | undefined> {
  const text = await readFile(sidecar, 'utf8').catch(() => '');
  return /^([0-9a-f]{64})\b/.exec(text)?.[1];
}

/** `HEX  NAME`, as `sha256sum` writes it (so `sha256sum -c FILE.sha256` checks the file), written whole or not at all. */
async function writeSidecar(sidecar: string, target: string, sha256: string): Promise<void> {
  const temporary = `${sidecar}.${process.pid}.tmp`;
  await writeFile(temporary, `${sha256}  ${basename(target)}\n`);
  await rename(temporary, sidecar);
}

async function hashFile(path: string, hash: Hash, signal?: AbortSignal): Promise<void> {
  for await (const chunk of createReadStream(path, signal ? { signal } : {})) hash.update(chunk as Buffer);
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** A byte count from a header, or undefined. */
function byteCount(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

/** The hub's ETag of an LFS file is its sha256, quoted (and maybe weak: `W/"…"`); anything else is not a sha256. */
function sha256Etag(value: string | null): string | undefined {
  if (value === null) return undefined;
  const match = /^(?:W\/)?"?([0-9a-fA-F]{64})"?$/.exec(value.trim());
  return match?.[1]!.toLowerCase();
}

/** The first byte of a 206 answer (`Content-Range: bytes START-END/TOTAL`), or undefined. */
function rangeStart(response: Response): number | undefined {
  const match = /^bytes\s+(\d+)-\d+\/(?:\d+|\*)$/i.exec(response.headers.get('content-range')?.trim() ?? '');
  return match ? Number(match[1]) : undefined;
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  const message = (error as Error | undefined)?.message ?? String(error);
  return cause?.code ? `${message} (${cause.code})` : cause?.message ? `${message} (${cause.message})` : message;
}
