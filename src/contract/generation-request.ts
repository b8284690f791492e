import type { SettingValues } from './request-settings.js';
import type { ResponseFormat } from './response-format.js';
import type { ToolCalling } from './tool-calls.js';

/** Which ingress a request came through (a metrics label). */
export type Transport = 'http' | 'grpc';

export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/** The prompt: raw text (completions) or chat messages formatted with the model's chat template. */
export type PromptInput = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'chat'; readonly messages: readonly ChatMessage[] };

/** Sampling settings of one request (see `requestSettings.sampling` for ranges and defaults). */
export type SamplingSettings = SettingValues<'sampling'>;
/** Speculation settings: the draft length schedule and the per-position cut-off (`requestSettings.speculation`). */
export type SpeculationSettings = SettingValues<'speculation'>;
/** Which tier a request asks for: `auto`, `slm`, `hybrid` or `frontier` (`requestSettings.request.route`). */
export type RouteChoice = SettingValues<'request'>['route'];
/** Escalation thresholds a request may override (`requestSettings.escalation`). */
export type EscalationSettings = SettingValues<'escalation'>;

/**
 * One generation request, free of any transport: the contract that everything below the ingress consumes.
 * HTTP and gRPC parse their wire formats into this; it is validated once, at admission
 * (`validateGenerationRequest`), against the single description in `request-settings.ts`, and errors name each
 * field by its wire name (`max_tokens`, `speculation.p_min`, `messages[1].content`…), which both transports share.
 * An absent field takes the server's default (the config), then the description's.
 */
export interface GenerationRequest {
  /** A served model id (see `GET /v1/models` / `ListModels`). */
  readonly model: string;
  readonly input: PromptInput;
  /** `max_tokens`. */
  readonly maxTokens?: number;
  /** `temperature`, `top_k`, `top_p`, `min_p`, `seed`. */
  readonly sampling?: Partial<SamplingSettings>;
  /** Stop sequences (at most 4, like OpenAI). */
  readonly stop?: readonly string[];
  /** `top_logprobs`. */
  readonly topLogprobs?: number;
  /** Per-request speculation overrides, or `false` for verifier-only decoding. */
  readonly speculation?: Partial<SpeculationSettings> | false;
  /** Per-request escalation policy overrides, or `false` to never escalate. */
  readonly escalation?: Partial<EscalationSettings> | false;
  /** `timeout_ms` (gRPC: what is left of the call's deadline). */
  readonly timeoutMs?: number;
  /** `ignore_eos`. */
  readonly ignoreEos?: boolean;
  /** `route`: the tier that answers (absent: the server's `routing.default`). */
  readonly route?: RouteChoice;
  /** `response_format`: text (the default), any JSON value, or JSON matching a schema. */
  readonly responseFormat?: ResponseFormat;
  /** `tools` with `tool_choice` `required` or a named function: the output is one tool call. */
  readonly toolCalling?: ToolCalling;
}
