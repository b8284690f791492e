import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z, type ZodIssue, type ZodTypeAny } from 'zod';
import type { KeyQuota } from '../scheduler/key-quotas.js';
import { SpecrouteError } from '../errors/registry.js';
import { tierNeeds, type Tier } from '../events/route-decision.js';
import { defaultCacheDir } from '../models/model-cache.js';
import { isModelUri, modelFileName, parseModelUri } from '../models/model-uri.js';
import { isOnnxPath } from '../models/onnx/tokenizer-path.js';
import { configSchema, type SpecrouteConfig } from './schema.js';

/**
 * A `model` section given on the command line (`specroute serve --verifier …`). Relative paths are taken as a
 * shell gives them: from the current directory, not from `modelsDir`. A model URI (`hf:…`, `https://…`) is kept
 * as it is.
 */
export interface ModelOverride {
  /** The verifier file (GGUF, or ONNX `.onnx`). */
  verifier: string;
  /** The draft: a file, or one derived from the verifier at boot (cached). None when absent. */
  draft?: { path: string } | { derive: { layers?: string; quantize?: 'q8_0' | 'q4_0' } };
}

/** Command-line overrides (`specroute serve` flags). */
export interface ConfigOverrides {
  port?: number;
  grpcPort?: number;
  host?: string;
  modelsDir?: string;
  /** `cacheDir` (`specroute pull --cache-dir`). */
  cacheDir?: string;
  /**
   * Replaces the file's whole `model` section, never merged with it: no draft unless `draft` names one, and the
   * file's per-model keys (`contextSize`, `kvCacheType`…) take their defaults. The other sections still apply,
   * and so do `SPECROUTE_MODEL__…` variables, on top.
   */
  model?: ModelOverride;
  /** `model.id`, the id clients send (over the file's or the `model` replacement's). */
  modelId?: string;
  /** `model.verifier.threads`. */
  threads?: number;
  /** `model.draft.threads`; an error when there is no draft to apply it to. */
  draftThreads?: number;
  /**
   * A config fragment written by `specroute profile --write` (`serve --profile`): merged over the file, key by key
   * (a mapping merges, anything else replaces), before the flags above and the environment. Its `model` section
   * only tunes the models served (threads…): it never adds a draft, and applies to the models `model` names too.
   */
  profile?: string;
}

/**
 * A validated configuration with every path resolved. A model given by URI (`hf:…`, `https://…`; here and in
 * `model.*.tokenizer`) stays a URI until `fetchConfigModels` puts the file in `cacheDir` and replaces it with the
 * local path.
 */
export interface ResolvedConfig extends SpecrouteConfig {
  /** Absolute: the file's `cacheDir`, or `<os tmpdir>/specroute-cache`. */
  readonly cacheDir: string;
  readonly modelId: string;
  readonly verifierPath: string;
  /** The draft file, or what to derive it from. */
  readonly draftSource: { kind: 'none' } | { kind: 'file'; path: string } | { kind: 'derive'; layers?: string; quantize?: 'q8_0' | 'q4_0'; out: string };
  /** `routing.router` resolved against the config file's folder, or undefined. */
  readonly routerPath: string | undefined;
  /** Where the config came from, for messages. */
  readonly source: string;
  /** `auth.keys` with each key as its SHA-256 digest (`keyEnv` read from the environment). */
  readonly authKeys: readonly AuthKey[];
}

/** One of `auth.keys`, ready to check a presented key against. */
export interface AuthKey {
  /** The key's SHA-256 digest, lowercase hex. */
  readonly sha256: string;
  readonly quota: KeyQuota;
}

/** Environment shortcuts for the keys people change most. Any key is reachable as SPECROUTE_A__B_C (see below). */
const ENV_SHORTCUTS: Record<string, readonly string[]> = {
  SPECROUTE_HOST: ['server', 'host'],
  SPECROUTE_PORT: ['server', 'port'],
  SPECROUTE_GRPC_PORT: ['server', 'grpcPort'],
  SPECROUTE_MODELS_DIR: ['modelsDir'],
  SPECROUTE_API_KEYS: ['auth', 'apiKeys'],
};

/**
 * Loads the YAML file, applies flags (`overrides.model` first, replacing the file's `model` section), then
 * `SPECROUTE_*` environment variables (which win over both), validates the result and resolves paths. An error
 * names the offending key in full (`escalation.frontier.firstByteTimeoutMs`, an unknown `server.prot`), and the
 * variable when the value came from one.
 *
 * Environment variables: the shortcuts above, or any key as `SPECROUTE_` + its path in upper snake case with
 * `__` between levels: `SPECROUTE_MODEL__VERIFIER__THREADS=2`, `SPECROUTE_LIMITS__MAX_QUEUE=8`. A value is read
 * by the type of its key: text for a text key (`SPECROUTE_MODEL__ID=2024` is the id "2024"), a comma-separated
 * list for a list (`SPECROUTE_API_KEYS=k1,k2`), else a YAML scalar (numbers, booleans, `null`). A variable whose
 * first part names no top-level key is not configuration and is left alone (`SPECROUTE_NATIVE`, read by the
 * kernels); within a known section an unknown key is an error like one in the file.
 */
export function loadConfig(file: string | undefined, overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  let raw: Record<string, unknown> = {};
  const source = file ?? '(defaults)';
  if (file) raw = readYamlMapping(file, 'config');
  const profile = overrides.profile !== undefined ? readYamlMapping(overrides.profile, 'profile') : undefined;
  if (profile) raw = mergeProfile(raw, profile);
  if (overrides.port !== undefined) setPath(raw, ['server', 'port'], overrides.port);
  if (overrides.grpcPort !== undefined) setPath(raw, ['server', 'grpcPort'], overrides.grpcPort);
  if (overrides.host !== undefined) setPath(raw, ['server', 'host'], overrides.host);
  if (overrides.modelsDir !== undefined) setPath(raw, ['modelsDir'], overrides.modelsDir);
  if (overrides.cacheDir !== undefined) setPath(raw, ['cacheDir'], overrides.cacheDir);
  applyModelOverrides(raw, overrides, source, profile);
  const fromEnv = applyEnv(raw, env);

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const { key, message } = explain(parsed.error.issues[0]!);
    // The variable that set this key, one above it (a list, a section), or one below it.
    const variable = [...fromEnv].find(([path]) => key === path || key.startsWith(`${path}.`) || path.startsWith(`${key}.`))?.[1];
    const from = variable ?? (profile && overrides.profile !== undefined && holdsKey(profile, key) ? `the profile ${overrides.profile}` : undefined);
    throw new SpecrouteError('invalid_argument', `config ${source}: ${key}: ${message}${from ? ` (from ${from})` : ''}`, { param: key });
  }
  const config = parsed.data;
  const base = file ? dirname(resolve(file)) : process.cwd();
  const modelsDir = resolve(base, config.modelsDir);
  // A model URI is checked here (so that a malformed one fails naming its key) and fetched at boot.
  const inModels = (p: string, key: string): string => {
    if (!isModelUri(p)) return isAbsolute(p) ? p : resolve(modelsDir, p);
    try {
      parseModelUri(p, key);
    } catch (error) {
      throw new SpecrouteError('invalid_argument', `config ${source}: ${key}: ${(error as Error).message}`, { param: key });
    }
    return p;
  };
  const verifierPath = inModels(config.model.verifier.path, 'model.verifier.path');
  const draft = config.model.draft;
  // A tokenizer URI is checked like the models'; a tokenizer path is left for the backend to resolve.
  for (const [key, tokenizer] of [['model.verifier.tokenizer', config.model.verifier.tokenizer], ['model.draft.tokenizer', draft?.tokenizer]] as const) {
    if (tokenizer !== undefined) inModels(tokenizer, key);
  }
  const cacheDir = resolve(base, config.cacheDir ?? defaultCacheDir());
  const stem = modelFileName(verifierPath).replace(/\.(gguf|onnx)$/i, '');
  let draftSource: ResolvedConfig['draftSource'] = { kind: 'none' };
  if (draft?.path) draftSource = { kind: 'file', path: inModels(draft.path, 'model.draft.path') };
  else if (draft?.derive) {
    if (isOnnxPath(modelFileName(verifierPath))) {
      const asked = overrides.model?.draft && 'derive' in overrides.model.draft ? '--draft-derive' : `config ${source}: model.draft.derive`;
      throw new SpecrouteError('invalid_argument', `${asked}: drafts are derived from GGUF verifiers only; derive from the GGUF, then convert it with specroute convert`, {
        param: 'model.draft.derive',
      });
    }
    const { layers, quantize } = draft.derive;
    const tag = [layers ? `layers-${layers.replace(/[^0-9-]+/g, '_')}` : 'all', quantize ?? 'f'].join('.');
    // Keyed by the verifier's full path too: two models of the same file name (any two `model.gguf`) must not
    // share a cached draft.
    const where = createHash('sha256').update(verifierPath).digest('hex').slice(0, 8);
    draftSource = { kind: 'derive', ...(layers ? { layers } : {}), ...(quantize ? { quantize } : {}), out: resolve(cacheDir, `${stem}.${where}.draft.${tag}.gguf`) };
  }
  checkRouting(config, draftSource.kind !== 'none', source);
  const routerPath = config.routing.router === undefined ? undefined : resolve(base, config.routing.router);
  // The schema holds exactly one of keyEnv and sha256.
  const authKeys = config.auth.keys.map(({ name, keyEnv, sha256, ...limits }, i): AuthKey => {
    const quota = { name, ...limits };
    if (keyEnv === undefined) return { sha256: sha256!, quota };
    const key = env[keyEnv];
    if (!key) throw new SpecrouteError('invalid_argument', `config ${source}: auth.keys.${i}.keyEnv: the environment variable ${keyEnv} is not set`, { param: `auth.keys.${i}.keyEnv` });
    return { sha256: createHash('sha256').update(key).digest('hex'), quota };
  });
  return { ...config, modelsDir, cacheDir, modelId: config.model.id ?? stem, verifierPath, draftSource, routerPath, source, authKeys };
}

/** Routing may only send requests to tiers this server has: `slm` needs a draft, `frontier` a frontier. */
function checkRouting(config: SpecrouteConfig, hasDraft: boolean, source: string): void {
  const lacks = (tier: Tier | 'auto'): tier is 'slm' | 'frontier' => (tier === 'slm' && !hasDraft) || (tier === 'frontier' && config.escalation.frontier === undefined);
  const fail = (key: string, message: string): never => {
    throw new SpecrouteError('invalid_argument', `config ${source}: ${key}: ${message}`, { param: key });
  };
  const chosen = config.routing.default;
  if (lacks(chosen)) fail('routing.default', `'${chosen}' needs ${tierNeeds[chosen]}`);
  config.routing.routes.forEach((route, i) => {
    if (lacks(route.tier)) fail(`routing.routes[${i}].tier`, `'${route.tier}' needs ${tierNeeds[route.tier]}`);
  });
  if (config.routing.router !== undefined && lacks('frontier')) fail('routing.router', `the router sends requests to the frontier, which needs ${tierNeeds.frontier}`);
  if (config.routing.targetFrontierShare !== undefined && config.routing.router === undefined) fail('routing.targetFrontierShare', 'it re-derives the threshold of a router: set routing.router too');
  if (config.routing.slo !== undefined && lacks('frontier')) fail('routing.slo', `requests spill to the frontier, which needs ${tierNeeds.frontier}`);
  if (config.routing.cascade !== undefined && lacks('frontier')) fail('routing.cascade', `unconfident requests move to the frontier, which needs ${tierNeeds.frontier}`);
}

function applyModelOverrides(raw: Record<string, unknown>, overrides: ConfigOverrides, source: string, profile: Record<string, unknown> | undefined): void {
  if (overrides.model) {
    const { verifier, draft } = overrides.model;
    raw.model = {
      verifier: { path: fromHere(verifier) },
      draft: draft === undefined ? null : 'path' in draft ? { path: fromHere(draft.path) } : { derive: { ...draft.derive } },
    };
    // A profile's per-model keys (threads) tune the models served, whichever named them.
    if (profile) raw.model = profileModelKeys(raw.model as Record<string, unknown>, profile.model, false);
  }
  if (overrides.modelId !== undefined) setPath(raw, ['model', 'id'], overrides.modelId);
  if (overrides.threads !== undefined) setPath(raw, ['model', 'verifier', 'threads'], overrides.threads);
  if (overrides.draftThreads !== undefined) {
    const model = raw.model as Record<string, unknown> | undefined;
    const draft = typeof model === 'object' && model !== null ? model.draft : undefined;
    if (typeof draft !== 'object' || draft === null || Array.isArray(draft)) {
      const why = overrides.model ? '--verifier was given without --draft or --draft-derive' : source === '(defaults)' ? 'no config file names one' : `${source} has no model.draft`;
      throw new SpecrouteError('invalid_argument', `there is no draft to give these threads: ${why}`, { param: '--draft-threads' });
    }
    setPath(raw, ['model', 'draft', 'threads'], overrides.draftThreads);
  }
}

/** A path given on the command line, from the current directory; a model URI as it is. */
function fromHere(path: string): string {
  return isModelUri(path) ? path : resolve(path);
}

/**
 * The dotted key an issue is about, and what is wrong there. An unknown key is named in full, with the keys its
 * section does take.
 */
function explain(issue: ZodIssue): { key: string; message: string } {
  const at = issue.path.map(String);
  if (issue.code !== 'unrecognized_keys') return { key: at.join('.') || '(root)', message: issue.message };
  const [first, ...more] = issue.keys.map((k) => [...at, k].join('.'));
  const section = schemaAt(at);
  const known = section instanceof z.ZodObject ? ` (${at.length > 0 ? at.join('.') : 'the top level'} takes ${Object.keys(section.shape).join(', ')})` : '';
  return { key: first!, message: `unknown key${more.length > 0 ? `, and so are ${more.join(', ')}` : ''}${known}` };
}

/** The schema under defaults, optionals, nullables and refinements. */
function unwrap(schema: ZodTypeAny): ZodTypeAny {
  for (;;) {
    if (schema instanceof z.ZodDefault) schema = schema.removeDefault();
    else if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) schema = schema.unwrap();
    else if (schema instanceof z.ZodEffects) schema = schema.innerType();
    else return schema;
  }
}

/** The (unwrapped) schema of the key at `path`, or undefined when the config has no such key. */
function schemaAt(path: readonly string[]): ZodTypeAny | undefined {
  let at: ZodTypeAny | undefined = configSchema;
  for (const key of path) {
    const object: ZodTypeAny | undefined = at && unwrap(at);
    at = object instanceof z.ZodObject ? (object.shape as Record<string, ZodTypeAny | undefined>)[key] : undefined;
  }
  return at && unwrap(at);
}

const TOP_LEVEL_KEYS = new Set(Object.keys(configSchema.shape));

/**
 * The config key path a `SPECROUTE_*` variable names: a shortcut's (`SPECROUTE_MODELS_DIR` is `modelsDir`), or
 * the rest of the name split at `__`, each part from upper snake case to camelCase
 * (`SPECROUTE_STATE__REDIS__KEY_PREFIX` is `state.redis.keyPrefix`). Whether the key exists is not checked here.
 */
export function envPath(name: string): string[] {
  const shortcut = ENV_SHORTCUTS[name];
  if (shortcut) return [...shortcut];
  return name
    .slice('SPECROUTE_'.length)
    .split('__')
    .map((part) => part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
}

/** Applies the `SPECROUTE_*` variables that are configuration; returns which variable set each dotted key. */
function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Map<string, string> {
  const applied = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('SPECROUTE_') || value === undefined) continue;
    const path = envPath(name);
    if (!TOP_LEVEL_KEYS.has(path[0]!)) continue;
    setPath(raw, path, envValue(schemaAt(path), value));
    applied.set(path.join('.'), name);
  }
  return applied;
}

/** A variable's text read by the type of its key: text as is, a list split at commas, else a YAML scalar. */
function envValue(schema: ZodTypeAny | undefined, value: string): unknown {
  if (schema instanceof z.ZodString || schema instanceof z.ZodEnum) return value;
  if (schema instanceof z.ZodArray) return value.split(',').map((item) => item.trim()).filter(Boolean);
  return scalar(value);
}

function scalar(value: string): unknown {
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  if (value === 'true' || value === 'false') return value === 'true';
  if (value === 'null') return null;
  return value;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}

/** A YAML file holding a mapping; `param` names the flag that gave it in errors. */
function readYamlMapping(file: string, param: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new SpecrouteError('invalid_argument', `cannot read the ${param} file ${file}: ${(error as Error).message}`, { param });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (error) {
    throw new SpecrouteError('invalid_argument', `${file} is not valid YAML: ${(error as Error).message}`, { param });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SpecrouteError('invalid_argument', `${file} must hold a mapping`, { param });
  return raw as Record<string, unknown>;
}

/**
 * A profile fragment (`serve --profile`) merged over the config: key by key, except that the fragment's `model`
 * section only tunes models the config has (never a draft the config lacks) and never names them (`path`,
 * `derive`), so a profile's `model.draft.threads` over a config without a draft is dropped rather than an error.
 */
function mergeProfile(raw: Record<string, unknown>, profile: Record<string, unknown>): Record<string, unknown> {
  const { model, ...rest } = profile;
  const merged = mergeMappings(raw, rest);
  if (model !== undefined && isMapping(merged.model)) merged.model = profileModelKeys(merged.model, model, true);
  else if (model !== undefined && merged.model === undefined) merged.model = model;
  return merged;
}

/** `model` with the profile's per-model keys merged into each model it has; `keepOthers` keeps the profile's other `model` keys (`id`). */
function profileModelKeys(model: Record<string, unknown>, profileModel: unknown, keepOthers: boolean): Record<string, unknown> {
  if (!isMapping(profileModel)) return keepOthers && profileModel !== undefined ? { ...model } : model;
  const out: Record<string, unknown> = { ...model };
  for (const [key, value] of Object.entries(profileModel)) {
    if (key === 'verifier' || key === 'draft') {
      const target = out[key];
      if (!isMapping(target) || !isMapping(value)) continue;
      const { path: _path, derive: _derive, ...tuning } = value;
      out[key] = mergeMappings(target, tuning);
    } else if (keepOthers) out[key] = value;
  }
  return out;
}

/** Whether the dotted `key` (or a key above it) is set in `mapping`. */
function holdsKey(mapping: Record<string, unknown>, key: string): boolean {
  let node: unknown = mapping;
  for (const part of key.split('.')) {
    if (!isMapping(node) || !(part in node)) return false;
    node = node[part];
  }
  return true;
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `over` merged into `base`: mappings merge key by key, anything else in `over` replaces. */
function mergeMappings(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isMapping(current) && isMapping(value) ? mergeMappings(current, value) : value;
  }
  return out;
}
