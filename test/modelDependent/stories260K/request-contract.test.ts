import * as grpc from '@grpc/grpc-js';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatRole, type GenerateResponse } from '../../../src/gen/specroute/v1/generate_pb.js';
import { PARAM_TRAILER } from '../../../src/ingress/grpc/grpc-status.js';
import type { RunningServer } from '../../../src/main.js';
import { GenerationClient } from '../../helpers/grpc.js';
import { startTestServer } from '../../helpers/server.js';
import { postJson } from '../../helpers/sse.js';

/**
 * One request contract, two transports: the same request over HTTP (the official openai client) and gRPC gets
 * the same tokens and the same alternatives with the same text, and a new setting (`min_p`) behaves the same on
 * both. Both models run on an F32 KV cache so that greedy runs compare exactly.
 */
const MESSAGES = [{ role: 'user' as const, content: 'Tell me a story about a cat.' }];
const CHAT = { case: 'chat' as const, value: { messages: MESSAGES.map((m) => ({ role: ChatRole.USER, content: m.content })) } };

interface Position {
  text: string;
  alternatives: Array<[string, number]>;
}

describe('one request contract over HTTP and gRPC (stories260K)', () => {
  let server: RunningServer;
  let openai: OpenAI;
  let grpcClient: GenerationClient;

  beforeAll(async () => {
    server = await startTestServer({ SPECROUTE_MODEL__VERIFIER__KV_CACHE_TYPE: 'F32', SPECROUTE_MODEL__DRAFT__KV_CACHE_TYPE: 'F32' });
    openai = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
    grpcClient = new GenerationClient(`127.0.0.1:${server.grpcPort!}`);
  });
  afterAll(async () => {
    grpcClient?.close();
    await server?.close();
  });

  async function overHttp(extra: Record<string, unknown>): Promise<Position[]> {
    const body = { model: 'stories260K', messages: MESSAGES, max_tokens: 24, temperature: 0, logprobs: true, top_logprobs: 5, ...extra };
    const completion = await openai.chat.completions.create(body as unknown as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming);
    return completion.choices[0]!.logprobs!.content!.map((c) => ({ text: c.token, alternatives: c.top_logprobs.map((t) => [t.token, t.logprob] as [string, number]) }));
  }

  async function overGrpc(extra: Record<string, unknown>): Promise<Position[]> {
    const { messages, status } = await grpcClient.generate({ model: 'stories260K', input: CHAT, maxTokens: 24, temperature: 0, topLogprobs: 5, ...extra });
    expect(status.code, status.details).toBe(grpc.status.OK);
    return messages
      .flatMap((m: GenerateResponse) => (m.event.case === 'chunk' ? [m.event.value] : []))
      .filter((c) => c.tokenIds.length > 0)
      .map((c) => ({ text: c.text, alternatives: c.topLogprobs.map((t) => [t.text, t.logprob] as [string, number]) }));
  }

  it('returns the same alternatives with the same text over HTTP and gRPC', async () => {
    const http = await overHttp({});
    const rpc = await overGrpc({});
    expect(http.length).toBeGreaterThan(10);
    // The same alternatives, in the same order, with the same text; their log-probabilities agree to float32
    // rounding: a position's scores come from a verifier pass whose shape follows the step's γ, which follows the
    // load (docs/ARCHITECTURE.md#speculation-that-adapts-to-load), and a pass's shape moves the last bits.
    expect(rpc.map((p) => p.alternatives.map(([text]) => text))).toEqual(http.map((p) => p.alternatives.map(([text]) => text)));
    rpc.forEach((p, i) => p.alternatives.forEach(([, logprob], j) => expect(logprob).toBeCloseTo(http[i]!.alternatives[j]![1], 4)));
    const alternatives = http.flatMap((p) => p.alternatives);
    expect(alternatives.length).toBe(5 * http.length);
    // Each alternative's text is as it would appear at that position: word starts carry their leading space.
    expect(alternatives.some(([text]) => text.startsWith(' ') && text.trim().length > 0)).toBe(true);
    // The chosen token is the top alternative at temperature 0, and its text is the token's own text.
    for (const p of http) expect(p.alternatives[0]![0]).toBe(p.text);
  });

  it('refuses min_p outside [0, 1], naming min_p, over HTTP (400) and gRPC (INVALID_ARGUMENT)', async () => {
    for (const value of [-0.01, 1.5, '0.5']) {
      const res = await postJson(`${server.httpUrl}/v1/chat/completions`, { model: 'stories260K', messages: MESSAGES, min_p: value });
      expect(res.status, String(value)).toBe(400);
      const body = (await res.json()) as { error: { param: string; message: string } };
      expect(body.error.param, String(value)).toBe('min_p');
      expect(body.error.message).toContain('min_p');
    }
    for (const minP of [-0.01, 1.5, Number.NaN]) {
      const { status } = await grpcClient.generate({ model: 'stories260K', input: CHAT, minP });
      expect(status.code, String(minP)).toBe(grpc.status.INVALID_ARGUMENT);
      expect(status.metadata.get(PARAM_TRAILER)).toEqual(['min_p']);
      expect(status.details).toContain('min_p');
    }
  });

  it('min_p leaves greedy output unchanged, and reaches the sampler on both transports', async () => {
    const text = (positions: Position[]): string => positions.map((p) => p.text).join('');
    const greedy = text(await overHttp({}));
    for (const min_p of [0.05, 0.5, 1]) expect(text(await overHttp({ min_p })), `min_p ${min_p}`).toBe(greedy);
    // At T = 1, min_p = 1 keeps only the top token (ties aside): sampling then gives the greedy text whatever
    // the seed, while without it seeds give other stories.
    const sampled = async (seed: number, min_p?: number): Promise<string> => text(await overHttp({ temperature: 1, seed, ...(min_p !== undefined ? { min_p } : {}) }));
    const free = await Promise.all([1, 2, 3].map((seed) => sampled(seed)));
    expect(free.some((t) => t !== greedy)).toBe(true);
    for (const seed of [1, 2, 3]) expect(await sampled(seed, 1)).toBe(greedy);
    expect(text(await overGrpc({ temperature: 1, seed: 2, minP: 1 }))).toBe(greedy);
    expect(text(await overGrpc({ temperature: 1, seed: 2, minP: 0 }))).toBe(free[1]);
  });
});
