/**
 * A local tier's quality on a prompt without a checkable answer: how much of the frontier's output it agrees
 * with, as the length of the longest common subsequence of their tokens over the number of the frontier's
 * tokens (docs/ARCHITECTURE.md#query-level-routing). 1 when the frontier wrote nothing.
 */
export function tokenAgreement(output: readonly number[], reference: readonly number[]): number {
  if (reference.length === 0) return 1;
  return longestCommonSubsequence(output, reference) / reference.length;
}

/** Length of the longest common subsequence of `a` and `b` (O(|a|·|b|) time, O(|b|) memory). */
export function longestCommonSubsequence(a: readonly number[], b: readonly number[]): number {
  let previous = new Uint32Array(b.length + 1);
  let current = new Uint32Array(b.length + 1);
  for (const x of a) {
    for (let j = 1; j <= b.length; j++) {
      current[j] = x === b[j - 1] ? previous[j - 1]! + 1 : Math.max(previous[j]!, current[j - 1]!);
    }
    [previous, current] = [current, previous];
    current.fill(0);
  }
  return previous[b.length]!;
}
