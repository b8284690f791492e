import type { EscalationPolicyOptions } from '../escalation/policy.js';
import type { SpeculationOptions } from '../pipeline/generate-options.js';
import type { SamplingParams } from '../sampling/params.js';

export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/** The prompt: raw text (completions) or chat messages formatted with the model's chat template. */
export type PromptInput = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'chat'; readonly messages: readonly ChatMessage[] };

/**
 * One generation request, free of any transport. HTTP and gRPC parse their wire formats into this; field
 * checks that are not about the wire format live once, in `validateGenerationRequest`, and name the field with
 * its snake_case wire name (`max_tokens`, `top_p`, `messages[1].content`…), which both transports share.
 */
export interface GenerationRequest {
  /** A served model id (see `GET /v1/models` / `ListModels`). */
  readonly model: string;
  readonly input: PromptInput;
  /**
   * Most tokens to generate.
   *
   * Defaults to the server's `limits.defaultMaxTokens`, capped by the context left after the prompt.
   */
  readonly maxTokens?: number;
  /** Temperature, top-k, top-p, seed. Defaults to greedy with a random seed. */
  readonly sampling?: Partial<SamplingParams>;
  /** Stop sequences (at most 4, like OpenAI). */
  readonly stop?: readonly string[];
  /** Top alternatives per token (0–20). Defaults to `0`. */
  readonly topLogprobs?: number;
  /** Per-request speculation overrides, or `false` for verifier-only decoding. */
  readonly speculation?: Partial<SpeculationOptions> | false;
  /** Per-request escalation policy overrides, or `false` to never escalate. */
  readonly escalation?: Partial<EscalationPolicyOptions> | false;
  /**
   * Time limit for the whole request in milliseconds, from admission. The tighter of this and the server's
   * `limits.requestTimeoutMs` applies.
   */
  readonly timeoutMs?: number;
  /** Keep generating past end-of-sequence. Defaults to `false`. */
  readonly ignoreEos?: boolean;
}
