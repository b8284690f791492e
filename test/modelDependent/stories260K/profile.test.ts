/**
 * `specroute profile` on the default config (stories260K with its derived 3-layer draft), run as a user runs it:
 * the JSON's shape and sane figures, the fragment `--write` leaves (which `loadConfig` merges, and `serve
 * --profile` starts with), the tables, and bad input naming its flag. Its speed is not asserted here (measured
 * figures belong to benchmarks); the run takes ~20 s on the 2-core machine.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { stepProfileSchema } from '../../../src/config/schema.js';
import type { StepProfile } from '../../../src/pipeline/step-costs.js';
import type { ProfileReport } from '../../../src/profile/run-profile.js';
import { CLI, scratchDir, STORIES } from '../../helpers/models.js';
import { startServe } from '../../helpers/serve-process.js';
import { metricValue, scrape } from '../../helpers/prometheus.js';

const run = promisify(execFile);
const CONFIG = resolve(import.meta.dirname, '../../../specroute.yaml');
const MAX_BATCH = 12;

describe('specroute profile on stories260K (the default config)', () => {
  const dir = scratchDir('profile-');
  const env = { ...process.env, SPECROUTE_CACHE_DIR: join(dir, 'cache') };
  const fragment = join(dir, 'profile.yaml');
  let report: ProfileReport & { fragment: Record<string, unknown> };
  let stderr: string;

  beforeAll(async () => {
    const out = await run(process.execPath, [CLI, 'profile', '--config', CONFIG, '--json', '--write', fragment, '--max-batch', String(MAX_BATCH), '--repeats', '3'], { env, maxBuffer: 16 << 20 });
    report = JSON.parse(out.stdout) as typeof report;
    stderr = out.stderr;
  }, 180_000);

  it('says what it does on stderr: the draft made as serve makes it, each stage, the fragment written', () => {
    expect(stderr).toMatch(/made draft \S+\/cache\/stories260K\.[0-9a-f]{8}\.draft\.layers-0-2\.f\.gguf from /);
    expect(stderr).toContain('timing the verifier');
    expect(stderr).toContain('timing the draft');
    expect(stderr).toContain('measuring the acceptance rate of the pair');
    expect(stderr).toContain(`wrote ${fragment}`);
  });

  it('reports the machine and both models', () => {
    expect(report.machine.cores).toBeGreaterThanOrEqual(1);
    expect(report.machine.totalMemoryBytes).toBeGreaterThan(report.machine.freeMemoryBytes);
    expect(report.machine.gpu === false || typeof report.machine.gpu === 'string').toBe(true);
    const { verifier, draft } = report.models;
    expect(verifier.facts).toMatchObject({ path: STORIES, vocab: 512, layers: 5, params: 292_800, kvBytesPerToken: 1280, kvCacheType: 'F32' });
    expect(draft!.facts).toMatchObject({ vocab: 512, layers: 3, kvBytesPerToken: 768 });
    expect(report.memory.kvBytesPerToken).toBe(2048);
    expect(report.config).toMatchObject({ source: CONFIG, contextSize: 512, speculationMax: 8 });
  });

  it('times every pass: positive medians, at every thread count tried, each multi-sequence pass one llama.cpp batch', () => {
    const { verifier, draft } = report.models;
    expect(verifier.timings.threads.map((t) => t.threads)).toEqual(report.config.threadsTried);
    for (const t of verifier.timings.threads) {
      expect(t.decodeMs).toBeGreaterThan(0);
      expect(t.batchedMs).toBeGreaterThan(0);
    }
    expect(verifier.timings.curve.map((p) => [p.tokens, p.sequences])).toEqual([[1, 1], [2, 2], [4, 4], [8, 8], [16, 16], [32, 16], [64, 16], [128, 16]]);
    expect(draft!.timings.curve.map((p) => p.sequences)).toEqual([1, 2, 4, 8, 16, 32]);
    for (const p of [...verifier.timings.curve, ...draft!.timings.curve]) expect(p.ms).toBeGreaterThan(0);
    expect(verifier.timings.batchedAsOne).toBe(true);
    expect(draft!.timings.batchedAsOne).toBe(true);
  });

  it('measures α on the pair (the weak 3-layer draft is accepted now and then)', () => {
    const alpha = report.alpha!;
    expect(alpha.alpha).toBeGreaterThan(0);
    expect(alpha.alpha).toBeLessThanOrEqual(1);
    expect(alpha.accepted).toBeGreaterThan(0);
    expect(alpha.alpha).toBeGreaterThanOrEqual(alpha.acceptanceRate);
    expect(report.profile.alpha).toBeCloseTo(alpha.alpha, 3);
  });

  it('gives a profile that the config schema takes, with γ for each batch size within speculation.max', () => {
    const profile: StepProfile = stepProfileSchema.parse(report.profile);
    expect(profile.gammaByBatchSize).toHaveLength(MAX_BATCH);
    for (const g of profile.gammaByBatchSize) expect(g >= 0 && g <= 8).toBe(true);
    expect(profile.verify.map((p) => p.tokens)).toEqual([1, 2, 4, 8, 16, 32, 64, 128]);
    // The profile's curves never fall as passes grow (measured inversions are pooled).
    for (const curve of [profile.verify, profile.draft!]) curve.slice(1).forEach((p, i) => expect(p.ms).toBeGreaterThanOrEqual(curve[i]!.ms));
    expect(report.recommendation.gammaByBatchSize).toEqual(profile.gammaByBatchSize);
    expect(report.recommendation.maxConcurrent).toBeGreaterThanOrEqual(1);
    expect(report.recommendation.maxConcurrent).toBeLessThanOrEqual(256);
    expect(report.recommendation.contextSize).toBe(512);
  });

  it('writes a fragment that loadConfig merges over the config, with the JSON\'s γ table', () => {
    const text = readFileSync(fragment, 'utf8');
    expect(text).toMatch(/^# specroute hardware profile/);
    expect(text).toContain('specroute serve --profile FILE');
    const config = loadConfig(CONFIG, { profile: fragment });
    expect(config.batching.profile!.gammaByBatchSize).toEqual(report.profile.gammaByBatchSize);
    expect(config.batching.profile).toEqual(report.profile);
    expect(config.limits.maxConcurrent).toBe(report.recommendation.maxConcurrent);
    expect(config.model.verifier.threads).toBe(report.recommendation.verifierThreads);
    expect(config.model.draft!.threads).toBe(report.recommendation.draftThreads);
    expect(report.fragment).toMatchObject({ limits: { maxConcurrent: report.recommendation.maxConcurrent }, batching: { profile: report.profile } });
  });

  it("serve --profile FILE steps by the profile's γ table, and serves", async () => {
    const serve = await startServe(['--config', CONFIG, '--profile', fragment, '--port', '0', '--grpc-port', '-1'], { env: { SPECROUTE_CACHE_DIR: join(dir, 'cache') } });
    try {
      const models = await fetch(`${serve.url}/v1/models`);
      expect(models.status).toBe(200);
      // The γ ceiling by batch size the lock-step steps use, as /metrics exports it, is the profile's table.
      const metrics = await scrape(serve.url);
      const table = report.profile.gammaByBatchSize.map((_, i) => metricValue(metrics, 'specroute_speculation_gamma_ceiling', { batch_size: String(i + 1) }));
      expect(table).toEqual(report.profile.gammaByBatchSize);
      const completion = await fetch(`${serve.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 16, temperature: 0 }),
      });
      expect(completion.status).toBe(200);
    } finally {
      expect(await serve.stop()).toBe(0);
    }
  });
});

describe('specroute profile: tables, help and bad input', () => {
  const dir = scratchDir('profile-bad-');

  it('prints the tables without colour when stdout is not a terminal (verifier alone: no α, γ 0)', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'profile', '--verifier', STORIES, '--max-batch', '4', '--repeats', '1', '--warmup', '0'], {
      cwd: dir,
      env: { ...process.env, SPECROUTE_CACHE_DIR: join(dir, 'cache') },
    });
    expect(stdout).not.toMatch(/\u001b\[/);
    for (const heading of ['machine', 'models', 'verify pass by tokens', 'acceptance', 'γ by batch size', 'recommended']) expect(stdout).toContain(heading);
    expect(stdout).toContain('no draft: the verifier decodes alone');
    expect(stdout).toMatch(/ {2}γ +0 +0 +0 +0\n/);
    expect(stdout).toMatch(/limits\.maxConcurrent +\d+/);
    expect(stdout).not.toContain('model.draft.threads');
  });

  it('puts its headings in bold on a colour terminal, unless NO_COLOR is set', async () => {
    const command = `${process.execPath} ${CLI} profile --verifier ${STORIES} --max-batch 2 --repeats 1 --warmup 0`;
    const neutral = { CI: undefined, FORCE_COLOR: undefined, NODE_DISABLE_COLORS: undefined, NO_COLOR: undefined, TMUX: undefined };
    const onTerminal = (extra: Record<string, string | undefined>) =>
      run('script', ['-qec', command, '/dev/null'], { cwd: dir, env: { ...process.env, ...neutral, SPECROUTE_CACHE_DIR: join(dir, 'cache'), TERM: 'xterm-256color', ...extra } });
    expect((await onTerminal({})).stdout).toMatch(/\u001b\[1mrecommended/);
    const plain = await onTerminal({ NO_COLOR: '1' });
    expect(plain.stdout).toContain('recommended');
    expect(plain.stdout).not.toMatch(/\u001b\[/);
  });

  it('documents its flags in --help, with examples', async () => {
    const { stdout } = await run(process.execPath, [CLI, 'profile', '--help']);
    for (const flag of ['--config <file>', '--verifier <file>', '--draft <file>', '--draft-derive <spec>', '--threads-max <n>', '--max-batch <n>', '--json', '--write <file>']) expect(stdout).toContain(flag);
    expect(stdout).toMatch(/Examples:/);
    expect(stdout).toContain('$ specroute profile --write profile.yaml && specroute serve --profile profile.yaml');
    const serve = await run(process.execPath, [CLI, 'serve', '--help']);
    expect(serve.stdout).toContain('--profile <file>');
  });

  const fails = async (args: string[]): Promise<{ code: number; stderr: string }> => {
    const error = await run(process.execPath, [CLI, ...args], { cwd: dir, timeout: 60_000 }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(error, args.join(' ')).toBeDefined();
    return error!;
  };

  it('names the flag at fault', async () => {
    expect((await fails(['profile', '--draft', 'd.gguf'])).stderr).toMatch(/'--draft <file>' needs --verifier/);
    expect((await fails(['profile', '--verifier', 'missing.gguf'])).stderr).toContain(`no such file: ${join(dir, 'missing.gguf')} (--verifier)`);
    expect((await fails(['profile', '--verifier', STORIES, '--max-batch', '0'])).stderr).toMatch(/option '--max-batch <n>' argument '0' is invalid/);
    const { code, stderr } = await fails(['profile', '--verifier', STORIES, '--draft-derive', 'layers=0-9']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/Layer 9 is out of range.*\(--draft-derive\)/);
  });

  it('serve --profile: a missing file, bad YAML, or a profile the schema refuses fails naming it', async () => {
    const serve = (profile: string) => fails(['serve', '--config', CONFIG, '--profile', profile, '--port', '0', '--grpc-port', '-1']);
    const missing = await serve(join(dir, 'none.yaml'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the profile file .*none\.yaml.*\(--profile\)/);
    writeFileSync(join(dir, 'bad.yaml'), 'batching: [unclosed\n');
    expect((await serve(join(dir, 'bad.yaml'))).stderr).toMatch(/bad\.yaml is not valid YAML.*\(--profile\)/s);
    writeFileSync(join(dir, 'alpha.yaml'), 'batching:\n  profile:\n    alpha: 1.5\n    verify: [{tokens: 1, ms: 1}]\n    gammaByBatchSize: [0]\n');
    const alpha = await serve(join(dir, 'alpha.yaml'));
    expect(alpha.code).toBe(2);
    expect(alpha.stderr).toMatch(/batching\.profile\.alpha: .*\(from the profile .*alpha\.yaml\) \(batching\.profile\.alpha\)/);
  });
});
