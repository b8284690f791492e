import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSuite, suitePath } from '../../bench/lib/prompts.js';
import { routingSuites } from '../../bench/lib/routing-suites.js';
import { SpecrouteError } from '../../src/errors/registry.js';
import { parseExpected, satisfies, type Expected } from '../../src/routing/expected.js';
import { scratchDir } from '../helpers/models.js';

/** The error `parseExpected` throws for `value`. */
function rejection(value: unknown): SpecrouteError {
  try {
    parseExpected(value);
  } catch (error) {
    expect(error).toBeInstanceOf(SpecrouteError);
    return error as SpecrouteError;
  }
  throw new Error(`${JSON.stringify(value)} was accepted`);
}

describe('expected: checkable answers', () => {
  it('a string is satisfied when the output contains it, case-sensitively', () => {
    expect(satisfies(' Max went to the park.', 'Max')).toBe(true);
    expect(satisfies(' max went to the park.', 'Max')).toBe(false);
    expect(satisfies('', 'Max')).toBe(false);
  });

  it('a regex is satisfied when it matches somewhere; ^ anchors it to the start of the output', () => {
    expect(satisfies(' Max went', { regex: '^\\s*Max\\b' })).toBe(true);
    expect(satisfies(' Maxwell went', { regex: '^\\s*Max\\b' })).toBe(false);
    expect(satisfies(' and Max went', { regex: '^\\s*Max\\b' })).toBe(false);
    expect(satisfies(' and Max went', { regex: '\\bMax\\b' })).toBe(true);
    // Without flags: case-sensitive, and `.` stops at a line end.
    expect(satisfies('MAX', { regex: 'Max' })).toBe(false);
    expect(satisfies('I want to play"', { regex: '^[^"\\n]*"' })).toBe(true);
    expect(satisfies('I want to play\nMom said, "', { regex: '^[^"\\n]*"' })).toBe(false);
  });

  it('a regex is judged the same on every call (no state carried between outputs)', () => {
    const expected: Expected = { regex: 'ball' };
    expect([satisfies('a ball', expected), satisfies('a ball', expected), satisfies('the ball', expected)]).toEqual([true, true, true]);
  });

  it('any is satisfied by any one of its entries, nested or not', () => {
    const expected = parseExpected({ any: ['small', { regex: '^\\s*tiny\\b' }, { any: ['little'] }] });
    expect(satisfies(' very small', expected)).toBe(true);
    expect(satisfies(' tiny mouse', expected)).toBe(true);
    expect(satisfies(' a little mouse', expected)).toBe(true);
    expect(satisfies(' big mouse', expected)).toBe(false);
  });

  it('parses the three forms into fresh values holding only their fields', () => {
    expect(parseExpected('Tom')).toBe('Tom');
    expect(parseExpected({ regex: 'a+' })).toEqual({ regex: 'a+' });
    expect(parseExpected({ any: ['a', { regex: 'b' }] })).toEqual({ any: ['a', { regex: 'b' }] });
  });

  it('names the path at fault in the message and in param', () => {
    const bad = rejection({ any: ['ok', { regex: '(' }] });
    expect(bad.code).toBe('invalid_argument');
    expect(bad.param).toBe('expected.any[1].regex');
    expect(bad.message).toMatch(/^expected\.any\[1\]\.regex: not a valid regular expression: .*Unterminated group/);

    expect(rejection(42).message).toBe('expected: expected a string, {"regex": "..."} or {"any": [...]}, got a number');
    expect(rejection(null).message).toMatch(/^expected: .*got null$/);
    expect(rejection(['a']).message).toMatch(/^expected: .*got an array$/);
    expect(rejection('').message).toBe('expected: an empty string; every output contains it');
    expect(rejection({ regex: 7 }).message).toBe('expected.regex: expected a string, got a number');
    expect(rejection({ regex: '' }).message).toBe('expected.regex: an empty regular expression; it matches every output');
    expect(rejection({ any: [] }).message).toBe('expected.any: an empty list; nothing could satisfy it');
    expect(rejection({ any: 'a' }).message).toBe('expected.any: expected an array, got a string');
    expect(rejection({ any: ['a', { any: [{}] }] }).message).toBe('expected.any[1].any[0]: expected exactly one of "regex" or "any", got neither');
    expect(rejection({ regex: 'a', any: ['b'] }).message).toBe('expected: expected exactly one of "regex" or "any", got both');
    expect(rejection({ regexp: 'a' }).message).toBe('expected: unknown key "regexp"; expected exactly one of "regex" or "any"');
  });

  it('refuses more than eight levels of any', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 8; i++) deep = { any: [deep] };
    expect(() => parseExpected(deep)).not.toThrow();
    expect(rejection({ any: [deep] }).message).toMatch(/"any" nested more than 8 levels deep$/);
  });

  it('takes the path to report from the caller', () => {
    expect(() => parseExpected({ regex: '[' }, 'rows[3].expected')).toThrow(/^rows\[3\]\.expected\.regex: not a valid regular expression/);
  });
});

describe('prompt suites with checkable answers', () => {
  function jsonl(lines: string[]): string {
    const file = join(scratchDir('suite-'), 's.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  }

  it('reads an optional expected field on text and chat lines, and names a bad one by line and path', async () => {
    const suite = await loadSuite(
      jsonl([
        '{"id":"a","prompt":"Lily had a dog named Max. Every day, Lily and","expected":{"regex":"^\\\\s*Max\\\\b"}}',
        '{"id":"b","messages":[{"role":"user","content":"hi"}],"expected":{"any":["Hi","Hello"]}}',
        '{"id":"c","prompt":"no answer here"}',
      ]),
    );
    expect(suite).toEqual([
      { id: 'a', prompt: 'Lily had a dog named Max. Every day, Lily and', expected: { regex: '^\\s*Max\\b' } },
      { id: 'b', messages: [{ role: 'user', content: 'hi' }], expected: { any: ['Hi', 'Hello'] } },
      { id: 'c', prompt: 'no answer here' },
    ]);
    await expect(loadSuite(jsonl(['{"id":"a","prompt":"x"}', '{"id":"b","prompt":"x","expected":{"any":["ok",{"regex":"("}]}}']))).rejects.toThrow(
      /s\.jsonl:2: expected\.any\[1\]\.regex: not a valid regular expression/,
    );
  });

  it('ships the routing suites exactly as make-routing-suites.ts writes them (regenerate, never hand-edit)', () => {
    for (const [name, body] of Object.entries(routingSuites())) expect(readFileSync(suitePath(name), 'utf8'), name).toBe(body);
  });

  it('ships the two routing suites: at least 300 prompts each, every checkable line with a valid answer', async () => {
    const agreement = await loadSuite(suitePath('routing-agreement'));
    const checkable = await loadSuite(suitePath('routing-checkable'));
    expect(agreement.length).toBeGreaterThanOrEqual(300);
    expect(checkable.length).toBeGreaterThanOrEqual(300);
    expect(agreement.every((p) => p.expected === undefined)).toBe(true);
    expect(checkable.every((p) => p.expected !== undefined)).toBe(true);
    for (const suite of [agreement, checkable]) {
      expect(new Set(suite.map((p) => p.id)).size).toBe(suite.length);
      expect(new Set(suite.map((p) => JSON.stringify('prompt' in p ? p.prompt : p.messages))).size).toBe(suite.length);
      // Ids are <kind>-<nnn>: several kinds, each with several prompts.
      const kinds = new Map<string, number>();
      for (const p of suite) kinds.set(p.id.replace(/-\d{3}$/, ''), (kinds.get(p.id.replace(/-\d{3}$/, '')) ?? 0) + 1);
      expect(kinds.size).toBeGreaterThanOrEqual(10);
      expect(Math.min(...kinds.values())).toBeGreaterThanOrEqual(10);
    }
  });
});
