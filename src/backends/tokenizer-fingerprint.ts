import { createHash } from 'node:crypto';
import type { Tokenizer } from './types.js';

/**
 * Which tokenizer a router was trained for: its vocabulary size and a hash of every token's text. A router file
 * and each labelled row record it; the server refuses at boot a router whose fingerprint differs from its
 * verifier's (token-level features and the embedding mean nothing under another vocabulary).
 */
export interface TokenizerFingerprint {
  readonly vocabSize: number;
  /** First 16 hex digits of the SHA-256 of every token id's text (`detokenize([id])`, ids 0..vocabSize−1) joined with `\n`. */
  readonly fingerprint: string;
}

/**
 * The fingerprint of `tokenizer` (the main-thread tokenizer: `engine.tokenizer`). Copies of a model that keep its
 * vocabulary (quantized, layer-truncated) have the same fingerprint. About one detokenize call per token: call it
 * once at boot, not per request.
 */
export function tokenizerFingerprint(tokenizer: Pick<Tokenizer, 'vocabSize' | 'detokenize'>): TokenizerFingerprint {
  const hash = createHash('sha256');
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    if (id > 0) hash.update('\n');
    hash.update(tokenizer.detokenize([id]));
  }
  return { vocabSize: tokenizer.vocabSize, fingerprint: hash.digest('hex').slice(0, 16) };
}
