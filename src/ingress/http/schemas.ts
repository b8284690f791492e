/**
 * JSON schemas of the OpenAI request bodies: types and shapes only. Ranges and cross-field rules that both
 * transports share live once in `scheduler/validate.ts`; what only the OpenAI wire format knows (unsupported
 * options, `n`, content parts) lives in `openai-request.ts`.
 *
 * Unknown fields are accepted and ignored (OpenAI adds fields often; clients send them). Known fields are
 * type-checked, and `null` means "the default" for every optional one, as OpenAI's API treats it.
 */

const nullable = (type: string | string[]): { type: string[] } => ({ type: [...(Array.isArray(type) ? type : [type]), 'null'] });
const integerOrNull = nullable('integer');
const numberOrNull = nullable('number');
const booleanOrNull = nullable('boolean');
const stringOrNull = nullable('string');

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
    speculation: {
      type: ['boolean', 'object', 'null'],
      properties: {
        min: { type: 'integer' },
        max: { type: 'integer' },
        initial: { type: 'integer' },
        adaptive: { type: 'boolean' },
        p_min: { type: 'number' },
      },
    },
    /**
     * `false`: never escalate this request to the frontier; `true`: the server's policy; an object overrides
     * parts of it (only with a frontier configured).
     */
    escalation: {
      type: ['boolean', 'object', 'null'],
      properties: {
        window: { type: 'integer' },
        min_confidence: { type: 'number' },
        min_margin: { type: 'number' },
        max_entropy: { type: 'number' },
        span_tokens: { type: 'integer' },
        cooldown_tokens: { type: 'integer' },
      },
    },
    /** Time limit for this request in milliseconds (the server's own limit still applies). */
    timeout_ms: integerOrNull,
  },
} as const;

/** Fields both APIs share. */
const common = {
  model: { type: 'string' },
  max_tokens: integerOrNull,
  temperature: numberOrNull,
  top_p: numberOrNull,
  /** Extension (vLLM, llama.cpp): keep the k most likely tokens; 0 or -1 disables it. */
  top_k: integerOrNull,
  seed: integerOrNull,
  stop,
  stream: booleanOrNull,
  stream_options: streamOptions,
  n: integerOrNull,
  presence_penalty: numberOrNull,
  frequency_penalty: numberOrNull,
  logit_bias: { type: ['object', 'null'], additionalProperties: { type: 'number' } },
  user: stringOrNull,
  /** Extension (vLLM): keep generating past end-of-sequence. */
  ignore_eos: booleanOrNull,
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
    top_logprobs: integerOrNull,
    response_format: { type: ['object', 'null'], required: ['type'], properties: { type: { type: 'string' } } },
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

export interface SpeculationOverride {
  min?: number;
  max?: number;
  initial?: number;
  adaptive?: boolean;
  p_min?: number;
}

export interface EscalationOverride {
  window?: number;
  min_confidence?: number;
  min_margin?: number;
  max_entropy?: number;
  span_tokens?: number;
  cooldown_tokens?: number;
}

export interface CommonBody {
  model: string;
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
  n?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
  user?: string | null;
  ignore_eos?: boolean | null;
  specroute?: { speculation?: boolean | SpeculationOverride | null; escalation?: boolean | EscalationOverride | null; timeout_ms?: number | null } | null;
}

export interface ChatCompletionBody extends CommonBody {
  messages: WireMessage[];
  max_completion_tokens?: number | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  response_format?: { type: string } | null;
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
