/**
 * Hostile gRPC input: malformed protobuf bytes, wrong wire types, invalid UTF-8, out-of-range fields, unknown
 * models and fields, prompts longer than the context, oversized messages, missing or wrong API keys. Each must end
 * with a proper non-OK status that names the problem, while a well-formed stream runs meanwhile and finishes
 * intact.
 */
import * as grpc from '@grpc/grpc-js';
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatRole, GenerateRequestSchema } from '../../../src/gen/specroute/v1/generate_pb.js';
import { ERROR_CODE_TRAILER, PARAM_TRAILER } from '../../../src/ingress/grpc/grpc-status.js';
import { collectStream, GenerationClient, rawCall, summarize, type CallResult } from '../../helpers/grpc.js';
import type { RunningServer } from '../../../src/main.js';
import { escalateAfter, frontierSettings, startFaultyFrontier, type FaultyFrontier } from '../../helpers/faulty-frontier.js';
import { startTestServer } from '../../helpers/server.js';
import { until } from '../../helpers/until.js';

const KEY = 'sk-hostile-test-0123456789';
const AUTH = { authorization: `Bearer ${KEY}` };
const MAX_BODY = 64 * 1024;
const S = grpc.status;

// --- protobuf wire encoding by hand, to send what no generated client would ---
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const SGROUP = 3;
const I32 = 5;
function varint(value: number | bigint): Buffer {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? byte | 0x80 : byte);
  } while (v > 0n);
  return Buffer.from(out);
}
const tag = (field: number, wire: number): Buffer => varint((field << 3) | wire);
const len = (field: number, payload: Buffer | string): Buffer => {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([tag(field, LEN), varint(bytes.length), bytes]);
};
const bytes = (...parts: Array<Buffer | number[]>): Buffer => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
const MODEL = len(1, 'stories260K');
const PROMPT = len(2, 'Once upon a time');
/** A message `content` with a role, as `Chat.messages` wants it. */
const chatMessage = (role: number, content: Buffer | string): Buffer => bytes(tag(1, VARINT), varint(role), len(2, content));
const typed = (request: MessageInitShape<typeof GenerateRequestSchema>): Buffer => Buffer.from(toBinary(GenerateRequestSchema, create(GenerateRequestSchema, request)));
const ok = (extra: MessageInitShape<typeof GenerateRequestSchema> = {}): MessageInitShape<typeof GenerateRequestSchema> => ({
  model: 'stories260K',
  input: { case: 'prompt', value: 'Once upon a time' },
  ...extra,
});
/** A tiny deterministic PRNG for random garbage. */
function garbage(seed: number, length: number): Buffer {
  let x = seed * 2654435761;
  return Buffer.from(Array.from({ length }, () => ((x = (x * 1103515245 + 12345) >>> 0), x >>> 24)));
}

interface Case {
  name: string;
  send(client: GenerationClient): Promise<CallResult<unknown>>;
  /** The status code; `'any'` for random bytes (any refusal that names the problem). */
  code: grpc.status | 'any';
  /** The trailer `specroute-param` (the field at fault). */
  param?: string;
  /** What the details must say. */
  details?: RegExp;
  /** The trailer `specroute-error-code` (the registry's code), where the case checks it. */
  errorCode?: string;
}

const gen = (bytesOut: Buffer, metadata: Record<string, string> = AUTH) => (c: GenerationClient) => c.rawStream(bytesOut, { metadata });
const invalid = (name: string, body: Buffer, param: string, details?: RegExp): Case => ({ name, send: gen(body), code: S.INVALID_ARGUMENT, param, details: details ?? new RegExp(escape(lastSegment(param))) });
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const lastSegment = (param: string): string => param.replace(/^chat\./, '').split('.').at(-1)!.replace(/\[\d+\]$/, '').replace('p_min', 'p');

const cases: Case[] = [
  // --- authentication (metadata), before anything is decoded ---
  { name: 'no authorization metadata', send: gen(typed(ok()), {}), code: S.UNAUTHENTICATED, param: 'authorization', details: /missing API key/ },
  { name: 'wrong key', send: gen(typed(ok()), { authorization: 'Bearer sk-not-the-key-000000' }), code: S.UNAUTHENTICATED, details: /invalid API key/ },
  { name: 'Basic scheme', send: gen(typed(ok()), { authorization: `Basic ${Buffer.from(`u:${KEY}`).toString('base64')}` }), code: S.UNAUTHENTICATED, details: /API key/ },
  { name: 'Bearer without key', send: gen(typed(ok()), { authorization: 'Bearer' }), code: S.UNAUTHENTICATED, details: /missing API key/ },
  { name: 'Bearer with blanks only', send: gen(typed(ok()), { authorization: `Bearer ${' '.repeat(50)}` }), code: S.UNAUTHENTICATED, details: /API key/ },
  { name: 'key with a suffix', send: gen(typed(ok()), { authorization: `Bearer ${KEY}x` }), code: S.UNAUTHENTICATED, details: /invalid API key/ },
  { name: 'key prefix', send: gen(typed(ok()), { authorization: `Bearer ${KEY.slice(0, -1)}` }), code: S.UNAUTHENTICATED, details: /invalid API key/ },
  { name: 'key in upper case', send: gen(typed(ok()), { authorization: `Bearer ${KEY.toUpperCase()}` }), code: S.UNAUTHENTICATED, details: /invalid API key/ },
  { name: 'key without scheme', send: gen(typed(ok()), { authorization: KEY }), code: S.UNAUTHENTICATED, details: /missing API key/ },
  { name: 'key in another header', send: gen(typed(ok()), { 'x-api-key': KEY }), code: S.UNAUTHENTICATED, details: /missing API key/ },
  { name: 'two keys in one value', send: gen(typed(ok()), { authorization: `Bearer ${KEY}, Bearer sk-other-key-0000000` }), code: S.UNAUTHENTICATED, details: /invalid API key/ },
  { name: 'malformed bytes without a key (auth first)', send: gen(Buffer.from([0xff, 0xff]), {}), code: S.UNAUTHENTICATED, details: /API key/ },
  { name: 'empty message without a key', send: gen(Buffer.alloc(0), {}), code: S.UNAUTHENTICATED, details: /API key/ },
  { name: 'ListModels without a key', send: (c) => c.rawUnary(Buffer.alloc(0), { metadata: {} }), code: S.UNAUTHENTICATED, details: /API key/ },
  { name: 'ListModels with a wrong key', send: (c) => c.rawUnary(Buffer.alloc(0), { metadata: { authorization: 'Bearer nope-nope-nope' } }), code: S.UNAUTHENTICATED, details: /API key/ },

  // --- bytes that are not a GenerateRequest ---
  invalid('a lone 0xff', Buffer.from([0xff]), 'specroute.v1.GenerateRequest', /invalid field tag/),
  invalid('field number 0', Buffer.from([0x00, 0x00]), 'specroute.v1.GenerateRequest', /invalid field tag/),
  invalid('wire type 7', Buffer.from([0x0f]), 'specroute.v1.GenerateRequest', /invalid field tag|wire type/),
  invalid('an 11-byte varint tag', Buffer.from([...Array(10).fill(0xff), 0x01]), 'specroute.v1.GenerateRequest', /invalid field tag/),
  invalid('model as a varint', bytes([0x08, 0x80]), 'model', /model has wire type Varint/),
  invalid('model truncated', bytes([0x0a, 0x10, 0x61]), 'model', /model is truncated/),
  invalid('model as a start group', bytes(tag(1, SGROUP), PROMPT), 'model', /model has wire type StartGroup/),
  invalid('prompt with a 4 GiB length', bytes(MODEL, [0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]), 'prompt', /prompt is truncated/),
  invalid('unterminated group of an unknown field', bytes(MODEL, PROMPT, tag(99, SGROUP)), 'specroute.v1.GenerateRequest#99', /GenerateRequest#99 is truncated/),
  invalid('temperature as a varint', bytes(MODEL, PROMPT, tag(5, VARINT), [0x01]), 'temperature', /temperature has wire type Varint; a double field/),
  invalid('temperature as fixed32', bytes(MODEL, PROMPT, tag(5, I32), [0, 0, 0x80, 0x3f]), 'temperature', /temperature has wire type Bit32/),
  invalid('temperature truncated', bytes(MODEL, PROMPT, tag(5, I64), [0, 0]), 'temperature', /temperature is truncated/),
  invalid('max_tokens as a string', bytes(MODEL, PROMPT, len(4, 'ten')), 'max_tokens', /max_tokens has wire type LengthDelimited; a int32 field/),
  invalid('top_k as fixed64', bytes(MODEL, PROMPT, tag(6, I64), Buffer.alloc(8)), 'top_k', /top_k has wire type Bit64/),
  invalid('top_p as a varint', bytes(MODEL, PROMPT, tag(7, VARINT), [0x01]), 'top_p', /top_p has wire type Varint/),
  invalid('seed as a string', bytes(MODEL, PROMPT, len(8, '42')), 'seed', /seed has wire type LengthDelimited/),
  invalid('stop as a varint', bytes(MODEL, PROMPT, tag(9, VARINT), [0x05]), 'stop', /stop has wire type Varint/),
  invalid('top_logprobs as fixed32', bytes(MODEL, PROMPT, tag(10, I32), Buffer.alloc(4)), 'top_logprobs', /top_logprobs has wire type Bit32/),
  invalid('speculation as a varint', bytes(MODEL, PROMPT, tag(11, VARINT), [0x01]), 'speculation', /speculation has wire type Varint/),
  invalid('ignore_eos as fixed64', bytes(MODEL, PROMPT, tag(12, I64), Buffer.alloc(8)), 'ignore_eos', /ignore_eos has wire type Bit64/),
  invalid('chat as a varint', bytes(MODEL, tag(3, VARINT), [0x01]), 'chat', /chat has wire type Varint/),
  invalid('chat holding text instead of a message', bytes(MODEL, len(3, 'hello')), 'chat#13', /chat#13/),
  invalid('chat message role as a string', bytes(MODEL, len(3, len(1, len(1, 'user')))), 'chat.messages[0].role', /role has wire type LengthDelimited; a enum field/),
  invalid('speculation.p_min as a varint', bytes(MODEL, PROMPT, len(11, bytes(tag(6, VARINT), [0x01]))), 'speculation.p_min', /p_min has wire type Varint/),
  invalid('speculation truncated inside', bytes(MODEL, PROMPT, len(11, bytes(tag(3, VARINT)))), 'speculation.max', /speculation.max is truncated/),

  // --- invalid UTF-8 in string fields (proto3 strings must be UTF-8) ---
  invalid('prompt: C3 28 (bad continuation)', bytes(MODEL, len(2, Buffer.from([0x4f, 0xc3, 0x28]))), 'prompt', /prompt is not valid UTF-8/),
  invalid('prompt: C0 AF (overlong)', bytes(MODEL, len(2, Buffer.from([0xc0, 0xaf]))), 'prompt', /prompt is not valid UTF-8/),
  invalid('prompt: ED A0 80 (UTF-8 encoded surrogate)', bytes(MODEL, len(2, Buffer.from([0xed, 0xa0, 0x80]))), 'prompt', /prompt is not valid UTF-8/),
  invalid('prompt: lone continuation byte', bytes(MODEL, len(2, Buffer.from([0x61, 0x80, 0x62]))), 'prompt', /prompt is not valid UTF-8/),
  invalid('prompt: truncated 4-byte sequence', bytes(MODEL, len(2, Buffer.from([0x61, 0xf0, 0x9f, 0x98]))), 'prompt', /prompt is not valid UTF-8/),
  invalid('prompt: FE FF', bytes(MODEL, len(2, Buffer.from([0xfe, 0xff]))), 'prompt', /prompt is not valid UTF-8/),
  invalid('prompt: beyond U+10FFFF', bytes(MODEL, len(2, Buffer.from([0xf4, 0x90, 0x80, 0x80]))), 'prompt', /prompt is not valid UTF-8/),
  invalid('prompt: Latin-1 text', bytes(MODEL, len(2, Buffer.from('caf\xe9 cr\xe8me', 'latin1'))), 'prompt', /prompt is not valid UTF-8/),
  invalid('model: invalid UTF-8', bytes(len(1, Buffer.from([0x73, 0xff])), PROMPT), 'model', /model is not valid UTF-8/),
  invalid('stop[1]: invalid UTF-8', bytes(MODEL, PROMPT, len(9, 'ok'), len(9, Buffer.from([0xc3]))), 'stop[1]', /stop\[1\] is not valid UTF-8/),
  invalid('chat.messages[1].content: invalid UTF-8', bytes(MODEL, len(3, bytes(len(1, chatMessage(2, 'hi')), len(1, chatMessage(2, Buffer.from([0xe2, 0x82])))))), 'chat.messages[1].content', /chat.messages\[1\].content is not valid UTF-8/),

  // --- fields this server does not know ---
  invalid('unknown field 99 (n = 2)', bytes(MODEL, PROMPT, tag(99, VARINT), [0x02]), 'specroute.v1.GenerateRequest', /does not know .*field number 99/),
  invalid('unknown length-delimited field 42', bytes(MODEL, PROMPT, len(42, '{"logit_bias":{}}')), 'specroute.v1.GenerateRequest', /field number 42/),
  invalid('route sent as a string', bytes(MODEL, PROMPT, len(15, 'frontier')), 'route', /route has wire type LengthDelimited/),
  invalid('route: an enum value this server does not know', bytes(MODEL, PROMPT, tag(15, VARINT), [0x09]), 'route', /route must be ROUTE_AUTO/),
  invalid('unknown field in a chat message', bytes(MODEL, len(3, len(1, bytes(chatMessage(2, 'hi'), tag(7, VARINT), [0x01])))), 'chat.messages[0]', /chat.messages\[0\] has fields .*field number 7/),
  invalid('unknown field in speculation', bytes(MODEL, PROMPT, len(11, bytes(tag(20, VARINT), [0x01]))), 'speculation', /speculation has fields .*field number 20/),
  invalid('only unknown fields', bytes(tag(1000, VARINT), [0x01]), 'specroute.v1.GenerateRequest', /field number 1000/),

  // --- well-formed protobuf, bad values ---
  invalid('empty message', Buffer.alloc(0), 'prompt', /prompt or chat/),
  invalid('model empty', typed(ok({ model: '' })), 'model', /model is required/),
  { name: 'unknown model', send: gen(typed(ok({ model: 'gpt-4' }))), code: S.NOT_FOUND, param: 'model', details: /'gpt-4' does not exist/ },
  { name: 'model with a trailing blank', send: gen(typed(ok({ model: 'stories260K ' }))), code: S.NOT_FOUND, param: 'model', details: /does not exist/ },
  { name: 'model in other case', send: gen(typed(ok({ model: 'STORIES260K' }))), code: S.NOT_FOUND, param: 'model', details: /does not exist/ },
  { name: 'model with a NUL', send: gen(typed(ok({ model: 'stories260K\u0000' }))), code: S.NOT_FOUND, param: 'model', details: /does not exist/ },
  invalid('no prompt and no chat', typed({ model: 'stories260K' }), 'prompt', /prompt or chat/),
  invalid('empty prompt', typed(ok({ input: { case: 'prompt', value: '' } })), 'prompt', /prompt must not be empty/),
  invalid('prompt with a NUL', typed(ok({ input: { case: 'prompt', value: 'Once\u0000upon' } })), 'prompt', /NUL/),
  invalid('prompt longer than the context', typed(ok({ input: { case: 'prompt', value: 'Once upon a time there was a dog. '.repeat(300) } })), 'prompt', /context/),
  invalid('chat with no messages', typed(ok({ input: { case: 'chat', value: { messages: [] } } })), 'chat.messages', /at least one/),
  invalid('chat role unset', typed(ok({ input: { case: 'chat', value: { messages: [{ content: 'hi' }] } } })), 'chat.messages[0].role', /CHAT_ROLE_UNSPECIFIED/),
  invalid('chat role 99', typed(ok({ input: { case: 'chat', value: { messages: [{ role: 99 as ChatRole, content: 'hi' }] } } })), 'chat.messages[0].role', /got 99/),
  invalid('chat role -1', typed(ok({ input: { case: 'chat', value: { messages: [{ role: -1 as ChatRole, content: 'hi' }] } } })), 'chat.messages[0].role', /role/),
  invalid('second chat role unset', typed(ok({ input: { case: 'chat', value: { messages: [{ role: ChatRole.USER, content: 'hi' }, { content: 'x' }] } } })), 'chat.messages[1].role', /messages\[1\].role/),
  invalid('5000 chat messages without roles', typed(ok({ input: { case: 'chat', value: { messages: Array.from({ length: 5000 }, () => ({ content: 'x' })) } } })), 'chat.messages[0].role', /role/),
  invalid('chat content with a NUL', typed(ok({ input: { case: 'chat', value: { messages: [{ role: ChatRole.USER, content: 'a\u0000b' }] } } })), 'chat.messages[0].content', /NUL/),
  invalid('chat longer than the context', typed(ok({ input: { case: 'chat', value: { messages: [{ role: ChatRole.USER, content: 'The cat sat on the mat. '.repeat(400) }] } } })), 'chat.messages', /context/),
  invalid('max_tokens 0', typed(ok({ maxTokens: 0 })), 'max_tokens', /max_tokens must be a positive integer/),
  invalid('max_tokens -1', typed(ok({ maxTokens: -1 })), 'max_tokens', /max_tokens must be a positive integer, got -1/),
  invalid('max_tokens INT32_MIN', typed(ok({ maxTokens: -2147483648 })), 'max_tokens', /max_tokens/),
  invalid('max_tokens INT32_MAX', typed(ok({ maxTokens: 2147483647 })), 'max_tokens', /max_tokens asks for 2147483647/),
  invalid('max_tokens beyond the context room', typed(ok({ maxTokens: 510 })), 'max_tokens', /context/),
  invalid('temperature -0.1', typed(ok({ temperature: -0.1 })), 'temperature', /temperature must be between 0 and 2/),
  invalid('temperature 2.01', typed(ok({ temperature: 2.01 })), 'temperature', /got 2.01/),
  invalid('temperature NaN', typed(ok({ temperature: NaN })), 'temperature', /got NaN/),
  invalid('temperature Infinity', typed(ok({ temperature: Infinity })), 'temperature', /got Infinity/),
  invalid('temperature -Infinity', typed(ok({ temperature: -Infinity })), 'temperature', /temperature/),
  invalid('temperature 1e308', typed(ok({ temperature: 1e308 })), 'temperature', /temperature/),
  invalid('top_p 0', typed(ok({ topP: 0 })), 'top_p', /top_p must be in \(0, 1\]/),
  invalid('top_p 1.01', typed(ok({ topP: 1.01 })), 'top_p', /top_p/),
  invalid('top_p -1', typed(ok({ topP: -1 })), 'top_p', /top_p/),
  invalid('top_p NaN', typed(ok({ topP: NaN })), 'top_p', /top_p/),
  invalid('top_k -1', typed(ok({ topK: -1 })), 'top_k', /top_k must be a non-negative integer/),
  invalid('top_k INT32_MIN', typed(ok({ topK: -2147483648 })), 'top_k', /top_k/),
  invalid('five stop sequences', typed(ok({ stop: ['a', 'b', 'c', 'd', 'e'] })), 'stop', /at most 4/),
  invalid('empty stop sequence', typed(ok({ stop: [''] })), 'stop[0]', /must not be empty/),
  invalid('second stop sequence empty', typed(ok({ stop: ['.', ''] })), 'stop[1]', /must not be empty/),
  invalid('stop sequence with a NUL', typed(ok({ stop: ['\u0000'] })), 'stop[0]', /NUL/),
  invalid('top_logprobs 21', typed(ok({ topLogprobs: 21 })), 'top_logprobs', /top_logprobs must be an integer from 0 to 20/),
  invalid('top_logprobs -1', typed(ok({ topLogprobs: -1 })), 'top_logprobs', /top_logprobs/),
  invalid('top_logprobs INT32_MAX', typed(ok({ topLogprobs: 2147483647 })), 'top_logprobs', /top_logprobs/),
  invalid('speculation disabled and configured', typed(ok({ speculation: { disable: true, max: 4 } })), 'speculation.disable', /excludes/),
  invalid('speculation.max 65', typed(ok({ speculation: { max: 65 } })), 'speculation.max', /speculation.max/),
  invalid('speculation.min -1', typed(ok({ speculation: { min: -1 } })), 'speculation.min', /speculation.min/),
  invalid('speculation.min above max', typed(ok({ speculation: { min: 5, max: 2 } })), 'speculation.min', /must not exceed speculation.max/),
  invalid('speculation.initial -1', typed(ok({ speculation: { initial: -1 } })), 'speculation.initial', /speculation.initial/),
  invalid('speculation.p_min 1.5', typed(ok({ speculation: { pMin: 1.5 } })), 'speculation.p_min', /between 0 and 1/),
  invalid('speculation.p_min -0.5', typed(ok({ speculation: { pMin: -0.5 } })), 'speculation.p_min', /between 0 and 1/),
  invalid('speculation.p_min NaN', typed(ok({ speculation: { pMin: NaN } })), 'speculation.p_min', /between 0 and 1/),
  invalid('escalation disabled and configured', typed(ok({ escalation: { disable: true, window: 2 } })), 'escalation.disable', /excludes the other escalation fields \(window set\)/),
  invalid('escalation.window 0', typed(ok({ escalation: { window: 0 } })), 'escalation.window', /escalation.window must be an integer from 1/),
  invalid('escalation.min_confidence 1.5', typed(ok({ escalation: { minConfidence: 1.5 } })), 'escalation.min_confidence', /between 0 and 1/),
  invalid('escalation.max_entropy -1', typed(ok({ escalation: { maxEntropy: -1 } })), 'escalation.max_entropy', /between 0 and 100/),
  invalid('escalation.span_tokens 5000', typed(ok({ escalation: { spanTokens: 5000 } })), 'escalation.span_tokens', /from 1 to 4096/),
  invalid('escalation.cooldown_tokens -1', typed(ok({ escalation: { cooldownTokens: -1 } })), 'escalation.cooldown_tokens', /from 0 to 4096/),
  invalid('escalation.min_confidence as a varint', bytes(MODEL, PROMPT, len(13, bytes(tag(3, VARINT), [0x01]))), 'escalation.min_confidence', /min_confidence has wire type Varint/),

  // --- sizes, deadlines, paths ---
  { name: 'prompt over the message size limit', send: gen(typed(ok({ input: { case: 'prompt', value: 'x'.repeat(MAX_BODY + 1) } }))), code: S.RESOURCE_EXHAUSTED, details: /larger than max/ },
  { name: '1 MiB of garbage', send: gen(garbage(1, 1 << 20)), code: S.RESOURCE_EXHAUSTED, details: /larger than max/ },
  { name: 'ListModels over the size limit', send: (c) => c.rawUnary(len(5, Buffer.alloc(MAX_BODY)), { metadata: AUTH }), code: S.RESOURCE_EXHAUSTED, details: /larger than max/ },
  // A deadline that has passed on arrival. grpc-js refuses a call whose *client* deadline has passed without
  // sending it, so these send `grpc-timeout` by hand over bare HTTP/2, with no client deadline: the server must
  // refuse them itself. `0n` and `1n` (rounded down to 0 ms) put the deadline at the arrival of the headers;
  // headers and message arrive together (`rawCall`), so the handler runs before grpc-js's own 0 ms timer. Fails
  // if the server admits a call that arrived past its deadline (generation-service.ts).
  { name: 'grpc-timeout 0n (arrives past its deadline)', send: (c) => rawCall(c.address, typed(ok()), { headers: { ...AUTH, 'grpc-timeout': '0n' } }), code: S.DEADLINE_EXCEEDED, details: /^the call arrived past its deadline$/, errorCode: 'deadline_exceeded' },
  { name: 'grpc-timeout 1n (arrives past its deadline)', send: (c) => rawCall(c.address, typed(ok()), { headers: { ...AUTH, 'grpc-timeout': '1n' } }), code: S.DEADLINE_EXCEEDED, details: /^the call arrived past its deadline$/, errorCode: 'deadline_exceeded' },
  { name: 'unknown method', send: (c) => c.rawStream(typed(ok()), { metadata: AUTH, path: '/specroute.v1.GenerationService/Nope' }), code: S.UNIMPLEMENTED, details: /Nope/ },
  { name: 'unknown service', send: (c) => c.rawUnary(Buffer.alloc(0), { metadata: AUTH, path: '/specroute.v2.GenerationService/ListModels' }), code: S.UNIMPLEMENTED, details: /v2/ },
  { name: 'ListModels with bad bytes', send: (c) => c.rawUnary(Buffer.from([0x08]), { metadata: AUTH }), code: S.INVALID_ARGUMENT, param: 'specroute.v1.ListModelsRequest#1', details: /ListModelsRequest#1 is truncated/ },
  { name: 'health Check with bad bytes', send: (c) => c.rawUnary(Buffer.from([0xff]), { path: '/grpc.health.v1.Health/Check' }), code: S.INVALID_ARGUMENT, details: /HealthCheckRequest/ },
  { name: 'health Check with invalid UTF-8', send: (c) => c.rawUnary(len(1, Buffer.from([0xc3])), { path: '/grpc.health.v1.Health/Check' }), code: S.INVALID_ARGUMENT, param: 'service', details: /service is not valid UTF-8/ },
  { name: 'health Check of an unknown service', send: (c) => c.rawUnary(len(1, 'evil.Service'), { path: '/grpc.health.v1.Health/Check' }), code: S.NOT_FOUND, param: 'service', details: /evil.Service/ },

  // --- random garbage (whatever it decodes to, it is refused and named) ---
  ...Array.from({ length: 10 }, (_, i): Case => ({ name: `random bytes #${i + 1}`, send: gen(garbage(i + 7, 16 + i * 37)), code: 'any' })),
];

describe('hostile gRPC input', () => {
  let server: RunningServer;
  let client: GenerationClient;
  // The good stream escalates once, after 150 tokens, to a frontier that holds the call until every hostile case
  // has been sent: the cases certainly overlap the stream, however fast or slow generation is.
  let frontier: FaultyFrontier;
  beforeAll(async () => {
    frontier = await startFaultyFrontier('ok');
    server = await startTestServer({ SPECROUTE_API_KEYS: KEY, SPECROUTE_SERVER__MAX_BODY_BYTES: String(MAX_BODY), ...frontierSettings(frontier) });
    client = new GenerationClient(`127.0.0.1:${server.grpcPort!}`);
  });
  afterAll(async () => {
    frontier?.release();
    client?.close();
    await server?.close();
    await frontier?.close();
  });

  it(`refuses ${cases.length} hostile requests with a status naming the problem, while a good stream finishes intact`, async () => {
    expect(cases.length).toBeGreaterThanOrEqual(80);
    const good = { model: 'stories260K', input: { case: 'prompt' as const, value: 'Once upon a time' }, maxTokens: 400, ignoreEos: true, escalation: escalateAfter(150) };
    // The reference, its frontier span answered at once.
    const reference = summarize((await client.generate(good, { metadata: AUTH })).messages);

    frontier.mode = 'hold';
    const stream = client.start(good, { metadata: AUTH });
    const streamed = collectStream(stream);
    await new Promise((resolve) => stream.once('data', resolve)); // it is generating
    let streamEnded = false;
    void streamed.then(() => (streamEnded = true));

    // The first batches go out while it generates, the rest (on a fast machine) while its frontier call is held.
    const results: Array<{ c: Case; r: CallResult<unknown> }> = [];
    for (let i = 0; i < cases.length; i += 8) {
      const batch = cases.slice(i, i + 8);
      results.push(...(await Promise.all(batch.map(async (c) => ({ c, r: await c.send(client) })))));
    }
    // Every case went out while the good stream was in flight: it cannot end before its frontier call does.
    expect(streamEnded).toBe(false);
    await until(() => frontier.held === 1, 'the good stream at its frontier call');
    frontier.release();
    frontier.mode = 'ok';

    const failures: string[] = [];
    for (const { c, r } of results) {
      const { code, details, metadata } = r.status;
      const param = metadata.get(PARAM_TRAILER)[0];
      const problems = [
        code === S.OK ? 'status OK' : undefined,
        c.code !== 'any' && code !== c.code ? `code ${S[code]}, expected ${S[c.code]}` : undefined,
        !details || details === 'OK' ? 'no details' : undefined,
        code === S.INTERNAL || code === S.UNKNOWN ? `code ${S[code]}` : undefined,
        c.param !== undefined && param !== c.param ? `param ${String(param)}, expected ${c.param}` : undefined,
        c.details && !c.details.test(details) ? `details "${details}" do not match ${c.details}` : undefined,
        r.messages.length > 0 ? `${r.messages.length} messages streamed` : undefined,
      ].filter(Boolean);
      if (c.errorCode !== undefined && metadata.get(ERROR_CODE_TRAILER)[0] !== c.errorCode) problems.push(`error code ${String(metadata.get(ERROR_CODE_TRAILER)[0])}, expected ${c.errorCode}`);
      if (c.code === 'any' && code !== S.RESOURCE_EXHAUSTED && metadata.get(ERROR_CODE_TRAILER).length === 0) problems.push('no specroute-error-code trailer');
      if (problems.length > 0) failures.push(`${c.name}: ${problems.join('; ')}`);
    }
    expect(failures).toEqual([]);

    const { status, messages } = await streamed;
    expect(status.code).toBe(S.OK);
    const run = summarize(messages);
    expect(run.text).toBe(reference.text);
    expect(run.final!.usage!.completionTokens).toBe(400);
    expect(messages.at(-1)!.event.case).toBe('final');

    // Nothing leaked, and the server still serves.
    expect(server.scheduler.activeRequests).toBe(0);
    expect(server.engine.verifier.openSequences).toBe(0);
    const after = await client.generate({ ...good, maxTokens: 5 }, { metadata: AUTH });
    expect(after.status.code).toBe(S.OK);
  });
});
