import { SseParser } from '../../src/escalation/sse-parser.js';

/** An error reply of the API, in OpenAI's shape (`{error: {message, type, param, code}}`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null,
    readonly code: string | null,
  ) {
    super(message);
  }
}

/** Reads an error reply (OpenAI's shape, or whatever text came) as an ApiError. */
export async function apiError(response: Response): Promise<ApiError> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { error?: { message?: string; param?: string | null; code?: string | null } };
    if (body.error?.message) return new ApiError(response.status, body.error.message, body.error.param ?? null, body.error.code ?? null);
  } catch {
    // not JSON: fall through
  }
  return new ApiError(response.status, text || response.statusText, null, null);
}

/**
 * POSTs `body` and yields the JSON of each server-sent event until `data: [DONE]` (the server's own SSE parser,
 * src/escalation/sse-parser.ts, reads the stream). A non-2xx reply throws an ApiError; aborting `signal` ends the
 * fetch, which the server sees as the client going away and cancels the generation. `onResponse` sees the
 * response (its headers) before the first event.
 */
export async function* streamJson(
  url: string,
  body: unknown,
  options: { headers: Record<string, string>; signal: AbortSignal; onResponse?: (response: Response) => void },
): AsyncGenerator<unknown> {
  const response = await fetch(url, { method: 'POST', headers: options.headers, body: JSON.stringify(body), signal: options.signal });
  if (!response.ok || !response.body) throw await apiError(response);
  options.onResponse?.(response);
  const parser = new SseParser();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      for (const event of parser.push(value)) {
        if (event.data === '[DONE]') return;
        yield JSON.parse(event.data) as unknown;
      }
    }
  } finally {
    // Also when the caller stops early: cancelling the body closes the connection.
    await reader.cancel().catch(() => undefined);
  }
}
