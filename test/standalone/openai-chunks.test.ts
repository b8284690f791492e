import { describe, expect, it } from 'vitest';
import type { TokenEvent, TokenEventDone, TokenEventEscalation, TokenEventToken } from '../../src/events/token-event.js';
import type { SpeculationStats } from '../../src/events/speculation-stats.js';
import { chatChunkFormat, chatCompletion, completionChunkFormat, textCompletion, type MappingOptions } from '../../src/streaming/openai-chunks.js';

const meta = { id: 'chatcmpl-1', created: 1700000000, model: 'm' };
// A toy vocabulary: id → text, with a leading space unless it follows nothing.
const vocab: Record<number, string> = { 1: 'Once', 2: 'upon', 3: 'a', 4: 'time', 5: 'day' };
const options = (overrides: Partial<MappingOptions> = {}): MappingOptions => ({
  logprobs: false,
  topLogprobs: 0,
  includeUsage: false,
  tokenText: (token, previous) => (previous === undefined ? '' : ' ') + vocab[token]!,
  ...overrides,
});

const token = (id: number, source: TokenEventToken['source'], text: string, top: number[] = []): TokenEventToken => ({
  kind: 'token',
  text,
  tokenIds: [id],
  source,
  logprob: -0.5,
  // The engine renders each alternative's text in its position (here: after a previous word).
  topLogprobs: top.map((t, i) => ({ token: t, logprob: -0.5 - i, text: ' ' + vocab[t]! })),
});
const stats: SpeculationStats = {
  mode: 'speculative',
  drafted: 3,
  accepted: 2,
  acceptanceRate: 2 / 3,
  meanAcceptedLength: 1,
  tokensPerPass: 2,
  byPosition: [{ drafted: 2, accepted: 2, rate: 1 }, { drafted: 1, accepted: 0, rate: 0 }],
  verifierPasses: 2,
  draftBlocks: 2,
  fullyAcceptedBlocks: 1,
  tokensBySource: { draft: 2, verifier: 1, bonus: 0, frontier: 1, grammar: 0 },
  escalations: 1,
  escalationsSkipped: {},
  generatedTokens: 4,
  tokensPerSecond: 100,
  timeMs: { total: 10, prefill: 2, draft: 3, verify: 4, other: 1 },
};
const done: TokenEventDone = { kind: 'done', finishReason: 'length', usage: { promptTokens: 3, completionTokens: 4, totalTokens: 7 }, stats };
const escalation: TokenEventEscalation = { kind: 'escalation', status: 'spliced', latencyMs: 12, attempts: 1, frontierTokens: 1, splicedTokens: 1 };
const events: TokenEvent[] = [token(1, 'verifier', 'Once', [1, 5]), { ...token(2, 'draft', ' upon', [2]), draftPosition: 0 }, { ...token(3, 'draft', ' a'), draftPosition: 1 }, escalation, token(4, 'frontier', ' time'), done];

describe('TokenEvent → OpenAI chat chunks', () => {
  it('opens with the role, tags each token with its provenance, and closes with the summary', () => {
    const format = chatChunkFormat(meta, options());
    const chunks = [...format.opening(), ...events.map((e) => (e.kind === 'token' ? [format.token(e)] : e.kind === 'escalation' ? [format.escalation(e)] : format.closing(e))).flat()];
    expect(chunks[0]).toEqual({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1700000000, model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] });
    expect(chunks[2]).toMatchObject({ choices: [{ delta: { content: ' upon' } }], specroute: { source: 'draft', logprob: -0.5, token_ids: [2], draft_position: 0 } });
    expect(chunks[3]!.specroute).toEqual({ source: 'draft', logprob: -0.5, token_ids: [3], draft_position: 1 });
    // No draft stood for the first token or the frontier's: no draft_position at all.
    expect(chunks[1]!.specroute).toEqual({ source: 'verifier', logprob: -0.5, token_ids: [1] });
    expect(chunks[4]).toMatchObject({ choices: [{ delta: {} }], specroute: { escalation: { status: 'spliced', latency_ms: 12, attempts: 1, frontier_tokens: 1, spliced_tokens: 1 } } });
    expect(chunks[5]).toMatchObject({ specroute: { source: 'frontier' } });
    const last = chunks.at(-1)!;
    expect(last.choices[0]!.finish_reason).toBe('length');
    expect(last).not.toHaveProperty('usage');
    expect(last.specroute).toMatchObject({ stats: { acceptance_rate: 2 / 3, draft_blocks: 2, fully_accepted_blocks: 1, by_position: stats.byPosition, time_ms: stats.timeMs, tokens_by_source: stats.tokensBySource }, tokens_by_source: { draft: 2, verifier: 1, bonus: 0, frontier: 1 } });
  });

  it('adds a usage chunk with empty choices, and usage: null elsewhere, with include_usage', () => {
    const format = chatChunkFormat(meta, options({ includeUsage: true }));
    expect(format.opening()[0]!.usage).toBeNull();
    const closing = format.closing(done);
    expect(closing).toHaveLength(2);
    expect(closing[0]).toMatchObject({ usage: null, choices: [{ finish_reason: 'length' }] });
    expect(closing[0]).not.toHaveProperty('specroute');
    expect(closing[1]).toMatchObject({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 }, specroute: { stats: { mode: 'speculative' } } });
  });

  it('renders chat logprobs with each token text after the previous token, and alternatives', () => {
    const whole = chatCompletion(meta, events, options({ logprobs: true, topLogprobs: 2 }));
    const content = whole.choices[0]!.logprobs!.content;
    expect(content.map((c) => c.token)).toEqual(['Once', ' upon', ' a', ' time']);
    expect(content[0]!.top_logprobs).toEqual([
      { token: ' Once', logprob: -0.5, bytes: [...Buffer.from(' Once')] },
      { token: ' day', logprob: -1.5, bytes: [...Buffer.from(' day')] },
    ]);
    expect(whole.choices[0]!.message.content).toBe('Once upon a time');
    expect(whole.specroute.tokens.map((t) => t.source)).toEqual(['verifier', 'draft', 'draft', 'frontier']);
    expect(whole.specroute.escalations).toHaveLength(1);
    expect(whole.usage.completion_tokens).toBe(4);
  });
});

describe('TokenEvent → OpenAI text completions', () => {
  it('streams text chunks and builds the legacy logprobs with text offsets', () => {
    const format = completionChunkFormat({ ...meta, id: 'cmpl-1' }, options({ logprobs: true, topLogprobs: 1 }));
    expect(format.opening()).toEqual([]);
    const first = format.token(events[0] as TokenEventToken);
    expect(first).toMatchObject({ object: 'text_completion', choices: [{ text: 'Once', logprobs: { tokens: ['Once'], text_offset: [0] } }] });
    const second = format.token(events[1] as TokenEventToken);
    expect(second.choices[0]!.logprobs!.text_offset).toEqual([4]);

    const whole = textCompletion({ ...meta, id: 'cmpl-1' }, events, options({ logprobs: true, topLogprobs: 1 }));
    const lp = whole.choices[0]!.logprobs!;
    expect(lp.tokens).toEqual(['Once', ' upon', ' a', ' time']);
    expect(lp.text_offset).toEqual([0, 4, 9, 11]);
    expect(lp.top_logprobs![0]).toEqual({ ' Once': -0.5, Once: -0.5 });
    expect(whole.choices[0]!.text).toBe('Once upon a time');
    expect(whole.choices[0]!.finish_reason).toBe('length');
  });
});
