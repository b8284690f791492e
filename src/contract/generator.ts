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
}

/**
 * What the scheduler needs of whatever generates a request's tokens: the speculative pair today, the draft alone
 * or the frontier later. The request arrives validated, with `maxTokens` resolved against the context.
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
}
