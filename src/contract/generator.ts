import type { TokenEvent } from '../events/token-event.js';
import type { GenerationRequest, PromptInput } from './generation-request.js';

/** A prompt as the generator's tokens. */
export interface EncodedPrompt {
  /** The prompt's tokens, BOS included where the model wants one. */
  readonly tokens: readonly number[];
  /** Stop sequences the chat template ends a reply with (none for raw text). */
  readonly stop: readonly string[];
  /** The request field that holds the prompt (`prompt` or `messages`), for errors about its length. */
  readonly param: 'prompt' | 'messages';
}

/** What a generator may be told besides the request. */
export interface GenerateOptions {
  /** Aborts the generation: client disconnect, deadline or shutdown. */
  readonly signal?: AbortSignal;
  /**
   * More token ids that end the generation like end-of-sequence does (vLLM's `stop_token_ids`); the stopping
   * token is not emitted. Defaults to `[]`.
   */
  readonly stopTokenIds?: readonly number[];
  /** What `Generator.reserve` took for this request at admission; the generation ends it. */
  readonly reservation?: Reservation;
  /**
   * Text of the completion already sent to the client by another tier (a fallback after a failure mid-stream):
   * the generation continues after it, as if it had generated it, and emits only what follows. `maxTokens` then
   * counts only the new tokens. Defaults to `''`.
   */
  readonly prefix?: string;
  /** Told what each frontier call of this generation cost (escalated spans, whole-request calls). */
  readonly onFrontierCost?: (cost: number) => void;
}

/** A generator's hold on a limited resource, taken at admission (the frontier tier's budget and breaker). */
export interface Reservation {
  /** Gives it back unused (the request ended before it generated). Idempotent. */
  release(): void;
}

/**
 * What the scheduler needs of whatever generates a request's tokens, one per tier: the speculative pair
 * (`hybrid`), the draft alone (`slm`), the frontier (`frontier`). The request arrives validated, with `maxTokens`
 * resolved against the context.
 */
export interface Generator {
  /** Most tokens (prompt and completion) one request may hold. */
  readonly contextSize: number;
  /** Tokenizes the prompt (chat messages through the model's chat template). */
  encode(input: PromptInput): EncodedPrompt;
  /**
   * Runs one request: token events as soon as their text is safe to show, then one `done` event. Aborting
   * `options.signal` ends it; the iterator then throws the abort reason.
   */
  generate(request: GenerationRequest, prompt: EncodedPrompt, options?: GenerateOptions): AsyncIterable<TokenEvent>;
  /**
   * Takes what the request will need of a limited resource, at admission, so that a refusal comes before any
   * event (the frontier tier: its global budget and breaker). Throws a `SpecrouteError` when refused. Generators
   * without limits have none.
   */
  reserve?(request: GenerationRequest, prompt: EncodedPrompt): Promise<Reservation>;
}
