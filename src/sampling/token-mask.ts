/**
 * A set of allowed tokens as a bitmask: bit `t % 32` of word `t >> 5` is set when token `t` is allowed (the
 * layout of XGrammar's `getNextTokenBitmask`). A grammar gives one per position; both models' distributions are
 * masked with the same one (docs/ARCHITECTURE.md#structured-output).
 */
export type TokenMask = Int32Array;

export function isAllowed(mask: TokenMask, token: number): boolean {
  return ((mask[token >> 5] ?? 0) >>> (token & 31)) & 1 ? true : false;
}

/** The allowed tokens, in increasing order. */
export function allowedTokens(mask: TokenMask, vocabSize: number): number[] {
  const tokens: number[] = [];
  for (let word = 0; word < mask.length; word++) {
    let bits = mask[word]!;
    while (bits !== 0) {
      const low = bits & -bits;
      const token = word * 32 + (31 - Math.clz32(low));
      if (token < vocabSize) tokens.push(token);
      bits ^= low;
    }
  }
  return tokens;
}

/** A copy of `logits` with every token the mask refuses set to -Infinity. */
export function maskLogits(logits: Float32Array, mask: TokenMask): Float32Array {
  const out = new Float32Array(logits.length);
  for (let t = 0; t < logits.length; t++) out[t] = isAllowed(mask, t) ? logits[t]! : -Infinity;
  return out;
}

/** The one token the mask allows, or undefined when it allows none or several. */
export function onlyAllowed(mask: TokenMask, vocabSize: number): number | undefined {
  let only: number | undefined;
  for (let word = 0; word < mask.length; word++) {
    const bits = mask[word]!;
    if (bits === 0) continue;
    if (only !== undefined || (bits & (bits - 1)) !== 0) return undefined;
    only = word * 32 + (31 - Math.clz32(bits));
  }
  return only !== undefined && only < vocabSize ? only : undefined;
}
