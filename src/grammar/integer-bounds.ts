/**
 * Integer bounds that XGrammar 0.1.27 enforces exactly. Its range grammar is wrong for some bounds (`minimum: 5`
 * lets 1–4 through, `maximum: 120` lets 121–129; fixed upstream after 0.1.27, mlc-ai/xgrammar#669), and right for
 * bounds aligned on powers of ten (`minimum` 0, 1, 10, 100…; `maximum` −1, 9, 99, 999…; checked exhaustively over
 * −1200…1200 in test/modelDependent/stories260K/json-schema-subset-xgrammar.test.ts). So before a schema is compiled
 * every bounded `integer` is rewritten: a range of at most `MAX_SPELLED` values becomes the `enum` of its values;
 * a wider one keeps an aligned core and spells out the unaligned ends, `{anyOf: [enum, core, enum]}`. A range
 * whose ends cannot be spelled within that is left to XGrammar (docs/ARCHITECTURE.md#structured-output).
 */

/** Most integers one spelled-out part may hold. */
export const MAX_SPELLED = 1000;

type Schema = Record<string, unknown>;

/** `schema` with every bounded integer rewritten to a form the grammar enforces exactly. Returns a new object. */
export function exactIntegerBounds(schema: unknown): unknown {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return schema;
  const node = schema as Schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties' || key === '$defs' || key === 'definitions') out[key] = mapValues(value);
    else if (key === 'items' || key === 'additionalProperties') out[key] = exactIntegerBounds(value);
    else if (key === 'anyOf' || key === 'prefixItems') out[key] = Array.isArray(value) ? value.map(exactIntegerBounds) : value;
    else out[key] = value;
  }
  return out['type'] === 'integer' && (typeof out['minimum'] === 'number' || typeof out['maximum'] === 'number') ? integerRange(out) : out;
}

function mapValues(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, exactIntegerBounds(v)]));
}

/** The integers from `lo` to `hi`, or undefined when there are more than `MAX_SPELLED`. */
function spelled(lo: number, hi: number): Schema | undefined {
  if (hi - lo + 1 > MAX_SPELLED) return undefined;
  return { enum: Array.from({ length: hi - lo + 1 }, (_, i) => lo + i) };
}

/** 10^⌊log10 n⌋ for n ≥ 1. */
function powerOfTenBelow(n: number): number {
  let p = 1;
  while (p * 10 <= n) p *= 10;
  return p;
}

function integerRange(node: Schema): Schema {
  let lo = typeof node['minimum'] === 'number' ? node['minimum'] : -Infinity;
  let hi = typeof node['maximum'] === 'number' ? node['maximum'] : Infinity;
  const whole = Number.isFinite(lo) && Number.isFinite(hi) ? spelled(lo, hi) : undefined;
  if (whole) return whole;
  const parts: Schema[] = [];
  // The low end, up to the next aligned minimum: 0 below zero, a power of ten above.
  if (Number.isFinite(lo) && lo < 0) {
    const part = spelled(lo, Math.min(hi, -1));
    if (!part) return node;
    parts.push(part);
    lo = 0;
  } else if (lo > 1 && powerOfTenBelow(lo) !== lo) {
    const next = powerOfTenBelow(lo) * 10;
    const part = spelled(lo, Math.min(hi, next - 1));
    if (!part) return node;
    parts.push(part);
    lo = next;
  }
  // The high end, down to the aligned maximum below it (one less than a power of ten).
  if (hi >= 0 && lo <= hi && Number.isFinite(hi) && powerOfTenBelow(hi + 1) !== hi + 1) {
    const from = Math.max(lo, powerOfTenBelow(hi));
    const part = spelled(from, hi);
    if (!part) return node;
    parts.push(part);
    hi = from - 1;
  } else if (hi < -1) {
    return node; // a negative maximum with no minimum: not aligned, and not spelled out
  }
  const core: Schema | undefined =
    lo <= hi ? { type: 'integer', ...(Number.isFinite(lo) ? { minimum: lo } : {}), ...(Number.isFinite(hi) ? { maximum: hi } : {}) } : undefined;
  const branches = core ? [...parts, core] : parts;
  return branches.length === 1 ? branches[0]! : { anyOf: branches };
}
