import { SpecrouteError } from '../errors/registry.js';
import { grammarKey, type GrammarSpec } from './grammar-spec.js';
import { integerRangeEbnf, numberRangeEbnf, placeIntegerRanges } from './integer-bounds.js';
import { GrammarState } from './grammar-state.js';
import type { GrammarVocabulary } from './grammar-vocabulary.js';
import { xgrammar, type CompiledGrammar, type GrammarCompiler as XGrammarCompiler, type TokenizerInfo } from './xgrammar.js';

/** Stands for a bounded integer while XGrammar writes the rest of a grammar; also the prefix of its rule's name. */
const PLACEHOLDER = 'specroute_integer_range_';

/** Compiled grammars kept per compiler, most recently used last. */
const CACHE_SIZE = 32;

/**
 * JSON as the grammar writes it: compact (no whitespace, `,` and `:` alone), since every whitespace token a model
 * may add is a token it pays for and a place a small model loops; and strict (no property the schema does not
 * name, even where `additionalProperties` is absent), which keeps every output valid against the schema as given.
 */
const JSON_LAYOUT = { anyWhitespace: false, indent: -1, separators: [',', ':'] as [string, string], strictMode: true };

/**
 * One vocabulary's grammar compiler (XGrammar: the JSON Schema → grammar conversion, and per-state token masks
 * cached by the engine). Each thread that masks distributions holds its own: the main thread (forced runs,
 * escalation) and each model worker (docs/ARCHITECTURE.md#structured-output).
 */
export class GrammarCompiler {
  private readonly cache = new Map<string, Promise<CompiledGrammar>>();
  private disposed = false;

  private constructor(
    private readonly info: TokenizerInfo,
    private readonly compiler: XGrammarCompiler,
    readonly vocabSize: number,
  ) {}

  /** Throws `unsupported_model` for a model whose file does not list its tokens (no `vocabulary`). */
  static async create(vocabulary: GrammarVocabulary | undefined): Promise<GrammarCompiler> {
    if (!vocabulary) {
      throw new SpecrouteError('unsupported_model', 'structured output needs the model file to list its tokens (tokenizer.ggml.tokens)', { param: 'response_format' });
    }
    const { TokenizerInfo, GrammarCompiler: Compiler } = xgrammar();
    const info = await TokenizerInfo.createTokenizerInfo(
      [...vocabulary.pieces],
      vocabulary.kind,
      vocabulary.addSpacePrefix,
      vocabulary.vocabSize,
      [...vocabulary.stopTokens],
    );
    return new GrammarCompiler(info, await Compiler.createGrammarCompiler(info), vocabulary.vocabSize);
  }

  /** A fresh state of `spec`'s grammar, at its start. Throws `invalid_argument` when the engine cannot compile it. */
  async start(spec: GrammarSpec): Promise<GrammarState> {
    const { GrammarMatcher } = xgrammar();
    return new GrammarState(await GrammarMatcher.createGrammarMatcher(await this.compile(spec)), this.vocabSize);
  }

  private compile(spec: GrammarSpec): Promise<CompiledGrammar> {
    if (this.disposed) throw new SpecrouteError('shutting_down', 'the grammar compiler is disposed');
    const key = grammarKey(spec);
    let compiled = this.cache.get(key);
    if (compiled) {
      this.cache.delete(key); // most recently used last
    } else {
      compiled = this.compileNew(spec);
      compiled.catch(() => this.cache.delete(key));
    }
    this.cache.set(key, compiled);
    for (const [old, evicted] of this.cache) {
      if (this.cache.size <= CACHE_SIZE) break;
      this.cache.delete(old);
      void evicted.then((g) => g.dispose()).catch(() => undefined); // matchers keep their own reference
    }
    return compiled;
  }

  private async compileNew(spec: GrammarSpec): Promise<CompiledGrammar> {
    try {
      const { anyWhitespace, indent, separators, strictMode } = JSON_LAYOUT;
      // Any object, as OpenAI's json_object gives, compact (XGrammar's built-in JSON grammar takes any whitespace,
      // and a small model then writes nothing else) and open to any property.
      if (spec.kind === 'json') return await this.compiler.compileJSONSchema('{"type":"object"}', anyWhitespace, indent, separators, false);
      const { schema, ranges } = placeIntegerRanges(JSON.parse(spec.schema), PLACEHOLDER);
      if (ranges.length === 0) return await this.compiler.compileJSONSchema(spec.schema, anyWhitespace, indent, separators, strictMode);
      // XGrammar writes the grammar around each bounded integer's placeholder; the integers' rules are ours.
      const { Grammar } = xgrammar();
      const written = await Grammar.fromJSONSchema(JSON.stringify(schema), anyWhitespace, indent, separators, strictMode);
      let ebnf = written.toString();
      written.dispose();
      for (const [i, range] of ranges.entries()) {
        const literal = `("\\"${range.placeholder}\\"")`;
        if (!ebnf.includes(literal)) throw new Error(`the grammar lost the integer at ${range.placeholder}`);
        const rule = range.type === 'integer' ? integerRangeEbnf(range.min, range.max) : numberRangeEbnf(range.min, range.max);
        ebnf = ebnf.replaceAll(literal, `(${PLACEHOLDER}${i})`) + `\n${PLACEHOLDER}${i} ::= ${rule}`;
      }
      return await this.compiler.compileGrammar(ebnf);
    } catch (error) {
      throw new SpecrouteError('invalid_argument', `the grammar engine cannot compile this schema: ${engineMessage(error)}`, {
        param: 'response_format',
        cause: error,
      });
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const compiled of this.cache.values()) void compiled.then((g) => g.dispose()).catch(() => undefined);
    this.cache.clear();
    this.compiler.dispose();
    this.info.dispose();
  }
}

/** XGrammar's WebAssembly throws Errors, strings or exception pointers; say what can be said. */
function engineMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : 'unsupported schema';
}
