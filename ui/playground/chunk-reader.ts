import type { TokenSource } from '../../src/events/token-event.js';
import type { ChatCompletionChunk, CompletionChunk, WireEscalation, WireSummary, WireUsage } from '../../src/streaming/openai-wire.js';

/** One thing a streamed chunk tells the playground. */
export type StreamItem =
  | {
      readonly kind: 'token';
      readonly text: string;
      readonly source: TokenSource;
      readonly logprob: number;
      readonly tokenIds: readonly number[];
      readonly draftPosition: number | undefined;
      /** The verifier's most likely alternatives at this position, when `top_logprobs` was asked for. */
      readonly alternatives: ReadonlyArray<{ readonly token: string; readonly logprob: number }>;
    }
  | { readonly kind: 'escalation'; readonly escalation: WireEscalation }
  | { readonly kind: 'finish'; readonly reason: string }
  | { readonly kind: 'summary'; readonly summary: WireSummary }
  | { readonly kind: 'usage'; readonly usage: WireUsage };

/**
 * Reads one chunk of either API (`chat.completion.chunk` or `text_completion`) into what the page shows: a token
 * with its provenance (`specroute.source`, `draft_position`) and alternatives, an escalation, the finish reason,
 * the closing summary (`specroute.stats`, `tokens_by_source`, `route`) and the usage.
 */
export function readChunk(raw: unknown): StreamItem[] {
  const chunk = raw as ChatCompletionChunk | CompletionChunk;
  const items: StreamItem[] = [];
  const choice = chunk.choices[0];
  const ext = chunk.specroute;
  if (ext && 'escalation' in ext) items.push({ kind: 'escalation', escalation: ext.escalation });
  if (choice && ext && 'source' in ext) {
    items.push({
      kind: 'token',
      text: 'delta' in choice ? (choice.delta.content ?? choice.delta.tool_calls?.map((call) => call.function.arguments).join('') ?? '') : choice.text,
      source: ext.source,
      logprob: ext.logprob,
      tokenIds: ext.token_ids,
      draftPosition: ext.draft_position,
      alternatives: alternativesOf(chunk),
    });
  }
  if (choice?.finish_reason) items.push({ kind: 'finish', reason: choice.finish_reason });
  if (ext && 'stats' in ext) items.push({ kind: 'summary', summary: ext });
  if (chunk.usage) items.push({ kind: 'usage', usage: chunk.usage });
  return items;
}

function alternativesOf(chunk: ChatCompletionChunk | CompletionChunk): Array<{ token: string; logprob: number }> {
  const choice = chunk.choices[0];
  if (!choice?.logprobs) return [];
  if ('content' in choice.logprobs) return (choice.logprobs.content[0]?.top_logprobs ?? []).map(({ token, logprob }) => ({ token, logprob }));
  const top = choice.logprobs.top_logprobs?.[0] ?? {};
  return Object.entries(top)
    .map(([token, logprob]) => ({ token, logprob }))
    .sort((a, b) => b.logprob - a.logprob);
}
