import type { GenerationRequest, PromptInput } from '../contract/generation-request.js';
import type { EncodedPrompt } from '../contract/generator.js';
import type { PromptSignals } from '../contract/router-features.js';
import type { Tier } from '../events/route-decision.js';
import type { TokenEvent } from '../events/token-event.js';
import { tokenAgreement } from './agreement.js';
import { satisfies } from './expected.js';
import { featureRecordFromSignals } from './feature-vector.js';
import type { PromptLine } from './prompt-file.js';
import type { TokenizerFingerprint } from '../backends/tokenizer-fingerprint.js';

/** What labelling needs of a running specroute: its tiers, its prompt signals, its tokenizer. */
export interface LabelTarget {
  /** The served model id. */
  readonly model: string;
  /** The tiers to run, the frontier among them (`slm` only with a draft). */
  readonly tiers: readonly Tier[];
  readonly tokenizer: TokenizerFingerprint;
  encode(input: PromptInput): EncodedPrompt;
  signals(tokens: readonly number[]): Promise<PromptSignals>;
  /** Runs one request to its end (the scheduler's admit, iterated). */
  generate(request: GenerationRequest): Promise<AsyncIterable<TokenEvent>>;
}

/** One output: its text and its tokens (the local tokenizer's). */
interface Output {
  readonly text: string;
  readonly tokens: number[];
}

/**
 * Labels one prompt (docs/ARCHITECTURE.md#query-level-routing): runs it at temperature 0 on every tier, records
 * the router's features (the verifier's pass over the prompt, its embedding, the request's sizes) and each tier's
 * quality: with `expected`, 1 when the output satisfies it, else 0 (the frontier is judged the same way); without,
 * the token agreement of a local tier's output with the frontier's (the frontier's own is 1). The row is the
 * labelled-data line `router train` reads.
 */
export async function labelPrompt(target: LabelTarget, prompt: PromptLine, maxTokens: number): Promise<Record<string, unknown>> {
  const encoded = target.encode(prompt.input);
  const signals = await target.signals(encoded.tokens);
  const outputs: Partial<Record<Tier, Output>> = {};
  for (const tier of target.tiers) {
    const events = await target.generate({ model: target.model, input: prompt.input, maxTokens, sampling: { temperature: 0, seed: 0 }, route: tier });
    let text = '';
    const tokens: number[] = [];
    for await (const event of events) {
      if (event.kind === 'token') {
        text += event.text;
        tokens.push(...event.tokenIds);
      }
    }
    outputs[tier] = { text, tokens };
  }
  const frontier = outputs.frontier;
  if (!frontier) throw new Error('labelling needs the frontier tier');
  const quality: Partial<Record<Tier, number>> = {};
  for (const [tier, output] of Object.entries(outputs) as Array<[Tier, Output]>) {
    quality[tier] = prompt.expected !== undefined ? (satisfies(output.text, prompt.expected) ? 1 : 0) : tier === 'frontier' ? 1 : tokenAgreement(output.tokens, frontier.tokens);
  }
  return {
    id: prompt.id,
    ...(prompt.input.kind === 'text' ? { prompt: prompt.input.text } : { messages: prompt.input.messages }),
    ...(prompt.expected !== undefined ? { expected: prompt.expected } : {}),
    max_tokens: maxTokens,
    tokenizer: target.tokenizer,
    features: featureRecordFromSignals(signals, maxTokens),
    quality,
    outputs: Object.fromEntries(Object.entries(outputs).map(([tier, output]) => [tier, output.text])),
  };
}
