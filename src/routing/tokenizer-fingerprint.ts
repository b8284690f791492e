import { z } from 'zod';

/**
 * Which tokenizer a router was trained for (docs/ARCHITECTURE.md#query-level-routing): its vocabulary size and the
 * first 16 hex characters of sha256 over every token's piece text (ids 0..vocabSize−1, joined with '\n').
 */
export interface TokenizerFingerprint {
  readonly vocabSize: number;
  readonly fingerprint: string;
}

export function sameTokenizer(a: TokenizerFingerprint, b: TokenizerFingerprint): boolean {
  return a.vocabSize === b.vocabSize && a.fingerprint === b.fingerprint;
}

/** "512 tokens (fingerprint 0123abcd0123abcd)". */
export function describeTokenizer(t: TokenizerFingerprint): string {
  return `${t.vocabSize} tokens (fingerprint ${t.fingerprint})`;
}

/** The fingerprint as files hold it (labelled data rows, router files). */
export const tokenizerFingerprintSchema = z
  .object({
    vocabSize: z.number().int().min(1),
    fingerprint: z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 lower-case hex characters'),
  })
  .strict();
