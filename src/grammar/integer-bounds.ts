/**
 * Integer bounds, enforced exactly. XGrammar 0.1.27's range grammar is wrong for some bounds (`minimum: 5` lets
 * 1–4 through, `maximum: 120` lets 121–129; fixed upstream after 0.1.27, mlc-ai/xgrammar#669), and spelling a
 * range out as an `enum` meets another of its defects (an enum holding `25` and `250` takes `251`). So before a
 * schema is compiled, each bounded `integer` is replaced by a placeholder `const`, XGrammar writes the rest of
 * the grammar, and each placeholder's rule is replaced by a digit grammar written here
 * (docs/ARCHITECTURE.md#structured-output). `test/standalone/grammar.test.ts` checks the result exhaustively.
 */

type Schema = Record<string, unknown>;

/** A bounded integer's or number's place in a schema: the `const` that stands for it, and its range. */
export interface IntegerRange {
  readonly placeholder: string;
  readonly type: 'integer' | 'number';
  readonly min: number;
  readonly max: number;
}

/**
 * `schema` with every bounded integer replaced by `{const: placeholder}` (placeholders are `prefix` + a number),
 * and the ranges they stand for. Subschemas are found where the supported subset allows them.
 */
export function placeIntegerRanges(schema: unknown, prefix: string): { schema: unknown; ranges: IntegerRange[] } {
  const ranges: IntegerRange[] = [];
  const walk = (node: unknown): unknown => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return node;
    const out: Schema = {};
    for (const [key, value] of Object.entries(node as Schema)) {
      if (key === 'properties' || key === '$defs' || key === 'definitions') out[key] = mapValues(value, walk);
      else if (key === 'items' || key === 'additionalProperties') out[key] = walk(value);
      else if (key === 'anyOf' || key === 'prefixItems') out[key] = Array.isArray(value) ? value.map(walk) : value;
      else out[key] = value;
    }
    const min = typeof out['minimum'] === 'number' ? out['minimum'] : -Infinity;
    const max = typeof out['maximum'] === 'number' ? out['maximum'] : Infinity;
    const types = ([] as unknown[]).concat(out['type']);
    const numeric = types.filter((t): t is 'integer' | 'number' => t === 'integer' || t === 'number');
    if (numeric.length !== 1 || (min === -Infinity && max === Infinity)) return out;
    const placeholder = `${prefix}${ranges.length}`;
    ranges.push({ placeholder, type: numeric[0]!, min, max });
    const others = types.filter((t) => t !== numeric[0]);
    if (others.length === 0) return { const: placeholder };
    // A type list such as ["integer", "null"]: the bounded number, or the other types with the node's other keywords.
    const { minimum: _min, maximum: _max, ...rest } = out;
    return { anyOf: [{ const: placeholder }, { ...rest, type: others.length === 1 ? others[0] : others }] };
  };
  return { schema: walk(schema), ranges };
}

function mapValues(value: unknown, walk: (node: unknown) => unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v)]));
}

/**
 * An EBNF expression (XGrammar's syntax) matching exactly the JSON integers from `min` to `max` (either may be
 * infinite): no leading zeros, no `-0`. Empty ranges are refused at admission (`minimum` > `maximum`).
 */
export function integerRangeEbnf(min: number, max: number): string {
  const alternatives: string[] = [];
  // Negative numbers: "-" then the magnitudes from max(1, -max) to -min.
  if (min < 0) alternatives.push(...naturalRange(Math.max(1, -max), -min).map((a) => `"-" ${a}`));
  if (max >= 0) alternatives.push(...naturalRange(Math.max(0, min), max));
  return alternatives.map((a) => `(${a})`).join(' | ');
}

/** Most decimals a bounded number is written with (a double holds about 16 significant digits). */
export const FRACTION_DIGITS = 12;

/**
 * An EBNF expression matching JSON numbers from `min` to `max` (whole numbers, either may be infinite), written
 * without an exponent and with at most `FRACTION_DIGITS` decimals: an integer part in range with any fraction, or
 * the bound itself with a fraction of zeros.
 */
export function numberRangeEbnf(min: number, max: number): string {
  // At most FRACTION_DIGITS decimals: a small model would otherwise write zeros to max_tokens.
  const fraction = `("." [0-9]${' [0-9]?'.repeat(FRACTION_DIGITS - 1)})?`;
  const zeros = `("." "0"${' "0"?'.repeat(FRACTION_DIGITS - 1)})?`;
  const alternatives: string[] = [];
  const below = (lo: number, hi: number): string[] => naturalRange(lo, hi).map((a) => `(${a}) ${fraction}`);
  if (min < 0) {
    // -m with magnitude m in [max(0, -max), -min]: whole parts below -min take any fraction, -min only zeros.
    const lo = Math.max(0, -max);
    alternatives.push(...below(lo, -min - 1).map((a) => `"-" ${a}`));
    if (Number.isFinite(min) && -min >= lo) alternatives.push(`"-" "${-min}" ${zeros}`);
  }
  if (max >= 0) {
    const lo = Math.max(0, min);
    alternatives.push(...below(lo, max - 1));
    if (Number.isFinite(max)) alternatives.push(`"${max}" ${zeros}`);
  }
  return alternatives.map((a) => `(${a})`).join(' | ');
}

/** Alternatives matching the natural numbers from `lo` to `hi` (`hi` may be Infinity), written without leading zeros. */
function naturalRange(lo: number, hi: number): string[] {
  if (lo > hi) return [];
  const out: string[] = [];
  let digits = String(lo).length;
  for (let from = lo; from <= hi; digits++) {
    const top = 10 ** digits - 1;
    if (hi === Infinity && from === 10 ** (digits - 1) && digits > 1) {
      // Every number of this many digits or more.
      out.push(`[1-9] ${'[0-9] '.repeat(digits - 1)}[0-9]*`);
      break;
    }
    out.push(...sameLength(String(from), String(Math.min(hi, top))));
    from = top + 1;
  }
  return out;
}

/** Alternatives matching the numbers from `x` to `y`, both written with the same number of digits. */
function sameLength(x: string, y: string): string[] {
  if (x === y) return [`"${x}"`];
  if (x.length === 1) return [`[${x}-${y}]`];
  const [x0, y0] = [x[0]!, y[0]!];
  const [xs, ys] = [x.slice(1), y.slice(1)];
  if (x0 === y0) return sameLength(xs, ys).map((rest) => `"${x0}" ${paren(rest)}`);
  const out: string[] = [];
  const any = '[0-9] '.repeat(xs.length).trim();
  // The first leading digit with the rest from xs up, unless xs is all zeros (then it joins the middle).
  let first = Number(x0);
  if (!/^0+$/.test(xs)) {
    out.push(...sameLength(xs, '9'.repeat(xs.length)).map((rest) => `"${x0}" ${paren(rest)}`));
    first++;
  }
  // The last leading digit with the rest up to ys, unless ys is all nines (then it joins the middle).
  let last = Number(y0);
  const tail: string[] = [];
  if (!/^9+$/.test(ys)) {
    tail.push(...sameLength('0'.repeat(ys.length), ys).map((rest) => `"${y0}" ${paren(rest)}`));
    last--;
  }
  if (first <= last) out.push(`${first === last ? `"${first}"` : `[${first}-${last}]`} ${any}`);
  return [...out, ...tail];
}

function paren(expression: string): string {
  return expression.includes(' ') || expression.includes('|') ? `(${expression})` : expression;
}
