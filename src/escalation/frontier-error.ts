/** Why a frontier call failed. */
export type FrontierFailure = 'http_error' | 'rate_limited' | 'connect_timeout' | 'first_byte_timeout' | 'total_timeout' | 'network' | 'malformed' | 'cancelled';

/** An upstream error, with what a retry policy needs (vercel/ai's `statusCode` / `isRetryable` shape). */
export class FrontierError extends Error {
  override readonly name = 'FrontierError';

  constructor(
    readonly failure: FrontierFailure,
    message: string,
    readonly statusCode: number | undefined = undefined,
    readonly isRetryable = false,
    /** From a Retry-After header, in ms. */
    readonly retryAfterMs: number | undefined = undefined,
  ) {
    super(message);
  }
}

/** Retry-After as seconds or an HTTP date → ms from now (undefined when absent or unreadable). */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
