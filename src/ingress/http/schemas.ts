/**
 * JSON schemas of the OpenAI request bodies: types and shapes only. The request settings' fields come from the
 * single description (`src/contract/request-settings.ts`): its `body` settings at the top level, its `extension`
 * ones under `specroute`. Ranges and cross-field rules are checked once, at admission; what only the OpenAI wire
 * format knows (unsupported options, `n`, content parts) lives in `openai-request.ts`.
 *
 * Unknown fields are accepted and ignored (OpenAI adds fields often; clients send them). Known fields are
 * type-checked, and `null` means "the default" for every optional one, as OpenAI's API treats it.
 */
import { requestSettings, type SettingGroup, type SettingSpec } from '../../contract/request-settings.js';

const nullable = (type: string | string[]): { type: string[] } => ({ type: [...(Array.isArray(type) ? type : [type]), 'null'] });
const integerOrNull = nullable('integer');
const booleanOrNull = nullable('boolean');
const numberOrNull = nullable('number');
const stringOrNull = nullable('string');

/** The JSON schema of each setting of `group` that sits where `http` says, by wire name (`null` allowed at the top level). */
function settingProperties(group: SettingGroup, http: SettingSpec['http'], allowNull: boolean, except: readonly string[] = []): Record<string, { type: string | string[] }> {
  const out: Record<string, { type: string | string[] }> = {};
  for (const spec of Object.values(requestSettings[group]) as SettingSpec[]) {
    if (spec.http !== http || except.includes(spec.name)) continue;
    const type = spec.kind === 'enum' ? 'string' : spec.kind; // the words themselves are checked at admission
    out[spec.name] = allowNull ? nullable(type) : { type };
  }
  return out;
}

const stop = { type: ['string', 'array', 'null'], items: { type: 'string' } } as const;

const streamOptions = {
  type: ['object', 'null'],
  properties: { include_usage: booleanOrNull, continuous_usage_stats: booleanOrNull },
} as const;

/** `specroute`: per-request extensions. */
const specrouteExtension = {
  type: ['object', 'null'],
  properties: {
    /** `false`: verifier-only decoding; `true`: the server's settings; an object overrides parts of them. */
    speculation: { type: ['boolean', 'object', 'null'], properties: settingProperties('speculation', 'extension', false) },
    /**
     * `false`: never escalate this request to the frontier; `true`: the server's policy; an object overrides
     * parts of it (only with a frontier configured).
     */
    escalation: { type: ['boolean', 'object', 'null'], properties: settingProperties('escalation', 'extension', false) },
    ...settingProperties('request', 'extension', true),
  },
} as const;

/**
 * OpenAI's `response_format`. The schema types its structure only; `openai-request.ts` names what is missing,
 * and admission checks the JSON Schema inside (`checkJsonSchema`), by its path.
 */
const responseFormat = {
  type: ['object', 'null'],
  required: ['type'],
  properties: {
    type: { type: 'string' },
    json_schema: {
      type: 'object',
      properties: { name: { type: 'string' }, description: stringOrNull, schema: { type: 'object' }, strict: booleanOrNull },
    },
  },
} as const;

/** Fields both APIs share: the body settings (`top_logprobs` is the chat API's; completions say `logprobs`). */
const common = {
  model: { type: 'string' },
  ...settingProperties('request', 'body', true, ['top_logprobs']),
  ...settingProperties('sampling', 'body', true),
  stop,
  stream: booleanOrNull,
  stream_options: streamOptions,
  n: integerOrNull,
  presence_penalty: numberOrNull,
  frequency_penalty: numberOrNull,
  logit_bias: { type: ['object', 'null'], additionalProperties: { type: 'number' } },
  user: stringOrNull,
  response_format: responseFormat,
  specroute: specrouteExtension,
} as const;

const contentPart = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string' }, text: { type: 'string' } },
} as const;

const message = {
  type: 'object',
  required: ['role', 'content'],
  properties: {
    role: { type: 'string' },
    content: { type: ['string', 'array'], items: contentPart },
    name: { type: 'string' },
  },
} as const;

export const chatCompletionBodySchema = {
  type: 'object',
  required: ['model', 'messages'],
  properties: {
    ...common,
    messages: { type: 'array', items: message },
    max_completion_tokens: integerOrNull,
    logprobs: booleanOrNull,
    top_logprobs: nullable(requestSettings.request.topLogprobs.kind),
    tools: nullable('array'),
    tool_choice: { type: ['string', 'object', 'null'] },
    functions: nullable('array'),
    function_call: { type: ['string', 'object', 'null'] },
    parallel_tool_calls: booleanOrNull,
  },
} as const;

export const completionBodySchema = {
  type: 'object',
  required: ['model', 'prompt'],
  properties: {
    ...common,
    /** A string; arrays are accepted by the schema so that batches and token-id prompts get a clear refusal. */
    prompt: { type: ['string', 'array'], items: { type: ['string', 'integer', 'array'] } },
    /** The completions API's logprobs: how many alternatives per token (0 gives the chosen token's alone). */
    logprobs: integerOrNull,
    echo: booleanOrNull,
    suffix: stringOrNull,
    best_of: integerOrNull,
  },
} as const;

// ---- the bodies as TypeScript sees them after validation ----

export interface ContentPart {
  type: string;
  text?: string;
}

export interface WireMessage {
  role: string;
  content: string | ContentPart[];
  name?: string;
}

export interface WireResponseFormat {
  type: string;
  json_schema?: { name?: string; description?: string | null; schema?: Record<string, unknown>; strict?: boolean | null };
}

/** Settings by wire name, as the schema typed them (see `settingProperties`). */
export type WireSettings = Readonly<Record<string, number | boolean | string | null | undefined>>;

/** A body: its settings are read by wire name through the description; the other fields are typed here. */
export interface CommonBody {
  model: string;
  max_tokens?: number | null;
  stop?: string | string[] | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
  n?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
  user?: string | null;
  response_format?: WireResponseFormat | null;
  /** The body settings of the description (`temperature`, `top_p`, `min_p`, `ignore_eos`…), by wire name. */
  [setting: string]: unknown;
  /** `speculation`, `escalation` and the extension settings (`timeout_ms`). */
  specroute?: { speculation?: boolean | WireSettings | null; escalation?: boolean | WireSettings | null; [setting: string]: unknown } | null;
}

export interface ChatCompletionBody extends CommonBody {
  messages: WireMessage[];
  max_completion_tokens?: number | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  tools?: unknown[] | null;
  tool_choice?: string | Record<string, unknown> | null;
  functions?: unknown[] | null;
  function_call?: string | Record<string, unknown> | null;
}

export interface CompletionBody extends CommonBody {
  prompt: string | Array<string | number | unknown[]>;
  logprobs?: number | null;
  echo?: boolean | null;
  suffix?: string | null;
  best_of?: number | null;
}
