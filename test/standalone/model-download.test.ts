/**
 * Models by URI (`hf:…`, `https://…`) against a real local HTTP server that imitates the Hugging Face hub's resolve
 * URLs and its CDN (test/helpers/fake-hub.ts; `HF_ENDPOINT` points at it), serving the real stories260K file:
 * progress, resume after a cut connection, a wrong sha256 refused with no file left, reuse, the token, and
 * `specroute pull` through the built CLI (`npm test` builds first). No model is loaded.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fetchConfigModels } from '../../src/config/fetch-models.js';
import { loadConfig } from '../../src/config/load-config.js';
import { SpecrouteError } from '../../src/errors/registry.js';
import { DownloadReporter, bytes } from '../../src/cli/download-progress.js';
import { cachedModelPath } from '../../src/models/model-cache.js';
import { downloadModel, type DownloadModelOptions, type DownloadProgress } from '../../src/models/model-download.js';
import { ModelDownloadError } from '../../src/models/model-download-error.js';
import { modelFileName, parseModelUri } from '../../src/models/model-uri.js';
import { sha256, startFakeHub, type FakeHub } from '../helpers/fake-hub.js';
import { CLI, cli, scratchDir, STORIES } from '../helpers/models.js';

const STORIES_BYTES = readFileSync(STORIES);
const STORIES_SHA = sha256(STORIES_BYTES);
const URI = 'hf:ggml-org/models/tinyllamas/stories260K.gguf';
const CORRUPT = 'hf:acme/corrupt/model.gguf';
const SMALL = Buffer.from('{"architectures": ["LlamaForCausalLM"]}\n');

/** The error `promise` rejects with; fails the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<SpecrouteError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected a rejection').toBeInstanceOf(SpecrouteError);
  return error as SpecrouteError;
}

describe('model URIs', () => {
  it('reads hf: URIs with and without a revision and a folder, and plain URLs with a #sha256', () => {
    expect(parseModelUri('hf:owner/repo/model.gguf')).toEqual({ kind: 'hf', text: 'hf:owner/repo/model.gguf', owner: 'owner', repo: 'repo', revision: 'main', path: 'model.gguf' });
    expect(parseModelUri('hf:my-org/My.Repo_2:v1.0/quant/q8/model-Q8_0.gguf')).toMatchObject({ owner: 'my-org', repo: 'My.Repo_2', revision: 'v1.0', path: 'quant/q8/model-Q8_0.gguf' });
    const hex = 'AB'.repeat(32);
    expect(parseModelUri(`https://example.com/m/model.gguf?x=1#sha256=${hex}`)).toEqual({
      kind: 'url',
      text: `https://example.com/m/model.gguf?x=1#sha256=${hex}`,
      url: 'https://example.com/m/model.gguf?x=1',
      sha256: hex.toLowerCase(),
    });
    expect(parseModelUri('http://127.0.0.1:9/a.gguf')).toMatchObject({ kind: 'url', sha256: undefined });
    expect(modelFileName(`https://example.com/m/my%20model.gguf#sha256=${hex}`)).toBe('my model.gguf');
    expect(modelFileName('hf:o/r:v2/a/b/stories.onnx')).toBe('stories.onnx');
    expect(modelFileName('/models/stories260K.gguf')).toBe('stories260K.gguf');
  });

  it('refuses what cannot name one file, naming the flag or key that gave it', () => {
    for (const bad of ['hf:owner/repo', 'hf:owner', 'hf:owner/repo/../x.gguf', 'hf:owner/repo/a//x.gguf', 'hf:own er/repo/x.gguf', 'hf:o/r:/x.gguf', 'hf:o/r:a..b/x.gguf', 'https://example.com/models/', 'https://example.com/m.gguf#md5=00', 'ftp://example.com/m.gguf']) {
      let error: unknown;
      try {
        parseModelUri(bad, '--verifier');
      } catch (e) {
        error = e;
      }
      expect(error, bad).toBeInstanceOf(SpecrouteError);
      expect(error).toMatchObject({ code: 'invalid_argument', param: '--verifier' });
    }
  });

  it('puts hf: files under models/hf/OWNER/REPO/REVISION/PATH and URLs under a key of the whole URL', () => {
    expect(cachedModelPath(parseModelUri('hf:o/r:v1/a/b.gguf'), '/cache')).toBe('/cache/models/hf/o/r/v1/a/b.gguf');
    const one = cachedModelPath(parseModelUri('https://example.com:8443/x/model.gguf'), '/cache');
    const two = cachedModelPath(parseModelUri('https://example.com:8443/y/model.gguf'), '/cache');
    expect(one).toMatch(/^\/cache\/models\/url\/example\.com_8443\/[0-9a-f]{16}\/model\.gguf$/);
    expect(two).not.toBe(one);
  });
});

describe('downloadModel against a fake hub', () => {
  let hub: FakeHub;
  let cacheDir: string;
  let env: NodeJS.ProcessEnv;
  const options = (more: Partial<DownloadModelOptions> = {}): DownloadModelOptions => ({ cacheDir, env, retryDelayMs: 10, ...more });
  const target = (uri = URI): string => cachedModelPath(parseModelUri(uri), cacheDir);

  beforeAll(async () => {
    hub = await startFakeHub([
      { owner: 'ggml-org', repo: 'models', path: 'tinyllamas/stories260K.gguf', bytes: STORIES_BYTES },
      { owner: 'acme', repo: 'corrupt', path: 'model.gguf', bytes: STORIES_BYTES.subarray(0, 200_000), reportedSha256: 'f'.repeat(64) },
      { owner: 'acme', repo: 'tiny', revision: 'v1', path: 'config.json', bytes: SMALL, small: true },
    ]);
    hub.addPlain('stories260K.gguf', STORIES_BYTES);
  });
  afterAll(() => hub.close());
  beforeEach(() => {
    cacheDir = scratchDir('model-cache-');
    env = { HF_ENDPOINT: hub.hubUrl };
    hub.requests.length = 0;
    hub.ignoreRanges = false;
    hub.failWith = undefined;
  });

  it("follows the hub's redirect to the CDN, reports progress, checks the sha256 and records it beside the file", async () => {
    const progress: DownloadProgress[] = [];
    const got = await downloadModel(URI, options({ onProgress: (p) => progress.push(p) }));

    expect(got).toEqual({ path: join(cacheDir, 'models/hf/ggml-org/models/main/tinyllamas/stories260K.gguf'), size: STORIES_BYTES.length, sha256: STORIES_SHA, sha256Verified: true, reused: false, checked: true, resumedFrom: 0 });
    expect(readFileSync(got.path).equals(STORIES_BYTES)).toBe(true);
    expect(readFileSync(`${got.path}.sha256`, 'utf8')).toBe(`${STORIES_SHA}  stories260K.gguf\n`);
    expect(existsSync(`${got.path}.part`)).toBe(false);

    expect(progress[0]).toEqual({ uri: URI, path: got.path, received: 0, total: STORIES_BYTES.length, resumedFrom: 0, attempt: 1 });
    expect(progress.at(-1)).toMatchObject({ received: STORIES_BYTES.length, total: STORIES_BYTES.length });
    expect(progress.length).toBeGreaterThan(2);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.received).toBeGreaterThanOrEqual(progress[i - 1]!.received);

    // The hub is asked with HEAD, its redirect not followed; the bytes come from the CDN, as stored.
    expect(hub.requests.map((r) => `${r.server} ${r.method} ${r.path}`)).toEqual([
      'hub HEAD /ggml-org/models/resolve/main/tinyllamas/stories260K.gguf',
      `cdn GET /blobs/${STORIES_SHA}?signature=abc`,
    ]);
    expect(hub.cdnGets()[0]!.headers['accept-encoding']).toBe('identity');
    expect(hub.cdnGets()[0]!.headers.range).toBeUndefined();
  });

  it('reuses a verified copy without a second GET, even one put there by hand, and uses it when the hub is down', async () => {
    await downloadModel(URI, options());
    const again = await downloadModel(URI, options());
    expect(again).toMatchObject({ path: target(), sha256: STORIES_SHA, reused: true, checked: true });
    expect(hub.cdnGets()).toHaveLength(1);
    expect(hub.requests.filter((r) => r.server === 'hub').map((r) => r.method)).toEqual(['HEAD', 'HEAD']);

    // Copied in by hand (no .sha256 beside it): hashed once, recorded, not fetched.
    const byHand = scratchDir('model-cache-');
    const path = cachedModelPath(parseModelUri(URI), byHand);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, STORIES_BYTES);
    expect(await downloadModel(URI, options({ cacheDir: byHand }))).toMatchObject({ path, reused: true });
    expect(readFileSync(`${path}.sha256`, 'utf8')).toMatch(new RegExp(`^${STORIES_SHA} `));
    expect(hub.cdnGets()).toHaveLength(1);

    // The hub answers 503: the verified copy serves, flagged as not checked.
    hub.failWith = 503;
    expect(await downloadModel(URI, options({ retries: 0 }))).toMatchObject({ path: target(), reused: true, checked: false });
    // A file of the right size but other bytes is not the file: fetched again, and replaced.
    hub.failWith = undefined;
    const other = scratchDir('model-cache-');
    const wrong = cachedModelPath(parseModelUri(URI), other);
    mkdirSync(join(wrong, '..'), { recursive: true });
    writeFileSync(wrong, Buffer.alloc(STORIES_BYTES.length));
    expect(await downloadModel(URI, options({ cacheDir: other }))).toMatchObject({ reused: false, sha256: STORIES_SHA });
    expect(readFileSync(wrong).equals(STORIES_BYTES)).toBe(true);
  });

  it('sends HF_TOKEN to the hub as a Bearer token, never to the CDN on another origin', async () => {
    await downloadModel(URI, options({ env: { ...env, HF_TOKEN: 'hf_secret_token' } }));
    const [head, get] = hub.requests;
    expect(head).toMatchObject({ server: 'hub', method: 'HEAD' });
    expect(head!.headers.authorization).toBe('Bearer hf_secret_token');
    expect(get).toMatchObject({ server: 'cdn', method: 'GET' });
    expect(get!.headers.authorization).toBeUndefined();
  });

  it('resumes a cut download with a Range from the byte it stopped at, and checks the whole file', async () => {
    const cut = 300_000;
    hub.cutNextGets(cut);
    const error = await rejection(downloadModel(URI, options({ retries: 0 })));
    expect(error).toBeInstanceOf(ModelDownloadError);
    expect(error.code).toBe('model_download_failed');
    expect(error.message).toContain(URI);
    expect(error.message).toMatch(/connection .*300000 of 1185376 bytes.*kept in .*\.part.*resumes/);
    expect(existsSync(target())).toBe(false);
    expect(statSync(`${target()}.part`).size).toBe(cut);

    const progress: DownloadProgress[] = [];
    const got = await downloadModel(URI, options({ onProgress: (p) => progress.push(p) }));
    const gets = hub.cdnGets();
    expect(gets).toHaveLength(2);
    expect(gets[1]!.headers.range).toBe(`bytes=${cut}-`);
    expect(got).toMatchObject({ sha256: STORIES_SHA, resumedFrom: cut, reused: false });
    expect(progress[0]).toMatchObject({ received: cut, resumedFrom: cut, total: STORIES_BYTES.length });
    expect(readFileSync(got.path).equals(STORIES_BYTES)).toBe(true);
    expect(existsSync(`${got.path}.part`)).toBe(false);
  });

  it('resumes by itself within one call while retries last, asking the hub again each time', async () => {
    hub.cutNextGets(100_000, 2);
    const attempts = new Set<number>();
    const got = await downloadModel(URI, options({ onProgress: (p) => attempts.add(p.attempt) }));
    expect(got.sha256).toBe(STORIES_SHA);
    expect(hub.cdnGets().map((g) => g.headers.range)).toEqual([undefined, 'bytes=100000-', 'bytes=200000-']);
    expect(hub.requests.filter((r) => r.server === 'hub')).toHaveLength(3);
    expect([...attempts]).toEqual([1, 2, 3]);
  });

  it('starts over when the server answers a Range with the whole file (200), not 206', async () => {
    hub.cutNextGets(300_000);
    await rejection(downloadModel(URI, options({ retries: 0 })));
    hub.ignoreRanges = true;
    const got = await downloadModel(URI, options());
    expect(hub.cdnGets()[1]!.headers.range).toBe('bytes=300000-');
    expect(got).toMatchObject({ sha256: STORIES_SHA, resumedFrom: 0 });
    expect(readFileSync(got.path).equals(STORIES_BYTES)).toBe(true);
  });

  it('refuses bytes whose sha256 is not the one the hub reports, and leaves no file behind', async () => {
    const error = await rejection(downloadModel(CORRUPT, options()));
    expect(error).toBeInstanceOf(ModelDownloadError);
    const mismatch = error as ModelDownloadError;
    const actual = sha256(STORIES_BYTES.subarray(0, 200_000));
    expect(mismatch).toMatchObject({ code: 'model_download_failed', uri: CORRUPT, expectedSha256: 'f'.repeat(64), actualSha256: actual });
    expect(mismatch.message).toContain(CORRUPT);
    expect(mismatch.message).toContain(`expected ${'f'.repeat(64)}, got ${actual}`);
    const path = target(CORRUPT);
    for (const file of [path, `${path}.part`, `${path}.sha256`]) expect(existsSync(file), file).toBe(false);
  });

  it('a plain URL: the size from Content-Length, the sha256 only from #sha256=', async () => {
    const url = `${hub.cdnUrl}/plain/stories260K.gguf`;
    expect(await downloadModel(url, options())).toMatchObject({ sha256: STORIES_SHA, sha256Verified: false, size: STORIES_BYTES.length });
    expect(await downloadModel(`${url}#sha256=${STORIES_SHA}`, options())).toMatchObject({ sha256Verified: true, reused: true });
    const wrong = `${url}#sha256=${'0'.repeat(64)}`;
    const error = await rejection(downloadModel(wrong, options({ cacheDir: scratchDir('model-cache-') })));
    expect(error.message).toContain(`expected ${'0'.repeat(64)}, got ${STORIES_SHA}`);
  });

  it('a small file the hub serves itself (its ETag a git sha1): the size is checked, not the sha256', async () => {
    const got = await downloadModel('hf:acme/tiny:v1/config.json', options());
    expect(got).toMatchObject({ path: join(cacheDir, 'models/hf/acme/tiny/v1/config.json'), size: SMALL.length, sha256: sha256(SMALL), sha256Verified: false });
  });

  it('a missing file fails naming the URI and what to check; a malformed URI is invalid_argument', async () => {
    const error = await rejection(downloadModel('hf:acme/missing/model.gguf', options()));
    expect(error).toMatchObject({ code: 'model_download_failed' });
    expect(error.message).toMatch(/^cannot download hf:acme\/missing\/model\.gguf: HTTP 404 from .*\(check the owner, repository, revision and file path\)$/);
    expect(await rejection(downloadModel('hf:acme', options()))).toMatchObject({ code: 'invalid_argument' });
  });

  it('an AbortSignal stops it (cancelled) and keeps the .part; a silent connection counts as cut', async () => {
    hub.stallNextGet(50_000);
    const abort = new AbortController();
    const error = await rejection(downloadModel(URI, options({ signal: abort.signal, onProgress: (p) => p.received >= 50_000 && abort.abort() })));
    expect(error.code).toBe('cancelled');
    expect(statSync(`${target()}.part`).size).toBe(50_000);
    expect(existsSync(target())).toBe(false);

    hub.stallNextGet(20_000);
    const got = await downloadModel(URI, options({ cacheDir: scratchDir('model-cache-'), idleTimeoutMs: 300 }));
    expect(got.sha256).toBe(STORIES_SHA);
    expect(hub.cdnGets().slice(1).map((g) => g.headers.range)).toEqual([undefined, 'bytes=20000-']);
  });
});

describe('the download progress on stderr', () => {
  const stream = (isTTY: boolean) => {
    const written: string[] = [];
    return { written, stream: { isTTY, columns: 100, write: (text: string) => written.push(text) > 0 } as unknown as NodeJS.WriteStream };
  };
  const at = (received: number, more: Partial<DownloadProgress> = {}): DownloadProgress => ({ uri: URI, path: '/c/m.gguf', received, total: 4 << 20, resumedFrom: 0, attempt: 1, ...more });

  it('on a terminal: a bar redrawn in place; elsewhere: one line per transfer', () => {
    const tty = stream(true);
    const bar = new DownloadReporter({ stream: tty.stream, intervalMs: 0 });
    for (const received of [0, 1 << 20, 4 << 20]) bar.onProgress(at(received));
    bar.finish();
    expect(tty.written[0]).toBe(`specroute: downloading ${URI} (4.00 MiB) to /c/m.gguf\n`);
    expect(tty.written.slice(1, -1).every((line) => line.startsWith('\r\u001b[2K['))).toBe(true);
    expect(tty.written.at(-2)).toContain('100.0%  4.00 MiB / 4.00 MiB');
    expect(tty.written.at(-1)).toBe('\n');

    const log = stream(false);
    const quiet = new DownloadReporter({ stream: log.stream });
    for (const received of [0, 1 << 20, 2 << 20]) quiet.onProgress(at(received));
    for (const received of [2 << 20, 4 << 20]) quiet.onProgress(at(received, { resumedFrom: 2 << 20, attempt: 2 }));
    quiet.finish();
    expect(log.written).toEqual([`specroute: downloading ${URI} (4.00 MiB) to /c/m.gguf\n`, `specroute: resuming ${URI} (4.00 MiB) at 2.00 MiB, into /c/m.gguf\n`]);
    expect([bytes(812), bytes(1536), bytes(5 * 2 ** 30)]).toEqual(['812 B', '1.5 KiB', '5.00 GiB']);
  });
});

describe('models by URI in the config and on the command line', () => {
  let hub: FakeHub;
  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    hub = await startFakeHub([{ owner: 'ggml-org', repo: 'models', path: 'tinyllamas/stories260K.gguf', bytes: STORIES_BYTES }]);
  });
  afterAll(() => hub.close());

  function configFile(yaml: string): string {
    const path = join(scratchDir('uri-config-'), 'specroute.yaml');
    writeFileSync(path, yaml);
    return path;
  }

  it('loadConfig keeps a URI (the id from its file name) and fetchConfigModels puts the file in cacheDir (SPECROUTE_CACHE_DIR)', async () => {
    const cache = scratchDir('uri-cache-');
    const file = configFile(`model:\n  verifier: { path: "${URI}" }\n  draft: { derive: { quantize: q8_0 } }\n`);
    const config = loadConfig(file, {}, { SPECROUTE_CACHE_DIR: cache });
    expect(config).toMatchObject({ verifierPath: URI, modelId: 'stories260K', cacheDir: cache, draftSource: { kind: 'derive', quantize: 'q8_0' } });
    const lines: string[] = [];
    const local = await fetchConfigModels(config, { env: { HF_ENDPOINT: hub.hubUrl }, log: (line) => lines.push(line) });
    expect(local.verifierPath).toBe(join(cache, 'models/hf/ggml-org/models/main/tinyllamas/stories260K.gguf'));
    expect(readFileSync(local.verifierPath).equals(STORIES_BYTES)).toBe(true);
    expect(lines).toEqual([`downloading ${URI} (${STORIES_BYTES.length} bytes) to ${local.verifierPath}`]);
    expect(local.draftSource).toEqual(config.draftSource);
    // A config without URIs comes back as it is.
    const plain = loadConfig(configFile(`model:\n  verifier: { path: ${STORIES} }\n`), {}, {});
    expect(await fetchConfigModels(plain)).toBe(plain);
  });

  // A malformed URI fails at load: config.test.ts.
  it('a download failure at boot names the config key and the URI', async () => {
    const file = configFile('model:\n  verifier: { path: "hf:acme/missing/model.gguf" }\n');
    const error = await rejection(fetchConfigModels(loadConfig(file, {}, { SPECROUTE_CACHE_DIR: scratchDir('uri-cache-') }), { env: { HF_ENDPOINT: hub.hubUrl } }));
    expect(error).toMatchObject({ code: 'model_download_failed', param: 'model.verifier.path' });
    expect(error.message).toMatch(new RegExp(`^config ${file}: model\\.verifier\\.path: cannot download hf:acme/missing/model\\.gguf: HTTP 404`));
  });

  it('specroute pull prints only the path on stdout, says what it fetches on stderr, and reuses the file the second time', async () => {
    const cache = scratchDir('pull-');
    const env = { HF_ENDPOINT: hub.hubUrl, HF_TOKEN: '' };
    const path = join(cache, 'models/hf/ggml-org/models/main/tinyllamas/stories260K.gguf');
    const first = await cli(['pull', URI, '--cache-dir', cache], env);
    expect(first.stdout).toBe(`${path}\n`);
    expect(first.stderr).toBe(`specroute: downloading ${URI} (1.13 MiB) to ${path}\n`);
    expect(readFileSync(path).equals(STORIES_BYTES)).toBe(true);

    const second = await cli(['pull', URI, '--cache-dir', cache, '--json'], env);
    expect(second.stderr).toBe('');
    expect(JSON.parse(second.stdout)).toEqual({ uri: URI, path, size: STORIES_BYTES.length, sha256: STORIES_SHA, sha256Verified: true, reused: true, checked: true, resumedFrom: 0 });

    // No URI: every model the config names by URI, into its cacheDir.
    const configCache = scratchDir('pull-config-');
    const config = configFile(`cacheDir: ${configCache}\nmodel:\n  verifier: { path: "${URI}" }\n`);
    const fromConfig = await cli(['pull', '--config', config], env);
    expect(fromConfig.stdout).toBe(`${join(configCache, 'models/hf/ggml-org/models/main/tinyllamas/stories260K.gguf')}\n`);

    const help = await cli(['pull', '--help']);
    expect(help.stdout).toMatch(/Usage: specroute pull \[options\] \[uri\.\.\.\]/);
    for (const text of ['--cache-dir <dir>', '--json', 'Examples:', '$ specroute pull hf:', 'HF_ENDPOINT', 'HF_TOKEN']) expect(help.stdout).toContain(text);
  });

  it('other commands take a URI for a model flag: draft make --from fetches into SPECROUTE_CACHE_DIR, then reads it', async () => {
    const cache = scratchDir('uri-draft-');
    const out = join(cache, 'draft-q8.gguf');
    const { stdout, stderr } = await cli(['draft', 'make', '--from', URI, '--quantize', 'q8_0', '--out', out, '--json'], { HF_ENDPOINT: hub.hubUrl, SPECROUTE_CACHE_DIR: cache });
    expect(stderr).toBe(`specroute: downloading ${URI} (1.13 MiB) to ${join(cache, 'models/hf/ggml-org/models/main/tinyllamas/stories260K.gguf')}\n`);
    expect(JSON.parse(stdout)).toMatchObject({ outPath: out, quantizedTensorCount: expect.any(Number) });
    expect(existsSync(out)).toBe(true);
  });

  it('specroute pull and serve: a bad URI or flag exits 2 naming it, a failed download exits 1 naming the URI (and --verifier)', async () => {
    const env = { HF_ENDPOINT: hub.hubUrl };
    const failure = (args: string[]) => cli(args, env).then(
      () => expect.fail(`specroute ${args.join(' ')} succeeded`),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    const malformed = await failure(['pull', 'hf:owner/repo']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/is not a model URI.*\(uri\)/);
    const flag = await failure(['pull', URI, '--bogus']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("unknown option '--bogus'");
    const missing = await failure(['pull', 'hf:acme/missing/model.gguf', '--cache-dir', scratchDir('pull-')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^specroute: cannot download hf:acme\/missing\/model\.gguf: HTTP 404/);
    expect(missing.stdout).toBe('');

    const serve = await failure(['serve', '--verifier', 'hf:acme/missing/model.gguf', '--port', '0', '--grpc-port', '-1']);
    expect(serve.code).toBe(1);
    expect(serve.stderr).toMatch(/cannot download hf:acme\/missing\/model\.gguf: HTTP 404 .*\(--verifier\)/);
    const badServe = await failure(['serve', '--verifier', 'hf:owner/repo']);
    expect(badServe.code).toBe(2);
    expect(badServe.stderr).toMatch(/is not a model URI.*\(--verifier\)/);
  });
});
