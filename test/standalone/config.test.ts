import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
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
    expect(typo.param).toBe('server');
    expect(typo.message).toMatch(/unknown key\(s\) prot/);
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
      ['model:\n  verifier: { path: v.gguf }\nspeculation: { maxx: 3 }\n', 'speculation'],
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
});
