import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, scratchDir, STORIES } from '../../helpers/models.js';
import { startServe, type ServeProcess } from '../../helpers/serve-process.js';

const run = promisify(execFile);

/**
 * `specroute serve --verifier … --draft-derive …` started as a user starts it, from a folder of their own. That
 * folder holds a specroute.yaml (picked up by default) naming another model with a 3-layer draft, and a limit:
 * the flags must replace its model section whole while the limit still applies. The verifier is given relative to
 * that folder, so the test also pins that command-line paths start from the current directory.
 */
describe('specroute serve --verifier (no model in YAML) on stories260K', () => {
  const cwd = scratchDir('serve-cli-');
  writeFileSync(
    join(cwd, 'specroute.yaml'),
    ['limits: { defaultMaxTokens: 7 }', 'model:', '  id: from-the-file', '  verifier: { path: nowhere.gguf }', '  draft: { derive: { layers: 0-2 } }', ''].join('\n'),
  );
  const verifier = relative(cwd, STORIES);
  let serve: ServeProcess;

  beforeAll(async () => {
    serve = await startServe(['--verifier', verifier, '--draft-derive', 'quantize=q8_0', '--port', '0', '--grpc-port', '-1'], {
      cwd,
      env: { SPECROUTE_CACHE_DIR: join(cwd, 'cache') },
    });
  });

  afterAll(async () => {
    await serve?.stop();
  });

  it('says what it serves: the verifier from the flag, the q8_0 draft derived from it, no gRPC', () => {
    expect(serve.stderr).toContain(`serving stories260K (verifier ${STORIES}, draft ${join(cwd, 'cache')}/stories260K.`);
    expect(serve.stderr).toMatch(/draft \S+\.draft\.all\.q8_0\.gguf\)/);
    expect(serve.stderr).not.toContain('gRPC on');
    expect(serve.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('GET /v1/models lists the verifier under its file name, with its derived draft, not the file\'s model', async () => {
    const response = await fetch(`${serve.url}/v1/models`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { data: Array<{ id: string; specroute: { verifier: string; draft: string | null } }> };
    expect(body.data).toHaveLength(1);
    expect(body.data[0]).toMatchObject({ id: 'stories260K', specroute: { verifier: 'stories260K.gguf' } });
    expect(body.data[0]!.specroute.draft).toMatch(/^stories260K\.[0-9a-f]{8}\.draft\.all\.q8_0\.gguf$/);
  });

  it('completes speculatively with the derived draft, under the YAML\'s limits', async () => {
    const complete = async (extra: object) => {
      const response = await fetch(`${serve.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'stories260K', prompt: 'Once upon a time', ...extra }),
      });
      expect(response.status).toBe(200);
      return (await response.json()) as { choices: Array<{ text: string }>; usage: { completion_tokens: number }; specroute: { stats: { mode: string; drafted: number; accepted: number } } };
    };
    const long = await complete({ max_tokens: 20 });
    expect(long.choices[0]!.text).toMatch(/^, there was a little girl/);
    expect(long.usage.completion_tokens).toBe(20);
    expect(long.specroute.stats.mode).toBe('speculative');
    expect(long.specroute.stats.drafted).toBeGreaterThan(0);
    expect(long.specroute.stats.accepted / long.specroute.stats.drafted).toBeGreaterThan(0.8);
    // No max_tokens: limits.defaultMaxTokens from ./specroute.yaml (7) still applies.
    expect((await complete({})).usage.completion_tokens).toBe(7);
  });

  it('stops cleanly on SIGTERM', async () => {
    expect(await serve.stop()).toBe(0);
    expect(serve.stderr).toMatch(/SIGTERM: draining streams in flight, then shutting down\nspecroute: stopped\n/);
  });
});

describe('specroute serve: model flags that cannot work fail at start, naming the flag', () => {
  const cwd = scratchDir('serve-cli-bad-');
  const fails = async (...args: string[]): Promise<{ code: number; stderr: string }> => {
    const error = await run(process.execPath, [CLI, 'serve', ...args, '--port', '0', '--grpc-port', '-1'], { cwd, timeout: 60_000 }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(error, args.join(' ')).toBeDefined();
    expect(error!.code).not.toBe(0);
    return error!;
  };

  it('rejects bad flags', async () => {
    expect((await fails('--draft', 'd.gguf')).stderr).toMatch(/'--draft <file>' needs --verifier/);
    expect((await fails('--draft-derive', 'layers=0-2')).stderr).toMatch(/'--draft-derive <spec>' needs --verifier/);
    expect((await fails('--verifier', STORIES, '--draft', STORIES, '--draft-derive', 'quantize=q8_0')).stderr).toMatch(/'--draft-derive <spec>' cannot be used with option '--draft <file>'/);
    expect((await fails('--verifier', STORIES, '--draft-derive', 'quantize=q5_1')).stderr).toMatch(/option '--draft-derive <spec>' argument 'quantize=q5_1' is invalid\. quantize must be q8_0 or q4_0/);
    expect((await fails('--verifier', STORIES, '--draft-derive', 'layers')).stderr).toMatch(/option '--draft-derive <spec>'/);
    expect((await fails('--verifier', 'missing.gguf')).stderr).toContain(`no such file: ${join(cwd, 'missing.gguf')} (--verifier)`);
    expect((await fails('--verifier', STORIES, '--draft-threads', '2')).stderr).toMatch(/no draft .*\(--draft-threads\)/);
    writeFileSync(join(cwd, 'm.onnx'), '');
    expect((await fails('--verifier', 'm.onnx', '--draft-derive', 'quantize=q8_0')).stderr).toMatch(/--draft-derive: drafts are derived from GGUF verifiers only.*\(--draft-derive\)/);
  });

  it('names --draft-derive when the verifier lacks the layers asked for (found as the draft is made)', async () => {
    const { code, stderr } = await fails('--verifier', STORIES, '--draft-derive', 'layers=0-9');
    expect(code).toBe(2);
    expect(stderr).toMatch(/Layer 9 is out of range: the model has 5 layers \(0-4\)\. \(--draft-derive\)/);
  });

  it('documents the model flags in --help, with examples', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'serve', '--help'], { cwd });
    for (const flag of ['--verifier <file>', '--draft <file>', '--draft-derive <spec>', '--model-id <id>', '--threads <n>', '--draft-threads <n>']) expect(stdout).toContain(flag);
    expect(stdout).toMatch(/Examples:/);
    expect(stdout).toContain('$ specroute serve --verifier ../shared/models/stories260K.gguf --draft-derive quantize=q8_0');
    expect(stdout).toMatch(/relative to the current directory/);
  });
});
