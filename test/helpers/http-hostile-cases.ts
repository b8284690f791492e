/**
 * Malformed and hostile HTTP requests, each with the refusal it must get: a 4xx in the OpenAI error shape whose
 * `param` (or, for whole-request problems, message) names the problem. Shared by the HTTP hostile test and the
 * combined HTTP + gRPC one. The server under test serves stories260K (context 512) with the API key `KEY` and a
 * body limit of `MAX_BODY` bytes.
 */
import { request as httpRequest } from 'node:http';
import { expect } from 'vitest';

export const MODEL = 'stories260K';
export const KEY = 'sk-hostile-0123456789';
export const MAX_BODY = 64 * 1024;

/** One malformed or hostile request and what its refusal must say. */
export interface HostileCase {
  name: string;
  method?: string;
  path?: string;
  /** Headers; `authorization` and `content-type` default to a valid key and JSON unless given (`null` drops one). */
  headers?: Record<string, string | null>;
  /** An object is sent as JSON; a string or Buffer as it is. */
  body?: unknown;
  /** Send the body in chunks without a Content-Length. */
  chunked?: boolean;
  status: number;
  /** The `param` the error must name; `null` when the problem is not one field. */
  param: string | null;
  /** What the message must say (required when `param` is null). */
  message?: RegExp;
  code?: string;
}

const chat = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, ...extra });
const completion = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ model: MODEL, prompt: 'Once upon a time', max_tokens: 4, ...extra });
const CHAT = '/v1/chat/completions';
const COMPLETIONS = '/v1/completions';

/** Wrong JSON types, for each field of both APIs: each is a 400 naming the field. */
function wrongTypes(): HostileCase[] {
  const fields: Array<[string, unknown[]]> = [
    ['model', [42, null, ['stories260K'], { id: MODEL }]],
    ['max_tokens', ['5', 1.5, true, {}]],
    ['temperature', ['hot', [], true]],
    ['top_p', ['0.9', {}]],
    ['top_k', [1.5, '3']],
    ['seed', ['abc', 1.5, [1]]],
    ['stop', [5, {}, true]],
    ['stream', ['yes', 1]],
    ['n', ['2', 1.5]],
    ['user', [5, {}]],
    ['presence_penalty', ['none']],
    ['frequency_penalty', [[0]]],
    ['logit_bias', ['x', [1]]],
    ['ignore_eos', ['yes']],
    ['specroute', ['fast', 3]],
  ];
  const cases: HostileCase[] = [];
  for (const [field, values] of fields) {
    for (const value of values) {
      cases.push({ name: `chat ${field}=${JSON.stringify(value)}`, path: CHAT, body: chat({ [field]: value }), status: 400, param: field });
    }
    cases.push({ name: `completions ${field}=${JSON.stringify(values[0])}`, path: COMPLETIONS, body: completion({ [field]: values[0] }), status: 400, param: field });
  }
  return cases;
}

function chatShapes(): HostileCase[] {
  const c = (name: string, body: unknown, param: string | null, message?: RegExp, status = 400): HostileCase => ({ name, path: CHAT, body, status, param, ...(message ? { message } : {}) });
  return [
    c('messages missing', { model: MODEL }, 'messages', /messages is required/),
    c('model missing', { messages: [{ role: 'user', content: 'Hi' }] }, 'model', /model is required/),
    c('messages a string', { model: MODEL, messages: 'Hi' }, 'messages'),
    c('messages an object', { model: MODEL, messages: { role: 'user', content: 'Hi' } }, 'messages'),
    c('messages null', { model: MODEL, messages: null }, 'messages'),
    c('messages empty', chat({ messages: [] }), 'messages', /at least one/),
    c('message a string', chat({ messages: ['Hi'] }), 'messages[0]'),
    c('message null', chat({ messages: [null] }), 'messages[0]'),
    c('second message a number', chat({ messages: [{ role: 'user', content: 'Hi' }, 7] }), 'messages[1]'),
    c('role missing', chat({ messages: [{ content: 'Hi' }] }), 'messages[0].role'),
    c('role a number', chat({ messages: [{ role: 1, content: 'Hi' }] }), 'messages[0].role'),
    c('role unknown', chat({ messages: [{ role: 'wizard', content: 'Hi' }] }), 'messages[0].role'),
    c('role tool', chat({ messages: [{ role: 'tool', content: 'Hi' }] }), 'messages[0].role'),
    c('content missing', chat({ messages: [{ role: 'user' }] }), 'messages[0].content'),
    c('content a number', chat({ messages: [{ role: 'user', content: 5 }] }), 'messages[0].content'),
    c('content an object', chat({ messages: [{ role: 'user', content: { text: 'Hi' } }] }), 'messages[0].content'),
    c('content null', chat({ messages: [{ role: 'user', content: null }] }), 'messages[0].content'),
    c('content a boolean', chat({ messages: [{ role: 'system', content: 'ok' }, { role: 'user', content: false }] }), 'messages[1].content'),
    c('content part a string', chat({ messages: [{ role: 'user', content: ['Hi'] }] }), 'messages[0].content[0]'),
    c('content part without type', chat({ messages: [{ role: 'user', content: [{ text: 'Hi' }] }] }), 'messages[0].content[0].type'),
    c('content part type a number', chat({ messages: [{ role: 'user', content: [{ type: 1, text: 'Hi' }] }] }), 'messages[0].content[0].type'),
    c('content part text a number', chat({ messages: [{ role: 'user', content: [{ type: 'text', text: 5 }] }] }), 'messages[0].content[0].text'),
    c('content part text missing', chat({ messages: [{ role: 'user', content: [{ type: 'text' }] }] }), 'messages[0].content[0].text'),
    c('image content part', chat({ messages: [{ role: 'user', content: [{ type: 'text', text: 'Look' }, { type: 'image_url', image_url: { url: 'http://x' } }] }] }), 'messages[0].content[1].type', /image_url/),
    c('audio content part', chat({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }), 'messages[0].content[0].type'),
    c('message name a number', chat({ messages: [{ role: 'user', content: 'Hi', name: 3 }] }), 'messages[0].name'),
    c('NUL in content', chat({ messages: [{ role: 'user', content: 'a\u0000b' }] }), 'messages[0].content', /NUL/),
    c('lone surrogate in content', chat({ messages: [{ role: 'user', content: 'a\ud800b' }] }), 'messages[0].content', /Unicode/),
    c('logprobs a number', chat({ logprobs: 1 }), 'logprobs'),
    c('top_logprobs a string', chat({ logprobs: true, top_logprobs: '2' }), 'top_logprobs'),
    c('top_logprobs without logprobs', chat({ top_logprobs: 2 }), 'top_logprobs', /logprobs/),
    c('top_logprobs 21', chat({ logprobs: true, top_logprobs: 21 }), 'top_logprobs'),
    c('top_logprobs negative', chat({ logprobs: true, top_logprobs: -1 }), 'top_logprobs'),
    c('max_completion_tokens a string', chat({ max_completion_tokens: 'ten' }), 'max_completion_tokens'),
    c('max_completion_tokens negative', chat({ max_completion_tokens: -5 }), 'max_completion_tokens'),
    c('max_completion_tokens zero', chat({ max_completion_tokens: 0 }), 'max_completion_tokens'),
    c('stream_options a string', chat({ stream: true, stream_options: 'usage' }), 'stream_options'),
    c('stream_options.include_usage a string', chat({ stream: true, stream_options: { include_usage: 'yes' } }), 'stream_options.include_usage'),
    c('stream_options without stream', chat({ stream_options: { include_usage: true } }), 'stream_options', /stream/),
    c('response_format a string', chat({ response_format: 'json' }), 'response_format'),
    c('response_format without type', chat({ response_format: {} }), 'response_format.type'),
    c('response_format xml', chat({ response_format: { type: 'xml' } }), 'response_format.type', /json_object/),
    c('response_format json_schema without a schema', chat({ response_format: { type: 'json_schema', json_schema: { name: 'a' } } }), 'response_format.json_schema.schema'),
    c(
      'response_format json_schema with uniqueItems',
      chat({ response_format: { type: 'json_schema', json_schema: { name: 'a', schema: { type: 'object', properties: { t: { type: 'array', items: {}, uniqueItems: true } } } } } }),
      'response_format.json_schema.schema.properties.t.uniqueItems',
      /uniqueItems/,
    ),
    c('tools without tool_choice (auto)', chat({ tools: [{ type: 'function', function: { name: 'f' } }] }), 'tool_choice', /auto/),
    c('tools with a nameless function', chat({ tools: [{ type: 'function', function: {} }], tool_choice: 'required' }), 'tools[0].function.name'),
    c('tools an object', chat({ tools: { type: 'function' } }), 'tools'),
    c('tool_choice required', chat({ tool_choice: 'required' }), 'tool_choice'),
    c('functions', chat({ functions: [{ name: 'f' }] }), 'functions'),
    c('messages too long for the context', chat({ messages: [{ role: 'user', content: 'Once upon a time '.repeat(200) }] }), 'messages', /context/),
    c('unknown model', chat({ model: 'gpt-4o' }), 'model', /gpt-4o/, 404),
    c('empty model', chat({ model: '' }), 'model'),
  ];
}

function completionShapes(): HostileCase[] {
  const c = (name: string, body: unknown, param: string | null, message?: RegExp, status = 400): HostileCase => ({ name, path: COMPLETIONS, body, status, param, ...(message ? { message } : {}) });
  return [
    c('prompt missing', { model: MODEL }, 'prompt', /prompt is required/),
    c('prompt a number', completion({ prompt: 5 }), 'prompt'),
    c('prompt null', completion({ prompt: null }), 'prompt'),
    c('prompt an object', completion({ prompt: { text: 'x' } }), 'prompt'),
    c('prompt a boolean', completion({ prompt: true }), 'prompt'),
    c('prompt empty', completion({ prompt: '' }), 'prompt', /empty/),
    c('prompt an empty array', completion({ prompt: [] }), 'prompt'),
    c('prompt token ids', completion({ prompt: [1, 403, 407] }), 'prompt', /token-id/),
    c('prompt token id lists', completion({ prompt: [[1, 403]] }), 'prompt', /token-id/),
    c('prompt a batch', completion({ prompt: ['a', 'b'] }), 'prompt', /batch/),
    c('prompt array holding null', completion({ prompt: [null] }), 'prompt[0]'),
    c('prompt array holding an object', completion({ prompt: [{}] }), 'prompt[0]'),
    c('prompt NUL', completion({ prompt: 'x\u0000' }), 'prompt', /NUL/),
    c('prompt lone low surrogate', completion({ prompt: '\udc00 time' }), 'prompt', /Unicode/),
    c('prompt longer than the context', completion({ prompt: 'Once upon a time '.repeat(300) }), 'prompt', /context/),
    c('prompt fills the context exactly', completion({ prompt: 'a'.repeat(1500) }), 'prompt', /context/),
    c('max_tokens beyond the context', completion({ max_tokens: 600 }), 'max_tokens', /context/),
    c('max_tokens huge', completion({ max_tokens: 1e15 }), 'max_tokens'),
    c('max_tokens negative', completion({ max_tokens: -1 }), 'max_tokens', /positive/),
    c('max_tokens zero', completion({ max_tokens: 0 }), 'max_tokens'),
    c('max_tokens a float', completion({ max_tokens: 2.5 }), 'max_tokens'),
    c('temperature negative', completion({ temperature: -0.5 }), 'temperature'),
    c('temperature above 2', completion({ temperature: 2.5 }), 'temperature'),
    c('top_p zero', completion({ top_p: 0 }), 'top_p'),
    c('top_p above 1', completion({ top_p: 1.5 }), 'top_p'),
    c('top_k negative', completion({ top_k: -5 }), 'top_k'),
    c('seed negative', completion({ seed: -1 }), 'seed'),
    c('seed beyond 32 bits', completion({ seed: 2 ** 33 }), 'seed'),
    c('stop a list of five', completion({ stop: ['a', 'b', 'c', 'd', 'e'] }), 'stop', /at most 4/),
    c('stop an empty string', completion({ stop: '' }), 'stop[0]'),
    c('stop holding a number', completion({ stop: ['a', 1] }), 'stop[1]'),
    c('stop holding null', completion({ stop: [null] }), 'stop[0]'),
    c('logprobs a boolean', completion({ logprobs: true }), 'logprobs'),
    c('logprobs 21', completion({ logprobs: 21 }), 'logprobs'),
    c('logprobs negative', completion({ logprobs: -1 }), 'logprobs'),
    c('echo', completion({ echo: true }), 'echo'),
    c('echo a string', completion({ echo: 'yes' }), 'echo'),
    c('suffix', completion({ suffix: ' The end.' }), 'suffix'),
    c('suffix a number', completion({ suffix: 3 }), 'suffix'),
    c('best_of 2', completion({ best_of: 2 }), 'best_of'),
    c('best_of a string', completion({ best_of: '2' }), 'best_of'),
    c('n 2', completion({ n: 2 }), 'n', /n must be 1/),
    c('n 0', completion({ n: 0 }), 'n'),
    c('n 128', completion({ n: 128 }), 'n'),
    c('presence_penalty 0.5', completion({ presence_penalty: 0.5 }), 'presence_penalty'),
    c('frequency_penalty -1', completion({ frequency_penalty: -1 }), 'frequency_penalty'),
    c('logit_bias', completion({ logit_bias: { '50256': -100 } }), 'logit_bias'),
    c('logit_bias values strings', completion({ logit_bias: { '1': 'a' } }), 'logit_bias.1'),
    c('route unknown', completion({ specroute: { route: 'cloud' } }), 'specroute.route', /one of auto, slm, hybrid, frontier/),
    c('route upper case', completion({ specroute: { route: 'FRONTIER' } }), 'specroute.route'),
    c('route a number', completion({ specroute: { route: 3 } }), 'specroute.route'),
    c('route an array', completion({ specroute: { route: ['slm'] } }), 'specroute.route'),
    c('speculation a number', completion({ specroute: { speculation: 5 } }), 'specroute.speculation'),
    c('speculation a string', completion({ specroute: { speculation: 'off' } }), 'specroute.speculation'),
    c('speculation.max a string', completion({ specroute: { speculation: { max: '8' } } }), 'specroute.speculation.max'),
    c('speculation.max 100', completion({ specroute: { speculation: { max: 100 } } }), 'specroute.speculation.max'),
    c('speculation.min negative', completion({ specroute: { speculation: { min: -1 } } }), 'specroute.speculation.min'),
    c('speculation.min above max', completion({ specroute: { speculation: { min: 6, max: 3 } } }), 'specroute.speculation.min'),
    c('speculation.p_min 2', completion({ specroute: { speculation: { p_min: 2 } } }), 'specroute.speculation.p_min'),
    c('speculation.adaptive a string', completion({ specroute: { speculation: { adaptive: 'yes' } } }), 'specroute.speculation.adaptive'),
    c('escalation a string', completion({ specroute: { escalation: 'off' } }), 'specroute.escalation'),
    c('escalation.window a float', completion({ specroute: { escalation: { window: 1.5 } } }), 'specroute.escalation.window'),
    c('escalation.window zero', completion({ specroute: { escalation: { window: 0 } } }), 'specroute.escalation.window'),
    c('escalation.min_confidence 2', completion({ specroute: { escalation: { min_confidence: 2 } } }), 'specroute.escalation.min_confidence'),
    c('escalation.span_tokens a string', completion({ specroute: { escalation: { span_tokens: '8' } } }), 'specroute.escalation.span_tokens'),
    c('timeout_ms a string', completion({ specroute: { timeout_ms: '5' } }), 'specroute.timeout_ms'),
    c('timeout_ms negative', completion({ specroute: { timeout_ms: -5 } }), 'specroute.timeout_ms'),
    c('max_tokens 1e400 (Infinity)', `{"model":"${MODEL}","prompt":"x","max_tokens":1e400}`, 'max_tokens'),
  ];
}

function bodies(): HostileCase[] {
  const raw = (name: string, body: string | Buffer, message: RegExp, path = CHAT): HostileCase => ({ name, path, body, status: 400, param: null, message });
  const json = /not valid JSON/;
  const utf8 = /not valid UTF-8/;
  const object = /must be a JSON object/;
  const prefix = Buffer.from(`{"model":"${MODEL}","prompt":"`);
  const suffix = Buffer.from('"}');
  const badUtf8 = (bytes: number[]): Buffer => Buffer.concat([prefix, Buffer.from(bytes), suffix]);
  return [
    raw('truncated object', '{', json),
    raw('truncated value', `{"model":"${MODEL}","messages":`, json),
    raw('bare word', 'nul', json),
    raw('trailing comma', '{"model":"x",}', json),
    raw('single quotes', "{'model':'x'}", json),
    raw('unclosed array', `{"model":"${MODEL}","messages":[}`, json),
    raw('NaN', '{"temperature":NaN}', json),
    raw('undefined', '{"x":undefined}', json),
    raw('trailing garbage', `{"model":"${MODEL}"} extra`, json),
    raw('comment', '{/* hi */}', json),
    raw('control character in a string', '{"model":"a\u0001b"}', json),
    raw('a thousand-deep nesting, unclosed', `{"x":${'['.repeat(1000)}`, json),
    raw('JSON array', '[]', object),
    raw('JSON string', '"hello"', object),
    raw('JSON number', '42', object),
    raw('JSON null', 'null', object),
    raw('JSON true', 'true', object),
    raw('whitespace only', '   \n ', /empty/),
    raw('__proto__ key', `{"model":"${MODEL}","__proto__":{"admin":true},"messages":[]}`, /forbidden key/),
    raw('constructor.prototype key', `{"model":"${MODEL}","constructor":{"prototype":{"admin":true}},"messages":[]}`, /forbidden key/),
    raw('invalid UTF-8: lone 0xff', badUtf8([0xff]), utf8, COMPLETIONS),
    raw('invalid UTF-8: truncated 2-byte', badUtf8([0xc3]), utf8, COMPLETIONS),
    raw('invalid UTF-8: bad continuation', badUtf8([0xc3, 0x28]), utf8, COMPLETIONS),
    raw('invalid UTF-8: overlong slash', badUtf8([0xc0, 0xaf]), utf8, COMPLETIONS),
    raw('invalid UTF-8: encoded surrogate', badUtf8([0xed, 0xa0, 0x80]), utf8, COMPLETIONS),
    raw('invalid UTF-8: truncated 3-byte', badUtf8([0xe2, 0x82]), utf8, COMPLETIONS),
    raw('invalid UTF-8: beyond U+10FFFF', badUtf8([0xf4, 0x90, 0x80, 0x80]), utf8, COMPLETIONS),
    raw('invalid UTF-8: Latin-1 body', Buffer.from(`{"model":"${MODEL}","prompt":"caf\xe9"}`, 'latin1'), utf8, COMPLETIONS),
    raw('invalid UTF-8 in a key', Buffer.concat([Buffer.from('{"'), Buffer.from([0xfe]), Buffer.from('":1}')]), utf8),
    raw('UTF-16 body', Buffer.from(JSON.stringify(completion()), 'utf16le'), /not valid JSON|UTF-8/, COMPLETIONS),
    {
      name: 'deeply nested unknown field (10k levels) with empty messages',
      path: CHAT,
      body: `{"model":"${MODEL}","messages":[],"x":${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
      status: 400,
      param: 'messages',
    },
    { name: 'no body', path: CHAT, body: undefined, status: 400, param: null, message: /JSON object/ },
  ];
}

function transport(): HostileCase[] {
  const big = JSON.stringify(completion({ prompt: 'x'.repeat(MAX_BODY) }));
  const auth = (name: string, authorization: string | null, path = CHAT, method = 'POST'): HostileCase => ({
    name: `auth: ${name} (${method} ${path})`,
    method,
    path,
    headers: { authorization },
    body: method === 'POST' ? chat() : undefined,
    status: 401,
    param: null,
    message: /API key|Authorization/,
    code: 'unauthenticated',
  });
  return [
    auth('missing', null),
    auth('missing', null, COMPLETIONS),
    auth('missing', null, '/v1/models', 'GET'),
    auth('missing', null, `/v1/models/${MODEL}`, 'GET'),
    auth('wrong key', 'Bearer sk-wrong-000000000'),
    auth('wrong key', 'Bearer sk-wrong-000000000', COMPLETIONS),
    auth('wrong key', 'Bearer sk-wrong-000000000', '/v1/models', 'GET'),
    auth('key prefix', `Bearer ${KEY.slice(0, -1)}`),
    auth('key with a suffix', `Bearer ${KEY}0`),
    auth('key in another case', `Bearer ${KEY.toUpperCase()}`),
    auth('empty bearer', 'Bearer '),
    auth('bearer without a key', 'Bearer'),
    auth('basic scheme', `Basic ${Buffer.from(`user:${KEY}`).toString('base64')}`),
    auth('bare key', KEY),
    auth('empty header', ''),
    auth('key as a query string is not a key', null, `${COMPLETIONS}?api_key=${KEY}`),
    { name: 'body over the limit (Content-Length)', path: COMPLETIONS, body: big, status: 413, param: null, message: /larger/, code: 'payload_too_large' },
    { name: 'body over the limit (chunked)', path: COMPLETIONS, body: big, chunked: true, status: 413, param: null, message: /larger/, code: 'payload_too_large' },
    { name: 'body far over the limit', path: CHAT, body: 'x'.repeat(MAX_BODY * 4), status: 413, param: null, message: /larger/ },
    { name: 'text/plain body', path: CHAT, headers: { 'content-type': 'text/plain' }, body: JSON.stringify(chat()), status: 415, param: null, message: /application\/json/ },
    { name: 'form body', path: COMPLETIONS, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'model=x&prompt=y', status: 415, param: null, message: /application\/json/ },
    { name: 'multipart body', path: COMPLETIONS, headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--', status: 415, param: null, message: /application\/json/ },
    { name: 'body without a content type', path: COMPLETIONS, headers: { 'content-type': null }, body: JSON.stringify(completion()), status: 415, param: null, message: /application\/json/ },
    { name: 'unknown route', path: '/v1/chat/completion', body: chat(), status: 404, param: null, message: /no route/, code: 'not_found' },
    { name: 'unknown API version', path: '/v2/completions', body: completion(), status: 404, param: null, message: /no route/ },
    { name: 'GET on a POST route', method: 'GET', path: CHAT, status: 404, param: null, message: /no route/ },
    { name: 'DELETE a model', method: 'DELETE', path: `/v1/models/${MODEL}`, status: 404, param: null, message: /no route/ },
    { name: 'PUT completions', method: 'PUT', path: COMPLETIONS, body: completion(), status: 404, param: null, message: /no route/ },
    { name: 'unknown model by id', method: 'GET', path: '/v1/models/gpt-4', status: 404, param: 'model', message: /gpt-4/ },
    { name: 'path traversal', method: 'GET', path: '/v1/../../etc/passwd', status: 404, param: null, message: /no route/ },
    { name: 'path traversal out of the web UI', method: 'GET', path: '/ui/../../package.json', status: 404, param: null, message: /no route/ },
    { name: 'encoded path traversal out of the web UI', method: 'GET', path: '/ui/%2e%2e/%2e%2e/package.json', status: 404, param: null, message: /no route/ },
    { name: 'a web UI file that does not exist', method: 'GET', path: '/ui/nope.js', status: 404, param: null, message: /no route/ },
  ];
}

export function hostileHttpCases(): HostileCase[] {
  return [...wrongTypes(), ...chatShapes(), ...completionShapes(), ...bodies(), ...transport()];
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Sends one request exactly as described (node:http, so bodies, headers and framing are under our control). */
export function sendRaw(baseUrl: string, c: HostileCase, defaultKey: string = KEY): Promise<RawResponse> {
  const url = new URL(c.path ?? CHAT, baseUrl);
  const body = c.body === undefined ? undefined : Buffer.isBuffer(c.body) ? c.body : Buffer.from(typeof c.body === 'string' ? c.body : JSON.stringify(c.body), 'utf8');
  const headers: Record<string, string> = { authorization: `Bearer ${defaultKey}`, ...(body ? { 'content-type': 'application/json' } : {}) };
  for (const [name, value] of Object.entries(c.headers ?? {})) {
    if (value === null) delete headers[name];
    else headers[name] = value;
  }
  if (body && !c.chunked) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: c.method ?? 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    // The server may answer (413) and close before the whole body is written.
    req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' || error.code === 'ECONNRESET' ? undefined : reject(error)));
    if (body && c.chunked) {
      for (let at = 0; at < body.length; at += 8192) req.write(body.subarray(at, at + 8192));
      req.end();
    } else req.end(body);
  });
}

/** Asserts a refusal: the expected 4xx, the OpenAI error shape, and a param or message naming the problem. */
export function expectRefusal(c: HostileCase, response: RawResponse): void {
  const where = `${c.name}: ${response.status} ${response.body}`;
  expect(response.status, where).toBe(c.status);
  expect(response.headers['content-type'], where).toMatch(/^application\/json/);
  const body = JSON.parse(response.body) as { error: { message: unknown; type: unknown; param: unknown; code: unknown } };
  expect(Object.keys(body), where).toEqual(['error']);
  expect(Object.keys(body.error).sort(), where).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof body.error.message, where).toBe('string');
  expect(typeof body.error.type, where).toBe('string');
  expect(typeof body.error.code, where).toBe('string');
  expect(body.error.param, where).toBe(c.param);
  if (c.message) expect(body.error.message, where).toMatch(c.message);
  if (c.code) expect(body.error.code, where).toBe(c.code);
}

