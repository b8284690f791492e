import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { z, type ZodTypeAny } from 'zod';
import { draftDerive } from '../../src/cli/options.js';
import { loadConfig } from '../../src/config/load-config.js';
import { configSchema } from '../../src/config/schema.js';
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

function errorOf(fn: () => unknown): SpecrouteError {
  try {
    fn();
  } catch (error) {
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
  /** The smallest valid config holding every section: a draft file, and a frontier (its keys exist only with one). */
  const BASE = { model: { verifier: { path: 'v.gguf' }, draft: { path: 'd.gguf' } }, escalation: { frontier: { baseUrl: 'http://127.0.0.1:9/v1', model: 'f' } } };
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

  it('names every unknown key of a section, and the keys it takes', () => {
    const error = errorOf(() => loadConfig(yamlFile(withValue(withValue(BASE, ['limits', 'maxQueu'], 1), ['limits', 'maxConcurent'], 2)), {}, {}));
    expect(error.param).toBe('limits.maxQueu');
    expect(error.message).toMatch(/limits\.maxQueu: unknown key, and so are limits\.maxConcurent \(limits takes maxConcurrent, maxQueue, requestTimeoutMs, defaultMaxTokens\)$/);
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
