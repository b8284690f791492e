/**
 * The OpenAI wire objects specroute emits (the subset of OpenAI's types it uses), with specroute's provenance
 * extension: types only, shared by the mapping (openai-chunks.ts), the tests, and the browser playground.
 */
import type { FinishReason, TokenEventEscalation, TokenSource } from '../events/token-event.js';
import type { SpeculationStats } from '../events/speculation-stats.js';

export interface WireUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** specroute: what this request spent on the frontier, at the configured prices. */
  frontier_cost?: number;
  /** specroute: completion tokens by the tier that generated them (`slm`, `hybrid`, `frontier`). */
  completion_tokens_by_tier?: Partial<Record<string, number>>;
}

export interface WireStats {
  mode: SpeculationStats['mode'];
  drafted: number;
  accepted: number;
  acceptance_rate: number;
  mean_accepted_length: number;
  tokens_per_pass: number;
  by_position: Array<{ drafted: number; accepted: number; rate: number }>;
  verifier_passes: number;
  draft_blocks: number;
  fully_accepted_blocks: number;
  tokens_by_source: TokensBySource;
  escalations: number;
  escalations_skipped: Record<string, number>;
  generated_tokens: number;
  tokens_per_second: number;
  time_ms: { total: number; prefill: number; draft: number; verify: number; other: number };
}

export type TokensBySource = Record<TokenSource, number>;

/** Provenance of one token chunk. */
export interface WireTokenProvenance {
  source: TokenSource;
  logprob: number;
  token_ids: number[];
  /** The token's place in its speculative step (TokenEventToken.draftPosition); absent where no draft stood for it. */
  draft_position?: number;
}

export interface WireEscalation {
  status: TokenEventEscalation['status'];
  reason?: string;
  latency_ms: number;
  attempts: number;
  frontier_tokens: number;
  spliced_tokens: number;
}

/** The summary on the last chunk and on non-streaming responses. */
export interface WireSummary {
  stats: WireStats;
  tokens_by_source: TokensBySource;
  /** Which tier answered, and why (absent only for generations that bypass the scheduler). */
  route?: WireRoute;
}

/** `specroute.route` of the last chunk: a RouteDecision in snake_case. */
export interface WireRoute {
  tier: string;
  reason: string;
  score?: number;
  threshold?: number;
  router?: string;
  latency_ms: number;
}

/** One tool call of a `chat.completion` (OpenAI's shape). */
export interface WireToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** A piece of a streamed tool call: the first piece carries its id, type and name; each carries arguments text. */
export interface WireToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function: { name?: string; arguments: string };
}

export interface ChatTopLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}
export interface ChatTokenLogprob extends ChatTopLogprob {
  top_logprobs: ChatTopLogprob[];
}
export interface ChatLogprobs {
  content: ChatTokenLogprob[];
  refusal: null;
}

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Array<Record<string, number>> | null;
  text_offset: number[];
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{
    index: 0;
    delta: { role?: 'assistant'; content?: string; tool_calls?: WireToolCallDelta[] };
    logprobs: ChatLogprobs | null;
    finish_reason: FinishReason | null;
  }>;
  usage?: WireUsage | null;
  specroute?: WireTokenProvenance | WireSummary | { escalation: WireEscalation };
}

export interface CompletionChunk {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: Array<{ index: 0; text: string; logprobs: CompletionLogprobs | null; finish_reason: FinishReason | null }>;
  usage?: WireUsage | null;
  specroute?: WireTokenProvenance | WireSummary | { escalation: WireEscalation };
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: 0;
    message: { role: 'assistant'; content: string | null; refusal: null; tool_calls?: WireToolCall[] };
    logprobs: ChatLogprobs | null;
    finish_reason: FinishReason;
  }>;
  usage: WireUsage;
  specroute: WireSummary & { tokens: Array<WireTokenProvenance & { text: string }>; escalations: WireEscalation[] };
}

export interface TextCompletion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: Array<{ index: 0; text: string; logprobs: CompletionLogprobs | null; finish_reason: FinishReason }>;
  usage: WireUsage;
  specroute: WireSummary & { tokens: Array<WireTokenProvenance & { text: string }>; escalations: WireEscalation[] };
}
