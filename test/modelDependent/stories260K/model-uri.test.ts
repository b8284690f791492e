/**
 * A server whose models are named by `hf:` URI boots on a machine that lacks them: the file is fetched from a
 * local imitation of the Hugging Face hub (test/helpers/fake-hub.ts, serving stories260K; `HF_ENDPOINT` points at
 * it) into `cacheDir` before the models load, through `startServer` and through `specroute serve --verifier`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { startServer } from '../../../src/main.js';
import { startFakeHub, type FakeHub } from '../../helpers/fake-hub.js';
import { scratchDir, STORIES } from '../../helpers/models.js';
import { startServe } from '../../helpers/serve-process.js';

const URI = 'hf:ggml-org/models:v1/tinyllamas/stories260K.gguf';
const CACHED = 'models/hf/ggml-org/models/v1/tinyllamas/stories260K.gguf';

describe('models by hf: URI at boot (stories260K from a fake hub)', () => {
  let hub: FakeHub;
  const endpoint = process.env.HF_ENDPOINT;

  beforeAll(async () => {
    hub = await startFakeHub([{ owner: 'ggml-org', repo: 'models', revision: 'v1', path: 'tinyllamas/stories260K.gguf', bytes: readFileSync(STORIES) }]);
    process.env.HF_ENDPOINT = hub.hubUrl;
  });
  afterAll(async () => {
    if (endpoint === undefined) delete process.env.HF_ENDPOINT;
    else process.env.HF_ENDPOINT = endpoint;
    await hub.close();
  });

  it('a config with an hf: verifier and a draft derived from it serves; the next boot reuses the file', async () => {
    const dir = scratchDir('uri-boot-');
    const file = join(dir, 'specroute.yaml');
    writeFileSync(file, `cacheDir: cache\nmodel:\n  verifier: { path: "${URI}", kvCacheType: F32 }\n  draft: { derive: { quantize: q8_0 }, kvCacheType: F32 }\n`);
    const lines: string[] = [];
    const boot = () => startServer(loadConfig(file, { port: 0, grpcPort: -1, host: '127.0.0.1' }, {}), (line) => lines.push(line));
    const server = await boot();
    try {
      expect(lines[0]).toBe(`downloading ${URI} (${readFileSync(STORIES).length} bytes) to ${join(dir, 'cache', CACHED)}`);
      expect(lines).toContainEqual(expect.stringMatching(/^made draft .*stories260K\.[0-9a-f]{8}\.draft\.all\.q8_0\.gguf from .*stories260K\.gguf$/));
      const models = (await (await fetch(`${server.httpUrl}/v1/models`)).json()) as { data: Array<{ id: string; specroute: { verifier: string } }> };
      expect(models.data[0]).toMatchObject({ id: 'stories260K', specroute: { verifier: 'stories260K.gguf' } });
      const response = await fetch(`${server.httpUrl}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 12, temperature: 0 }),
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { choices: Array<{ text: string }>; specroute: { stats: { mode: string } } };
      expect(body.choices[0]!.text).toMatch(/^, there was a little girl/);
      expect(body.specroute.stats.mode).toBe('speculative');
    } finally {
      await server.close();
    }
    const gets = hub.cdnGets().length;
    lines.length = 0;
    const again = await boot();
    await again.close();
    expect(hub.cdnGets()).toHaveLength(gets);
    expect(lines.some((line) => line.startsWith('downloading'))).toBe(false);
  });

  it('specroute serve --verifier hf:… fetches it (one line on a non-terminal stderr), then listens', async () => {
    const cache = scratchDir('uri-serve-');
    const serve = await startServe(['--verifier', URI, '--port', '0', '--grpc-port', '-1'], {
      cwd: scratchDir('uri-serve-cwd-'),
      env: { SPECROUTE_CACHE_DIR: cache, HF_ENDPOINT: hub.hubUrl },
    });
    try {
      const path = join(cache, CACHED);
      expect(serve.stderr.split('\n')[0]).toBe(`specroute: downloading ${URI} (1.13 MiB) to ${path}`);
      expect(serve.stderr).toContain(`serving stories260K (verifier ${path}, no draft)`);
      expect((await fetch(`${serve.url}/health`)).status).toBe(200);
    } finally {
      expect(await serve.stop()).toBe(0);
    }
  });
});
