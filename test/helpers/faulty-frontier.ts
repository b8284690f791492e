import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real OpenAI-compatible HTTP server on 127.0.0.1 that misbehaves on purpose. In `ok` mode it streams a
 * canned continuation of exactly `max_tokens` words (one word = one token, as it reports in `usage`).
 *
 * `hang` and `hold` let a test hold a request's sequence for as long as it likes, without racing generation
 * speed: a request that escalates to them waits in its frontier call (give the server generous frontier timeouts)
 * until it is cancelled, or, for `hold`, until `release()`.
 */
export type FrontierMode =
  | 'ok'
  | 'error500'
  | 'rate-limited' // 429 with Retry-After
  | 'hang' // accepts the request, never answers
  | 'hold' // accepts the request and answers nothing until release(), then answers as `ok`
  | 'hang-mid-stream' // sends headers and one chunk, then nothing
  | 'close-mid-stream' // sends `chunksBeforeClose` chunks (one by default), then destroys the socket
  | 'malformed' // SSE whose data is not JSON
  | 'no-completions'; // 404 on /completions, chat works

export interface FaultyFrontier {
  readonly baseUrl: string;
  mode: FrontierMode;
  /** Seconds in the Retry-After header of `rate-limited`. */
  retryAfter: number;
  /** Words streamed in `ok` mode are taken from here, cycling. */
  words: string[];
  /** Chunks `close-mid-stream` sends (words, as `ok` would) before it destroys the socket. */
  chunksBeforeClose: number;
  /** Requests received, by path. */
  readonly requests: Array<{ path: string; maxTokens: number; body: Record<string, unknown>; authorization: string | undefined; at: number }>;
  /** Tokens generated and sent (ok mode), in total. */
  tokensServed: number;
  /** Requests received whose response is not closed yet (answering, hanging or held). */
  readonly open: number;
  /** Requests waiting in `hold` mode. */
  readonly held: number;
  /** Answers every request held so far (as `ok` does); later ones are held again while the mode is `hold`. */
  release(): void;
  close(): Promise<void>;
}

export async function startFaultyFrontier(mode: FrontierMode = 'ok'): Promise<FaultyFrontier> {
  const sockets = new Set<import('node:net').Socket>();
  const held: Array<() => void> = [];
  let open = 0;
  const state: Omit<FaultyFrontier, 'baseUrl' | 'close' | 'open' | 'held' | 'release'> = { mode, retryAfter: 1, words: [' and', ' the', ' cat', ' sat', ' on', ' a', ' mat', '.'], chunksBeforeClose: 1, requests: [], tokensServed: 0 };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    open++;
    res.once('close', () => open--);
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw || '{}') as Record<string, unknown>;
      const path = req.url ?? '';
      const maxTokens = Number(body.max_tokens ?? 16);
      state.requests.push({ path, maxTokens, body, authorization: req.headers.authorization, at: Date.now() });
      const chat = path.endsWith('/chat/completions');
      const sse = (): void => void res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const chunk = (text: string): string => `data: ${JSON.stringify(chat ? { object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: text }, finish_reason: null }] } : { object: 'text_completion', choices: [{ index: 0, text, finish_reason: null }] })}\n\n`;
      const answer = (): void => {
        if (res.destroyed) return; // the caller gave up meanwhile
        sse();
        for (let i = 0; i < maxTokens; i++) {
          res.write(chunk(state.words[i % state.words.length]!));
          state.tokensServed++;
        }
        res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 10, completion_tokens: maxTokens, total_tokens: 10 + maxTokens } })}\n\n`);
        res.end('data: [DONE]\n\n');
      };
      switch (state.mode) {
        case 'error500':
          res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'boom', type: 'server_error' } }));
          return;
        case 'rate-limited':
          res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(state.retryAfter) }).end(JSON.stringify({ error: { message: 'slow down' } }));
          return;
        case 'hang':
          return;
        case 'hold':
          held.push(answer);
          return;
        case 'hang-mid-stream':
          sse();
          res.write(chunk(' and'));
          return;
        case 'close-mid-stream':
          sse();
          for (let i = 0; i < state.chunksBeforeClose; i++) res.write(chunk(state.words[i % state.words.length]!));
          setTimeout(() => res.socket?.destroy(), 10);
          return;
        case 'malformed':
          sse();
          res.write('data: {"choices": [ this is not json\n\n');
          res.end('data: [DONE]\n\n');
          return;
        case 'no-completions':
          if (!chat) {
            res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found' } }));
            return;
          }
          break;
        case 'ok':
          break;
      }
      answer();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const frontier = Object.assign(state, {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    release: () => held.splice(0).forEach((answer) => answer()),
    close: () =>
      new Promise<void>((resolve) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => resolve());
      }),
  });
  // Live counts (Object.assign would copy a getter's value once).
  Object.defineProperty(frontier, 'open', { get: () => open, enumerable: true });
  Object.defineProperty(frontier, 'held', { get: () => held.length, enumerable: true });
  return frontier as FaultyFrontier;
}

/**
 * SPECROUTE_* settings for a server whose frontier is `frontier`, reached only by requests that ask for it (the
 * server's own policy never escalates: min confidence 0). Its timeouts are long, so that a call to a `hang` or
 * `hold` frontier ends only when its request is cancelled (or released); and its breaker opens on the first
 * failure charged to it, so that a test sees any charge in the breaker's state.
 */
export function frontierSettings(frontier: Pick<FaultyFrontier, 'baseUrl'>): Record<string, string> {
  return {
    SPECROUTE_ESCALATION__FRONTIER__BASE_URL: frontier.baseUrl,
    SPECROUTE_ESCALATION__FRONTIER__MODEL: 'frontier',
    SPECROUTE_ESCALATION__FRONTIER__CONNECT_TIMEOUT_MS: '600000',
    SPECROUTE_ESCALATION__FRONTIER__FIRST_BYTE_TIMEOUT_MS: '600000',
    SPECROUTE_ESCALATION__FRONTIER__TOTAL_TIMEOUT_MS: '600000',
    SPECROUTE_ESCALATION__POLICY__MIN_CONFIDENCE: '0',
    SPECROUTE_ESCALATION__BREAKER__FAILURE_THRESHOLD: '1',
    SPECROUTE_ESCALATION__BREAKER__COOLDOWN_MS: '600000',
    SPECROUTE_ESCALATION__BUDGET__CALLS_PER_MINUTE: '100000',
  };
}

/**
 * Per-request escalation settings (gRPC field names) that make a request stream `tokens` tokens and then call the
 * frontier, once: the window holds `tokens + 1` positions and any mean top probability under 1 is unsure enough.
 */
export function escalateAfter(tokens: number): { window: number; minConfidence: number; cooldownTokens: number } {
  return { window: tokens + 1, minConfidence: 1, cooldownTokens: 4096 };
}

/** `escalateAfter` with the HTTP wire names (the `specroute.escalation` extension). */
export function escalateAfterHttp(tokens: number): { window: number; min_confidence: number; cooldown_tokens: number } {
  const e = escalateAfter(tokens);
  return { window: e.window, min_confidence: e.minConfidence, cooldown_tokens: e.cooldownTokens };
}
