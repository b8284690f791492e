import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { FrontierError, parseRetryAfter } from './frontier-error.js';
import { SseParser } from './sse-parser.js';

/** How to reach the frontier: any OpenAI-compatible API (OpenAI, vLLM, llama.cpp server, Ollama, specroute). */
export interface FrontierOptions {
  /** Base URL including the version path, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8081/v1`. */
  baseUrl: string;
  /** The frontier's model id. */
  model: string;
  /**
   * Name of the environment variable holding the API key (never the key itself). Unset or empty sends no key.
   *
   * Defaults to none.
   */
  apiKeyEnv?: string;
  /**
   * `completions` continues the raw text through `/completions`; `chat` asks `/chat/completions` to continue
   * the assistant's reply; `auto` uses completions and falls back to chat for good if the endpoint lacks it
   * (404/405).
   *
   * Defaults to `auto`.
   */
  api: 'auto' | 'completions' | 'chat';
  /** Time to open the connection, in ms. Defaults to `1000`. */
  connectTimeoutMs: number;
  /** Time from sending the request to the first byte of the response body, in ms. Defaults to `3000`. */
  firstByteTimeoutMs: number;
  /** Time for a whole call, retries included, in ms. Defaults to `10000`. */
  totalTimeoutMs: number;
  /** Retries after a retryable failure (429, 5xx, network, timeouts). Defaults to `2`. */
  retries: number;
  /** First backoff, doubled each retry, with full jitter; a Retry-After header overrides it. Defaults to `100`. */
  backoffBaseMs: number;
  /** Longest backoff, in ms. Defaults to `2000`. */
  backoffMaxMs: number;
}

export const defaultFrontier: Omit<FrontierOptions, 'baseUrl' | 'model'> = {
  api: 'auto',
  connectTimeoutMs: 1000,
  firstByteTimeoutMs: 3000,
  totalTimeoutMs: 10_000,
  retries: 2,
  backoffBaseMs: 100,
  backoffMaxMs: 2000,
};

/** What to continue. */
export interface ContinuationRequest {
  /** The whole text so far: the prompt (chat template applied) and what has been generated. */
  readonly text: string;
  /** Most tokens the frontier may generate (its own tokens; the budget counts these). */
  readonly maxTokens: number;
  readonly temperature: number;
  /** Nucleus sampling, sent only when set. */
  readonly topP?: number;
  /** The seed, sent only when set (the frontier may ignore it). */
  readonly seed?: number;
  /** Stop sequences, sent only when there are some. */
  readonly stop?: readonly string[];
  /** For the chat API: the conversation, with the reply so far sent as a partial assistant message. */
  readonly chat?: { messages: ReadonlyArray<{ role: string; content: string }>; replySoFar: string };
}

export interface ContinuationResult {
  readonly text: string;
  /** Tokens the frontier reports it generated (its `usage`), or undefined when it did not say. */
  readonly completionTokens: number | undefined;
  readonly promptTokens: number | undefined;
  /** Attempts made (1 = no retry). */
  readonly attempts: number;
}

/**
 * Streams a continuation from the frontier with connect, first-byte and total timeouts, retries with
 * exponential backoff and full jitter that honour Retry-After, and a spec-correct SSE parser.
 */
export class FrontierClient {
  private api: 'completions' | 'chat';
  private readonly apiKey: string | undefined;

  constructor(
    readonly options: FrontierOptions,
    env: NodeJS.ProcessEnv = process.env,
    private readonly random: () => number = Math.random,
    /** Asked before every HTTP attempt after the first; false ends the call with the last failure. */
    private readonly mayRetry: () => Promise<boolean> = async () => true,
  ) {
    this.api = options.api === 'chat' ? 'chat' : 'completions';
    this.apiKey = options.apiKeyEnv ? env[options.apiKeyEnv] || undefined : undefined;
  }

  /** The whole continuation at once (the escalation step's use). */
  async continue(request: ContinuationRequest, signal?: AbortSignal): Promise<ContinuationResult> {
    const pieces = this.attempts(request, signal, true);
    for (;;) {
      const next = await pieces.next();
      if (next.done) return next.value;
    }
  }

  /**
   * The continuation as an async iterator of text pieces, each as soon as the frontier sends it; its return
   * value is the whole result. Retries (and the switch from completions to chat) happen only before the first
   * piece: once text has been handed out, a failure ends the iteration with that `FrontierError`. Leaving the
   * loop early closes the connection. The frontier can thus serve a whole request as a token source.
   */
  stream(request: ContinuationRequest, signal?: AbortSignal): AsyncGenerator<string, ContinuationResult, undefined> {
    return this.attempts(request, signal, false);
  }

  /**
   * The attempts of one call, their pieces handed out as they come. `restartable`: the caller keeps only the
   * final result, so a failure after some text may still be retried from scratch.
   */
  private async *attempts(request: ContinuationRequest, signal: AbortSignal | undefined, restartable: boolean): AsyncGenerator<string, ContinuationResult, undefined> {
    const deadline = Date.now() + this.options.totalTimeoutMs;
    const stop = new AbortController();
    const linked = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    let attempt = 0;
    let yielded = false;
    try {
      for (;;) {
        attempt++;
        const pieces: string[] = [];
        let wake: (() => void) | undefined;
        let outcome: { value: Omit<ContinuationResult, 'attempts'> } | { error: unknown } | undefined;
        this.once(request, deadline, linked, (piece) => {
          pieces.push(piece);
          wake?.();
        }).then(
          (value) => ((outcome = { value }), wake?.()),
          (error: unknown) => ((outcome = { error }), wake?.()),
        );
        for (;;) {
          while (pieces.length > 0) {
            yielded = true;
            yield pieces.shift()!;
          }
          if (outcome) break;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
        if ('value' in outcome) return { ...outcome.value, attempts: attempt };
        const e = toFrontierError(outcome.error);
        if (yielded && !restartable) throw e;
        if (this.options.api === 'auto' && this.api === 'completions' && (e.statusCode === 404 || e.statusCode === 405) && request.chat) {
          this.api = 'chat'; // the endpoint has no /completions: use chat from now on
          attempt--;
          if (!(await this.mayRetry())) throw e;
          continue;
        }
        if (!e.isRetryable || attempt > this.options.retries || signal?.aborted) throw e;
        const backoff = e.retryAfterMs ?? this.random() * Math.min(this.options.backoffMaxMs, this.options.backoffBaseMs * 2 ** (attempt - 1));
        if (Date.now() + backoff >= deadline) throw e;
        await sleep(backoff, signal);
        if (!(await this.mayRetry())) throw e;
      }
    } finally {
      stop.abort(); // the consumer left early, or the call is over: close any connection still open
    }
  }

  private once(request: ContinuationRequest, deadline: number, signal: AbortSignal | undefined, onPiece: (text: string) => void): Promise<Omit<ContinuationResult, 'attempts'>> {
    const chat = this.api === 'chat';
    const url = new URL(`${this.options.baseUrl.replace(/\/$/, '')}/${chat ? 'chat/completions' : 'completions'}`);
    const body = JSON.stringify({
      model: this.options.model,
      ...(chat
        ? { messages: [...(request.chat?.messages ?? [{ role: 'user', content: request.text }]), ...(request.chat?.replySoFar ? [{ role: 'assistant', content: request.chat.replySoFar }] : [])] }
        : { prompt: request.text }),
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      ...(request.topP !== undefined ? { top_p: request.topP } : {}),
      ...(request.seed !== undefined ? { seed: request.seed } : {}),
      ...(request.stop && request.stop.length > 0 ? { stop: request.stop } : {}),
      stream: true,
      stream_options: { include_usage: true },
    });
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;

    return new Promise((resolve, reject) => {
      let settled = false;
      const timers: NodeJS.Timeout[] = [];
      const finish = (error: Error | undefined, value?: Omit<ContinuationResult, 'attempts'>): void => {
        if (settled) return;
        settled = true;
        timers.forEach(clearTimeout);
        signal?.removeEventListener('abort', onAbort);
        if (error) {
          req.destroy();
          reject(error);
        } else resolve(value!);
      };
      const onAbort = (): void => finish(new FrontierError('cancelled', 'cancelled by the client'));
      const timeout = (ms: number, failure: 'connect_timeout' | 'first_byte_timeout' | 'total_timeout'): NodeJS.Timeout => {
        const t = setTimeout(() => finish(new FrontierError(failure, `frontier ${failure.replace(/_/g, ' ')} after ${ms} ms`, undefined, true)), Math.max(0, ms));
        timers.push(t);
        return t;
      };

      const req = send(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream',
          'content-length': Buffer.byteLength(body),
          ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
        },
      });
      timeout(deadline - Date.now(), 'total_timeout');
      const connectTimer = timeout(this.options.connectTimeoutMs, 'connect_timeout');
      let firstByteTimer: NodeJS.Timeout | undefined;
      req.on('socket', (socket) => {
        const connected = (): void => {
          clearTimeout(connectTimer);
          firstByteTimer = timeout(this.options.firstByteTimeoutMs, 'first_byte_timeout');
        };
        if (socket.connecting) socket.once('connect', connected);
        else connected();
      });
      req.on('error', (error) => finish(new FrontierError('network', `frontier connection failed: ${error.message}`, undefined, true)));
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) return onAbort();

      req.on('response', (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          clearTimeout(firstByteTimer);
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => void (text.length < 4096 && (text += chunk)));
          res.on('end', () =>
            finish(
              new FrontierError(
                status === 429 ? 'rate_limited' : 'http_error',
                `frontier answered ${status}: ${text.slice(0, 300)}`,
                status,
                status === 429 || status >= 500 || status === 408,
                parseRetryAfter(headerValue(res.headers['retry-after'])),
              ),
            ),
          );
          res.on('error', () => finish(new FrontierError('network', `frontier answered ${status}`, status, status >= 500)));
          return;
        }
        const parser = new SseParser();
        const decoder = new TextDecoder('utf-8');
        let text = '';
        let completionTokens: number | undefined;
        let promptTokens: number | undefined;
        let done = false;
        res.on('data', (chunk: Buffer) => {
          clearTimeout(firstByteTimer);
          try {
            for (const event of parser.push(decoder.decode(chunk, { stream: true }))) {
              if (event.data === '[DONE]') {
                done = true;
                continue;
              }
              const parsed = parseChunk(event.data, chat);
              text += parsed.text;
              if (parsed.text !== '') onPiece(parsed.text);
              completionTokens = parsed.completionTokens ?? completionTokens;
              promptTokens = parsed.promptTokens ?? promptTokens;
            }
          } catch (error) {
            finish(error as Error);
          }
        });
        res.on('end', () => {
          if (!done) return finish(new FrontierError('malformed', 'the frontier stream ended before [DONE]', status, true));
          finish(undefined, { text, completionTokens, promptTokens });
        });
        res.on('error', (error) => finish(new FrontierError('network', `frontier stream broke: ${error.message}`, status, true)));
        res.on('aborted', () => finish(new FrontierError('network', 'the frontier closed the stream midway', status, true)));
      });
      req.end(body);
    });
  }
}

/** Validates one streamed chunk's JSON by hand (its shape is small): choices[0].text or .delta.content, usage. */
function parseChunk(data: string, chat: boolean): { text: string; completionTokens?: number; promptTokens?: number } {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    throw new FrontierError('malformed', `the frontier sent an event that is not JSON: ${data.slice(0, 100)}`, undefined, true);
  }
  if (typeof json !== 'object' || json === null) throw new FrontierError('malformed', 'the frontier sent a chunk that is not an object', undefined, true);
  const obj = json as { choices?: unknown; usage?: { completion_tokens?: unknown; prompt_tokens?: unknown } | null; error?: { message?: unknown } };
  if (obj.error) throw new FrontierError('http_error', `the frontier reported an error mid-stream: ${String(obj.error.message ?? '')}`, undefined, true);
  if (!Array.isArray(obj.choices)) throw new FrontierError('malformed', 'the frontier sent a chunk without choices', undefined, true);
  const choice = obj.choices[0] as { text?: unknown; delta?: { content?: unknown } } | undefined;
  const piece = chat ? choice?.delta?.content : choice?.text;
  if (piece !== undefined && piece !== null && typeof piece !== 'string') throw new FrontierError('malformed', 'the frontier sent non-string text', undefined, true);
  const usage = obj.usage ?? undefined;
  return {
    text: piece ?? '',
    ...(typeof usage?.completion_tokens === 'number' ? { completionTokens: usage.completion_tokens } : {}),
    ...(typeof usage?.prompt_tokens === 'number' ? { promptTokens: usage.prompt_tokens } : {}),
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function toFrontierError(error: unknown): FrontierError {
  return error instanceof FrontierError ? error : new FrontierError('network', (error as Error)?.message ?? String(error), undefined, true);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new FrontierError('cancelled', 'cancelled by the client'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
