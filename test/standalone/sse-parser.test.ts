import { describe, expect, it } from 'vitest';
import { SseParser, type SseEvent } from '../../src/escalation/sse-parser.js';

/**
 * The frontier client's SSE parser against the HTML standard's event-stream interpretation
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation), one rule at a
 * time. Each stream is also fed one character per chunk, which must give the same events.
 */

const msg = (data: string, over: Partial<SseEvent> = {}): SseEvent => ({ event: 'message', data, id: undefined, retry: undefined, ...over });

function parse(...chunks: string[]): SseEvent[] {
  const p = new SseParser();
  return chunks.flatMap((c) => p.push(c));
}

/** Parses `stream` whole, and again one character per chunk; both must agree. */
function parseBothWays(stream: string): SseEvent[] {
  const whole = parse(stream);
  expect(parse(...stream), 'one character per chunk').toEqual(whole);
  return whole;
}

describe('SseParser', () => {
  it('dispatches on a blank line, with the event type defaulting to message', () => {
    expect(parseBothWays('data: hello\n\n')).toEqual([msg('hello')]);
    expect(parseBothWays('event: delta\ndata: x\n\ndata: y\n\n')).toEqual([msg('x', { event: 'delta' }), msg('y')]);
    expect(parseBothWays('event:\ndata: x\n\n')).toEqual([msg('x')]);
  });

  it('ends lines with LF, CR or CRLF, also when a CRLF is split across chunks', () => {
    expect(parseBothWays('data: a\r\n\r\ndata: b\r\rdata: c\n\n')).toEqual([msg('a'), msg('b'), msg('c')]);
    // A CRLF is one line end, not a line end and a blank line.
    expect(parseBothWays('data: a\r\ndata: b\r\n\r\n')).toEqual([msg('a\nb')]);
    expect(parseBothWays('event: e\r\ndata: x\r\n\r\n')).toEqual([msg('x', { event: 'e' })]);
    expect(parse('data: a\r', '\ndata: b\r', '\n\r', '\n')).toEqual([msg('a\nb')]);
    // A CR at the end of a chunk ends the line there: the next chunk's text is a new line.
    expect(parse('data: a\r', 'data: b\r', '\r')).toEqual([msg('a\nb')]);
    // An LF at the start of a chunk that did not follow a CR is a line end of its own.
    expect(parse('data: a\n', '\n')).toEqual([msg('a')]);
    expect(parse('data: a\n', '\ndata: b\n', '\n')).toEqual([msg('a'), msg('b')]);
    expect(parse('data: a\r', '\n', '\n')).toEqual([msg('a')]);
  });

  it('holds an unfinished line until it ends', () => {
    const p = new SseParser();
    expect(p.push('da')).toEqual([]);
    expect(p.push('ta: x')).toEqual([]);
    expect(p.push('y\n')).toEqual([]);
    expect(p.push('\n')).toEqual([msg('xy')]);
  });

  it('joins several data lines with LF, and dispatches empty data lines', () => {
    expect(parseBothWays('data: one\ndata: two\ndata\ndata:\n\n')).toEqual([msg('one\ntwo\n\n')]);
    expect(parseBothWays('data\n\n')).toEqual([msg('')]);
  });

  it('does not dispatch an event without data, and forgets its type', () => {
    expect(parseBothWays('event: ping\n\ndata: x\n\n')).toEqual([msg('x')]);
    expect(parseBothWays('\n\n\n')).toEqual([]);
  });

  it('removes exactly one space after the colon', () => {
    expect(parseBothWays('data:  two\n\ndata:none\n\ndata: \n\n')).toEqual([msg(' two'), msg('none'), msg('')]);
    expect(parseBothWays('event:  spaced\ndata: x\n\n')).toEqual([msg('x', { event: ' spaced' })]);
    expect(parseBothWays('data:a: b\n\n')).toEqual([msg('a: b')]);
  });

  it('skips comments and unknown fields; a line with no colon is a field with an empty value', () => {
    expect(parseBothWays(': keep-alive\n:\ndata: x\nfoo: bar\nData: no\nevent\n\n')).toEqual([msg('x')]);
    expect(parseBothWays(': only a comment\n\n')).toEqual([]);
  });

  it('drops one leading byte order mark, only at the very start of the stream', () => {
    expect(parse('\uFEFFdata: a\n\n')).toEqual([msg('a')]);
    // An empty first chunk does not count as the start.
    expect(parse('', '\uFEFFdata: a\n\n')).toEqual([msg('a')]);
    // A BOM anywhere else is part of the line: this field is "\uFEFFdata", unknown.
    expect(parse('data: a\n\n', '\uFEFFdata: b\n\n')).toEqual([msg('a')]);
    expect(parse('\uFEFF\uFEFFdata: a\n\n')).toEqual([]);
    expect(parse('data: \uFEFFa\n\n')).toEqual([msg('\uFEFFa')]);
  });

  it('keeps the last event id for later events; a NUL in an id field ignores the field', () => {
    expect(parseBothWays('id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n')).toEqual([msg('a', { id: '1' }), msg('b', { id: '1' }), msg('c', { id: '2' })]);
    expect(parseBothWays('id: 5\n\ndata: a\n\n')).toEqual([msg('a', { id: '5' })]);
    expect(parseBothWays('id: 1\ndata: a\n\nid\ndata: b\n\n')).toEqual([msg('a', { id: '1' }), msg('b', { id: '' })]);
    expect(parseBothWays('id: 1\ndata: a\n\nid: x\u0000y\ndata: b\n\n')).toEqual([msg('a', { id: '1' }), msg('b', { id: '1' })]);
  });

  it('reads retry only when it is all ASCII digits, and keeps it', () => {
    expect(parseBothWays('retry: 250\ndata: a\n\ndata: b\n\n')).toEqual([msg('a', { retry: 250 }), msg('b', { retry: 250 })]);
    for (const bad of ['12a', 'a12', '', '-5', '1.5', ' 7']) {
      expect(parseBothWays(`retry: 100\ndata: a\n\nretry: ${bad}\ndata: b\n\n`), bad).toEqual([msg('a', { retry: 100 }), msg('b', { retry: 100 })]);
    }
    expect(parseBothWays('retry: 0\ndata: a\n\n')).toEqual([msg('a', { retry: 0 })]);
  });

  it('discards a trailing event that never got its blank line', () => {
    const p = new SseParser();
    expect(p.push('data: a\n\ndata: unfinished\n')).toEqual([msg('a')]);
    expect(p.push('')).toEqual([]);
  });
});
