import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import type { TokenEventDone } from '../../src/events/token-event.js';
import { EscalationStatus, FinishReason, GenerateResponseSchema, SpeculationMode, TokenSource } from '../../src/gen/specroute/v1/generate_pb.js';
import { protoFieldPath } from '../../src/ingress/grpc/grpc-status.js';
import { toGenerateResponse } from '../../src/streaming/proto-messages.js';

const info = { id: 'gen-1', model: 'm', created: 1_800_000_000 };
const roundTrip = (event: Parameters<typeof toGenerateResponse>[0]) => fromBinary(GenerateResponseSchema, toBinary(GenerateResponseSchema, toGenerateResponse(event, info)));

describe('TokenEvent → specroute.v1 messages', () => {
  it('maps a token event to a chunk with provenance, log-probability and named alternatives', () => {
    const m = roundTrip({ kind: 'token', text: ' Lily', tokenIds: [317], source: 'bonus', logprob: -0.25, topLogprobs: [{ token: 317, logprob: -0.25, text: '<317>' }, { token: 9, logprob: -2, text: '<9>' }] });
    expect(m.event.case).toBe('chunk');
    if (m.event.case !== 'chunk') return;
    expect(m.event.value).toMatchObject({ text: ' Lily', tokenIds: [317], source: TokenSource.BONUS, logprob: -0.25 });
    expect(m.event.value.topLogprobs.map((t) => [t.tokenId, t.logprob, t.text])).toEqual([
      [317, -0.25, '<317>'],
      [9, -2, '<9>'],
    ]);
    for (const [source, expected] of [['draft', TokenSource.DRAFT], ['verifier', TokenSource.VERIFIER], ['frontier', TokenSource.FRONTIER]] as const) {
      const c = roundTrip({ kind: 'token', text: '', tokenIds: [1], source, logprob: 0 });
      expect(c.event.case === 'chunk' && c.event.value.source).toBe(expected);
    }
  });

  it('never emits a string protobuf cannot encode (a lone surrogate becomes U+FFFD)', () => {
    const m = roundTrip({ kind: 'token', text: 'a\uD83D', tokenIds: [1], source: 'verifier', logprob: 0 });
    expect(m.event.case === 'chunk' && m.event.value.text).toBe('a\uFFFD');
  });

  it('maps an escalation', () => {
    const m = roundTrip({ kind: 'escalation', status: 'skipped', reason: 'breaker_open', latencyMs: 1.5, attempts: 0, frontierTokens: 0, splicedTokens: 0 });
    expect(m.event.case === 'escalation' && m.event.value).toMatchObject({ status: EscalationStatus.SKIPPED, reason: 'breaker_open', latencyMs: 1.5 });
    const spliced = roundTrip({ kind: 'escalation', status: 'spliced', latencyMs: 3, attempts: 1, frontierTokens: 4, splicedTokens: 5 });
    expect(spliced.event.case === 'escalation' && spliced.event.value).toMatchObject({ status: EscalationStatus.SPLICED, reason: '', attempts: 1, frontierTokens: 4, splicedTokens: 5 });
  });

  it('maps the done event to a final message carrying every stats field', () => {
    const done: TokenEventDone = {
      kind: 'done',
      finishReason: 'stop',
      usage: { promptTokens: 5, completionTokens: 7, totalTokens: 12 },
      stats: {
        mode: 'verifier-only',
        drafted: 6,
        accepted: 3,
        acceptanceRate: 0.5,
        meanAcceptedLength: 1.5,
        tokensPerPass: 2.5,
        byPosition: [{ drafted: 2, accepted: 2, rate: 1 }, { drafted: 2, accepted: 1, rate: 0.5 }, { drafted: 2, accepted: 0, rate: 0 }],
        verifierPasses: 3,
        draftBlocks: 2,
        fullyAcceptedBlocks: 1,
        tokensBySource: { draft: 3, verifier: 2, bonus: 1, frontier: 1, grammar: 0 },
        escalations: 1,
        escalationsSkipped: { breaker_open: 2 },
        generatedTokens: 7,
        tokensPerSecond: 123.5,
        timeMs: { total: 10, prefill: 1, draft: 2, verify: 3, other: 4 },
      },
    };
    const m = roundTrip(done);
    expect(m.event.case).toBe('final');
    if (m.event.case !== 'final') return;
    const f = m.event.value;
    expect(f).toMatchObject({ id: 'gen-1', model: 'm', created: 1_800_000_000n, finishReason: FinishReason.STOP });
    expect(f.usage).toMatchObject(done.usage);
    const { $typeName: _, time, byPosition, tokensBySource, escalationsSkipped, ...scalars } = f.stats!;
    expect(scalars).toEqual({
      mode: SpeculationMode.VERIFIER_ONLY,
      drafted: 6,
      accepted: 3,
      acceptanceRate: 0.5,
      meanAcceptedLength: 1.5,
      tokensPerPass: 2.5,
      verifierPasses: 3,
      draftBlocks: 2,
      fullyAcceptedBlocks: 1,
      escalations: 1,
      generatedTokens: 7,
      tokensPerSecond: 123.5,
    });
    expect(byPosition.map((p) => [p.drafted, p.accepted, p.rate])).toEqual([[2, 2, 1], [2, 1, 0.5], [2, 0, 0]]);
    expect(time).toMatchObject({ totalMs: 10, prefillMs: 1, draftMs: 2, verifyMs: 3, otherMs: 4 });
    expect(tokensBySource).toMatchObject({ draft: 3, verifier: 2, bonus: 1, frontier: 1 });
    expect(escalationsSkipped).toEqual({ breaker_open: 2 });
    const length = roundTrip({ ...done, finishReason: 'length', stats: { ...done.stats, mode: 'speculative' } });
    expect(length.event.case === 'final' && [length.event.value.finishReason, length.event.value.stats!.mode]).toEqual([FinishReason.LENGTH, SpeculationMode.SPECULATIVE]);
  });
});

describe('error params as GenerateRequest field paths', () => {
  it('maps the shared names to proto paths where they differ', () => {
    expect(protoFieldPath('messages')).toBe('chat.messages');
    expect(protoFieldPath('messages[2].content')).toBe('chat.messages[2].content');
    expect(protoFieldPath('timeout_ms')).toBe('grpc-timeout');
    for (const same of ['model', 'prompt', 'max_tokens', 'stop[1]', 'escalation.min_confidence', 'speculation.p_min', 'specroute.v1.GenerateRequest', 'specroute.v1.GenerateRequest#99']) {
      expect(protoFieldPath(same)).toBe(same);
    }
  });
});
