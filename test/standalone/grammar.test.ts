import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackendSequence, PositionScores, ScoreRequest } from '../../src/backends/types.js';
import { GrammarCompiler } from '../../src/grammar/grammar-compiler.js';
import { grammarSpecOf } from '../../src/grammar/grammar-spec.js';
import { integerRangeEbnf, placeIntegerRanges } from '../../src/grammar/integer-bounds.js';
import type { GrammarVocabulary } from '../../src/grammar/grammar-vocabulary.js';
import { RequestGrammar } from '../../src/pipeline/request-grammar.js';
import { allowedTokens, isAllowed, maskLogits, onlyAllowed } from '../../src/sampling/token-mask.js';
import { ConstrainedSequence } from '../../src/workers/constrained-sequence.js';

/**
 * The grammar layer on the real engine (XGrammar's WebAssembly) over a small raw vocabulary, so every mask can be
 * read by eye. Models are exercised in test/modelDependent/stories260K/structured-output.test.ts.
 */
const PIECES = ['<eos>', '{', '}', '"', ':', ',', 'a', 'b', 'c', '{"', '":', 'ab', '1', '2', ' ', '"}'];
const EOS = 0;
const vocabulary: GrammarVocabulary = { pieces: PIECES, kind: 'raw', addSpacePrefix: false, vocabSize: PIECES.length, stopTokens: [EOS] };
const id = (piece: string): number => PIECES.indexOf(piece);
/** Longest-match tokenization over PIECES (the end token is never text). */
const tokenizer = {
  bos: null,
  detokenize: (tokens: readonly number[]) => tokens.map((t) => (t === EOS ? '' : PIECES[t])).join(''),
  tokenize(text: string): number[] {
    const out: number[] = [];
    for (let at = 0; at < text.length; ) {
      const best = PIECES.map((p, i) => ({ p, i })).filter(({ p, i }) => i !== EOS && text.startsWith(p, at)).sort((x, y) => y.p.length - x.p.length)[0];
      if (!best) throw new Error(`cannot tokenize ${text.slice(at)}`);
      out.push(best.i);
      at += best.p.length;
    }
    return out;
  },
};
const names = (tokens: readonly number[]): string[] => tokens.map((t) => PIECES[t]!);
/** {"a": "ab"|"c"} in one property, required. */
const SCHEMA = { kind: 'json_schema', schema: JSON.stringify({ type: 'object', properties: { a: { enum: ['ab', 'c'] } }, required: ['a'] }) } as const;

describe('grammar layer (XGrammar) on a small vocabulary', () => {
  let compiler: GrammarCompiler;
  beforeAll(async () => {
    compiler = await GrammarCompiler.create(vocabulary);
  });
  afterAll(() => compiler.dispose());

  it('masks what the schema allows next, accepts and refuses tokens, rolls back, and ends with the end token only', async () => {
    const state = await compiler.start(SCHEMA);
    expect(names(allowedTokens(await state.mask(), PIECES.length))).toEqual(['{', '{"']);
    expect(state.accept(id('}'))).toBe(false);
    expect(state.length).toBe(0);
    for (const piece of ['{"', 'a', '":', '"', 'ab']) expect(state.accept(id(piece))).toBe(true);
    expect(names(allowedTokens(await state.mask(), PIECES.length))).toEqual(['"', '"}']);
    state.rollBackTo(3); // back to {"a":
    expect(state.length).toBe(3);
    expect(names(allowedTokens(await state.mask(), PIECES.length))).toEqual(['"']);
    for (const piece of ['"', 'c', '"}']) expect(state.accept(id(piece))).toBe(true);
    expect(onlyAllowed(await state.mask(), PIECES.length)).toBe(EOS);
    expect(state.accept(EOS)).toBe(true);
    expect(state.terminated).toBe(true);
    // Past the end XGrammar would abort its whole instance; the state refuses instead, and stays usable.
    await expect(state.mask()).rejects.toThrow(/end of the text/);
    expect(state.accept(id('a'))).toBe(false);
    expect(state.forcedText()).toBe('');
    state.rollBackTo(6);
    expect(state.terminated).toBe(false);
    expect(onlyAllowed(await state.mask(), PIECES.length)).toBe(EOS);
    state.dispose();
  });

  it('forced tokens: the jump-forward text as the tokenizer writes it, then a lone allowed token; none past the limit', async () => {
    const grammar = new RequestGrammar(await compiler.start(SCHEMA), tokenizer, [id('b')]);
    const forced = await grammar.forced([], 10);
    expect(names(forced)).toEqual(['{"', 'a', '":', '"']); // {"a":" is forced; then "ab" or "c" is a choice
    grammar.commit([id('c')]);
    expect(names(await grammar.forced([...forced, id('c')], 10))).toEqual(['"}', '<eos>']);
    expect(grammar.terminated).toBe(true);
    grammar.dispose();

    const limited = new RequestGrammar(await compiler.start(SCHEMA), tokenizer, [id('b')]);
    expect(names(await limited.forced([], 2))).toEqual(['{"', 'a']);
    limited.dispose();
  });

  it('a frontier span is kept up to the last token the grammar accepts, and the state is left as it was', async () => {
    const grammar = new RequestGrammar(await compiler.start(SCHEMA), tokenizer, [id('b')]);
    grammar.commit([id('{"'), id('a')]);
    // The emitted tokens past the committed ones (a block not committed yet) come before the span.
    expect(grammar.acceptedPrefix([id('{"'), id('a'), id('":')], [id('"'), id('ab'), id('b'), id('"}')])).toBe(2);
    expect(grammar.acceptedPrefix([id('{"'), id('a')], [id('}')])).toBe(0);
    expect(grammar.acceptedPrefix([id('{"'), id('a'), id('}')], [id('":')])).toBe(0); // uncommitted tokens the grammar refuses
    expect(names(await grammar.forced([id('{"'), id('a')], 10))).toEqual(['":', '"']);
    expect(() => grammar.commit([id('{')])).toThrow(/not allowed/);
    grammar.dispose();
  });

  it('a constrained sequence masks the scored positions at their tokens, and rolls back with the cache', async () => {
    const calls: Array<{ keep: number; tokens: readonly number[]; masks: string[][] }> = [];
    const inner: BackendSequence = {
      length: 0,
      async evaluate(keep: number, tokens: readonly number[], scoreLast: number, request: ScoreRequest): Promise<PositionScores[]> {
        calls.push({ keep, tokens, masks: (request.masks ?? []).map((m) => (m ? names(allowedTokens(m, PIECES.length)) : ['*'])) });
        return Array.from({ length: scoreLast }, () => ({ kind: 'greedy', token: 0, top: [] }));
      },
      dispose: async () => undefined,
    };
    const seq = new ConstrainedSequence(inner, await compiler.start(SCHEMA), 2);
    // Prompt of 2 tokens: the position after the first is unmasked, the one after the second starts the grammar.
    await seq.evaluate(0, [id('b'), id('b'), id('{"'), id('a')], 4, { sampling: { temperature: 0, topK: 0, topP: 1, minP: 0 } });
    expect(calls[0]!.masks).toEqual([['*'], ['{', '{"'], ['a'], ['"', '":']]);
    // Keep 3 tokens (b b {"): the grammar rolls back to one token, then walks the new ones.
    await seq.evaluate(3, [id('a'), id('":'), id('"')], 2, { sampling: { temperature: 0, topK: 0, topP: 1, minP: 0 } });
    expect(calls[1]!.masks).toEqual([['"'], ['a', 'c', 'ab']]); // 'a' starts 'ab'
    await expect(seq.evaluate(4, [id('}')], 1, { sampling: { temperature: 0, topK: 0, topP: 1, minP: 0 } })).rejects.toThrow(/not allowed/);
    await seq.dispose();
  });

  it('an engine error on a schema it cannot compile is invalid_argument naming response_format', async () => {
    await expect(compiler.start({ kind: 'json_schema', schema: '{"type": "object", "properties": {"a": {"type": "nonsense"}}}' })).rejects.toMatchObject({
      code: 'invalid_argument',
      param: 'response_format',
    });
  });
});

describe('token masks', () => {
  const mask = Int32Array.from([0b101, 1 << 31]); // tokens 0, 2 and 63

  it('reads bits by token, including the sign bit of a word', () => {
    expect([0, 1, 2, 31, 32, 63].map((t) => isAllowed(mask, t))).toEqual([true, false, true, false, false, true]);
    expect(isAllowed(mask, 64)).toBe(false);
    expect(allowedTokens(mask, 64)).toEqual([0, 2, 63]);
    expect(allowedTokens(mask, 63)).toEqual([0, 2]);
  });

  it('names the one allowed token, or none', () => {
    expect(onlyAllowed(Int32Array.from([0, 1 << 31]), 64)).toBe(63);
    expect(onlyAllowed(Int32Array.from([0, 1 << 31]), 63)).toBeUndefined();
    expect(onlyAllowed(Int32Array.from([1 << 4, 0]), 64)).toBe(4);
    expect(onlyAllowed(mask, 64)).toBeUndefined();
    expect(onlyAllowed(Int32Array.from([0, 0]), 64)).toBeUndefined();
  });

  it('masks logits to -Infinity outside the set, leaving the rest', () => {
    expect([...maskLogits(Float32Array.from([1, 2, 3, 4]), Int32Array.from([0b1010]))]).toEqual([-Infinity, 2, -Infinity, 4]);
  });
});

describe('integer bounds the grammar enforces exactly', () => {
  const DIGITS = ['<eos>', '{', '}', '"', ':', '-', 'n', '.', 'null', ...'0123456789'];
  let compiler: GrammarCompiler;
  beforeAll(async () => {
    compiler = await GrammarCompiler.create({ pieces: DIGITS, kind: 'raw', addSpacePrefix: false, vocabSize: DIGITS.length, stopTokens: [0] });
  });
  afterAll(() => compiler.dispose());

  /** Whether `{"n":VALUE}` is a complete text of the grammar. */
  async function accepts(spec: Parameters<GrammarCompiler['start']>[0], value: number | string): Promise<boolean> {
    const state = await compiler.start(spec);
    try {
      const text = `{"n":${value}}`;
      const pieces = value === 'null' ? ['{', '"', 'n', '"', ':', 'null', '}'] : [...text];
      return pieces.every((c) => state.accept(DIGITS.indexOf(c))) && state.accept(0);
    } finally {
      state.dispose();
    }
  }

  it.each([
    { minimum: 5 },
    { maximum: 120 },
    { minimum: -5 },
    { minimum: 7, maximum: 1100 },
    { minimum: -30, maximum: 250 },
    { minimum: 12 },
    { maximum: -7 },
    { minimum: -1000, maximum: -99 },
    { minimum: 0, maximum: 0 },
    { minimum: 100, maximum: 1009 },
  ])('%o: exactly the integers in range, over -1150…1150 (XGrammar 0.1.27 alone, or as an enum, gets some wrong)', async (bounds) => {
    const schema = { type: 'object', properties: { n: { type: 'integer', ...bounds } }, required: ['n'] };
    const spec = grammarSpecOf({ responseFormat: { type: 'json_schema', name: 'n', schema } })!;
    const wrong: number[] = [];
    for (let n = -1150; n <= 1150; n++) {
      const inRange = n >= (bounds.minimum ?? -Infinity) && n <= (bounds.maximum ?? Infinity);
      if ((await accepts(spec, n)) !== inRange) wrong.push(n);
    }
    expect(wrong, JSON.stringify(wrong)).toEqual([]);
  });

  it.each([{ minimum: -10, maximum: 20 }, { minimum: 5 }, { maximum: -3 }, { minimum: 0, maximum: 1 }, { minimum: -2, maximum: -2 }])(
    'number %o: exactly the decimals in range (XGrammar 0.1.27 alone writes invalid JSON for some)',
    async (bounds) => {
      const schema = { type: 'object', properties: { n: { type: 'number', ...bounds } }, required: ['n'] };
      const spec = grammarSpecOf({ responseFormat: { type: 'json_schema', name: 'n', schema } })!;
      const wrong: string[] = [];
      for (let n = -130; n <= 130; n++) {
        for (const text of [`${n}`, `${n}.5`, `${n}.0`, `${n}.05`, `${n}.00`, n < 0 ? `-0.${-n}` : `0.${n}`, `${n}.000000000001`]) {
          const value = Number(text);
          const inRange = value >= (bounds.minimum ?? -Infinity) && value <= (bounds.maximum ?? Infinity);
          if ((await accepts(spec, text)) !== inRange) wrong.push(text);
        }
      }
      expect(wrong, JSON.stringify(wrong)).toEqual([]);
    },
  );

  it('a type list with one bounded numeric type: the bounds hold, and the other types stay', async () => {
    const schema = { type: 'object', properties: { n: { type: ['integer', 'null'], minimum: 3, maximum: 7 } }, required: ['n'] };
    const spec = grammarSpecOf({ responseFormat: { type: 'json_schema', name: 'n', schema } })!;
    const taken: Array<number | string> = [];
    for (const value of ['null', -1, 0, 2, 3, 5, 7, 8, 30, 70]) if (await accepts(spec, value)) taken.push(value);
    expect(taken).toEqual(['null', 3, 5, 7]);
  });

  it('writes at most 12 decimals of a bounded number', async () => {
    const schema = { type: 'object', properties: { n: { type: 'number', minimum: 0 } }, required: ['n'] };
    const spec = grammarSpecOf({ responseFormat: { type: 'json_schema', name: 'n', schema } })!;
    expect(await accepts(spec, '1.123456789012')).toBe(true);
    expect(await accepts(spec, '1.1234567890123')).toBe(false);
  });

  it('refuses leading zeros and -0, and reaches far past the spelled-out ends', () => {
    const expression = integerRangeEbnf(5, Infinity);
    expect(expression).toBe('([5-9]) | ([1-9] [0-9] [0-9]*)');
    expect(integerRangeEbnf(-30, 250)).toBe('("-" [1-9]) | ("-" [1-2] [0-9]) | ("-" "3" "0") | ([0-9]) | ([1-9] [0-9]) | ("1" [0-9] [0-9]) | ("2" ([0-4] [0-9])) | ("2" ("5" "0"))');
  });

  it('finds bounded integers wherever the subset allows a schema, and leaves unbounded ones to the engine', () => {
    const placed = placeIntegerRanges(
      {
        type: 'object',
        properties: { a: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 2 } }, b: { type: 'integer' } },
        $defs: { d: { anyOf: [{ type: 'integer', maximum: 3 }, { type: 'null' }] } },
      },
      'p',
    );
    expect(placed.schema).toEqual({
      type: 'object',
      properties: { a: { type: 'array', items: { const: 'p0' } }, b: { type: 'integer' } },
      $defs: { d: { anyOf: [{ const: 'p1' }, { type: 'null' }] } },
    });
    expect(placed.ranges).toEqual([
      { placeholder: 'p0', type: 'integer', min: 1, max: 2 },
      { placeholder: 'p1', type: 'integer', min: -Infinity, max: 3 },
    ]);
  });
});
