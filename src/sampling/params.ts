import { settingDefaults } from '../contract/request-settings.js';
import type { SamplingSettings } from '../contract/generation-request.js';

/**
 * How the next token is chosen from a model's logits: temperature, top-k, top-p, min-p and the seed. One shape
 * for the draft, the verifier and every transport; ranges, defaults and meaning are described once, in
 * `requestSettings.sampling` (`src/contract/request-settings.ts`). The seed defaults to a random one per request.
 */
export type SamplingParams = SamplingSettings;

/** What shapes a distribution (everything but the seed). */
export type WarpParams = Pick<SamplingParams, 'temperature' | 'topK' | 'topP' | 'minP'>;

/** The description's defaults: greedy, no top-k, top-p or min-p. */
export const defaultSamplingParams: Omit<SamplingParams, 'seed'> = settingDefaults('sampling');

export function isGreedy(params: Pick<SamplingParams, 'temperature'>): boolean {
  return params.temperature <= 0;
}
