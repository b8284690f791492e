/**
 * Agreement of an output with a reference output, both as token ids: the longest common subsequence over the
 * reference's length (ROUGE-L recall on tokens). 1 means the reference is contained in order; an output that
 * drifts early and never comes back scores low even if its tokens are plausible.
 */
export function lcsAgreement(output: readonly number[], reference: readonly number[]): number {
  if (reference.length === 0) return 1;
  let prev = new Uint16Array(reference.length + 1);
  let cur = new Uint16Array(reference.length + 1);
  for (const a of output) {
    for (let j = 1; j <= reference.length; j++) cur[j] = a === reference[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, cur[j - 1]!);
    [prev, cur] = [cur, prev];
  }
  return prev[reference.length]! / reference.length;
}

/**
 * APGR, "performance gap recovered" (RouteLLM): where a mixed system's quality sits between the weak model
 * alone (0) and the strong model alone (1).
 */
export function apgr(quality: number, weak: number, strong: number): number {
  return strong === weak ? 1 : (quality - weak) / (strong - weak);
}
