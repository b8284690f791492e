import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Checks a presented API key against the configured ones in constant time: both sides are hashed to a fixed
 * length first, so neither the key's length nor its matching prefix leaks through timing, and every configured
 * key is compared whatever the outcome.
 */
export function checkApiKey(presented: string | undefined, keys: readonly string[]): boolean {
  if (keys.length === 0) return true;
  const digest = createHash('sha256').update(presented ?? '').digest();
  let ok = false;
  for (const key of keys) {
    const expected = createHash('sha256').update(key).digest();
    ok = timingSafeEqual(digest, expected) || ok;
  }
  return ok && presented !== undefined;
}

/** The key in an `Authorization: Bearer <key>` header (HTTP) or `authorization` metadata (gRPC). */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match?.[1]?.trim();
}
