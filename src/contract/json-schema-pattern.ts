/**
 * Whether a JSON Schema `pattern` is one the grammar engine (XGrammar) can enforce as JSON. It must be a valid
 * ECMA-262 regular expression (with unicode semantics, as JSON Schema recommends), and also:
 * - use none of the constructs XGrammar's regex parser refuses (it aborts on them): lookaround, backreferences,
 *   word boundaries `\b` `\B`, unicode property escapes `\p{…}`;
 * - anchor only at the ends: XGrammar drops a `^` or `$` found elsewhere (`^a|^b$` then matches nothing);
 * - never match a character JSON must escape in a string (`"`, `\`, U+0000–U+001F): XGrammar writes the matched
 *   characters between the quotes as they are, so `.`, `\s`, `\S`, `\W`, `\D` or a negated class that does not
 *   exclude them would let the model write invalid JSON;
 * - expand to at most `MAX_REPETITIONS` repetitions (counts multiply when nested): XGrammar unrolls `{n,m}`, and
 *   `((a{100}){100}){100}` takes it seconds.
 */

/** Repetitions a pattern may expand to, summed along a sequence and multiplied through nesting. */
export const MAX_REPETITIONS = 10_000;

/** The characters JSON must escape inside a string. */
const MUST_ESCAPE: readonly number[] = [...Array.from({ length: 0x20 }, (_, i) => i), 0x22, 0x5c];

/** A set of code points, asked only about `MUST_ESCAPE` (so the classes below are exact only there). */
type CharSet = (cp: number) => boolean;

const DIGIT: CharSet = (c) => c >= 0x30 && c <= 0x39;
const WORD: CharSet = (c) => DIGIT(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
const SPACE: CharSet = (c) => (c >= 0x09 && c <= 0x0d) || c === 0x20;
const CLASS_ESCAPES: Readonly<Record<string, CharSet>> = {
  d: DIGIT,
  D: (c) => !DIGIT(c),
  w: WORD,
  W: (c) => !WORD(c),
  s: SPACE,
  S: (c) => !SPACE(c),
};
const CONTROL_ESCAPES: Readonly<Record<string, number>> = { t: 0x09, n: 0x0a, v: 0x0b, f: 0x0c, r: 0x0d, '0': 0x00 };

class PatternProblem extends Error {}

function fail(reason: string): never {
  throw new PatternProblem(reason);
}

/** What is wrong with `pattern` for the grammar (a phrase that follows the pattern's path), or undefined. */
export function patternProblem(pattern: string): string | undefined {
  try {
    new RegExp(pattern, 'u');
  } catch (error) {
    return `is not a valid regular expression: ${(error as Error).message}`;
  }
  try {
    const scan = new Scanner([...pattern]);
    if (scan.sequence(false) > MAX_REPETITIONS) fail(`repeats too much: its repetition counts add up to more than ${MAX_REPETITIONS}`);
    return undefined;
  } catch (error) {
    if (error instanceof PatternProblem) return error.message;
    throw error;
  }
}

/** A recursive descent over a pattern that `RegExp` has accepted, so only what the grammar needs is checked. */
class Scanner {
  private i = 0;

  constructor(private readonly cps: readonly string[]) {}

  /** Alternatives up to `)` or the end; returns the repetitions they expand to. */
  sequence(inGroup: boolean): number {
    let size = 0;
    while (this.i < this.cps.length) {
      const c = this.cps[this.i]!;
      if (c === ')' && inGroup) return Math.max(size, 1);
      if (c === '|') {
        this.i++;
        continue;
      }
      if (c === '^' || c === '$') {
        if ((c === '^' && this.i !== 0) || (c === '$' && this.i !== this.cps.length - 1)) {
          fail(`uses '${c}' inside the pattern: the grammar engine supports anchors only at its start and end`);
        }
        this.i++;
        continue;
      }
      const inner = this.atom();
      size += inner * this.quantifier();
      if (size > MAX_REPETITIONS) return size;
    }
    return Math.max(size, 1);
  }

  /** One atom (a group, a class, an escape, a character); returns the repetitions inside it. */
  private atom(): number {
    const c = this.cps[this.i++]!;
    if (c === '(') {
      const rest = this.cps.slice(this.i, this.i + 3).join('');
      if (rest.startsWith('?=') || rest.startsWith('?!') || rest.startsWith('?<=') || rest.startsWith('?<!')) {
        fail('uses a lookaround, which the grammar engine does not support');
      }
      if (rest.startsWith('?:')) this.i += 2;
      else if (rest.startsWith('?<')) this.i = this.cps.indexOf('>', this.i) + 1;
      const inner = this.sequence(true);
      this.i++; // ')'
      return inner;
    }
    if (c === '[') {
      this.check(this.charClass());
    } else if (c === '\\') {
      this.check(this.escape(false).set);
    } else if (c === '.') {
      this.check(() => true);
    } else {
      this.check((cp) => cp === c.codePointAt(0));
    }
    return 1;
  }

  /** A class after its `[`, up to and including its `]`. */
  private charClass(): CharSet {
    const negated = this.cps[this.i] === '^';
    if (negated) this.i++;
    const members: CharSet[] = [];
    while (this.cps[this.i] !== ']') {
      const from = this.classAtom();
      if (this.cps[this.i] === '-' && this.cps[this.i + 1] !== ']' && from.cp !== undefined) {
        this.i++;
        const to = this.classAtom();
        const [lo, hi] = [from.cp, to.cp ?? from.cp];
        members.push((cp) => cp >= lo && cp <= hi);
      } else {
        members.push(from.set);
      }
    }
    this.i++; // ']'
    const inClass: CharSet = (cp) => members.some((member) => member(cp));
    return negated ? (cp) => !inClass(cp) : inClass;
  }

  private classAtom(): { set: CharSet; cp?: number } {
    const c = this.cps[this.i++]!;
    if (c === '\\') return this.escape(true);
    const cp = c.codePointAt(0)!;
    return { set: (x) => x === cp, cp };
  }

  /** An escape after its `\`: a character (with its code point) or a class. */
  private escape(inClass: boolean): { set: CharSet; cp?: number } {
    const c = this.cps[this.i++]!;
    const single = (cp: number): { set: CharSet; cp: number } => ({ set: (x) => x === cp, cp });
    const classEscape = CLASS_ESCAPES[c];
    if (classEscape) return { set: classEscape };
    if (c in CONTROL_ESCAPES) return single(CONTROL_ESCAPES[c]!);
    if (c === 'b' && inClass) return single(0x08);
    if (c === 'b' || c === 'B') fail(`uses the word boundary \\${c}, which the grammar engine does not support`);
    if (c === 'p' || c === 'P') fail(`uses the unicode property escape \\${c}{…}, which the grammar engine does not support`);
    if (c === 'k' || /[1-9]/.test(c)) fail('uses a backreference, which the grammar engine does not support');
    if (c === 'c') return single(this.cps[this.i++]!.codePointAt(0)! % 32);
    if (c === 'x') return single(this.hex(2));
    if (c === 'u') {
      if (this.cps[this.i] !== '{') return single(this.hex(4));
      this.i++;
      const end = this.cps.indexOf('}', this.i);
      const cp = parseInt(this.cps.slice(this.i, end).join(''), 16);
      this.i = end + 1;
      return single(cp);
    }
    return single(c.codePointAt(0)!); // an escaped syntax character: itself
  }

  private hex(digits: number): number {
    const cp = parseInt(this.cps.slice(this.i, this.i + digits).join(''), 16);
    this.i += digits;
    return cp;
  }

  /** A quantifier after an atom, if any; returns how many times it may unroll the atom (1 for `*` `+` `?`). */
  private quantifier(): number {
    const c = this.cps[this.i];
    let count = 1;
    if (c === '*' || c === '+' || c === '?') {
      this.i++;
    } else if (c === '{') {
      const end = this.cps.indexOf('}', this.i);
      const bounds = this.cps.slice(this.i + 1, end).join('').split(',');
      count = Number(bounds[1] || bounds[0]);
      this.i = end + 1;
    } else {
      return 1;
    }
    if (this.cps[this.i] === '?') this.i++; // lazy
    return Math.max(count, 1);
  }

  /** Fails when `set` holds a character JSON must escape. */
  private check(set: CharSet): void {
    const escaped = MUST_ESCAPE.find((cp) => set(cp));
    if (escaped === undefined) return;
    const which = escaped === 0x22 ? 'a double quote' : escaped === 0x5c ? 'a backslash' : 'a control character';
    fail(
      `can match ${which}, which the grammar engine would write unescaped (invalid JSON); ` +
        'exclude \\x00-\\x1f, " and \\\\ from its classes (e.g. [^"\\\\\\x00-\\x1f] instead of . or \\S)',
    );
  }
}
