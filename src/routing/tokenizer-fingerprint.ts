import { z } from 'zod';
import type { TokenizerFingerprint } from '../backends/tokenizer-fingerprint.js';

/** Comparing and reading tokenizer fingerprints (computed by `backends/tokenizer-fingerprint.ts`). */
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
