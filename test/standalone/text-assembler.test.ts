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
