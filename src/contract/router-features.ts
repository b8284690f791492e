/** What the local model says about a prompt, for the router (docs/ARCHITECTURE.md#query-level-routing). */
export interface PromptSignals {
  /** The prompt's hidden states, mean-pooled over its tokens and L2-normalised. */
  readonly embedding: readonly number[];
  /**
   * Mean log-probability (nats) of the prompt's last tokens, each under the verifier given the tokens before it:
   * over the last 8 predicted positions (`PROMPT_TAIL`), since reading every position's distribution costs more
   * than the pass (docs/ARCHITECTURE.md#router-features). 0 for a one-token prompt.
   */
  readonly promptMeanLogprob: number;
  /** Mean entropy (nats) of the verifier's next-token distributions at those positions. */
  readonly promptMeanEntropy: number;
  /** Entropy (nats) of the first generated token's distribution. */
  readonly firstEntropy: number;
  /** Top probability minus the second of that distribution. */
  readonly firstMargin: number;
  readonly promptTokens: number;
}
/** The router's feature names, in the order a feature spec may list them. */
export const routerFeatureNames = ['embedding', 'prompt_mean_logprob', 'prompt_mean_entropy', 'first_entropy', 'first_margin', 'log_prompt_tokens', 'log_max_tokens'] as const;
export type RouterFeatureName = (typeof routerFeatureNames)[number];
