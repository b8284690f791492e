import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Two real HTTP servers on 127.0.0.1 that imitate the Hugging Face hub and its CDN, as `HF_ENDPOINT` sees them:
 * - the hub answers `HEAD|GET /OWNER/REPO/resolve/REVISION/PATH` of a large (LFS) file with a 302 to the CDN,
 *   carrying `X-Linked-Etag: "<sha256>"` and `X-Linked-Size`, and a small (non-LFS) file with 200 and its bytes
 *   (`ETag` a git sha1, as the hub does);
 * - the CDN (another port, so another origin) serves `/blobs/<sha256>` and `/plain/<name>` with `Range` support
 *   (206 and `Content-Range`), and can cut or stall a GET after some bytes, or ignore ranges.
 * Every request is recorded with its headers.
 */
export interface FakeHubFile {
  readonly owner: string;
  readonly repo: string;
  /** Defaults to `main`. */
  readonly revision?: string;
  readonly path: string;
  readonly bytes: Buffer;
  /** The sha256 the hub reports; defaults to the bytes' own (give another to imitate a corrupt CDN). */
  readonly reportedSha256?: string;
  /** Served by the hub itself (200, no X-Linked-*), as small git files are. Defaults to `false` (LFS). */
  readonly small?: boolean;
}

export interface RecordedRequest {
  readonly server: 'hub' | 'cdn';
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
}

export interface FakeHub {
  /** The hub's base URL, for `HF_ENDPOINT`. */
  readonly hubUrl: string;
  /** The CDN's base URL (plain files are at `${cdnUrl}/plain/NAME`). */
  readonly cdnUrl: string;
  readonly requests: RecordedRequest[];
  /** The next `times` GETs of the CDN send `bytes` bytes, then wait `pauseMs` and destroy the connection. */
  cutNextGets(bytes: number, times?: number): void;
  /** The next GET of the CDN sends `bytes` bytes, then nothing until the connection closes. */
  stallNextGet(bytes: number): void;
  /** Answer ranged GETs with the whole file (200), as a server without range support does. */
  ignoreRanges: boolean;
  /** Answer everything with this status (503, 404…) while set. */
  failWith: number | undefined;
  /** Serve `bytes` at `${cdnUrl}/plain/NAME` (no X-Linked-*, Content-Length only). */
  addPlain(name: string, bytes: Buffer): void;
  /** The CDN GETs recorded so far. */
  cdnGets(): RecordedRequest[];
  close(): Promise<void>;
}

export const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

export async function startFakeHub(files: readonly FakeHubFile[]): Promise<FakeHub> {
  const blobs = new Map<string, Buffer>();
  const plain = new Map<string, Buffer>();
  for (const file of files) blobs.set(sha256(file.bytes), file.bytes);
  const requests: RecordedRequest[] = [];
  const cuts: number[] = [];
  let stall: number | undefined;
  const sockets = new Set<import('node:net').Socket>();

  const cdn = createServer((req, res) => {
    requests.push({ server: 'cdn', method: req.method!, path: req.url!, headers: req.headers });
    if (hub.failWith !== undefined) return void res.writeHead(hub.failWith).end();
    const url = new URL(req.url!, 'http://cdn');
    const [, kind, key] = url.pathname.split('/');
    const bytes = kind === 'blobs' ? blobs.get(key!) : kind === 'plain' ? plain.get(decodeURIComponent(key!)) : undefined;
    if (bytes === undefined) return void res.writeHead(404).end('no such blob');
    serveBytes(req, res, bytes);
  });

  function serveBytes(req: IncomingMessage, res: ServerResponse, bytes: Buffer): void {
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let start = 0;
    if (range && !hub.ignoreRanges) {
      start = Number(range[1]);
      if (start >= bytes.length) return void res.writeHead(416, { 'content-range': `bytes */${bytes.length}` }).end();
      res.writeHead(206, { 'content-length': bytes.length - start, 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}`, 'accept-ranges': 'bytes' });
    } else {
      res.writeHead(200, { 'content-length': bytes.length, 'accept-ranges': 'bytes' });
    }
    if (req.method === 'HEAD') return void res.end();
    const body = bytes.subarray(start);
    const cut = cuts.shift();
    if (cut !== undefined) {
      // Written, given time to arrive, then the connection dies mid-body.
      res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 150));
      return;
    }
    if (stall !== undefined) {
      res.write(body.subarray(0, stall));
      stall = undefined;
      return;
    }
    res.end(body);
  }

  const hubServer = createServer((req, res) => {
    requests.push({ server: 'hub', method: req.method!, path: req.url!, headers: req.headers });
    if (hub.failWith !== undefined) return void res.writeHead(hub.failWith).end();
    const match = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(new URL(req.url!, 'http://hub').pathname);
    const file = match && files.find((f) => f.owner === match[1] && f.repo === match[2] && (f.revision ?? 'main') === decodeURIComponent(match[3]!) && f.path === match[4]!.split('/').map(decodeURIComponent).join('/'));
    if (!file) return void res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end('Entry not found');
    if (file.small) {
      res.setHeader('etag', `"${createHash('sha1').update(file.bytes).digest('hex')}"`);
      return serveBytes(req, res, file.bytes);
    }
    const sha = sha256(file.bytes);
    const reported = file.reportedSha256 ?? sha;
    const body = `Found. Redirecting to ${hub.cdnUrl}/blobs/${sha}`;
    res.writeHead(302, {
      location: `${hub.cdnUrl}/blobs/${sha}?signature=abc`,
      'x-linked-etag': `"${reported}"`,
      'x-linked-size': String(file.bytes.length),
      etag: `"${reported}"`,
      'content-length': Buffer.byteLength(body),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });

  for (const server of [cdn, hubServer]) server.on('connection', (socket) => (sockets.add(socket), socket.on('close', () => sockets.delete(socket))));
  const listen = (server: Server): Promise<string> =>
    new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
  const [hubUrl, cdnUrl] = await Promise.all([listen(hubServer), listen(cdn)]);

  const hub: FakeHub = {
    hubUrl,
    cdnUrl,
    requests,
    ignoreRanges: false,
    failWith: undefined,
    cutNextGets: (bytes, times = 1) => void cuts.push(...Array.from({ length: times }, () => bytes)),
    stallNextGet: (bytes) => void (stall = bytes),
    addPlain: (name, bytes) => void plain.set(name, bytes),
    cdnGets: () => requests.filter((r) => r.server === 'cdn' && r.method === 'GET'),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all([hubServer, cdn].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
  return hub;
}
