/**
 * TokenEvent → `specroute.v1` proto messages: pure functions, the gRPC twin of the OpenAI chunk mapping. Every
 * event becomes exactly one `GenerateResponse`.
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type {
  FinishReason as EventFinishReason,
  TokenEvent,
  TokenEventDone,
  TokenEventEscalation,
  TokenEventToken,
  TokenSource as EventTokenSource,
} from '../events/token-event.js';
import {
  EscalationSchema,
  EscalationStatus,
  FinalSchema,
  FinishReason,
  GenerateResponseSchema,
  RouteDecisionSchema,
  SpeculationMode,
  SpeculationStatsSchema,
  TokenChunkSchema,
  TokenSource,
  type Escalation,
  type Final,
  type GenerateResponse,
  type SpeculationStats as SpeculationStatsMessage,
  type TokenChunk,
} from '../gen/specroute/v1/generate_pb.js';
import type { SpeculationStats } from '../events/speculation-stats.js';
import type { RouteDecision as RouteDecisionEvent } from '../events/route-decision.js';

/** What the final message says about the generation besides the event itself. */
export interface GenerationInfo {
  readonly id: string;
  readonly model: string;
  /** Unix seconds. */
  readonly created: number;
}

const sources: Record<EventTokenSource, TokenSource> = {
  draft: TokenSource.DRAFT,
  verifier: TokenSource.VERIFIER,
  bonus: TokenSource.BONUS,
  frontier: TokenSource.FRONTIER,
  grammar: TokenSource.GRAMMAR,
};

const finishReasons: Record<EventFinishReason, FinishReason> = {
  stop: FinishReason.STOP,
  length: FinishReason.LENGTH,
  tool_calls: FinishReason.TOOL_CALLS,
};

const modes: Record<SpeculationStats['mode'], SpeculationMode> = {
  speculative: SpeculationMode.SPECULATIVE,
  'verifier-only': SpeculationMode.VERIFIER_ONLY,
  'draft-only': SpeculationMode.DRAFT_ONLY,
  frontier: SpeculationMode.FRONTIER,
};

/** One stream message for one event. */
export function toGenerateResponse(event: TokenEvent, generation: GenerationInfo): GenerateResponse {
  switch (event.kind) {
    case 'token':
      return create(GenerateResponseSchema, { event: { case: 'chunk', value: toTokenChunk(event) } });
    case 'escalation':
      return create(GenerateResponseSchema, { event: { case: 'escalation', value: toEscalation(event) } });
    case 'done':
      return create(GenerateResponseSchema, { event: { case: 'final', value: toFinal(event, generation) } });
  }
}

export function toTokenChunk(event: TokenEventToken): TokenChunk {
  return create(TokenChunkSchema, {
    text: wellFormed(event.text),
    tokenIds: [...event.tokenIds],
    source: sources[event.source],
    logprob: event.logprob,
    topLogprobs: (event.topLogprobs ?? []).map((t) => ({ tokenId: t.token, logprob: t.logprob, text: wellFormed(t.text) })),
    ...(event.draftPosition === undefined ? {} : { draftPosition: event.draftPosition }),
  });
}

export function toEscalation(event: TokenEventEscalation): Escalation {
  return create(EscalationSchema, {
    status: event.status === 'spliced' ? EscalationStatus.SPLICED : EscalationStatus.SKIPPED,
    reason: event.reason ?? '',
    latencyMs: event.latencyMs,
    attempts: event.attempts,
    frontierTokens: event.frontierTokens,
    splicedTokens: event.splicedTokens,
  });
}

export function toFinal(event: TokenEventDone, generation: GenerationInfo): Final {
  return create(FinalSchema, {
    id: generation.id,
    model: generation.model,
    created: BigInt(generation.created),
    finishReason: finishReasons[event.finishReason],
    usage: {
      promptTokens: event.usage.promptTokens,
      completionTokens: event.usage.completionTokens,
      totalTokens: event.usage.totalTokens,
      frontierCost: event.usage.frontierCost ?? 0,
      completionTokensByTier: { ...event.usage.completionTokensByTier },
    },
    stats: toSpeculationStats(event.stats),
    ...(event.route ? { route: toRouteDecision(event.route) } : {}),
  });
}

export function toRouteDecision(route: RouteDecisionEvent): MessageInitShape<typeof RouteDecisionSchema> {
  return {
    tier: route.tier,
    reason: route.reason,
    latencyMs: route.latencyMs,
    ...(route.score !== undefined ? { score: route.score } : {}),
    ...(route.threshold !== undefined ? { threshold: route.threshold } : {}),
    ...(route.router !== undefined ? { router: route.router } : {}),
  };
}

export function toSpeculationStats(stats: SpeculationStats): SpeculationStatsMessage {
  return create(SpeculationStatsSchema, {
    mode: modes[stats.mode],
    drafted: stats.drafted,
    accepted: stats.accepted,
    acceptanceRate: stats.acceptanceRate,
    meanAcceptedLength: stats.meanAcceptedLength,
    tokensPerPass: stats.tokensPerPass,
    byPosition: stats.byPosition.map((p) => ({ drafted: p.drafted, accepted: p.accepted, rate: p.rate })),
    verifierPasses: stats.verifierPasses,
    draftBlocks: stats.draftBlocks,
    fullyAcceptedBlocks: stats.fullyAcceptedBlocks,
    tokensBySource: { ...stats.tokensBySource },
    escalations: stats.escalations,
    escalationsSkipped: { ...stats.escalationsSkipped },
    generatedTokens: stats.generatedTokens,
    tokensPerSecond: stats.tokensPerSecond,
    time: {
      totalMs: stats.timeMs.total,
      prefillMs: stats.timeMs.prefill,
      draftMs: stats.timeMs.draft,
      verifyMs: stats.timeMs.verify,
      otherMs: stats.timeMs.other,
    },
  });
}

/**
 * Proto strings must be valid UTF-8, and protobuf-es refuses to encode a lone UTF-16 surrogate, which would end
 * the stream with INTERNAL. Token text should never hold one; if it does, it shows as U+FFFD instead.
 */
function wellFormed(text: string): string {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}
