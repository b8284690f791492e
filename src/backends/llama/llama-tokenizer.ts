import { GeneralChatWrapper, LlamaText, resolveChatWrapper, type ChatHistoryItem, type ChatWrapper, type LlamaModel, type Token } from 'node-llama-cpp';
import { SpecrouteError } from '../../errors/registry.js';
import type { ChatPrompt, ChatTemplateMessage, Tokenizer } from '../types.js';
import { grammarVocabularyOfModel, sharedLlama, vocabularySize } from './llama-backend.js';
import type { GrammarVocabulary } from '../../grammar/grammar-vocabulary.js';

/**
 * A GGUF model's tokenizer on the main thread: the vocabulary alone (`vocabOnly`), no weights, so text can be
 * tokenized and streamed without a round trip to the model workers.
 */
export class LlamaTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  private disposed = false;
  private chatWrapper: ChatWrapper | undefined;

  private constructor(private readonly model: LlamaModel) {
    this.vocabSize = vocabularySize(model);
    this.bos = model.tokens.bos ?? null;
    this.eos = model.tokens.eos ?? null;
  }

  static async load(modelPath: string): Promise<LlamaTokenizer> {
    const llama = await sharedLlama();
    try {
      return new LlamaTokenizer(await llama.loadModel({ modelPath, vocabOnly: true }));
    } catch (error) {
      throw new SpecrouteError('model_load_failed', `cannot read the tokenizer of ${modelPath}: ${(error as Error).message}`, { cause: error });
    }
  }

  grammarVocabulary(): GrammarVocabulary | undefined {
    return grammarVocabularyOfModel(this.model);
  }

  tokenize(text: string, specialTokens = false): number[] {
    return this.model.tokenize(text, specialTokens);
  }

  detokenize(tokens: readonly number[], lastTokens?: readonly number[]): string {
    return this.model.detokenize(tokens as Token[], false, lastTokens as Token[] | undefined);
  }

  /**
   * Formats chat messages with the model's own chat template: the GGUF's Jinja template when it has one,
   * otherwise node-llama-cpp's wrapper for the model family (by its name and architecture), otherwise a plain
   * "### Human / ### Assistant" layout (node-llama-cpp's `GeneralChatWrapper`). The prompt ends where the
   * assistant's reply begins.
   */
  applyChatTemplate(messages: readonly ChatTemplateMessage[]): ChatPrompt {
    this.chatWrapper ??= resolveChatWrapper(this.model, { fallbackToOtherWrappersOnJinjaError: true }) ?? new GeneralChatWrapper();
    const history: ChatHistoryItem[] = messages.map((m) =>
      m.role === 'system' ? { type: 'system', text: m.content } : m.role === 'user' ? { type: 'user', text: m.content } : { type: 'model', response: [m.content] },
    );
    history.push({ type: 'model', response: [] });
    const state = this.chatWrapper.generateContextState({ chatHistory: history });
    const stop = state.stopGenerationTriggers
      .map((trigger) => LlamaText(trigger))
      .filter((text) => text.values.every((v) => typeof v === 'string'))
      .map((text) => text.toString())
      .filter((text) => text.length > 0);
    return { tokens: state.contextText.tokenize(this.model.tokenizer), stop: [...new Set(stop)], template: this.chatWrapper.wrapperName };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.model.dispose();
  }
}
