/**
 * A vocabulary as a grammar engine needs it: every token's text as the model file stores it (SentencePiece's
 * `▁the`, byte tokens `<0x0A>`), and how to decode those pieces.
 */
export interface GrammarVocabulary {
  /** Token pieces by id (GGUF `tokenizer.ggml.tokens`). */
  readonly pieces: readonly string[];
  /**
   * How pieces decode to text (XGrammar's vocabulary types): `byte_fallback` for SentencePiece (`▁` is a space,
   * `<0xNN>` a byte; GGUF tokenizer model `llama`), `byte_level` for GPT-2-style BPE (`gpt2`), `raw` otherwise.
   */
  readonly kind: 'byte_fallback' | 'byte_level' | 'raw';
  /** Whether the tokenizer prepends a space to the text it tokenizes (GGUF `tokenizer.ggml.add_space_prefix`). */
  readonly addSpacePrefix: boolean;
  /** Logits per position; may exceed `pieces.length` (padding rows). */
  readonly vocabSize: number;
  /** Tokens that end the text (end of sequence): the only tokens a complete grammar allows. */
  readonly stopTokens: readonly number[];
}

/** The GGUF tokenizer metadata a `GrammarVocabulary` is read from (node-llama-cpp's `fileInfo.metadata.tokenizer.ggml`). */
export interface GgufTokenizerMetadata {
  readonly model?: string;
  readonly tokens?: readonly string[];
  readonly add_space_prefix?: boolean;
  readonly eos_token_id?: number;
}

export function grammarVocabularyOf(ggml: GgufTokenizerMetadata | undefined, vocabSize: number): GrammarVocabulary | undefined {
  if (!ggml?.tokens) return undefined;
  const kind = ggml.model === 'llama' ? 'byte_fallback' : ggml.model === 'gpt2' ? 'byte_level' : 'raw';
  return {
    pieces: ggml.tokens,
    kind,
    addSpacePrefix: ggml.add_space_prefix ?? kind === 'byte_fallback',
    vocabSize,
    stopTokens: ggml.eos_token_id === undefined ? [] : [ggml.eos_token_id],
  };
}
