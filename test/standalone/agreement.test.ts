import { describe, expect, it } from 'vitest';
import { longestCommonSubsequence, tokenAgreement } from '../../src/routing/agreement.js';

describe('token agreement (LCS over the frontier\'s tokens)', () => {
  it('computes the longest common subsequence', () => {
    expect(longestCommonSubsequence([], [1, 2])).toBe(0);
    expect(longestCommonSubsequence([1, 2, 3], [1, 2, 3])).toBe(3);
    expect(longestCommonSubsequence([1, 3, 5, 7], [1, 2, 3, 4, 5])).toBe(3);
    expect(longestCommonSubsequence([7, 1, 2], [1, 2, 7])).toBe(2);
    // ABCBDAB vs BDCABA: 4 (BCBA), the textbook case.
    expect(longestCommonSubsequence([1, 2, 3, 2, 4, 1, 2], [2, 4, 3, 1, 2, 1])).toBe(4);
  });

  it('is the share of the frontier\'s tokens matched, in order', () => {
    expect(tokenAgreement([1, 2, 3, 4], [1, 2, 3, 4])).toBe(1);
    expect(tokenAgreement([9, 9], [1, 2, 3, 4])).toBe(0);
    expect(tokenAgreement([1, 9, 3], [1, 2, 3, 4])).toBe(0.5);
    expect(tokenAgreement([1, 2, 3, 4, 5, 6, 7, 8], [1, 2])).toBe(1); // extra local tokens cost nothing
    expect(tokenAgreement([4, 3, 2, 1], [1, 2, 3, 4])).toBe(0.25); // order matters
    expect(tokenAgreement([], [])).toBe(1);
  });
});
