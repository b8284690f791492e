import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { z, type ZodTypeAny } from 'zod';
import { draftDerive } from '../../src/cli/options.js';
import { loadConfig } from '../../src/config/load-config.js';
import { configSchema } from '../../src/config/schema.js';
import { allSettings, settingDefaults } from '../../src/contract/request-settings.js';
import { defaultBudget } from '../../src/escalation/budget.js';
import { defaultCircuitBreaker } from '../../src/escalation/circuit-breaker.js';
import { defaultFrontier } from '../../src/escalation/frontier-client.js';
import { defaultEscalationPolicy } from '../../src/escalation/policy.js';
import { SpecrouteError } from '../../src/errors/registry.js';
import { scratchDir } from '../helpers/models.js';

const REPO = resolve(import.meta.dirname, '../..');
const DEFAULT = join(REPO, 'specroute.yaml');

function file(yaml: string): string {
  const dir = scratchDir('config-');
  const path = join(dir, 'c.yaml');
  writeFileSync(path, yaml);
  return path;
}

/** The error `fn` throws; a SpecrouteError from the loader is always `invalid_argument` (a usage error). */
function errorOf(fn: () => unknown): SpecrouteError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SpecrouteError) expect(error.code).toBe('invalid_argument');
    return error as SpecrouteError;
  }
  throw new Error('expected an error');
}

describe('config', () => {
  it('the repo default serves stories260K from ../shared/models with a derived draft', () => {
    const c = loadConfig(DEFAULT, {}, {});
    expect(c.modelId).toBe('stories260K');
    expect(c.verifierPath).toBe(resolve(REPO, '../shared/models/stories260K.gguf'));
    expect(c.draftSource).toMatchObject({ kind: 'derive', layers: '0-2' });
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 8080, grpcPort: 50051 });
    expect(c.model.verifier.threads).toBe(1);
  });

  it('flags override the file, and SPECROUTE_* variables override both', () => {
    const c = loadConfig(DEFAULT, { port: 9000, grpcPort: 9001 }, { SPECROUTE_PORT: '9100', SPECROUTE_MODEL__VERIFIER__THREADS: '2', SPECROUTE_LIMITS__MAX_QUEUE: '3', SPECROUTE_API_KEYS: 'sk-aaaaaaaa, sk-bbbbbbbb' });
    expect(c.server.port).toBe(9100);
    expect(c.server.grpcPort).toBe(9001);
    expect(c.model.verifier.threads).toBe(2);
    expect(c.limits.maxQueue).toBe(3);
    expect(c.auth.apiKeys).toEqual(['sk-aaaaaaaa', 'sk-bbbbbbbb']);
  });

  it('leaves SPECROUTE_* variables that name no config key alone (SPECROUTE_NATIVE is the kernels\' switch)', () => {
    const c = loadConfig(DEFAULT, {}, { SPECROUTE_NATIVE: '0', SPECROUTE_NATIVE_PATH: '/x.node', SPECROUTE_: 'x' });
    expect(c.server.port).toBe(8080);
    const typo = errorOf(() => loadConfig(DEFAULT, {}, { SPECROUTE_SERVER__PROT: '1' }));
    expect(typo.param).toBe('server.prot');
    expect(typo.message).toMatch(/server\.prot: unknown key \(server takes host, port, grpcPort, .*\) \(from SPECROUTE_SERVER__PROT\)$/);
  });

  it('resolves relative model paths from modelsDir, itself relative to the config file', () => {
    const path = file('modelsDir: models\nmodel:\n  verifier: { path: v.gguf }\n  draft: { path: /abs/d.gguf }\n');
    const c = loadConfig(path, {}, {});
    expect(c.verifierPath).toBe(join(path, '..', 'models', 'v.gguf'));
    expect(c.draftSource).toEqual({ kind: 'file', path: '/abs/d.gguf' });
    expect(c.modelId).toBe('v');
  });

  it('names the offending key', () => {
    const cases: Array<[string, string]> = [
      ['model:\n  verifier: { path: v.gguf, threads: 0 }\n', 'model.verifier.threads'],
      ['model:\n  verifier: { path: v.gguf }\nserver: { port: "eighty" }\n', 'server.port'],
      ['model:\n  verifier: { path: v.gguf }\nspeculation: { maxx: 3 }\n', 'speculation.maxx'],
      ['server: { port: 80 }\n', 'model'],
      ['model:\n  verifier: { path: v.gguf }\n  draft: { threads: 1 }\n', 'model.draft'],
      ['model:\n  verifier: { path: v.gguf }\nauth: { apiKeys: [short] }\n', 'auth.apiKeys.0'],
    ];
    for (const [yaml, key] of cases) {
      const error = errorOf(() => loadConfig(file(yaml), {}, {}));
      expect(error).toBeInstanceOf(SpecrouteError);
      expect(error.param, yaml).toBe(key);
      expect(error.message).toContain(key);
    }
    expect(errorOf(() => loadConfig(file('model: [unclosed'), {}, {})).message).toMatch(/not valid YAML/);
    expect(errorOf(() => loadConfig('/nonexistent.yaml', {}, {})).param).toBe('config');
    expect(errorOf(() => loadConfig(DEFAULT, {}, { SPECROUTE_PORT: 'abc' })).param).toBe('server.port');
  });

  describe('serve --verifier: a model section from the command line', () => {
    const yaml = [
      'modelsDir: models',
      'limits: { maxQueue: 5 }',
      'speculation: { max: 6 }',
      'model:',
      '  id: from-the-file',
      '  verifier: { path: big.gguf, threads: 3, contextSize: 256 }',
      '  draft: { derive: { layers: 0-2 }, threads: 2 }',
      '',
    ].join('\n');

    it('replaces the file\'s model section whole: a YAML with a draft plus --verifier gives no draft; other sections apply', () => {
      const path = file(yaml);
      const c = loadConfig(path, { model: { verifier: 'rel/v.gguf' } }, {});
      expect(c.draftSource).toEqual({ kind: 'none' });
      expect(c.model.draft).toBeNull();
      // From the current directory, as a shell passes it (not from modelsDir, not from the file's folder).
      expect(c.verifierPath).toBe(resolve(process.cwd(), 'rel/v.gguf'));
      expect(c.modelId).toBe('v');
      expect(c.model.verifier).toMatchObject({ threads: 1, contextSize: 512 });
      expect(c.limits.maxQueue).toBe(5);
      expect(c.speculation.max).toBe(6);
      expect(c.modelsDir).toBe(join(path, '..', 'models'));
    });

    it('names a draft file or a derived draft, and keys derived drafts by the verifier\'s path', () => {
      const path = file(yaml);
      const withFile = loadConfig(path, { model: { verifier: '/m/v.gguf', draft: { path: 'd.gguf' } } }, {});
      expect(withFile.draftSource).toEqual({ kind: 'file', path: resolve(process.cwd(), 'd.gguf') });
      expect(withFile.model.draft).toMatchObject({ threads: 1 });
      const derived = loadConfig(path, { model: { verifier: '/m/v.gguf', draft: { derive: { layers: '0,1', quantize: 'q8_0' } } } }, { SPECROUTE_CACHE_DIR: '/cache' });
      expect(derived.draftSource).toMatchObject({ kind: 'derive', layers: '0,1', quantize: 'q8_0' });
      const out = (derived.draftSource as { out: string }).out;
      expect(out).toMatch(/^\/cache\/v\.[0-9a-f]{8}\.draft\.layers-0_1\.q8_0\.gguf$/);
      const elsewhere = loadConfig(path, { model: { verifier: '/n/v.gguf', draft: { derive: { layers: '0,1', quantize: 'q8_0' } } } }, { SPECROUTE_CACHE_DIR: '/cache' });
      expect((elsewhere.draftSource as { out: string }).out).not.toBe(out);
    });

    it('takes --model-id and thread flags; SPECROUTE_MODEL__* variables still win over all of it', () => {
      const path = file(yaml);
      const model = { verifier: '/m/v.gguf', draft: { derive: { quantize: 'q4_0' as const } } };
      const flags = loadConfig(path, { model, modelId: 'mine', threads: 2, draftThreads: 3 }, {});
      expect(flags.modelId).toBe('mine');
      expect(flags.model.verifier.threads).toBe(2);
      expect(flags.model.draft?.threads).toBe(3);
      const env = loadConfig(path, { model, modelId: 'mine', threads: 2, draftThreads: 3 }, {
        SPECROUTE_MODEL__ID: 'env-id',
        SPECROUTE_MODEL__VERIFIER__THREADS: '4',
        SPECROUTE_MODEL__DRAFT__THREADS: '5',
        SPECROUTE_MODEL__VERIFIER__CONTEXT_SIZE: '128',
        SPECROUTE_MODEL__VERIFIER__PATH: 'from-env.gguf',
      });
      expect(env.modelId).toBe('env-id');
      expect(env.model.verifier).toMatchObject({ threads: 4, contextSize: 128 });
      expect(env.model.draft?.threads).toBe(5);
      // A path from the environment is configuration, and starts from modelsDir like the file's.
      expect(env.verifierPath).toBe(join(path, '..', 'models', 'from-env.gguf'));
    });

    it('applies --model-id and thread flags over the file\'s own model section too', () => {
      const c = loadConfig(file(yaml), { modelId: 'mine', threads: 2, draftThreads: 2 }, {});
      expect(c.modelId).toBe('mine');
      expect(c.model.verifier).toMatchObject({ path: 'big.gguf', threads: 2, contextSize: 256 });
      expect(c.draftSource).toMatchObject({ kind: 'derive', layers: '0-2' });
      expect(c.model.draft?.threads).toBe(2);
    });

    it('rejects --draft-threads where there is no draft, and a derived draft of an ONNX verifier, naming the flag', () => {
      const noDraft = errorOf(() => loadConfig(file(yaml), { model: { verifier: 'v.gguf' }, draftThreads: 2 }, {}));
      expect(noDraft.param).toBe('--draft-threads');
      expect(noDraft.message).toMatch(/--verifier was given without --draft or --draft-derive/);
      const onnx = errorOf(() => loadConfig(file(yaml), { model: { verifier: '/m/v.onnx', draft: { derive: { layers: '0-1' } } } }, {}));
      expect(onnx.param).toBe('model.draft.derive');
      expect(onnx.message).toMatch(/^--draft-derive: drafts are derived from GGUF verifiers only/);
      const fileWithout = file('model:\n  verifier: { path: v.gguf }\n');
      expect(errorOf(() => loadConfig(fileWithout, { draftThreads: 2 }, {})).message).toMatch(/has no model\.draft/);
    });
  });
});

/** The schema under defaults, optionals, nullables and refinements (the test's own walk, not the loader's). */
function bare(schema: ZodTypeAny): ZodTypeAny {
  if (schema instanceof z.ZodDefault) return bare(schema._def.innerType);
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) return bare(schema._def.innerType);
  if (schema instanceof z.ZodEffects) return bare(schema._def.schema);
  return schema;
}

/** Every section (object) of the config schema, the top level included, and every key that holds a value. */
function walkSchema(schema: ZodTypeAny, path: string[] = [], out = { sections: [] as string[][], leaves: [] as Array<{ path: string[]; schema: ZodTypeAny }> }): typeof out {
  const s = bare(schema);
  if (s instanceof z.ZodObject) {
    out.sections.push(path);
    for (const [key, inner] of Object.entries(s.shape as Record<string, ZodTypeAny>)) walkSchema(inner, [...path, key], out);
  } else out.leaves.push({ path, schema: s });
  return out;
}

describe('config errors name the key, in every section of the schema', () => {
  const { sections, leaves } = walkSchema(configSchema);
  /**
   * The smallest valid config holding every section: a draft file, a frontier (its keys exist only with one), and
   * the optional routing sections with their required keys.
   */
  const BASE = {
    model: { verifier: { path: 'v.gguf' }, draft: { path: 'd.gguf' } },
    escalation: { frontier: { baseUrl: 'http://127.0.0.1:9/v1', model: 'f' } },
    routing: { slo: { ttftP95Ms: 1000 }, cascade: { minConfidence: 0.5 } },
    state: { redis: { url: 'redis://127.0.0.1:6379' } },
    batching: { profile: { alpha: 0.5, verify: [{ tokens: 1, ms: 1 }], gammaByBatchSize: [4] } },
  };
  /** A draft has a file or a derivation, not both: `model.draft.derive`'s keys are tried on a derived draft. */
  const DERIVED = { ...BASE, model: { verifier: { path: 'v.gguf' }, draft: { derive: {} } } };
  const baseFor = (path: string[]): object => (path.join('.').startsWith('model.draft.derive') ? DERIVED : BASE);
  const dotted = (path: string[]): string => path.join('.');
  const envName = (path: string[]): string => `SPECROUTE_${path.map((key) => key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()).join('__')}`;

  function withValue(base: object, path: string[], value: unknown): object {
    const config = structuredClone(base) as Record<string, unknown>;
    let at = config;
    for (const key of path.slice(0, -1)) at = (at[key] ??= {}) as Record<string, unknown>;
    at[path.at(-1)!] = value;
    return config;
  }
  // JSON is YAML.
  const yamlFile = (config: object): string => file(JSON.stringify(config, null, 2));

  it('walks the whole schema (sanity check of the walk itself)', () => {
    expect(sections.map(dotted)).toEqual(expect.arrayContaining(['', 'server', 'model.verifier', 'model.draft.derive', 'escalation.frontier', 'escalation.budget']));
    expect(leaves.map((l) => dotted(l.path))).toEqual(expect.arrayContaining(['escalation.frontier.firstByteTimeoutMs', 'model.verifier.threads', 'modelsDir']));
    for (const base of [BASE, DERIVED]) expect(() => loadConfig(yamlFile(base), {}, {})).not.toThrow();
  });

  it('a config that sets every key to another value than its default loads with each value in place', () => {
    const full = {
      server: { host: '0.0.0.0', port: 9090, grpcPort: 50052, maxBodyBytes: 2048, heartbeatSeconds: 2.5, shutdownGraceMs: 500, ui: false },
      modelsDir: '/models',
      cacheDir: '/cache',
      model: {
        id: 'served',
        verifier: { path: 'big.gguf', threads: 2, contextSize: 1024, batchSize: 64, gpuLayers: 4, executionProviders: ['cuda', 'cpu'], tokenizer: 'tok.gguf', kvCacheType: 'F16' },
        draft: { path: 'small.gguf', threads: 3, contextSize: 256, batchSize: 32, gpuLayers: 2, executionProviders: ['webgpu', 'cpu'], tokenizer: 'tok2.gguf', kvCacheType: 'F16' },
      },
      batching: {
        lockStep: false,
        prefillChunk: 32,
        gatherMs: 5,
        calibrate: false,
        profile: {
          alpha: 0.7,
          verify: [
            { tokens: 1, ms: 2 },
            { tokens: 8, ms: 3 },
          ],
          draft: [{ tokens: 1, ms: 0.5 }],
          gammaByBatchSize: [5, 3, 0],
          machine: 'test machine',
          measuredAt: '2026-11-30T00:00:00Z',
        },
      },
      sampling: { temperature: 0.7, topK: 40, topP: 0.9, minP: 0.05 },
      speculation: { min: 1, max: 6, initial: 2, adaptive: false, pMin: 0.2 },
      limits: { maxConcurrent: 4, maxQueue: 8, requestTimeoutMs: 60_000, defaultMaxTokens: 128 },
      escalation: {
        frontier: { baseUrl: 'https://api.example.com/v1', model: 'frontier-large', apiKeyEnv: 'FRONTIER_KEY', api: 'chat', connectTimeoutMs: 500, firstByteTimeoutMs: 1500, totalTimeoutMs: 8000, retries: 3, backoffBaseMs: 50, backoffMaxMs: 1000 },
        policy: { enabled: false, window: 8, minConfidence: 0.5, minMargin: 0.1, maxEntropy: 2.5, spanTokens: 32, cooldownTokens: 8 },
        breaker: { failureThreshold: 5, cooldownMs: 30_000, halfOpenProbes: 2 },
        budget: { maxTokensPerRequest: 128, maxCallsPerRequest: 8, callsPerMinute: 120, maxCostPerHour: 5, inputPricePerMillion: 2.5, outputPricePerMillion: 10 },
      },
      routing: {
        default: 'auto',
        router: 'router.json',
        targetFrontierShare: 0.3,
        routes: [{ name: 'greetings', tier: 'slm', examples: ['hello there'], threshold: 0.9 }],
        controller: { enabled: false, window: 80, smoothing: 0.2 },
        slo: { ttftP95Ms: 800, windowSeconds: 10, recoverRatio: 0.5 },
        cascade: { probeTokens: 4, minConfidence: 0.6 },
        local: { maxInputTokens: 100 },
      },
      auth: {
        apiKeys: ['sk-local-123456', 'sk-other-654321'],
        keys: [{ name: 'team-a', sha256: 'a'.repeat(64), requestsPerMinute: 3, tokensPerMinute: 1000, frontierCostPerDay: 2.5, tiers: ['slm', 'hybrid'] }],
      },
      state: { redis: { url: 'redis://redis:6380/1', keyPrefix: 'prod:', timeoutMs: 100 } },
    };
    // A draft is a file or a derivation: derive's keys get a config of their own.
    const derived = withValue(full, ['model', 'draft'], { derive: { layers: '0-3', quantize: 'q4_0' } });
    const read = (value: unknown, path: string[]): unknown => path.reduce<unknown>((at, key) => (at as Record<string, unknown> | null | undefined)?.[key], value);
    const given = (config: object): string[][] => leaves.map((l) => l.path).filter((path) => read(config, path) !== undefined);
    const covered = new Set([...given(full), ...given(derived)].map(dotted));
    expect(leaves.map((l) => dotted(l.path)).filter((key) => !covered.has(key)), 'keys the sample configs leave out').toEqual([]);
    const defaults = loadConfig(yamlFile(BASE), {}, {});
    for (const config of [full, derived]) {
      const c = loadConfig(yamlFile(config), {}, {});
      for (const path of given(config)) {
        expect(read(c, path), dotted(path)).toEqual(read(config, path));
        if (read(BASE, path) === undefined) expect(read(defaults, path), `${dotted(path)} differs from its default`).not.toEqual(read(config, path));
      }
    }
  });

  it('a bad value of any key in a YAML file is named by its full dotted key', () => {
    // The first of these that the key's own schema refuses.
    const candidates: unknown[] = ['not-a-number', 12345, true, '', [], {}];
    for (const { path, schema } of leaves) {
      const bad = candidates.find((value) => !schema.safeParse(value).success);
      const error = errorOf(() => loadConfig(yamlFile(withValue(baseFor(path), path, bad)), {}, {}));
      expect(error, dotted(path)).toBeInstanceOf(SpecrouteError);
      expect(error.param, `${dotted(path)} = ${JSON.stringify(bad)}`).toBe(dotted(path));
      expect(error.message).toMatch(new RegExp(`^config .*c\\.yaml: ${dotted(path).replace(/\./g, '\\.')}: `));
    }
  });

  it('a bad value of any key set by its SPECROUTE_* variable is named by its key and its variable', () => {
    const candidates = ['not-a-number', '', '1bad'];
    const reached = new Set<string>();
    for (const { path } of leaves) {
      const config = yamlFile(baseFor(path));
      for (const value of candidates) {
        let error: SpecrouteError | undefined;
        try {
          loadConfig(config, {}, { [envName(path)]: value });
        } catch (e) {
          error = e as SpecrouteError;
        }
        if (error === undefined) continue; // a value this key takes: try the next one
        expect(error, `${envName(path)}=${value}`).toBeInstanceOf(SpecrouteError);
        expect(error.param === dotted(path) || error.param!.startsWith(`${dotted(path)}.`), `${envName(path)}=${value} named ${error.param}`).toBe(true);
        expect(error.message).toContain(`(from ${envName(path)})`);
        reached.add(dotted(path));
        break;
      }
    }
    // Only a key that takes any text at all has no bad value in the environment.
    const anyText = leaves.filter((l) => l.schema instanceof z.ZodString && l.schema._def.checks.length === 0).map((l) => dotted(l.path));
    expect(leaves.map((l) => dotted(l.path)).filter((key) => !reached.has(key))).toEqual(anyText);
    for (const section of sections.filter((s) => s.length > 0)) {
      expect([...reached].some((key) => key.startsWith(`${dotted(section)}.`)), `a key of ${dotted(section)} reached from the environment`).toBe(true);
    }
  });

  it('an unknown key in any section is named in full, from the file and from the environment', () => {
    for (const section of sections) {
      const key = dotted([...section, 'notAKey']);
      const fromFile = errorOf(() => loadConfig(yamlFile(withValue(baseFor(section), [...section, 'notAKey'], 1)), {}, {}));
      expect(fromFile.param, key).toBe(key);
      expect(fromFile.message).toContain(`${key}: unknown key (`);
      if (section.length === 0) continue; // SPECROUTE_NOT_A_KEY is not configuration (see above)
      const variable = envName([...section, 'notAKey']);
      const fromEnv = errorOf(() => loadConfig(yamlFile(baseFor(section)), {}, { [variable]: '1' }));
      expect(fromEnv.param, variable).toBe(key);
      expect(fromEnv.message).toContain(`(from ${variable})`);
    }
  });

  it('refuses routing to a tier the server lacks, naming the key', () => {
    const noDraft = withValue(BASE, ['model', 'draft'], null);
    const noFrontier = withValue(BASE, ['escalation'], {});
    const cases: Array<[object, string, RegExp]> = [
      [withValue(noDraft, ['routing'], { default: 'slm' }), 'routing.default', /'slm' needs a draft \(model\.draft\)/],
      [withValue(noFrontier, ['routing'], { default: 'frontier' }), 'routing.default', /'frontier' needs a frontier \(escalation\.frontier\)/],
      [withValue(noFrontier, ['routing'], { routes: [{ name: 'a', tier: 'hybrid', examples: ['x'] }, { name: 'b', tier: 'frontier', examples: ['y'] }] }), 'routing.routes[1].tier', /needs a frontier/],
      [withValue(noFrontier, ['routing'], { router: 'r.json' }), 'routing.router', /needs a frontier/],
      [withValue(BASE, ['routing'], { targetFrontierShare: 0.2 }), 'routing.targetFrontierShare', /set routing\.router too/],
      [withValue(BASE, ['routing'], { routes: [{ name: 'a', tier: 'slm', examples: ['x'] }, { name: 'a', tier: 'slm', examples: ['y'] }] }), 'routing.routes', /unique/],
      [withValue(noFrontier, ['routing'], { slo: { ttftP95Ms: 250 } }), 'routing.slo', /^config .*: routing\.slo: requests spill to the frontier, which needs a frontier \(escalation\.frontier\)$/],
      [withValue(noFrontier, ['routing'], { cascade: { minConfidence: 0.5 } }), 'routing.cascade', /^config .*: routing\.cascade: unconfident requests move to the frontier, which needs a frontier/],
    ];
    for (const [config, key, message] of cases) {
      const error = errorOf(() => loadConfig(yamlFile(config), {}, {}));
      expect(error.param, key).toBe(key);
      expect(error.message, key).toMatch(message);
    }
    expect(loadConfig(yamlFile(withValue(BASE, ['routing'], { router: 'r.json' })), {}, {}).routerPath).toMatch(/\/r\.json$/);
    // `auto` needs no tier of its own (its router and SLO need the frontier, checked above).
    expect(loadConfig(yamlFile(withValue(noFrontier, ['routing'], { default: 'auto' })), {}, {}).routing.default).toBe('auto');
  });

  it('refuses malformed names, variables, digests and URLs, naming the key and the form it takes', () => {
    const route = (name: string, examples = ['x']): object => withValue(BASE, ['routing', 'routes'], [{ name, tier: 'slm', examples }]);
    const key = (entry: object): object => withValue(BASE, ['auth', 'keys'], [{ name: 'a', ...entry }]);
    const sha = 'a'.repeat(64);
    // Each form is anchored at both ends: a bad first or last character is refused.
    const cases: Array<[object, string, string]> = [
      ...['-ok!', '!ok', 'a b', ''].map((name): [object, string, string] => [route(name), 'routing.routes.0.name', 'letters, digits, _ . - only']),
      ...['x!', '!x'].map((name): [object, string, string] => [key({ name, sha256: sha }), 'auth.keys.0.name', 'letters, digits, _ . - only']),
      ...['1KEY', 'KEY-1', 'KEY 1'].map((keyEnv): [object, string, string] => [key({ keyEnv }), 'auth.keys.0.keyEnv', 'an environment variable name']),
      ...[`${sha}0`, `0${sha}`, 'A'.repeat(64)].map((sha256): [object, string, string] => [key({ sha256 }), 'auth.keys.0.sha256', '64 lowercase hex digits']),
      ...['http://h:6379', 'xredis://h', 'redis:/h'].map((url): [object, string, string] => [withValue(BASE, ['state', 'redis', 'url'], url), 'state.redis.url', 'a redis:// or rediss:// URL']),
    ];
    for (const [config, param, form] of cases) {
      const error = errorOf(() => loadConfig(yamlFile(config), {}, {}));
      expect(error.param, JSON.stringify(config)).toBe(param);
      expect(error.message, param).toContain(`${param}: ${form}`);
    }
    const fine = loadConfig(yamlFile(withValue(route('a.b_c-9', ['one', 'two']), ['auth', 'keys'], [{ name: 'Team_A.1-x', keyEnv: '_K9' }, { name: 'b', sha256: sha }])), {}, { _K9: 'sk' });
    expect(fine.routing.routes.map((r) => [r.name, r.examples])).toEqual([['a.b_c-9', ['one', 'two']]]);
    expect(fine.authKeys.map((k) => k.quota.name)).toEqual(['Team_A.1-x', 'b']);
    expect(loadConfig(yamlFile(withValue(BASE, ['state', 'redis', 'url'], 'rediss://u:p@h:6380/2')), {}, {}).state.redis?.url).toBe('rediss://u:p@h:6380/2');
  });

  it('names every unknown key of a section, and the keys it takes', () => {
    const error = errorOf(() => loadConfig(yamlFile(withValue(withValue(BASE, ['limits', 'maxQueu'], 1), ['limits', 'maxConcurent'], 2)), {}, {}));
    expect(error.param).toBe('limits.maxQueu');
    expect(error.message).toMatch(/limits\.maxQueu: unknown key, and so are limits\.maxConcurent \(limits takes maxConcurrent, maxQueue, requestTimeoutMs, defaultMaxTokens\)$/);
    const three = errorOf(() => loadConfig(yamlFile(withValue(withValue(withValue(BASE, ['escalation', 'frontier', 'a'], 1), ['escalation', 'frontier', 'b'], 1), ['escalation', 'frontier', 'c'], 1)), {}, {}));
    expect(three.message).toMatch(/escalation\.frontier\.a: unknown key, and so are escalation\.frontier\.b, escalation\.frontier\.c \(escalation\.frontier takes baseUrl, model, /);
    expect(errorOf(() => loadConfig(yamlFile(withValue(BASE, ['prot'], 1)), {}, {})).message).toMatch(/: prot: unknown key \(the top level takes server, modelsDir, .*\)$/);
  });

  it('reads a variable by the type of its key: text stays text, a list splits at commas, a number is a number', () => {
    const c = loadConfig(yamlFile(BASE), {}, {
      SPECROUTE_MODEL__ID: '2024',
      SPECROUTE_MODEL__VERIFIER__EXECUTION_PROVIDERS: 'cuda, cpu',
      SPECROUTE_LIMITS__MAX_QUEUE: '7',
      SPECROUTE_SPECULATION__ADAPTIVE: 'false',
      SPECROUTE_MODEL__VERIFIER__KV_CACHE_TYPE: 'F32',
    });
    expect(c.modelId).toBe('2024');
    expect(c.model.verifier.executionProviders).toEqual(['cuda', 'cpu']);
    expect(c.limits.maxQueue).toBe(7);
    expect(c.speculation.adaptive).toBe(false);
    expect(c.model.verifier.kvCacheType).toBe('F32');
    expect(loadConfig(yamlFile(DERIVED), {}, { SPECROUTE_MODEL__DRAFT__DERIVE__LAYERS: '3' }).draftSource).toMatchObject({ kind: 'derive', layers: '3' });
    expect(loadConfig(yamlFile(BASE), {}, { SPECROUTE_MODEL__DRAFT: 'null' }).draftSource).toEqual({ kind: 'none' });
  });
});

describe('the loader in detail', () => {
  const minimal = 'model:\n  verifier: { path: v.gguf }\n';

  it('a minimal config takes the documented defaults', () => {
    const path = file(minimal);
    const c = loadConfig(path, {}, {});
    expect(c.server).toEqual({ host: '127.0.0.1', port: 8080, grpcPort: 50051, maxBodyBytes: 1_048_576, heartbeatSeconds: 15, shutdownGraceMs: 10_000, ui: true });
    expect(c.modelsDir).toBe(resolve(path, '..', '../shared/models'));
    expect(c.cacheDir).toBe(resolve(tmpdir(), 'specroute-cache'));
    expect(c.model.verifier).toEqual({ path: 'v.gguf', threads: 1, contextSize: 512, batchSize: 512, gpuLayers: 0, executionProviders: ['cpu'], kvCacheType: 'F32' });
    expect(c.model.draft).toBeNull();
    expect(c.draftSource).toEqual({ kind: 'none' });
    expect(c.limits).toEqual({ maxConcurrent: 16, maxQueue: 64, requestTimeoutMs: 300_000, defaultMaxTokens: 256 });
    expect(c.sampling).toEqual(settingDefaults('sampling'));
    expect(c.speculation).toEqual(settingDefaults('speculation'));
    expect(c.escalation).toEqual({ policy: defaultEscalationPolicy, breaker: defaultCircuitBreaker, budget: defaultBudget });
    expect(c.auth).toEqual({ apiKeys: [], keys: [] });
    expect(c.state).toEqual({});
    expect(c.authKeys).toEqual([]);
    expect(c.source).toBe(path);
    const frontier = loadConfig(file(`${minimal}escalation:\n  frontier: { baseUrl: "http://127.0.0.1:9/v1", model: f }\n`), {}, {}).escalation.frontier;
    expect(frontier).toEqual({ baseUrl: 'http://127.0.0.1:9/v1', model: 'f', ...defaultFrontier });
  });

  it('a request setting without a config key is not a config key', () => {
    const sections = Object.keys(configSchema.shape);
    const requestOnly = allSettings().filter((s) => s.spec.config === undefined && sections.includes(s.group));
    expect(requestOnly.map((s) => s.wire)).toContain('seed');
    for (const { group, field } of requestOnly) {
      expect(errorOf(() => loadConfig(file(`${minimal}${group}: { ${field}: 1 }\n`), {}, {})).param).toBe(`${group}.${field}`);
    }
  });

  it('takes every value of the enumerations', () => {
    for (const api of ['auto', 'completions', 'chat']) {
      expect(loadConfig(file(`${minimal}escalation:\n  frontier: { baseUrl: "http://h/v1", model: f, api: ${api} }\n`), {}, {}).escalation.frontier?.api).toBe(api);
    }
    for (const kv of ['F16', 'F32']) expect(loadConfig(file(`model:\n  verifier: { path: v.gguf, kvCacheType: ${kv} }\n`), {}, {}).model.verifier.kvCacheType).toBe(kv);
    for (const q of ['q8_0', 'q4_0']) expect(loadConfig(file(`model:\n  verifier: { path: v.gguf }\n  draft: { derive: { quantize: ${q} } }\n`), {}, {}).draftSource).toMatchObject({ quantize: q });
  });

  it('apiKeyEnv must be an environment variable name', () => {
    const withKeyEnv = (name: string): string => file(`${minimal}escalation:\n  frontier: { baseUrl: "http://h/v1", model: f, apiKeyEnv: "${name}" }\n`);
    for (const good of ['OPENAI_API_KEY', '_x', 'a1', 'Z']) expect(loadConfig(withKeyEnv(good), {}, {}).escalation.frontier?.apiKeyEnv).toBe(good);
    for (const bad of ['1ABC', 'A-B', 'A B', 'KEY$', 'sk-123', '']) {
      const error = errorOf(() => loadConfig(withKeyEnv(bad), {}, {}));
      expect(error.param, bad).toBe('escalation.frontier.apiKeyEnv');
      expect(error.message, bad).toMatch(/escalation\.frontier\.apiKeyEnv: must be an environment variable name$/);
    }
  });

  it('a draft takes exactly one of path and derive; speculation min must not exceed max', () => {
    for (const draft of ['{ path: d.gguf, derive: { layers: 0-1 } }', '{ threads: 2 }']) {
      const error = errorOf(() => loadConfig(file(`model:\n  verifier: { path: v.gguf }\n  draft: ${draft}\n`), {}, {}));
      expect(error).toMatchObject({ param: 'model.draft' });
      expect(error.message).toMatch(/model\.draft: give exactly one of path and derive$/);
    }
    const bounds = errorOf(() => loadConfig(file(`${minimal}speculation: { min: 5, max: 3 }\n`), {}, {}));
    expect(bounds.param).toBe('speculation.min');
    expect(bounds.message).toMatch(/speculation\.min: min must not exceed max$/);
    expect(loadConfig(file(`${minimal}speculation: { min: 3, max: 3 }\n`), {}, {}).speculation).toMatchObject({ min: 3, max: 3 });
  });

  it('keeps model URIs as given (fetched at boot), and refuses a malformed one naming its key', () => {
    const uri = 'hf:acme/tiny/model.gguf';
    const url = 'https://example.com/tok.gguf';
    const c = loadConfig(file(`model:\n  verifier: { path: "${uri}", tokenizer: "${url}" }\n  draft: { path: "hf:acme/tiny:v2/d.gguf", tokenizer: local.gguf }\n`), {}, {});
    expect(c.verifierPath).toBe(uri);
    expect(c.modelId).toBe('model');
    expect(c.model.verifier.tokenizer).toBe(url);
    expect(c.draftSource).toEqual({ kind: 'file', path: 'hf:acme/tiny:v2/d.gguf' });
    const cases: Array<[string, string]> = [
      ['verifier: { path: "hf:owner/repo" }', 'model.verifier.path'],
      ['verifier: { path: v.gguf, tokenizer: "hf:owner" }', 'model.verifier.tokenizer'],
      ['verifier: { path: v.gguf }\n  draft: { path: "hf:a/b/../x.gguf" }', 'model.draft.path'],
      ['verifier: { path: v.gguf }\n  draft: { path: d.gguf, tokenizer: "https://h/t.gguf#md5=1" }', 'model.draft.tokenizer'],
    ];
    for (const [model, key] of cases) {
      const path = file(`model:\n  ${model}\n`);
      const error = errorOf(() => loadConfig(path, {}, {}));
      expect(error.param, model).toBe(key);
      expect(error.message, model).toMatch(new RegExp(`^config ${path}: ${key.replace(/\./g, '\\.')}: ".*" is not a model URI: `));
    }
    // A tokenizer that is a plain path is left for the backend to resolve.
    expect(loadConfig(file('model:\n  verifier: { path: v.gguf, tokenizer: "hf-local/t.gguf" }\n'), {}, {}).model.verifier.tokenizer).toBe('hf-local/t.gguf');
  });

  it('names a derived draft after the verifier, its layers and its quantization, in cacheDir', () => {
    const at = (derive: string): string => {
      const c = loadConfig(file(`cacheDir: /c\nmodel:\n  verifier: { path: /m/My.Model.GGUF }\n  draft: { derive: ${derive} }\n`), {}, {});
      const source = c.draftSource as { kind: string; out: string };
      expect(source.kind).toBe('derive');
      return source.out.replace(/\.[0-9a-f]{8}\./, '.HASH.');
    };
    expect(at('{}')).toBe('/c/My.Model.HASH.draft.all.f.gguf');
    expect(at('{ layers: "0-2" }')).toBe('/c/My.Model.HASH.draft.layers-0-2.f.gguf');
    expect(at('{ layers: "0,1, 4", quantize: q4_0 }')).toBe('/c/My.Model.HASH.draft.layers-0_1_4.q4_0.gguf');
    const c = loadConfig(file('model:\n  verifier: { path: /m/v.gguf }\n  draft: { derive: {} }\n'), {}, {});
    expect(c.draftSource).toEqual({ kind: 'derive', out: expect.stringMatching(/^.*\/specroute-cache\/v\.[0-9a-f]{8}\.draft\.all\.f\.gguf$/) });
    expect(Object.keys(c.draftSource)).toEqual(['kind', 'out']);
    // `pull --cache-dir` overrides the file's (and a relative cacheDir starts from the config file's folder).
    expect(loadConfig(file('cacheDir: /c\nmodel:\n  verifier: { path: /m/v.gguf }\n'), { cacheDir: '/elsewhere' }, {}).cacheDir).toBe('/elsewhere');
    const path = file('cacheDir: cache\nmodel:\n  verifier: { path: /m/v.gguf }\n  draft: { derive: {} }\n');
    expect(loadConfig(path, {}, {}).cacheDir).toBe(resolve(path, '..', 'cache'));
  });

  it('takes the model id from the verifier\'s file name without .gguf or .onnx (any case), unless given', () => {
    const id = (verifier: string): string => loadConfig(file(`model:\n  verifier: { path: "${verifier}" }\n`), {}, {}).modelId;
    expect(id('/m/tiny.gguf')).toBe('tiny');
    expect(id('/m/tiny.Q8.GGUF')).toBe('tiny.Q8');
    expect(id('/m/tiny.onnx')).toBe('tiny');
    expect(id('/m/a.gguf.b.gguf')).toBe('a.gguf.b');
    expect(id('/m/tiny.bin')).toBe('tiny.bin');
    expect(loadConfig(file('model:\n  id: mine\n  verifier: { path: v.gguf }\n'), {}, {}).modelId).toBe('mine');
  });

  it('refuses to derive a draft from an ONNX verifier named in the file, saying where it was asked', () => {
    const error = errorOf(() => loadConfig(file('model:\n  verifier: { path: /m/v.onnx }\n  draft: { derive: {} }\n'), {}, {}));
    expect(error.param).toBe('model.draft.derive');
    expect(error.message).toMatch(/^config .*c\.yaml: model\.draft\.derive: drafts are derived from GGUF verifiers only/);
  });

  it('without a file: paths from the current directory, and the model from the flags or the environment', () => {
    const c = loadConfig(undefined, { model: { verifier: 'rel/v.gguf' } }, {});
    expect(c.source).toBe('(defaults)');
    expect(c.modelsDir).toBe(resolve(process.cwd(), '../shared/models'));
    expect(c.verifierPath).toBe(resolve(process.cwd(), 'rel/v.gguf'));
    const env = loadConfig(undefined, {}, { SPECROUTE_MODEL__VERIFIER__PATH: 'v.gguf', SPECROUTE_MODELS_DIR: '/models' });
    expect(env.verifierPath).toBe('/models/v.gguf');
    const none = errorOf(() => loadConfig(undefined, { draftThreads: 2 }, {}));
    expect(none).toMatchObject({ param: '--draft-threads', message: 'there is no draft to give these threads: no config file names one' });
    expect(errorOf(() => loadConfig(undefined, {}, {})).message).toMatch(/^config \(defaults\): model: Required$/);
  });

  it('a file must hold a mapping of valid YAML; an empty file is an empty mapping', () => {
    for (const text of ['- a\n- b\n', 'just text\n', '42\n']) {
      const error = errorOf(() => loadConfig(file(text), {}, {}));
      expect(error, text).toMatchObject({ param: 'config', message: expect.stringMatching(/c\.yaml must hold a mapping$/) });
    }
    expect(errorOf(() => loadConfig(file(''), {}, {})).param).toBe('model');
    expect(errorOf(() => loadConfig(file('a: [b'), {}, {}))).toMatchObject({ param: 'config', message: expect.stringMatching(/^\/.*c\.yaml is not valid YAML: /) });
    expect(errorOf(() => loadConfig('/nonexistent/c.yaml', {}, {})).message).toMatch(/^cannot read the config file \/nonexistent\/c\.yaml: ENOENT/);
  });

  it('each flag and shortcut variable sets its key', () => {
    const c = loadConfig(file(minimal), { host: '0.0.0.0', port: 1, grpcPort: -1, modelsDir: '/flags' }, {});
    expect(c.server).toMatchObject({ host: '0.0.0.0', port: 1, grpcPort: -1 });
    expect(c.modelsDir).toBe('/flags');
    const e = loadConfig(file(minimal), {}, { SPECROUTE_HOST: '::1', SPECROUTE_PORT: '2', SPECROUTE_GRPC_PORT: '3', SPECROUTE_MODELS_DIR: '/env', SPECROUTE_API_KEYS: 'sk-aaaaaaaa,,sk-bbbbbbbb, ' });
    expect(e.server).toMatchObject({ host: '::1', port: 2, grpcPort: 3 });
    expect(e.modelsDir).toBe('/env');
    expect(e.auth.apiKeys).toEqual(['sk-aaaaaaaa', 'sk-bbbbbbbb']);
    expect(errorOf(() => loadConfig(file(minimal), {}, { SPECROUTE_API_KEYS: 'short' }))).toMatchObject({ param: 'auth.apiKeys.0', message: expect.stringMatching(/\(from SPECROUTE_API_KEYS\)$/) });
  });

  it('reads a number-like variable as a number only when it is one: signs and decimals included', () => {
    const c = loadConfig(file(minimal), {}, { SPECROUTE_SERVER__GRPC_PORT: '-1', SPECROUTE_SERVER__HEARTBEAT_SECONDS: '1.25', SPECROUTE_ESCALATION__POLICY__ENABLED: 'true' });
    expect(c.server.grpcPort).toBe(-1);
    expect(c.server.heartbeatSeconds).toBe(1.25);
    expect(c.escalation.policy.enabled).toBe(true);
    for (const text of ['12a', 'a12', '1.', '.5', '1.2.3', '--1']) {
      const error = errorOf(() => loadConfig(file(minimal), {}, { SPECROUTE_LIMITS__MAX_QUEUE: text }));
      expect(error.message, text).toMatch(/limits\.maxQueue: Expected number, received string \(from SPECROUTE_LIMITS__MAX_QUEUE\)$/);
    }
  });

  it('reads only SPECROUTE_* variables that are set, and blames a variable only for its own key', () => {
    const c = loadConfig(file(minimal), {}, { XPECROUTE_SERVER__PORT: 'x', SPECROUTE: 'x', SPECROUTE_API_KEYS: undefined, SPECROUTE_HOST: undefined });
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 8080 });
    expect(c.auth.apiKeys).toEqual([]);
    const error = errorOf(() => loadConfig(file(`${minimal}server: { port: x }\n`), {}, { SPECROUTE_LIMITS__MAX_QUEUE: '3', SPECROUTE_SERVER__HOST: 'h', SPECROUTE_SERVER__PORTS: undefined }));
    expect(error.param).toBe('server.port');
    expect(error.message).not.toContain('(from');
  });

  it('--draft-threads with a file whose model section is empty says so', () => {
    expect(errorOf(() => loadConfig(file('model: null\n'), { draftThreads: 2 }, {})).message).toMatch(/c\.yaml has no model\.draft$/);
  });

  it('a variable below a key that holds a value names that key; a variable replaces a section that is not a mapping', () => {
    expect(errorOf(() => loadConfig(file(minimal), {}, { SPECROUTE_SERVER__PORT__X: '1' }))).toMatchObject({ param: 'server.port', message: expect.stringMatching(/\(from SPECROUTE_SERVER__PORT__X\)$/) });
    for (const section of ['[]', 'null', '7']) {
      expect(loadConfig(file(`${minimal}server: ${section}\n`), {}, { SPECROUTE_PORT: '9' }).server.port, section).toBe(9);
    }
  });
});

describe('--draft-derive', () => {
  it('reads layers and/or quantize, comma-separated, a layer list holding commas of its own', () => {
    expect(draftDerive('layers=0-2')).toEqual({ layers: '0-2' });
    expect(draftDerive('quantize=q8_0')).toEqual({ quantize: 'q8_0' });
    expect(draftDerive('layers=0-2,quantize=q4_0')).toEqual({ layers: '0-2', quantize: 'q4_0' });
    expect(draftDerive('quantize=Q8_0, layers=0,1,4')).toEqual({ quantize: 'q8_0', layers: '0,1,4' });
    expect(draftDerive('layers=0,1,4,quantize=q8_0')).toEqual({ layers: '0,1,4', quantize: 'q8_0' });
  });

  it('rejects what it cannot read, saying what it expects', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /expected layers=LIST and\/or quantize=q8_0\|q4_0/],
      ['q8_0', /expected layers=LIST/],
      ['quantize=q5_1', /quantize must be q8_0 or q4_0, got "q5_1"/],
      ['quantize=', /quantize has no value/],
      ['layers=0-2,layers=3', /layers is given twice/],
      ['layer=0-2', /unknown key "layer"/],
      ['layers=a-b', /cannot read "a-b"/],
      ['layers=2-0', /runs backwards/],
      ['layers=0-2,,quantize=q8_0', /expected layers=LIST/],
      ['quantize=q8_0,3', /expected layers=LIST/],
    ];
    for (const [value, message] of cases) {
      let error: unknown;
      try {
        draftDerive(value);
      } catch (e) {
        error = e;
      }
      expect(error, value).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message, value).toMatch(message);
    }
  });
});

describe('auth.keys', () => {
  const base = 'model:\n  verifier: { path: v.gguf }\n';
  const digest = (key: string): string => createHash('sha256').update(key).digest('hex');

  it('reads a key from its variable as its SHA-256 digest, or takes the digest as given, with the limits', () => {
    const c = loadConfig(
      file(`${base}auth:\n  keys:\n    - { name: a, keyEnv: TEAM_A_KEY, requestsPerMinute: 3, tiers: [slm] }\n    - { name: b, sha256: ${digest('sk-b-key-123')} }\n`),
      {},
      { TEAM_A_KEY: 'sk-a-key-123' },
    );
    expect(c.authKeys).toEqual([
      { sha256: digest('sk-a-key-123'), quota: { name: 'a', requestsPerMinute: 3, tiers: ['slm'] } },
      { sha256: digest('sk-b-key-123'), quota: { name: 'b' } },
    ]);
  });

  it('names the key at fault: an unset variable, both or neither of keyEnv and sha256, a bad digest, a name used twice', () => {
    const cases: Array<[string, string, string | RegExp]> = [
      ['- { name: a, keyEnv: NOT_SET_ANYWHERE }', 'auth.keys.0.keyEnv', 'the environment variable NOT_SET_ANYWHERE is not set'],
      [`- { name: a, keyEnv: K, sha256: ${'a'.repeat(64)} }`, 'auth.keys.0', 'give exactly one of keyEnv and sha256'],
      ['- { name: a }', 'auth.keys.0', 'give exactly one of keyEnv and sha256'],
      ['- { name: a, sha256: ABC }', 'auth.keys.0.sha256', '64 lowercase hex digits'],
      [`- { name: a, sha256: ${'a'.repeat(64)} }\n    - { name: a, sha256: ${'b'.repeat(64)} }`, 'auth.keys', 'key names must be unique'],
      [`- { name: a, sha256: ${'a'.repeat(64)}, tiers: [cloud] }`, 'auth.keys.0.tiers.0', /expected one of|Invalid enum/],
    ];
    for (const [entry, param, message] of cases) {
      const error = errorOf(() => loadConfig(file(`${base}auth:\n  keys:\n    ${entry}\n`), {}, { K: 'x' }));
      expect(error.param, entry).toBe(param);
      expect(error.message, entry).toMatch(message);
    }
  });
});
