/** What the local model says about a prompt, for the router (docs/ARCHITECTURE.md#query-level-routing). */
export interface PromptSignals {
  readonly embedding: readonly number[];
  readonly promptMeanLogprob: number;
  readonly promptMeanEntropy: number;
  readonly firstEntropy: number;
  readonly firstMargin: number;
  readonly promptTokens: number;
}
/** The router's feature names, in the order a feature spec may list them. */
export const routerFeatureNames = ['embedding', 'prompt_mean_logprob', 'prompt_mean_entropy', 'first_entropy', 'first_margin', 'log_prompt_tokens', 'log_max_tokens'] as const;
export type RouterFeatureName = (typeof routerFeatureNames)[number];
