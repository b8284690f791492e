/**
 * A checkable answer for a prompt of a routing suite (query-level routing): what a labelled prompt's `expected`
 * field says a good output must contain. Three forms, nestable through `any`:
 * - a string: satisfied when the output contains it (case-sensitive);
 * - `{"regex": "..."}`: a JavaScript regular expression (no flags), satisfied when it matches somewhere in the
 *   output (anchor it with `^` to check how the output starts);
 * - `{"any": [expected, ...]}`: satisfied when any one of its entries is.
 * A tier's quality on such a prompt is 1 when its output satisfies `expected`, else 0.
 */
import { invalidArgument } from '../errors/registry.js';

/** A checkable answer: a substring, a regular expression or a choice of answers. */
export type Expected = string | ExpectedRegex | ExpectedAny;

/** Satisfied when the regular expression (JavaScript syntax, compiled without flags) matches the output. */
export interface ExpectedRegex {
  readonly regex: string;
}

/** Satisfied when at least one entry is. */
export interface ExpectedAny {
  readonly any: readonly Expected[];
}

/** Most `any` levels nested in one another; more is surely a mistake (or hostile input). */
const MAX_DEPTH = 8;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * Validates a parsed JSON value as an `Expected` and returns it (a fresh copy holding only the known fields).
 * Throws `SpecrouteError('invalid_argument')` whose `param` and message name the path at fault, for example
 * `expected.any[1].regex: not a valid regular expression: …`. `path` names the value itself. Defaults to `expected`.
 */
export function parseExpected(value: unknown, path = 'expected'): Expected {
  return parseAt(value, path, 0);
}

/** `depth`: how many `any` lists enclose `value`. */
function parseAt(value: unknown, path: string, depth: number): Expected {
  const fail = (message: string, at = path): never => {
    throw invalidArgument(at, `${at}: ${message}`);
  };
  if (typeof value === 'string') {
    if (value === '') fail('an empty string; every output contains it');
    return value;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(`expected a string, {"regex": "..."} or {"any": [...]}, got ${describe(value)}`);
  }
  const keys = Object.keys(value);
  const unknown = keys.filter((k) => k !== 'regex' && k !== 'any');
  if (unknown.length > 0) fail(`unknown key ${JSON.stringify(unknown[0])}; expected exactly one of "regex" or "any"`);
  if (keys.length !== 1) fail(`expected exactly one of "regex" or "any", got ${keys.length === 0 ? 'neither' : 'both'}`);
  const record = value as { regex?: unknown; any?: unknown };
  if ('regex' in record) {
    const at = `${path}.regex`;
    if (typeof record.regex !== 'string') return fail(`expected a string, got ${describe(record.regex)}`, at);
    if (record.regex === '') fail('an empty regular expression; it matches every output', at);
    try {
      new RegExp(record.regex);
    } catch (error) {
      fail(`not a valid regular expression: ${(error as Error).message}`, at);
    }
    return { regex: record.regex };
  }
  const at = `${path}.any`;
  if (!Array.isArray(record.any)) return fail(`expected an array, got ${describe(record.any)}`, at);
  if (record.any.length === 0) fail('an empty list; nothing could satisfy it', at);
  if (depth >= MAX_DEPTH) fail(`"any" nested more than ${MAX_DEPTH} levels deep`, at);
  return { any: record.any.map((entry: unknown, i) => parseAt(entry, `${at}[${i}]`, depth + 1)) };
}

/** Whether `output` (the generated text, without the prompt) satisfies `expected`. */
export function satisfies(output: string, expected: Expected): boolean {
  if (typeof expected === 'string') return output.includes(expected);
  if ('regex' in expected) return new RegExp(expected.regex).test(output);
  return expected.any.some((entry) => satisfies(output, entry));
}
