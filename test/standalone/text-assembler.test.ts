import { describe, expect, it } from 'vitest';
import type { Tokenizer } from '../../src/backends/types.js';
import type { TokenEventToken } from '../../src/events/token-event.js';
import { TextAssembler } from '../../src/pipeline/text-assembler.js';

/** A byte-level tokenizer: token i is byte i, so multi-byte UTF-8 characters span several tokens. */
const bytes: Tokenizer = {
  vocabSize: 256,
  bos: null,
  eos: null,
  tokenize: (text) => [...Buffer.from(text, 'utf8')],
  detokenize: (tokens) => Buffer.from(tokens).toString('utf8'),
};

function feed(text: string, stops: string[]): { events: TokenEventToken[]; stopped: boolean } {
  const assembler = new TextAssembler(bytes, stops, []);
  const events: TokenEventToken[] = [];
  for (const b of bytes.tokenize(text)) {
    events.push(...assembler.push({ kind: 'token', tokenIds: [b], source: 'draft', logprob: -1 }));
    if (assembler.hasStopped) return { events, stopped: true };
  }
  events.push(...assembler.flush());
  return { events, stopped: false };
}

const textOf = (events: TokenEventToken[]): string => events.map((e) => e.text).join('');

describe('TextAssembler', () => {
  it('holds a split UTF-8 character until it completes, and never emits U+FFFD', () => {
    const { events } = feed('añb€✓日本', []);
    expect(textOf(events)).toBe('añb€✓日本');
    for (const e of events) expect(e.text).not.toContain('\uFFFD');
    // Every token is accounted for exactly once.
    expect(events.flatMap((e) => e.tokenIds)).toEqual(bytes.tokenize('añb€✓日本'));
  });

  it('cuts before a stop sequence and stops', () => {
    const { events, stopped } = feed('hello world. and more', ['. ']);
    expect(stopped).toBe(true);
    expect(textOf(events)).toBe('hello world');
  });

  it('holds back a possible stop prefix, then releases it when the stop does not complete', () => {
    const assembler = new TextAssembler(bytes, ['END'], []);
    const push = (s: string): string => textOf(bytes.tokenize(s).flatMap((b) => assembler.push({ kind: 'token', tokenIds: [b], source: 'verifier', logprob: 0 })));
    expect(push('abcEN')).toBe('abc');
    expect(push('x')).toBe('ENx');
    expect(push('E')).toBe('');
    expect(textOf(assembler.flush())).toBe('E');
  });

  it('picks the earliest of several stop sequences, including one inside a token', () => {
    const assembler = new TextAssembler(bytes, ['zz', 'b'], []);
    const events = assembler.push({ kind: 'token', tokenIds: bytes.tokenize('azzb'), source: 'bonus', logprob: 0 });
    expect(textOf(events)).toBe('a');
    expect(assembler.hasStopped).toBe(true);
  });
});

describe('TextAssembler: context, held tokens and stop sequences in detail', () => {
  const token = (...tokenIds: number[]): Omit<TokenEventToken, 'text'> => ({ kind: 'token', tokenIds, source: 'verifier', logprob: -0.5 });

  /** A tokenizer that spells each token as `t<id>` and records the context it was given. */
  function spelling(): { tokenizer: Tokenizer; contexts: number[][] } {
    const contexts: number[][] = [];
    const tokenizer: Tokenizer = {
      vocabSize: 100,
      bos: null,
      eos: null,
      tokenize: () => [],
      detokenize: (tokens, context = []) => {
        contexts.push([...context]);
        return tokens.map((t) => `t${t}`).join('');
      },
    };
    return { tokenizer, contexts };
  }

  it('decodes each token with the last four tokens before it (prompt tokens first) as context', () => {
    const { tokenizer, contexts } = spelling();
    const assembler = new TextAssembler(tokenizer, [], [1, 2, 3, 4, 5, 6]);
    expect(textOf(assembler.push(token(7)))).toBe('t7');
    expect(textOf(assembler.push(token(8, 9)))).toBe('t8t9');
    expect(textOf(assembler.push(token(10)))).toBe('t10');
    expect(contexts).toEqual([
      [3, 4, 5, 6],
      [4, 5, 6, 7],
      [6, 7, 8, 9],
    ]);
    // A short prompt is all context.
    const short = spelling();
    new TextAssembler(short.tokenizer, [], [42]).push(token(1));
    expect(short.contexts).toEqual([[42]]);
  });

  it('carries each event\'s fields through, with the text it made visible', () => {
    const { tokenizer } = spelling();
    const assembler = new TextAssembler(tokenizer, [], []);
    const event = { kind: 'token' as const, tokenIds: [3], source: 'frontier' as const, logprob: -2, topLogprobs: [{ token: 3, logprob: -2, text: 't3' }] };
    expect(assembler.push(event)).toEqual([{ ...event, text: 't3' }]);
    expect(assembler.flush()).toEqual([]);
  });

  it('holds tokens while the text ends in U+FFFD, then gives the whole text to the first of them', () => {
    const assembler = new TextAssembler(bytes, [], []);
    const euro = bytes.tokenize('€'); // three bytes
    expect(assembler.push(token(euro[0]!))).toEqual([]);
    expect(assembler.push(token(euro[1]!))).toEqual([]);
    const events = assembler.push(token(euro[2]!));
    expect(events.map((e) => [e.tokenIds, e.text])).toEqual([
      [[euro[0]], '€'],
      [[euro[1]], ''],
      [[euro[2]], ''],
    ]);
  });

  it('gives up holding after four undecodable tokens and emits the text as it is', () => {
    const assembler = new TextAssembler(bytes, [], []);
    for (let i = 0; i < 3; i++) expect(assembler.push(token(0xff))).toEqual([]);
    const events = assembler.push(token(0xff));
    expect(events).toHaveLength(4);
    expect(events[0]!.text).toBe('\uFFFD'.repeat(4));
    expect(events.slice(1).map((e) => e.text)).toEqual(['', '', '']);
  });

  it('flush emits an unfinished character as it is, after what was held back for a stop sequence', () => {
    const assembler = new TextAssembler(bytes, ['STOP'], []);
    expect(textOf([...'aST'].flatMap((c) => assembler.push(token(c.charCodeAt(0)))))).toBe('a');
    expect(assembler.push(token(bytes.tokenize('€')[0]!))).toEqual([]);
    const out = assembler.flush();
    expect(out.map((e) => e.text)).toEqual(['S', 'T', '\uFFFD']);
    expect(out.map((e) => e.tokenIds)).toEqual([[0x53], [0x54], [0xe2]]);
    expect(assembler.flush()).toEqual([]);
  });

  it('a stop sequence found across tokens cuts the token it starts in, and drops the tokens after it', () => {
    const assembler = new TextAssembler(bytes, ['cd'], []);
    expect(assembler.push(token(...bytes.tokenize('ab')))).toEqual([{ ...token(...bytes.tokenize('ab')), text: 'ab' }]);
    expect(assembler.push(token(...bytes.tokenize('xc')))).toEqual([]);
    const cut = assembler.push(token(...bytes.tokenize('dyz')));
    expect(cut).toEqual([{ ...token(...bytes.tokenize('xc')), text: 'x' }]);
    expect(assembler.hasStopped).toBe(true);
    expect(assembler.push(token(1))).toEqual([]);
    expect(assembler.flush()).toEqual([]);
  });

  it('a stop sequence at the very start of the held text emits nothing more', () => {
    const assembler = new TextAssembler(bytes, ['ab'], []);
    expect(assembler.push(token(...bytes.tokenize('a')))).toEqual([]);
    expect(assembler.push(token(...bytes.tokenize('bc')))).toEqual([]);
    expect(assembler.hasStopped).toBe(true);
  });

  it('a held token that ends exactly where the stop sequence starts is emitted whole, and nothing after it', () => {
    const assembler = new TextAssembler(bytes, ['xy', 'abc'], []);
    const ab = token(...bytes.tokenize('ab'));
    expect(assembler.push(ab)).toEqual([]); // could still grow into "abc"
    expect(assembler.push(token(...bytes.tokenize('xy')))).toEqual([{ ...ab, text: 'ab' }]);
    expect(assembler.hasStopped).toBe(true);
    // Within one token, the text is cut.
    expect(new TextAssembler(bytes, ['!'], []).push(token(...bytes.tokenize('hi!')))).toEqual([{ ...token(...bytes.tokenize('hi!')), text: 'hi' }]);
  });

  it('holds back only the longest tail that can still grow into a stop sequence, across all of them', () => {
    const push = (stops: string[], text: string): string => textOf(new TextAssembler(bytes, stops, []).push(token(...bytes.tokenize(text))));
    expect(push(['abc'], 'xxab')).toBe('');
    expect(push(['abc'], 'xxa')).toBe('');
    expect(push(['abc'], 'xxb')).toBe('xxb');
    expect(push(['abc', 'bz'], 'xxab')).toBe('');
    // Released token by token: with one token per byte, only the tail is held.
    const assembler = new TextAssembler(bytes, ['abc', 'bz'], []);
    const out = [...'xxab'].flatMap((c) => assembler.push(token(c.charCodeAt(0))));
    expect(textOf(out)).toBe('xx');
    const other = new TextAssembler(bytes, ['zzzb', 'ab'], []);
    expect(textOf([...'xab'].flatMap((c) => other.push(token(c.charCodeAt(0)))))).toBe('x');
    const tail = new TextAssembler(bytes, ['xyz', 'yq'], []);
    expect(textOf([...'axy'].flatMap((c) => tail.push(token(c.charCodeAt(0)))))).toBe('a');
  });

  it('picks the earliest stop sequence whichever order they are listed in', () => {
    for (const stops of [['b', 'zz'], ['zz', 'b'], ['zz', 'a', 'b']]) {
      const assembler = new TextAssembler(bytes, stops, []);
      const events = assembler.push(token(...bytes.tokenize('xazzb')));
      expect(textOf(events), stops.join('|')).toBe(stops.includes('a') ? 'x' : 'xa');
    }
  });
});

describe('TextAssembler: what is held and released, exactly', () => {
  const token = (...tokenIds: number[]): Omit<TokenEventToken, 'text'> => ({ kind: 'token', tokenIds, source: 'draft', logprob: -1 });
  const euro = [0xe2, 0x82, 0xac];

  it('holds a token only when its text ends in an unfinished character', () => {
    const a = new TextAssembler(bytes, [], []);
    expect(a.push(token(0x61, euro[0]!))).toEqual([]); // "a" + the start of "€"
    expect(a.push(token(euro[1]!, euro[2]!)).map((e) => e.text)).toEqual(['a€', '']);
    // A replacement character at the start, with text after it, is final: released at once.
    const b = new TextAssembler(bytes, [], []);
    expect(b.push(token(0xff, 0x61)).map((e) => e.text)).toEqual(['\uFFFDa']);
  });

  it('the tokens after the first of a character count for no text when looking for stop sequences', () => {
    // The three bytes of "€" make one "€", not three: "€€" has not appeared.
    const a = new TextAssembler(bytes, ['€€'], []);
    for (const b of euro) expect(a.push(token(b))).toEqual([]);
    expect(a.hasStopped).toBe(false);
    expect(a.flush().map((e) => e.text)).toEqual(['€', '', '']);
  });

  it('flush decodes pending tokens once, the text going with the first of them', () => {
    const contexts: number[][] = [];
    const recording: Tokenizer = { ...bytes, detokenize: (tokens, context = []) => (contexts.push([...context]), bytes.detokenize(tokens)) };
    const a = new TextAssembler(recording, [], []);
    a.push(token(euro[0]!));
    a.push(token(euro[1]!));
    expect(contexts).toHaveLength(2);
    expect(a.flush().map((e) => e.text)).toEqual(['\uFFFD', '']);
    expect(contexts).toHaveLength(3);
    // Nothing pending: nothing to decode.
    expect(a.flush()).toEqual([]);
    expect(contexts).toHaveLength(3);
  });

  it('cuts a later held token at the stop sequence, counting from where that token starts', () => {
    const a = new TextAssembler(bytes, ['XY', 'abq'], []);
    const ab = token(...bytes.tokenize('ab'));
    const cxyd = token(...bytes.tokenize('cXYd'));
    expect(a.push(ab)).toEqual([]);
    expect(a.push(cxyd)).toEqual([
      { ...ab, text: 'ab' },
      { ...cxyd, text: 'c' },
    ]);
  });

  it('releases held tokens in order only while the text before them is safe', () => {
    const a = new TextAssembler(bytes, ['abc'], []);
    expect(textOf(a.push(token(0x61)))).toBe(''); // "a": could start "abc"
    expect(textOf(a.push(token(...bytes.tokenize('xa'))))).toBe('a'); // "axa": the first "a" is safe, "xa" is not
    expect(textOf(a.push(token(...bytes.tokenize('bc'))))).toBe('x');
    expect(a.hasStopped).toBe(true);
  });

  it('a stop sequence at the very start wins over a later one', () => {
    const a = new TextAssembler(bytes, ['x', 'zz'], []);
    expect(a.push(token(...bytes.tokenize('xazz')))).toEqual([]);
    expect(a.hasStopped).toBe(true);
  });
});
