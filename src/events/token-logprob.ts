/** log-probability of one token under a model's raw (temperature 1) distribution. */
export interface TokenLogprob {
  readonly token: number;
  readonly logprob: number;
}
