import { SpecrouteError } from '../errors/registry.js';
import type { SamplingParams } from '../sampling/params.js';
import type { EscalationPolicyOptions } from '../escalation/policy.js';
import { defaultDraftLength, type DraftLengthOptions } from './adaptive-draft-length.js';

/** Speculation settings: the draft length schedule and the per-position cut-off. */
export interface SpeculationOptions extends DraftLengthOptions {
  /**
   * Stop drafting a block when the draft's probability of its next token is below this (llama.cpp's
   * `--draft-p-min`): a cheap per-position guard against drafting tokens that will be rejected. `0` disables it.
   *
   * Defaults to `0`.
   */
  pMin: number;
}

export const defaultSpeculation: SpeculationOptions = { ...defaultDraftLength, pMin: 0 };

/** One generation request, after the transport has parsed and validated it. */
export interface GenerateOptions {
  /** The prompt as tokens, BOS included where the model wants one. */
  promptTokens: readonly number[];
  /**
   * Most tokens to generate.
   *
   * Defaults to `256`.
   */
  maxTokens?: number;
  /** Sampling settings. Defaults to greedy with a random seed. */
  sampling?: Partial<SamplingParams>;
  /**
   * Strings that end the generation; the text stops before the first one.
   *
   * Defaults to `[]`.
   */
  stop?: readonly string[];
  /**
   * More token ids that end the generation like the end-of-sequence token does (vLLM's `stop_token_ids`). The
   * stopping token is not emitted.
   *
   * Defaults to `[]`.
   */
  stopTokenIds?: readonly number[];
  /**
   * Keep generating after the end-of-sequence token (for fixed-length benchmarks).
   *
   * Defaults to `false`.
   */
  ignoreEos?: boolean;
  /**
   * How many top alternatives (raw log-probabilities under the verifier) to attach to each token.
   *
   * Defaults to `0`.
   */
  topLogprobs?: number;
  /**
   * `false` decodes with the verifier alone (the baseline); an object overrides parts of the engine's settings.
   *
   * Defaults to the engine's speculation settings.
   */
  speculation?: Partial<SpeculationOptions> | false;
  /**
   * Per-request escalation policy overrides, or `false` to never escalate. Has effect only when the engine has
   * a frontier.
   *
   * Defaults to the engine's escalation policy.
   */
  escalation?: Partial<EscalationPolicyOptions> | false;
  /** Aborts the generation: client disconnect, deadline or shutdown. */
  signal?: AbortSignal;
}

/** Checks speculation settings, naming a bad one by its wire name (`speculation.p_min`, …). */
export function validateSpeculation(s: Partial<SpeculationOptions>): void {
  const check = (value: number | undefined, ok: (v: number) => boolean, key: string, rule: string): void => {
    if (value !== undefined && !ok(value)) throw new SpecrouteError('invalid_argument', `speculation.${key} ${rule}, got ${value}`, { param: `speculation.${key}` });
  };
  const count = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 64;
  check(s.min, count, 'min', 'must be an integer from 0 to 64');
  check(s.max, count, 'max', 'must be an integer from 0 to 64');
  check(s.initial, count, 'initial', 'must be an integer from 0 to 64');
  check(s.pMin, (v) => v >= 0 && v <= 1, 'p_min', 'must be between 0 and 1');
  if (s.min !== undefined && s.max !== undefined && s.min > s.max) {
    throw new SpecrouteError('invalid_argument', `speculation.min (${s.min}) must not exceed speculation.max (${s.max})`, { param: 'speculation.min' });
  }
}
