import type { GenerationRequest } from '../contract/generation-request.js';
import type { EncodedPrompt, GenerateOptions } from '../contract/generator.js';
import { settingDefaults } from '../contract/request-settings.js';
import type { EscalationSettings } from '../contract/generation-request.js';
import type { SamplingParams } from '../sampling/params.js';
import { randomSeed } from '../sampling/rng.js';
import type { SpeculationOptions } from './adaptive-draft-length.js';
import { grammarSpecOf, type GrammarSpec } from '../grammar/grammar-spec.js';

/** The server-wide defaults a request's absent settings take (the config's `sampling` and `speculation`). */
export interface EngineDefaults {
  readonly sampling: Omit<SamplingParams, 'seed'>;
  readonly speculation: SpeculationOptions;
}

/**
 * Everything the decoding loops need of one request, derived from it in this one place: its settings merged
 * over the server's defaults, a seed drawn when it gave none, and the prompt's stop sequences added to its own.
 */
export interface RequestPlan {
  readonly prompt: readonly number[];
  readonly maxTokens: number;
  readonly sampling: SamplingParams;
  /** `false`: verifier-only decoding. */
  readonly speculation: SpeculationOptions | false;
  /** The request's escalation overrides, or `false` to never escalate. */
  readonly escalation: Partial<EscalationSettings> | false;
  readonly topLogprobs: number;
  readonly stop: readonly string[];
  /** Token ids that end the generation: end-of-sequence (unless `ignoreEos`) and the caller's `stopTokenIds`. */
  readonly stopTokens: readonly number[];
  /** The grammar the output follows (`response_format`, a tool call); undefined for free text. */
  readonly grammar: GrammarSpec | undefined;
}

const requestDefaults = settingDefaults('request');

export function planRequest(request: GenerationRequest, prompt: EncodedPrompt, defaults: EngineDefaults, eos: number | null, options: GenerateOptions = {}): RequestPlan {
  const ignoreEos = request.ignoreEos ?? requestDefaults.ignoreEos;
  const grammar = grammarSpecOf(request);
  return {
    prompt: prompt.tokens,
    maxTokens: request.maxTokens ?? requestDefaults.maxTokens,
    sampling: { ...defaults.sampling, seed: randomSeed(), ...request.sampling },
    speculation: request.speculation === false ? false : { ...defaults.speculation, ...request.speculation },
    escalation: request.escalation ?? {},
    topLogprobs: request.topLogprobs ?? requestDefaults.topLogprobs,
    // Under a grammar the grammar ends the text; a chat template's stop sequences could cut a JSON value short.
    stop: [...(request.stop ?? []), ...(grammar ? [] : prompt.stop)],
    stopTokens: [...(eos !== null && !ignoreEos ? [eos] : []), ...(options.stopTokenIds ?? [])],
    grammar,
  };
}
