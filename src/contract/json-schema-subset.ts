/**
 * The JSON Schema subset `response_format: json_schema` accepts: what the grammar engine, XGrammar 0.1.27
 * (`@mlc-ai/web-xgrammar`, in the layout `GrammarCompiler` uses: compact, strict mode), enforces. Found by compiling
 * schemas and matching values against the grammar (test/modelDependent/stories260K/json-schema-subset-xgrammar.test.ts):
 * - Enforced: `type` (also type arrays), `enum`, `const`, `properties` (written in the order given), `required`,
 *   `additionalProperties` (absent is false in strict mode), `items`, `prefixItems` (every prefix item written),
 *   `minItems`/`maxItems`, `minLength`/`maxLength`, `pattern` (matched whole), `format` (OpenAI's nine), `anyOf`,
 *   local `$ref` (also recursive), `true` and `{}` (any value).
 * - Ignored, so refused: `oneOf` (compiled as anyOf), `allOf` (partly), `not`, `if`/`then`/`else`, `uniqueItems`,
 *   `contains`, `multipleOf`, `dependentRequired`, `exclusiveMinimum` (5 passes exclusiveMinimum 5), remote `$ref`;
 *   keywords beside `anyOf` or `$ref`; `minLength`/`maxLength` beside `pattern` or `format`, `format` beside
 *   `pattern`; a keyword on a schema whose `type` does not name its type (`{minimum: 3}` takes anything). `type`
 *   beside `enum`/`const` is ignored too (`{type: integer, const: "a"}` writes "a"): their values must be of it.
 * - Wrong, so written by us: bounds on `number` (`maximum: 1.5` lets `1x5` through: invalid JSON) and on `integer`
 *   (below); bounds must be whole numbers, on a schema of the one type `integer` or `number`. Refused: patterns that can match
 *   `"`, `\` or control characters (written unescaped), `maxItems` without `items`.
 * - Fatal to the engine (a WebAssembly abort), so refused: `false` as a value's schema, `items` as an array, an
 *   unresolved or escaped `$ref`, `minItems` without `items` or beyond a closed tuple, property names with `"`, `\`
 *   or control characters, non-integer or unsafe bounds on integers, and the regex features json-schema-pattern.ts
 *   lists.
 * - Integer `minimum`/`maximum`: 0.1.27 gets some ranges wrong both ways (`minimum: 5` lets 1–4 through,
 *   `maximum: 120` 121–129; fixed upstream after 0.1.27, mlc-ai/xgrammar#669, with no newer web build on npm), so
 *   the grammar compiler writes the digits of every bounded integer itself (grammar/integer-bounds.ts).
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { invalidArgument } from '../errors/registry.js';
import { patternProblem } from './json-schema-pattern.js';

/** Schema levels, the root being the first. */
export const MAX_SCHEMA_DEPTH = 32;
/** Schemas (the root and every subschema) in one response_format schema. */
export const MAX_SCHEMA_NODES = 1000;
/** `enum` values (a `const` counts one) in one schema: XGrammar takes seconds over tens of thousands. */
export const MAX_SCHEMA_VALUES = 1000;
/** Characters of the text the grammar spells out (property and $defs names, enum and const values as JSON). */
export const MAX_SCHEMA_LITERAL_CHARS = 32_000;

/** Keywords with no effect on the output, allowed anywhere. */
const ANNOTATIONS = new Set(['title', 'description', '$comment', 'examples', 'default', '$schema', 'deprecated', 'readOnly', 'writeOnly']);
/** Keywords allowed only on the root schema. */
const ROOT_ONLY = new Set(['$id', '$defs', 'definitions']);
/** The constraints the grammar enforces, each with the type it applies to (undefined: any). */
const CONSTRAINTS: ReadonlyMap<string, string | undefined> = new Map([
  ['type', undefined],
  ['enum', undefined],
  ['const', undefined],
  ['anyOf', undefined],
  ['$ref', undefined],
  ['minimum', undefined], // on one type, integer or number: checkNode
  ['maximum', undefined],
  ['minLength', 'string'],
  ['maxLength', 'string'],
  ['pattern', 'string'],
  ['format', 'string'],
  ['items', 'array'],
  ['prefixItems', 'array'],
  ['minItems', 'array'],
  ['maxItems', 'array'],
  ['properties', 'object'],
  ['required', 'object'],
  ['additionalProperties', 'object'],
]);
/** What to say about a refused keyword, beyond that it is not supported. */
const HINTS: ReadonlyMap<string, string> = new Map([
  ['oneOf', 'use anyOf (the grammar cannot make branches exclusive)'],
  ['allOf', 'merge the branches into one schema'],
  ['exclusiveMinimum', 'use minimum (on an integer, exclusiveMinimum n is minimum n+1)'],
  ['exclusiveMaximum', 'use maximum (on an integer, exclusiveMaximum n is maximum n-1)'],
  ['nullable', 'use a type array such as ["string", "null"]'],
]);
/** The formats the grammar enforces (OpenAI's list for structured outputs). */
const FORMATS = new Set(['date-time', 'time', 'date', 'duration', 'email', 'hostname', 'ipv4', 'ipv6', 'uuid']);
/** Local references XGrammar resolves: a name under the root's `$defs` or `definitions` (it does not unescape `~` or `%`). */
const LOCAL_REF = /^#\/(\$defs|definitions)\/([^/~%]+)$/;
/** Property names XGrammar cannot write (it aborts, or allows no value). */
const UNWRITABLE_NAME = /["\\\u0000-\u001f]/;

type Schema = Record<string, unknown>;

interface Node {
  readonly schema: Schema;
  readonly path: string;
}

/** What the walk has counted so far, against the limits. */
interface Seen {
  nodes: number;
  values: number;
  chars: number;
}

/**
 * Throws invalid_argument naming the exact path inside the schema when `schema` is not valid JSON Schema or uses
 * anything outside the subset the grammar enforces. `param` is the wire path of the schema, e.g.
 * 'response_format.json_schema.schema'.
 */
export function checkJsonSchema(schema: unknown, param: string): void {
  if (!isObject(schema)) fail(param, 'must be a JSON Schema object');
  if (schema['type'] !== 'object') fail(`${param}.type`, 'must be "object": the root of a response_format schema is an object');
  const nodes: Node[] = [];
  collect(schema, param, 1, undefined, nodes, { nodes: 0, values: 0, chars: 0 });
  const validate = metaSchema();
  if (!validate(schema)) {
    const error = validate.errors?.[0];
    const path = pathOfPointer(param, schema, error?.instancePath ?? '');
    const allowed = error?.keyword === 'enum' ? ` (${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')})` : '';
    fail(path, `is not valid JSON Schema: ${error?.message ?? 'invalid'}${allowed}`);
  }
  for (const node of nodes) checkNode(node, schema);
}

/**
 * The walk: the limits, the keywords, the forms of subschemas; every object schema is added to `nodes` for
 * `checkNode`, which runs once the whole schema is known to be valid JSON Schema.
 */
function collect(schema: unknown, path: string, depth: number, slot: string | undefined, nodes: Node[], seen: Seen): void {
  if (typeof schema !== 'boolean' && !isObject(schema)) return; // not a schema: the meta-schema says what is wrong
  if (depth > MAX_SCHEMA_DEPTH) fail(path, `nests deeper than ${MAX_SCHEMA_DEPTH} schema levels`);
  if (++seen.nodes > MAX_SCHEMA_NODES) fail(path, `is past the limit of ${MAX_SCHEMA_NODES} subschemas in one schema`);
  if (schema === false && slot !== 'items' && slot !== 'additionalProperties') {
    fail(path, 'is the schema false, which no value matches (false is supported only as items or additionalProperties)');
  }
  if (typeof schema === 'boolean') return;
  for (const [keyword, value] of Object.entries(schema)) {
    const at = keyPath(path, keyword);
    if (!ANNOTATIONS.has(keyword) && !ROOT_ONLY.has(keyword) && !CONSTRAINTS.has(keyword)) {
      const hint = HINTS.get(keyword);
      fail(at, `uses the keyword '${keyword}', which is not supported in a response_format schema${hint ? `; ${hint}` : ''}`);
    }
    if (ROOT_ONLY.has(keyword) && depth > 1) fail(at, `uses '${keyword}', which is supported only at the root of the schema`);
    if (keyword === 'items' && Array.isArray(value)) fail(at, "uses 'items' as an array (a tuple), which is not supported; use prefixItems");
  }
  nodes.push({ schema, path });
  const values = [...(Array.isArray(schema['enum']) ? schema['enum'] : []), ...('const' in schema ? [schema['const']] : [])];
  seen.values += values.length;
  if (seen.values > MAX_SCHEMA_VALUES) {
    fail(keyPath(path, 'enum' in schema ? 'enum' : 'const'), `is past the limit of ${MAX_SCHEMA_VALUES} enum and const values in one schema`);
  }
  const names = ['properties', '$defs', 'definitions'].flatMap((keyword) => (isObject(schema[keyword]) ? Object.keys(schema[keyword]) : []));
  for (const literal of [...values, ...names]) seen.chars += JSON.stringify(literal).length;
  if (seen.chars > MAX_SCHEMA_LITERAL_CHARS) {
    fail(path, `is past the limit of ${MAX_SCHEMA_LITERAL_CHARS} characters of property names and enum or const values in one schema`);
  }
  const below = (value: unknown, at: string, slotName?: string): void => collect(value, at, depth + 1, slotName, nodes, seen);
  for (const keyword of ['properties', '$defs', 'definitions']) {
    const map = schema[keyword];
    if (isObject(map)) for (const [name, value] of Object.entries(map)) below(value, keyPath(keyPath(path, keyword), name));
  }
  for (const keyword of ['items', 'additionalProperties']) {
    if (keyword in schema) below(schema[keyword], keyPath(path, keyword), keyword);
  }
  for (const keyword of ['prefixItems', 'anyOf']) {
    const list = schema[keyword];
    if (Array.isArray(list)) list.forEach((value, i) => below(value, `${keyPath(path, keyword)}[${i}]`));
  }
}

/** The checks across keywords of one (valid) schema. */
function checkNode({ schema, path }: Node, root: Schema): void {
  const at = (keyword: string): string => keyPath(path, keyword);
  const has = (keyword: string): boolean => schema[keyword] !== undefined;
  const refuse = (keyword: string, reason: string): never => fail(at(keyword), reason);
  const types = schema['type'] === undefined ? undefined : ([] as string[]).concat(schema['type'] as string | string[]);

  // The grammar enforces only one of these, and ignores the keywords beside it (but `type` beside a value list).
  const exclusive = ['$ref', 'anyOf', 'const', 'enum'].find(has);
  for (const keyword of exclusive ? Object.keys(schema) : []) {
    const typeOfValues = keyword === 'type' && (exclusive === 'const' || exclusive === 'enum');
    const beside = keyword === exclusive || ANNOTATIONS.has(keyword) || ROOT_ONLY.has(keyword) || typeOfValues;
    if (!beside) refuse(keyword, `cannot be combined with '${exclusive}': the grammar enforces only the ${exclusive}`);
  }
  // Bounds get a digit grammar of their own (grammar/integer-bounds.ts), written for one numeric type.
  for (const bound of ['minimum', 'maximum'].filter(has)) {
    const numeric = (types ?? []).filter((t) => t === 'integer' || t === 'number');
    if (numeric.length !== 1) refuse(bound, 'applies only where type names one of "integer" or "number" (not both)');
  }
  for (const [keyword, type] of CONSTRAINTS) {
    if (has(keyword) && type !== undefined && !types?.includes(type)) {
      refuse(keyword, `applies only where type includes "${type}": name the type, or the grammar does not enforce '${keyword}'`);
    }
  }

  if (has('enum')) {
    const values = schema['enum'] as unknown[];
    if (values.length === 0) refuse('enum', 'must list at least one value');
    values.forEach((value, i) => {
      if (types && !matchesType(value, types)) fail(`${at('enum')}[${i}]`, `is not of the schema's type (${types.join(', ')})`);
    });
  }
  if (has('const') && types && !matchesType(schema['const'], types)) refuse('const', `is not of the schema's type (${types.join(', ')})`);

  if (has('$ref')) {
    const ref = schema['$ref'] as string;
    const local = LOCAL_REF.exec(ref);
    if (ref !== '#' && !local) {
      refuse('$ref', 'must be "#" or a local reference such as "#/$defs/Name" or "#/definitions/Name" (a name without / ~ or %)');
    }
    const defs = local ? root[local[1]!] : undefined;
    if (local && !(isObject(defs) && Object.hasOwn(defs, local[2]!))) {
      refuse('$ref', `"${ref}" does not resolve to a schema in the root's ${local[1]}`);
    }
  }

  for (const keyword of ['minimum', 'maximum']) {
    if (has(keyword) && !Number.isSafeInteger(schema[keyword])) {
      refuse(keyword, 'must be a whole number between -(2^53-1) and 2^53-1 (also on type number)');
    }
  }
  checkRange(schema, 'minimum', 'maximum', refuse);
  checkRange(schema, 'minLength', 'maxLength', refuse);
  checkRange(schema, 'minItems', 'maxItems', refuse);

  if (has('pattern')) {
    for (const keyword of ['minLength', 'maxLength', 'format']) {
      if (has(keyword)) refuse(keyword, "cannot be combined with 'pattern': the grammar enforces only the pattern (write the length into it)");
    }
    const problem = patternProblem(schema['pattern'] as string);
    if (problem) refuse('pattern', problem);
  }
  if (has('format')) {
    for (const keyword of ['minLength', 'maxLength']) {
      if (has(keyword)) refuse(keyword, "cannot be combined with 'format': the grammar enforces only the format");
    }
    if (!FORMATS.has(schema['format'] as string)) {
      refuse('format', `'${String(schema['format'])}' is not supported; the grammar enforces the formats ${[...FORMATS].join(', ')}`);
    }
  }

  const prefix = has('prefixItems') ? (schema['prefixItems'] as unknown[]).length : 0;
  for (const keyword of ['minItems', 'maxItems']) {
    if (has(keyword) && !has('items') && !has('prefixItems')) refuse(keyword, "needs 'items' (use items: {} for any values)");
  }
  if (has('maxItems') && (schema['maxItems'] as number) < prefix) {
    refuse('maxItems', `is less than the ${prefix} prefixItems, which the grammar always writes`);
  }
  const closed = schema['items'] === false || (!has('items') && has('prefixItems'));
  if (closed && has('minItems') && (schema['minItems'] as number) > prefix) {
    refuse('minItems', `is more than the ${prefix} items the array may hold (add an 'items' schema for the rest)`);
  }

  const properties = isObject(schema['properties']) ? schema['properties'] : {};
  for (const name of Object.keys(properties)) {
    if (UNWRITABLE_NAME.test(name)) {
      fail(keyPath(at('properties'), name), 'is a property name the grammar engine cannot write: no ", \\ or control characters');
    }
  }
  ((schema['required'] as string[] | undefined) ?? []).forEach((name, i) => {
    if (!Object.hasOwn(properties, name)) {
      fail(`${at('required')}[${i}]`, `names '${name}', which is not in properties: only properties can be required`);
    }
  });
}

/** Throws invalid_argument for `path`, its message starting with the path. */
function fail(path: string, reason: string): never {
  throw invalidArgument(path, `${path} ${reason}`);
}

/** Refuses `min` above `max`. */
function checkRange(schema: Schema, min: string, max: string, refuse: (keyword: string, reason: string) => never): void {
  const [low, high] = [schema[min], schema[max]];
  if (typeof low === 'number' && typeof high === 'number' && low > high) refuse(min, `(${low}) is greater than ${max} (${high})`);
}

function matchesType(value: unknown, types: readonly string[]): boolean {
  const number = typeof value === 'number' ? (Number.isInteger(value) ? 'integer' : 'number') : undefined;
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : (number ?? typeof value);
  return types.includes(type) || (type === 'integer' && types.includes('number'));
}

function isObject(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `base.key`, or `base["key"]` when the key is not a plain identifier. */
function keyPath(base: string, key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${base}.${key}` : `${base}${bracket(key)}`;
}

function bracket(key: string): string {
  return `[${JSON.stringify(key)}]`;
}

/** A JSON pointer into `value` (ajv's instancePath) as a path below `base`. */
function pathOfPointer(base: string, value: unknown, pointer: string): string {
  let path = base;
  for (const segment of pointer.split('/').slice(1)) {
    const key = segment.replace(/~1/g, '/').replace(/~0/g, '~');
    path = Array.isArray(value) ? `${path}[${key}]` : keyPath(path, key);
    value = Array.isArray(value) ? value[Number(key)] : isObject(value) ? value[key] : undefined;
  }
  return path;
}

let metaValidator: ReturnType<Ajv2020['compile']> | undefined;

/** Draft 2020-12's meta-schema, whatever `$schema` a schema names (the subset is the same). */
function metaSchema(): ReturnType<Ajv2020['compile']> {
  metaValidator ??= new Ajv2020({ strict: false }).getSchema('https://json-schema.org/draft/2020-12/schema');
  if (!metaValidator) throw new Error('ajv has no draft 2020-12 meta-schema');
  return metaValidator;
}
