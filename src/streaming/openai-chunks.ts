/**
 * TokenEvent → OpenAI wire objects: `chat.completion(.chunk)` and `text_completion`, with specroute's
 * provenance extension. Pure mapping, no I/O: the HTTP routes only frame what these return.
 *
 * The `specroute` extension field (snake_case, like the rest of the OpenAI wire format; the official SDKs keep
 * unknown fields on the objects they return):
 * - every token chunk: `specroute: {source, logprob, token_ids, draft_position?}`: where the token came from
 *   (`draft`, `verifier`, `bonus`, `frontier`, `grammar`), its log-probability under the verifier, its ids, and
 *   its place in the speculative step that wrote it (0 for the first drafted token);
 * - the last chunk before `data: [DONE]` (the usage chunk with `stream_options.include_usage`, otherwise the
 *   chunk carrying `finish_reason`) and every non-streaming response:
 *   `specroute: {stats, tokens_by_source, route}`: the request's speculation stats (`stats`, SpeculationStats in
 *   snake_case; its counts are of generated tokens, before a stop sequence cut the text) and the completion's
 *   tokens counted by source (`tokens_by_source`, summing to `usage.completion_tokens`), and which tier answered
 *   and why (`route: {tier, reason, score?, threshold?, router?, latency_ms}`). A non-streaming
 *   response also lists every token's provenance in `specroute.tokens`, and its escalations in
 *   `specroute.escalations`;
 * - an escalation to the frontier model: a chunk with an empty delta (`delta: {}` / `text: ""`) and
 *   `specroute: {escalation: {status, reason?, latency_ms, attempts, frontier_tokens, spliced_tokens}}`; the
 *   token chunks spliced from it follow with `source: "frontier"`.
 */
import { emptyBySource, type TokenEvent, type TokenEventDone, type TokenEventEscalation, type TokenEventToken, type Usage } from '../events/token-event.js';
import type { SpeculationStats } from '../events/speculation-stats.js';
import type { RouteDecision } from '../events/route-decision.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatLogprobs,
  ChatTokenLogprob,
  CompletionChunk,
  CompletionLogprobs,
  TextCompletion,
  WireEscalation,
  WireRoute,
  WireStats,
  WireSummary,
  WireTokenProvenance,
  WireToolCall,
  WireToolCallDelta,
  WireUsage,
} from './openai-wire.js';

/** Identity of one response: every chunk of a stream repeats it. */
export interface ResponseMeta {
  /** `chatcmpl-…` or `cmpl-…`. */
  readonly id: string;
  /** Unix seconds. */
  readonly created: number;
  readonly model: string;
}

/** A token's own text, rendered after `previous` (which decides a leading space). */
export type TokenText = (token: number, previous: number | undefined) => string;

export interface MappingOptions {
  /** Attach OpenAI `logprobs` to each choice. */
  readonly logprobs: boolean;
  /** Alternatives per position (`top_logprobs`, or the completions API's integer `logprobs`). */
  readonly topLogprobs: number;
  /** `stream_options.include_usage`: a final chunk with `usage` and empty `choices`. */
  readonly includeUsage: boolean;
  readonly tokenText: TokenText;
}

/** What a stream of one API emits: the opening chunks, one chunk per token event, the closing chunks. */
export interface ChunkFormat<Chunk> {
  opening(): Chunk[];
  token(event: TokenEventToken): Chunk;
  escalation(event: TokenEventEscalation): Chunk;
  closing(done: TokenEventDone): Chunk[];
}

// ---- shared pieces ----

export function usageToWire(usage: Usage): WireUsage {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.totalTokens,
    ...(usage.frontierCost !== undefined ? { frontier_cost: usage.frontierCost } : {}),
    ...(usage.completionTokensByTier ? { completion_tokens_by_tier: { ...usage.completionTokensByTier } } : {}),
  };
}

export function statsToWire(stats: SpeculationStats): WireStats {
  return {
    mode: stats.mode,
    drafted: stats.drafted,
    accepted: stats.accepted,
    acceptance_rate: stats.acceptanceRate,
    mean_accepted_length: stats.meanAcceptedLength,
    tokens_per_pass: stats.tokensPerPass,
    by_position: stats.byPosition.map((p) => ({ drafted: p.drafted, accepted: p.accepted, rate: p.rate })),
    verifier_passes: stats.verifierPasses,
    draft_blocks: stats.draftBlocks,
    fully_accepted_blocks: stats.fullyAcceptedBlocks,
    tokens_by_source: { ...stats.tokensBySource },
    escalations: stats.escalations,
    escalations_skipped: { ...stats.escalationsSkipped },
    generated_tokens: stats.generatedTokens,
    tokens_per_second: stats.tokensPerSecond,
    time_ms: { ...stats.timeMs },
  };
}

export function escalationToWire(event: TokenEventEscalation): WireEscalation {
  return {
    status: event.status,
    ...(event.reason !== undefined ? { reason: event.reason } : {}),
    latency_ms: event.latencyMs,
    attempts: event.attempts,
    frontier_tokens: event.frontierTokens,
    spliced_tokens: event.splicedTokens,
  };
}

export function provenance(event: TokenEventToken): WireTokenProvenance {
  const provenance: WireTokenProvenance = { source: event.source, logprob: event.logprob, token_ids: [...event.tokenIds] };
  if (event.draftPosition !== undefined) provenance.draft_position = event.draftPosition;
  return provenance;
}


function toolCallDelta(event: TokenEventToken, part: NonNullable<TokenEventToken['toolCall']>): WireToolCallDelta {
  if (part.id === undefined) return { index: part.index, function: { arguments: event.text } };
  return { index: part.index, id: part.id, type: 'function', function: { ...(part.name !== undefined ? { name: part.name } : {}), arguments: event.text } };
}

function utf8Bytes(text: string): number[] {
  return [...Buffer.from(text, 'utf8')];
}

/**
 * Per-stream bookkeeping: the previous token (context for each token's text), the completion text's length
 * so far (`text_offset`) and the tokens counted by source.
 */
class Tracker {
  previous: number | undefined;
  offset = 0;
  readonly counts = emptyBySource();

  constructor(private readonly tokenText: TokenText) {}

  /** The event's tokens as one logprob entry: its text, log-probability and alternatives. */
  entry(event: TokenEventToken): { token: string; logprob: number; top: Array<{ token: string; logprob: number }> } {
    const ids = event.tokenIds;
    const before = this.previous;
    let token = '';
    let context = before;
    for (const id of ids) {
      token += this.tokenText(id, context);
      context = id;
    }
    // The first token of a completion has no previous token here; the assembled text (decoded after the prompt)
    // gets its leading space right, so prefer it when it is this one token's text.
    if (before === undefined && ids.length === 1 && event.text !== '') token = event.text;
    // Alternatives compete with the event's first token; the engine rendered their text in that position.
    const top = (event.topLogprobs ?? []).map((alt) => ({ token: alt.text, logprob: alt.logprob }));
    return { token, logprob: event.logprob, top };
  }

  /** Records the event as sent. */
  advance(event: TokenEventToken): void {
    this.counts[event.source] += event.tokenIds.length;
    this.offset += event.text.length;
    const last = event.tokenIds[event.tokenIds.length - 1];
    if (last !== undefined) this.previous = last;
  }

  summary(done: TokenEventDone): WireSummary {
    return { stats: statsToWire(done.stats), tokens_by_source: { ...this.counts }, ...(done.route ? { route: routeToWire(done.route) } : {}) };
  }
}

function routeToWire(route: RouteDecision): WireRoute {
  return {
    tier: route.tier,
    reason: route.reason,
    ...(route.score !== undefined ? { score: route.score } : {}),
    ...(route.threshold !== undefined ? { threshold: route.threshold } : {}),
    ...(route.router !== undefined ? { router: route.router } : {}),
    latency_ms: route.latencyMs,
  };
}

function chatLogprob(entry: ReturnType<Tracker['entry']>, topN: number): ChatTokenLogprob {
  return {
    token: entry.token,
    logprob: entry.logprob,
    bytes: utf8Bytes(entry.token),
    top_logprobs: entry.top.slice(0, topN).map((t) => ({ token: t.token, logprob: t.logprob, bytes: utf8Bytes(t.token) })),
  };
}

function completionTop(entry: ReturnType<Tracker['entry']>, topN: number): Record<string, number> {
  // Like OpenAI's legacy API: the alternatives, plus the chosen token. Two ids with the same text share a key.
  const top: Record<string, number> = {};
  for (const t of entry.top.slice(0, topN)) top[t.token] = Math.max(top[t.token] ?? -Infinity, t.logprob);
  top[entry.token] = Math.max(top[entry.token] ?? -Infinity, entry.logprob);
  return top;
}

function emptyCompletionLogprobs(): CompletionLogprobs {
  return { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
}

function appendCompletionLogprobs(into: CompletionLogprobs, tracker: Tracker, event: TokenEventToken, topN: number): void {
  const entry = tracker.entry(event);
  into.tokens.push(entry.token);
  into.token_logprobs.push(entry.logprob);
  into.top_logprobs?.push(completionTop(entry, topN));
  into.text_offset.push(tracker.offset);
}

/** Builds the chunks of one stream: the shared envelope (id, object, created, model, usage slot) around choices. */
function chunkMaker<C extends { choices: unknown; object: string }>(meta: ResponseMeta, object: C['object'], includeUsage: boolean | undefined) {
  return (choices: C['choices'], extra: Partial<C> = {}): C =>
    ({ id: meta.id, object, created: meta.created, model: meta.model, choices, ...(includeUsage ? { usage: null } : {}), ...extra }) as unknown as C;
}

// ---- chat completions ----

/** The chunks of a `chat.completion.chunk` stream: a role-first delta, one chunk per token event, the finish. */
export function chatChunkFormat(meta: ResponseMeta, options: MappingOptions): ChunkFormat<ChatCompletionChunk> {
  const tracker = new Tracker(options.tokenText);
  const chunk = chunkMaker<ChatCompletionChunk>(meta, 'chat.completion.chunk', options.includeUsage);
  return {
    opening: () => [chunk([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }])],
    token(event) {
      const logprobs: ChatLogprobs | null = options.logprobs ? { content: [chatLogprob(tracker.entry(event), options.topLogprobs)], refusal: null } : null;
      tracker.advance(event);
      const delta = event.toolCall ? { tool_calls: [toolCallDelta(event, event.toolCall)] } : { content: event.text };
      return chunk([{ index: 0, delta, logprobs, finish_reason: null }], { specroute: provenance(event) });
    },
    escalation: (event) => chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: null }], { specroute: { escalation: escalationToWire(event) } }),
    closing(done) {
      const summary = tracker.summary(done);
      const finish = chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: done.finishReason }]);
      if (!options.includeUsage) return [{ ...finish, specroute: summary }];
      return [finish, chunk([], { usage: usageToWire(done.usage), specroute: summary })];
    },
  };
}

/** A whole `chat.completion` from the events of a finished generation. */
export function chatCompletion(meta: ResponseMeta, events: readonly TokenEvent[], options: MappingOptions): ChatCompletion {
  const tracker = new Tracker(options.tokenText);
  const content: ChatTokenLogprob[] = [];
  const calls: WireToolCall[] = [];
  const { text, done, specroute } = foldGeneration(events, tracker, (event) => {
    if (options.logprobs) content.push(chatLogprob(tracker.entry(event), options.topLogprobs));
    const part = event.toolCall;
    if (part?.id !== undefined && part.name !== undefined) calls[part.index] = { id: part.id, type: 'function', function: { name: part.name, arguments: '' } };
    const call = part && calls[part.index];
    if (call) call.function.arguments += event.text;
  });
  const message = calls.length > 0 ? { role: 'assistant' as const, content: null, refusal: null, tool_calls: calls } : { role: 'assistant' as const, content: text, refusal: null };
  return {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: [
      {
        index: 0,
        message,
        logprobs: options.logprobs ? { content, refusal: null } : null,
        finish_reason: done.finishReason,
      },
    ],
    usage: usageToWire(done.usage),
    specroute,
  };
}

/**
 * Folds the events of a finished generation into what a non-streaming response carries: the text, the done
 * event, and the `specroute` extension (summary, every token's provenance, the escalations). `logprobs` sees each
 * token before the tracker advances past it.
 */
function foldGeneration(
  events: readonly TokenEvent[],
  tracker: Tracker,
  logprobs: (event: TokenEventToken) => void,
): { text: string; done: TokenEventDone; specroute: ChatCompletion['specroute'] } {
  const tokens: ChatCompletion['specroute']['tokens'] = [];
  const escalations: WireEscalation[] = [];
  let text = '';
  let done: TokenEventDone | undefined;
  for (const event of events) {
    if (event.kind === 'done') {
      done = event;
      continue;
    }
    if (event.kind === 'escalation') {
      escalations.push(escalationToWire(event));
      continue;
    }
    logprobs(event);
    tracker.advance(event);
    text += event.text;
    tokens.push({ text: event.text, ...provenance(event) });
  }
  if (!done) throw new Error('a generation ended without its done event');
  return { text, done, specroute: { ...tracker.summary(done), tokens, escalations } };
}

// ---- completions ----

/** The chunks of a `text_completion` stream: one chunk per token event, then the finish. */
export function completionChunkFormat(meta: ResponseMeta, options: MappingOptions): ChunkFormat<CompletionChunk> {
  const tracker = new Tracker(options.tokenText);
  const chunk = chunkMaker<CompletionChunk>(meta, 'text_completion', options.includeUsage);
  return {
    opening: () => [],
    token(event) {
      let logprobs: CompletionLogprobs | null = null;
      if (options.logprobs) {
        logprobs = emptyCompletionLogprobs();
        appendCompletionLogprobs(logprobs, tracker, event, options.topLogprobs);
      }
      tracker.advance(event);
      return chunk([{ index: 0, text: event.text, logprobs, finish_reason: null }], { specroute: provenance(event) });
    },
    escalation: (event) => chunk([{ index: 0, text: '', logprobs: null, finish_reason: null }], { specroute: { escalation: escalationToWire(event) } }),
    closing(done) {
      const summary = tracker.summary(done);
      const finish = chunk([{ index: 0, text: '', logprobs: null, finish_reason: done.finishReason }]);
      if (!options.includeUsage) return [{ ...finish, specroute: summary }];
      return [finish, chunk([], { usage: usageToWire(done.usage), specroute: summary })];
    },
  };
}

/** A whole `text_completion` from the events of a finished generation. */
export function textCompletion(meta: ResponseMeta, events: readonly TokenEvent[], options: MappingOptions): TextCompletion {
  const tracker = new Tracker(options.tokenText);
  const logprobs = emptyCompletionLogprobs();
  const { text, done, specroute } = foldGeneration(events, tracker, (event) => {
    if (options.logprobs) appendCompletionLogprobs(logprobs, tracker, event, options.topLogprobs);
  });
  return {
    id: meta.id,
    object: 'text_completion',
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, text, logprobs: options.logprobs ? logprobs : null, finish_reason: done.finishReason }],
    usage: usageToWire(done.usage),
    specroute,
  };
}
