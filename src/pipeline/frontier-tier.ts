import type { Tokenizer } from '../backends/types.js';
import type { GenerationRequest, PromptInput } from '../contract/generation-request.js';
import type { EncodedPrompt, GenerateOptions, Generator, Reservation } from '../contract/generator.js';
import { SpecrouteError } from '../errors/registry.js';
import type { Escalator, FrontierLease } from '../escalation/escalator.js';
import { FrontierError } from '../escalation/frontier-error.js';
import type { TokenEvent } from '../events/token-event.js';
import { settingDefaults } from '../contract/request-settings.js';
import { promptBody, tokenizeContinuation } from './escalation-step.js';
import { StatsRecorder } from './stats.js';

const samplingDefaults = settingDefaults('sampling');
const requestDefaults = settingDefaults('request');

/** The frontier's hold on one request: its lease (budget and breaker), ended by the generation. */
class FrontierReservation implements Reservation {
  constructor(readonly lease: FrontierLease) {}
  release(): void {
    this.lease.release();
  }
}

/**
 * The `frontier` tier: the whole request streamed from the frontier model through the same `TokenEvent`s, every
 * token tagged `frontier`. The text is the frontier's own, piece by piece; token ids and usage come from the local
 * tokenizer (the frontier's text re-tokenized after the prompt), so `usage.completion_tokens` counts exactly what
 * a local tier would. The frontier sends no log-probabilities: each token's `logprob` is `NaN` (`null` on the
 * wire), and it has no alternatives.
 *
 * Governed by the frontier's global limits (`callsPerMinute`, `maxCostPerHour`) and its breaker, taken at
 * admission (`reserve`): a refusal is `frontier_rate_limited` (429) or `frontier_unavailable` (503), both
 * retryable. A frontier failure before the first piece is `frontier_unavailable`; after it, the stream ends with
 * that error.
 */
export class FrontierTier implements Generator {
  constructor(
    private readonly escalator: Escalator,
    private readonly tokenizer: Pick<Tokenizer, 'tokenize' | 'detokenize' | 'bos'>,
    private readonly local: Pick<Generator, 'encode' | 'contextSize'>,
  ) {}

  get contextSize(): number {
    return this.local.contextSize;
  }

  encode(input: PromptInput): EncodedPrompt {
    return this.local.encode(input);
  }

  async reserve(request: GenerationRequest, prompt: EncodedPrompt): Promise<FrontierReservation> {
    const lease = await this.escalator.lease(prompt.tokens.length, request.maxTokens ?? requestDefaults.maxTokens);
    if ('refused' in lease) {
      if (lease.refused === 'breaker_open') throw new SpecrouteError('frontier_unavailable', 'the frontier is unavailable (its circuit breaker is open); retry shortly', { param: 'route' });
      throw new SpecrouteError('frontier_rate_limited', `the frontier's limit is reached (${lease.refused}); retry shortly`, { param: 'route' });
    }
    return new FrontierReservation(lease);
  }

  async *generate(request: GenerationRequest, prompt: EncodedPrompt, options: GenerateOptions = {}): AsyncGenerator<TokenEvent> {
    const reservation = options.reservation instanceof FrontierReservation ? options.reservation : await this.reserve(request, prompt);
    const { lease } = reservation;
    const stats = new StatsRecorder('frontier');
    const promptIds = promptBody(this.tokenizer, prompt.tokens);
    // A continuation (options.prefix: text another tier already sent) goes on after that text, counted as context.
    const prefix = options.prefix ?? '';
    const body = prefix ? [...promptIds, ...tokenizeContinuation(this.tokenizer, promptIds, prefix)] : promptIds;
    const input = request.input;
    const sampling = request.sampling ?? {};
    const pieces = this.escalator.client.stream(
      {
        text: (input.kind === 'text' ? input.text : this.tokenizer.detokenize(promptIds)) + prefix,
        maxTokens: lease.maxTokens,
        temperature: sampling.temperature ?? samplingDefaults.temperature,
        ...(sampling.topP !== undefined ? { topP: sampling.topP } : {}),
        ...(sampling.seed !== undefined ? { seed: sampling.seed } : {}),
        stop: [...(request.stop ?? []), ...prompt.stop],
        ...(input.kind === 'chat' ? { chat: { messages: input.messages, replySoFar: prefix } } : {}),
      },
      options.signal,
    );
    let text = '';
    let counted = 0;
    let held: string | undefined;
    // A piece's event waits for the next piece: its token ids are those of the text so far after the prompt but
    // the last (which the next piece may still extend), so that the events' ids add up to the whole text's.
    const event = (piece: string, ids: readonly number[]): TokenEvent => {
      const fresh = ids.slice(counted);
      counted += fresh.length;
      stats.generated += fresh.length;
      stats.bySource.frontier += fresh.length;
      return { kind: 'token', text: piece, tokenIds: fresh, source: 'frontier', logprob: Number.NaN };
    };
    try {
      let result;
      for (;;) {
        const next = await pieces.next();
        if (next.done) {
          result = next.value;
          break;
        }
        text += next.value;
        if (held !== undefined) yield event(held, tokenizeContinuation(this.tokenizer, body, text).slice(0, -1));
        held = next.value;
      }
      const ids = tokenizeContinuation(this.tokenizer, body, text);
      if (held !== undefined) yield event(held, ids);
      const cost = lease.succeeded({ inputTokens: result.promptTokens ?? prompt.tokens.length, outputTokens: result.completionTokens ?? ids.length });
      if (cost > 0) options.onFrontierCost?.(cost);
      yield {
        kind: 'done',
        finishReason: (result.completionTokens ?? ids.length) >= lease.maxTokens ? 'length' : 'stop',
        usage: { promptTokens: prompt.tokens.length, completionTokens: ids.length, totalTokens: prompt.tokens.length + ids.length },
        stats: stats.finish(),
      };
    } catch (error) {
      if (error instanceof FrontierError) {
        const cost = lease.failed(error);
        if (cost > 0) options.onFrontierCost?.(cost);
        if (error.failure === 'cancelled' && options.signal?.aborted) throw options.signal.reason;
        throw new SpecrouteError('frontier_unavailable', `the frontier failed: ${error.message}`, { cause: error });
      }
      throw error;
    } finally {
      lease.release(); // no verdict yet (the consumer left early): none on the frontier either
      await pieces.return(undefined as never).catch(() => undefined);
    }
  }
}
