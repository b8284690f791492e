import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real OpenAI-compatible HTTP server on 127.0.0.1 that misbehaves on purpose. In `ok` mode it streams a
 * canned continuation of exactly `max_tokens` words (one word = one token, as it reports in `usage`).
 */
export type FrontierMode =
  | 'ok'
  | 'error500'
  | 'rate-limited' // 429 with Retry-After
  | 'hang' // accepts the request, never answers
  | 'hang-mid-stream' // sends headers and one chunk, then nothing
  | 'close-mid-stream' // sends one chunk, then destroys the socket
  | 'malformed' // SSE whose data is not JSON
  | 'no-completions'; // 404 on /completions, chat works

export interface FaultyFrontier {
  readonly baseUrl: string;
  mode: FrontierMode;
  /** Seconds in the Retry-After header of `rate-limited`. */
  retryAfter: number;
  /** Words streamed in `ok` mode are taken from here, cycling. */
  words: string[];
  /** Requests received, by path. */
  readonly requests: Array<{ path: string; maxTokens: number; body: Record<string, unknown>; authorization: string | undefined }>;
  /** Tokens generated and sent (ok mode), in total. */
  tokensServed: number;
  close(): Promise<void>;
}

export async function startFaultyFrontier(mode: FrontierMode = 'ok'): Promise<FaultyFrontier> {
  const sockets = new Set<import('node:net').Socket>();
  const state: Omit<FaultyFrontier, 'baseUrl' | 'close'> = { mode, retryAfter: 1, words: [' and', ' the', ' cat', ' sat', ' on', ' a', ' mat', '.'], requests: [], tokensServed: 0 };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw || '{}') as Record<string, unknown>;
      const path = req.url ?? '';
      const maxTokens = Number(body.max_tokens ?? 16);
      state.requests.push({ path, maxTokens, body, authorization: req.headers.authorization });
      const chat = path.endsWith('/chat/completions');
      const sse = (): void => void res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const chunk = (text: string): string => `data: ${JSON.stringify(chat ? { object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: text }, finish_reason: null }] } : { object: 'text_completion', choices: [{ index: 0, text, finish_reason: null }] })}\n\n`;
      switch (state.mode) {
        case 'error500':
          res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'boom', type: 'server_error' } }));
          return;
        case 'rate-limited':
          res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(state.retryAfter) }).end(JSON.stringify({ error: { message: 'slow down' } }));
          return;
        case 'hang':
          return;
        case 'hang-mid-stream':
          sse();
          res.write(chunk(' and'));
          return;
        case 'close-mid-stream':
          sse();
          res.write(chunk(' and'));
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
      sse();
      for (let i = 0; i < maxTokens; i++) {
        res.write(chunk(state.words[i % state.words.length]!));
        state.tokensServed++;
      }
      res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 10, completion_tokens: maxTokens, total_tokens: 10 + maxTokens } })}\n\n`);
      res.end('data: [DONE]\n\n');
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
    close: () =>
      new Promise<void>((resolve) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => resolve());
      }),
  });
  return frontier;
}
