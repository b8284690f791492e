/**
 * The one description of every per-request setting: its wire name (the same snake_case on HTTP and gRPC), type,
 * range, default, and the config key that may set a server-wide default. The config schema, per-request
 * validation, the HTTP JSON schema, gRPC parsing and the README's reference tables are all built from this
 * table (see docs/ARCHITECTURE.md#one-request-contract). Adding a setting means adding a row here, then teaching
 * the code that honours it.
 */

/** Which object of `GenerationRequest` (and of the wire formats) a setting sits in. */
export type SettingGroup = 'request' | 'sampling' | 'speculation' | 'escalation';

interface SettingBase {
  /** The wire name of the field inside its group, snake_case: `p_min`. */
  readonly name: string;
  /** What it does, for the reference tables and `--help`. */
  readonly doc: string;
  /**
   * The config key (dotted camelCase path) that sets the server-wide default; absent when only a request may set
   * it.
   */
  readonly config?: string;
  /** Over HTTP, `body` fields sit at the top level of the OpenAI body; `extension` ones under `specroute`. */
  readonly http: 'body' | 'extension';
  /** False when gRPC carries it another way (the timeout is the call's deadline). */
  readonly grpc: boolean;
}

export interface NumberSetting extends SettingBase {
  readonly kind: 'number' | 'integer';
  readonly min: number;
  /** True when `min` itself is refused (`top_p` must be above 0). */
  readonly minExclusive?: boolean;
  /** Largest value; absent when unbounded (the context still caps `max_tokens`). */
  readonly max?: number;
  /** The default; `undefined` when it is chosen per request (a random seed). */
  readonly default: number | undefined;
}

export interface BooleanSetting extends SettingBase {
  readonly kind: 'boolean';
  readonly default: boolean;
}

/** One of a fixed set of words: `route`. */
export interface EnumSetting extends SettingBase {
  readonly kind: 'enum';
  readonly values: readonly string[];
  readonly default: string;
}

export type SettingSpec = NumberSetting | BooleanSetting | EnumSetting;

const UINT32_MAX = 0xffffffff;

/**
 * Every request setting by group and camelCase field name (the name it has on `GenerationRequest`, in the
 * config and in the engine). Ranges are inclusive unless `minExclusive`.
 */
export const requestSettings = {
  request: {
    maxTokens: {
      name: 'max_tokens', kind: 'integer', min: 1, default: 256, config: 'limits.defaultMaxTokens', http: 'body', grpc: true,
      doc: 'Most tokens to generate; without it, the default capped by the context left after the prompt.',
    },
    topLogprobs: {
      name: 'top_logprobs', kind: 'integer', min: 0, max: 20, default: 0, http: 'body', grpc: true,
      doc: 'Most likely alternatives (with their text and log-probability under the verifier) attached to each token.',
    },
    route: {
      name: 'route', kind: 'enum', values: ['auto', 'slm', 'hybrid', 'frontier'], default: 'hybrid', config: 'routing.default', http: 'extension', grpc: true,
      doc: 'Which tier answers: `slm` (the draft alone), `hybrid` (the speculative pair, escalating spans to the frontier), `frontier` (the whole request from the frontier), or `auto` (semantic routes, then the trained router).',
    },
    ignoreEos: {
      name: 'ignore_eos', kind: 'boolean', default: false, http: 'body', grpc: true,
      doc: 'Keep generating past the end-of-sequence token.',
    },
    timeoutMs: {
      name: 'timeout_ms', kind: 'integer', min: 1, default: 300_000, config: 'limits.requestTimeoutMs', http: 'extension', grpc: false,
      doc: 'Time limit of the request from admission, ms; the tighter of the request\'s and the server\'s applies (gRPC: the call deadline).',
    },
  },
  sampling: {
    temperature: {
      name: 'temperature', kind: 'number', min: 0, max: 2, default: 0, config: 'sampling.temperature', http: 'body', grpc: true,
      doc: 'Softmax temperature; 0 is greedy, and then speculative output is token-identical to the verifier\'s own.',
    },
    topK: {
      name: 'top_k', kind: 'integer', min: 0, default: 0, config: 'sampling.topK', http: 'body', grpc: true,
      doc: 'Keep the k most likely tokens; 0 disables it (HTTP also takes -1, as vLLM does).',
    },
    topP: {
      name: 'top_p', kind: 'number', min: 0, minExclusive: true, max: 1, default: 1, config: 'sampling.topP', http: 'body', grpc: true,
      doc: 'Nucleus sampling: keep the smallest set of most likely tokens holding this much probability; 1 disables it.',
    },
    minP: {
      name: 'min_p', kind: 'number', min: 0, max: 1, default: 0, config: 'sampling.minP', http: 'body', grpc: true,
      doc: 'Drop tokens whose probability is below min_p × the top token\'s (after temperature, top-k, top-p); 0 disables it.',
    },
    seed: {
      name: 'seed', kind: 'integer', min: 0, max: UINT32_MAX, default: undefined, http: 'body', grpc: true,
      doc: 'Seed of the request\'s random stream: the same seed, prompt, models and settings give the same tokens. Defaults to a random seed.',
    },
  },
  speculation: {
    min: {
      name: 'min', kind: 'integer', min: 0, max: 64, default: 0, config: 'speculation.min', http: 'extension', grpc: true,
      doc: 'Smallest draft length γ; 0 lets adaptation pause a failing draft (plain verifier steps, then a one-token probe).',
    },
    max: {
      name: 'max', kind: 'integer', min: 0, max: 64, default: 8, config: 'speculation.max', http: 'extension', grpc: true,
      doc: 'Largest draft length γ; 0 turns drafting off.',
    },
    initial: {
      name: 'initial', kind: 'integer', min: 0, max: 64, default: 4, config: 'speculation.initial', http: 'extension', grpc: true,
      doc: 'γ of the first block.',
    },
    adaptive: {
      name: 'adaptive', kind: 'boolean', default: true, config: 'speculation.adaptive', http: 'extension', grpc: true,
      doc: 'Adapt γ to acceptance: +2 after a fully accepted block, −1 after a rejection; at γ = 0 (`min` 0), 4 plain verifier steps (tokens tagged `verifier`) then a one-token probe, the pause doubling (up to 64) after each failed probe. An adaptive γ also stays under the server\'s ceiling for the load (`batching.profile`); `false` drafts `max` tokens every block, whatever the load.',
    },
    pMin: {
      name: 'p_min', kind: 'number', min: 0, max: 1, default: 0, config: 'speculation.pMin', http: 'extension', grpc: true,
      doc: 'Stop a draft block when the draft\'s confidence in its next token falls below this (llama.cpp\'s --draft-p-min); 0 disables it.',
    },
  },
  escalation: {
    window: {
      name: 'window', kind: 'integer', min: 1, max: 256, default: 4, config: 'escalation.policy.window', http: 'extension', grpc: true,
      doc: 'Tokens in the sliding window whose mean is compared with the thresholds.',
    },
    minConfidence: {
      name: 'min_confidence', kind: 'number', min: 0, max: 1, default: 0.35, config: 'escalation.policy.minConfidence', http: 'extension', grpc: true,
      doc: 'Escalate when the window\'s mean verifier top probability is below this (BiLD); 0 disables it.',
    },
    minMargin: {
      name: 'min_margin', kind: 'number', min: 0, max: 1, default: 0, config: 'escalation.policy.minMargin', http: 'extension', grpc: true,
      doc: 'Escalate when the window\'s mean verifier margin (top − second probability) is below this; 0 disables it.',
    },
    maxEntropy: {
      name: 'max_entropy', kind: 'number', min: 0, max: 100, default: 0, config: 'escalation.policy.maxEntropy', http: 'extension', grpc: true,
      doc: 'Escalate when the window\'s mean verifier entropy (nats) is above this; 0 disables it.',
    },
    spanTokens: {
      name: 'span_tokens', kind: 'integer', min: 1, max: 4096, default: 16, config: 'escalation.policy.spanTokens', http: 'extension', grpc: true,
      doc: 'Most frontier tokens per escalation.',
    },
    cooldownTokens: {
      name: 'cooldown_tokens', kind: 'integer', min: 0, max: 4096, default: 16, config: 'escalation.policy.cooldownTokens', http: 'extension', grpc: true,
      doc: 'Local tokens after an escalation (or a skipped one) before the next may trigger.',
    },
  },
} as const satisfies { readonly [G in SettingGroup]: Readonly<Record<string, SettingSpec>> };

type Table = typeof requestSettings;

/** The value type of one setting: a number, a boolean, or one of an enum's words. */
type ValueOf<S> = S extends { kind: 'boolean' } ? boolean : S extends { kind: 'enum'; values: readonly (infer V)[] } ? V : number;

/** A group's settings as values. */
export type SettingValues<G extends SettingGroup> = {
  -readonly [K in keyof Table[G]]: ValueOf<Table[G][K]>;
};

/** The defaults of a group's settings (settings without a fixed default, like the seed, are left out). */
export function settingDefaults<G extends SettingGroup>(group: G): SettingValues<G> {
  const out: Record<string, unknown> = {};
  for (const [field, spec] of Object.entries(requestSettings[group]) as Array<[string, SettingSpec]>) {
    if (spec.default !== undefined) out[field] = spec.default;
  }
  return out as SettingValues<G>;
}

/** A setting's full wire name: `max_tokens`, `min_p`, `speculation.p_min`, `escalation.window`. */
export function wireName(group: SettingGroup, spec: SettingSpec): string {
  return group === 'speculation' || group === 'escalation' ? `${group}.${spec.name}` : spec.name;
}

/** Every setting with its group, field and full wire name, in table order. */
export function allSettings(): Array<{ group: SettingGroup; field: string; wire: string; spec: SettingSpec }> {
  return (Object.keys(requestSettings) as SettingGroup[]).flatMap((group) =>
    (Object.entries(requestSettings[group]) as Array<[string, SettingSpec]>).map(([field, spec]) => ({ group, field, wire: wireName(group, spec), spec })),
  );
}

/** The range in words: `an integer from 0 to 64`, `between 0 and 1`, `in (0, 1]`, `a positive integer`, `true or false`, `one of a, b`. */
export function describeRange(spec: SettingSpec): string {
  if (spec.kind === 'boolean') return 'true or false';
  if (spec.kind === 'enum') return `one of ${spec.values.join(', ')}`;
  if (spec.kind === 'integer') {
    if (spec.max !== undefined) return `an integer from ${spec.min} to ${spec.max}`;
    if (spec.min === 1) return 'a positive integer';
    if (spec.min === 0) return 'a non-negative integer';
    return `an integer ≥ ${spec.min}`;
  }
  if (spec.max === undefined) return `a number ${spec.minExclusive ? '>' : '≥'} ${spec.min}`;
  return spec.minExclusive ? `in (${spec.min}, ${spec.max}]` : `between ${spec.min} and ${spec.max}`;
}

/** Whether `value` is in the setting's type and range. */
export function inRange(spec: SettingSpec, value: unknown): boolean {
  if (spec.kind === 'boolean') return typeof value === 'boolean';
  if (spec.kind === 'enum') return typeof value === 'string' && spec.values.includes(value);
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  if (spec.kind === 'integer' && !Number.isInteger(value)) return false;
  if (spec.minExclusive ? value <= spec.min : value < spec.min) return false;
  return spec.max === undefined || value <= spec.max;
}
