import { createHash, timingSafeEqual } from 'node:crypto';
import type { KeyQuota } from '../scheduler/key-quotas.js';

/** Who a request's API key says it is: a key with a name and quotas (`auth.keys`), or a plain key (`quota` absent). */
export interface KeyIdentity {
  readonly quota: KeyQuota | undefined;
}

/**
 * The API keys a server accepts: plain ones (`auth.apiKeys`) and named ones with quotas (`auth.keys`, held as
 * SHA-256 digests). A presented key is hashed once and compared with every digest in constant time: neither its
 * length nor a matching prefix leaks through timing, and every key is compared whatever the outcome.
 */
export class ApiKeyRing {
  private readonly digests: ReadonlyArray<{ digest: Buffer; quota: KeyQuota | undefined }>;

  constructor(plain: readonly string[] = [], named: ReadonlyArray<{ sha256: string; quota: KeyQuota }> = []) {
    this.digests = [
      ...plain.map((key) => ({ digest: sha256(key), quota: undefined })),
      ...named.map(({ sha256: hex, quota }) => ({ digest: Buffer.from(hex, 'hex'), quota })),
    ];
  }

  /** Whether requests need a key at all. */
  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** The identity of `presented`, or undefined when it matches no key. With no keys configured, anyone is anonymous. */
  identify(presented: string | undefined): KeyIdentity | undefined {
    if (!this.enabled) return { quota: undefined };
    const digest = sha256(presented ?? '');
    let found: KeyIdentity | undefined;
    for (const key of this.digests) {
      if (timingSafeEqual(digest, key.digest) && found === undefined) found = { quota: key.quota };
    }
    return presented === undefined ? undefined : found;
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The key in an `Authorization: Bearer <key>` header (HTTP) or `authorization` metadata (gRPC). */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match?.[1]?.trim();
}
