import { describe, expect, it } from 'vitest';
import { MAX_REPETITIONS } from '../../src/contract/json-schema-pattern.js';
import { checkJsonSchema, MAX_SCHEMA_DEPTH, MAX_SCHEMA_LITERAL_CHARS, MAX_SCHEMA_NODES, MAX_SCHEMA_VALUES } from '../../src/contract/json-schema-subset.js';
import { ACCEPTED_SCHEMAS } from '../helpers/json-schemas.js';
import { refusal } from '../helpers/refusal.js';

/**
 * `checkJsonSchema`: what it accepts (the schemas test/modelDependent/stories260K/json-schema-subset-xgrammar.test.ts
 * compiles and matches with XGrammar), and for each refusal the exact path and a message naming the keyword.
 */
const P = 'response_format.json_schema.schema';

/** A root object schema with one required property `x`. */
function one(property: unknown): Record<string, unknown> {
  return { type: 'object', properties: { x: property }, required: ['x'] };
}

function refused(schema: unknown): { param: string | undefined; message: string; code: string } {
  const error = refusal(() => checkJsonSchema(schema, P));
  return { param: error.param, message: error.message, code: error.code };
}

/** Expects a refusal at `param` whose message names `keyword` (and starts with the path). */
function expectRefused(schema: unknown, param: string, keyword: string | RegExp): void {
  const { code, param: got, message } = refused(schema);
  expect(code).toBe('invalid_argument');
  expect(got).toBe(param);
  expect(message.startsWith(param)).toBe(true);
  if (typeof keyword === 'string') expect(message).toContain(keyword);
  else expect(message).toMatch(keyword);
}

describe('checkJsonSchema: accepted', () => {
  it.each(ACCEPTED_SCHEMAS.map((c) => [c.name, c.schema] as const))('%s', (_, schema) => {
    expect(() => checkJsonSchema(schema, P)).not.toThrow();
  });

  it('accepts the annotations anywhere, and a minimal object', () => {
    const annotated = {
      type: 'integer',
      title: 't',
      description: 'd',
      $comment: 'c',
      examples: [1],
      default: 1,
      deprecated: true,
      readOnly: true,
      writeOnly: false,
      $schema: 'https://json-schema.org/draft/2020-12/schema',
    };
    expect(() => checkJsonSchema(one(annotated), P)).not.toThrow();
    expect(() => checkJsonSchema({ type: 'object' }, P)).not.toThrow();
    expect(() => checkJsonSchema({ type: 'object', properties: {}, additionalProperties: false }, P)).not.toThrow();
  });
});

describe('checkJsonSchema: the root', () => {
  it('must be an object schema with type "object"', () => {
    expectRefused({ type: 'array', items: { type: 'string' } }, `${P}.type`, 'object');
    expectRefused({ properties: { a: { type: 'string' } } }, `${P}.type`, 'object');
    expectRefused({ type: ['object', 'null'] }, `${P}.type`, 'object');
    expectRefused({ anyOf: [{ type: 'object' }] }, `${P}.type`, 'object');
    expectRefused([{ type: 'object' }], P, 'JSON Schema object');
    expectRefused(true, P, 'JSON Schema object');
    expectRefused(null, P, 'JSON Schema object');
  });
});

describe('checkJsonSchema: keywords outside the subset', () => {
  const cases: ReadonlyArray<readonly [string, Record<string, unknown>, string]> = [
    ['uniqueItems', { type: 'object', properties: { tags: { type: 'array', items: { type: 'string' }, uniqueItems: true } } }, `${P}.properties.tags.uniqueItems`],
    ['not', one({ not: { type: 'string' } }), `${P}.properties.x.not`],
    ['allOf', one({ allOf: [{ type: 'string' }] }), `${P}.properties.x.allOf`],
    ['oneOf', one({ oneOf: [{ type: 'string' }, { type: 'integer' }] }), `${P}.properties.x.oneOf`],
    ['if', one({ if: { type: 'string' }, then: { minLength: 1 } }), `${P}.properties.x.if`],
    ['then', one({ type: 'string', then: { minLength: 1 } }), `${P}.properties.x.then`],
    ['else', one({ type: 'string', else: { minLength: 1 } }), `${P}.properties.x.else`],
    ['patternProperties', { type: 'object', patternProperties: { '^a': { type: 'integer' } } }, `${P}.patternProperties`],
    ['dependentRequired', { type: 'object', properties: { a: { type: 'integer' } }, dependentRequired: { a: [] } }, `${P}.dependentRequired`],
    ['dependentSchemas', { type: 'object', dependentSchemas: {} }, `${P}.dependentSchemas`],
    ['contains', one({ type: 'array', items: {}, contains: { type: 'integer' } }), `${P}.properties.x.contains`],
    ['multipleOf', one({ type: 'integer', multipleOf: 5 }), `${P}.properties.x.multipleOf`],
    ['minProperties', { type: 'object', minProperties: 1 }, `${P}.minProperties`],
    ['maxProperties', { type: 'object', maxProperties: 1 }, `${P}.maxProperties`],
    ['propertyNames', { type: 'object', propertyNames: { maxLength: 3 } }, `${P}.propertyNames`],
    ['unevaluatedProperties', { type: 'object', unevaluatedProperties: false }, `${P}.unevaluatedProperties`],
    ['unevaluatedItems', one({ type: 'array', items: {}, unevaluatedItems: false }), `${P}.properties.x.unevaluatedItems`],
    ['exclusiveMinimum', one({ type: 'integer', exclusiveMinimum: 0 }), `${P}.properties.x.exclusiveMinimum`],
    ['exclusiveMaximum', one({ type: 'integer', exclusiveMaximum: 10 }), `${P}.properties.x.exclusiveMaximum`],
    ['contentEncoding', one({ type: 'string', contentEncoding: 'base64' }), `${P}.properties.x.contentEncoding`],
    ['$anchor', one({ $anchor: 'a', type: 'string' }), `${P}.properties.x.$anchor`],
    ['$dynamicRef', one({ $dynamicRef: '#a' }), `${P}.properties.x.$dynamicRef`],
    ['nullable', one({ type: 'string', nullable: true }), `${P}.properties.x.nullable`],
    ['minLenght', one({ type: 'string', minLenght: 3 }), `${P}.properties.x.minLenght`],
  ];
  it.each(cases)('%s', (keyword, schema, param) => {
    expectRefused(schema, param, `'${keyword}'`);
    expect(refused(schema).message).toContain('not supported');
  });

  it('points oneOf and the exclusive bounds at what to use instead', () => {
    expect(refused(one({ oneOf: [{ type: 'integer' }] })).message).toContain('use anyOf');
    expect(refused(one({ type: 'integer', exclusiveMinimum: 0 })).message).toContain('use minimum');
  });

  it("refuses items as an array (draft-07's tuple form)", () => {
    expectRefused(one({ type: 'array', items: [{ type: 'string' }, { type: 'integer' }] }), `${P}.properties.x.items`, "'items' as an array");
  });

  it('refuses $id, $defs and definitions below the root', () => {
    expectRefused(one({ $id: 'https://example.com/x', type: 'string' }), `${P}.properties.x.$id`, "'$id'");
    expectRefused(one({ type: 'string', $defs: { a: { type: 'string' } } }), `${P}.properties.x.$defs`, "'$defs'");
    expectRefused(one({ type: 'string', definitions: { a: { type: 'string' } } }), `${P}.properties.x.definitions`, "'definitions'");
  });
});

describe('checkJsonSchema: keywords the grammar would ignore where they stand', () => {
  it('refuses a type-specific keyword where type does not name that type', () => {
    expectRefused(one({ minimum: 3 }), `${P}.properties.x.minimum`, /minimum.*"integer"/);
    expectRefused(one({ type: 'string', minimum: 3 }), `${P}.properties.x.minimum`, 'minimum');
    expectRefused(one({ minLength: 3 }), `${P}.properties.x.minLength`, /minLength.*"string"/);
    expectRefused(one({ type: 'integer', pattern: '^1$' }), `${P}.properties.x.pattern`, 'pattern');
    expectRefused(one({ items: { type: 'string' } }), `${P}.properties.x.items`, /items.*"array"/);
    expectRefused(one({ type: 'string', maxItems: 3 }), `${P}.properties.x.maxItems`, 'maxItems');
    expectRefused(one({ properties: { a: {} } }), `${P}.properties.x.properties`, /properties.*"object"/);
    expectRefused(one({ type: 'array', items: {}, additionalProperties: false }), `${P}.properties.x.additionalProperties`, 'additionalProperties');
  });

  it('takes whole bounds on one numeric type (the grammar writes their digits), and refuses others', () => {
    expect(() => checkJsonSchema(one({ type: 'number', minimum: 0, maximum: 100 }), P)).not.toThrow();
    expectRefused(one({ type: 'number', maximum: 1.5 }), `${P}.properties.x.maximum`, 'whole number');
    expect(() => checkJsonSchema(one({ type: ['integer', 'null'], maximum: 3 }), P)).not.toThrow();
    expectRefused(one({ type: ['integer', 'number'], minimum: 0 }), `${P}.properties.x.minimum`, /minimum.*not both/);
    expectRefused(one({ minimum: 0 }), `${P}.properties.x.minimum`, /minimum.*"integer" or "number"/);
  });

  it('refuses integer bounds that are not whole or not safe integers', () => {
    expectRefused(one({ type: 'integer', minimum: 1.5 }), `${P}.properties.x.minimum`, 'whole number');
    expectRefused(one({ type: 'integer', maximum: 1e20 }), `${P}.properties.x.maximum`, 'whole number');
  });

  it('refuses keywords beside $ref and anyOf', () => {
    const defs = { a: { type: 'string' } };
    expectRefused({ ...one({ $ref: '#/$defs/a', maxLength: 3 }), $defs: defs }, `${P}.properties.x.maxLength`, /maxLength.*'\$ref'/);
    expectRefused({ ...one({ $ref: '#/$defs/a', type: 'string' }), $defs: defs }, `${P}.properties.x.type`, "'$ref'");
    expectRefused(one({ type: 'string', anyOf: [{ type: 'string' }, { type: 'null' }] }), `${P}.properties.x.type`, /type.*'anyOf'/);
    expectRefused(one({ anyOf: [{ type: 'string' }], minLength: 1 }), `${P}.properties.x.minLength`, 'anyOf');
  });

  it('allows only type beside enum and const, and both values must be of that type', () => {
    expectRefused(one({ type: 'string', enum: ['a', 'bb'], minLength: 2 }), `${P}.properties.x.minLength`, /minLength.*'enum'/);
    expectRefused(one({ const: 'a', enum: ['a'] }), `${P}.properties.x.enum`, /enum.*'const'/);
    expectRefused(one({ type: 'string', enum: ['a', 1] }), `${P}.properties.x.enum[1]`, 'type');
    expectRefused(one({ type: 'integer', enum: [1, 1.5] }), `${P}.properties.x.enum[1]`, 'type');
    expectRefused(one({ type: 'integer', const: 'a' }), `${P}.properties.x.const`, 'type');
    expect(() => checkJsonSchema(one({ type: 'number', enum: [1, 1.5] }), P)).not.toThrow();
    expect(() => checkJsonSchema(one({ type: ['string', 'null'], const: null }), P)).not.toThrow();
  });

  it('refuses length limits and format beside pattern, and length limits beside format', () => {
    expectRefused(one({ type: 'string', pattern: '^[a-z]+$', maxLength: 5 }), `${P}.properties.x.maxLength`, /maxLength.*'pattern'/);
    expectRefused(one({ type: 'string', pattern: '^[a-z]+$', format: 'email' }), `${P}.properties.x.format`, /format.*'pattern'/);
    expectRefused(one({ type: 'string', format: 'email', minLength: 5 }), `${P}.properties.x.minLength`, /minLength.*'format'/);
  });

  it('accepts only the formats XGrammar enforces', () => {
    for (const format of ['date-time', 'time', 'date', 'duration', 'email', 'hostname', 'ipv4', 'ipv6', 'uuid']) {
      expect(() => checkJsonSchema(one({ type: 'string', format }), P)).not.toThrow();
    }
    for (const format of ['uri', 'iri', 'idn-email', 'json-pointer', 'regex', 'phone']) {
      expectRefused(one({ type: 'string', format }), `${P}.properties.x.format`, /format.*not supported/);
    }
  });
});

describe('checkJsonSchema: patterns', () => {
  const at = `${P}.properties.x.pattern`;
  const pattern = (p: string): Record<string, unknown> => one({ type: 'string', pattern: p });

  it('accepts what XGrammar compiles and writes as JSON', () => {
    for (const p of ['^[A-Z]{3}-\\d{4}$', '^\\w+$', 'abc', '^(?:ab)+$', '^(?<year>\\d{4})$', '^[^"\\\\\\x00-\\x1f]*$', '^[ !#-\\[\\]-~]+$', '^\\u00e9+$', '^[a-]$', '^\\$\\d+$', '^(a{100}){100}$']) {
      expect(() => checkJsonSchema(pattern(p), P), p).not.toThrow();
    }
  });

  it('refuses invalid regular expressions', () => {
    expectRefused(pattern('(unclosed'), at, /pattern.*not a valid regular expression/);
    expectRefused(pattern('a{,3}'), at, 'not a valid regular expression');
    expectRefused(pattern('(?i)abc'), at, 'not a valid regular expression');
  });

  it('refuses what XGrammar cannot compile', () => {
    expectRefused(pattern('^a(?=b)'), at, 'lookaround');
    expectRefused(pattern('^(?<!a)b'), at, 'lookaround');
    expectRefused(pattern('^(a)\\1$'), at, 'backreference');
    expectRefused(pattern('^(?<n>a)\\k<n>$'), at, 'backreference');
    expectRefused(pattern('\\bword\\b'), at, 'word boundary');
    expectRefused(pattern('^\\p{L}+$'), at, 'unicode property');
  });

  it('refuses anchors inside the pattern (XGrammar drops them)', () => {
    expectRefused(pattern('^a|^b$'), at, "'^'");
    expectRefused(pattern('a$b'), at, "'$'");
  });

  it('refuses patterns that can match a character JSON must escape', () => {
    expectRefused(pattern('^.*$'), at, 'unescaped');
    expectRefused(pattern('^[^@]+@[^@]+$'), at, 'unescaped');
    expectRefused(pattern('^\\S+$'), at, 'unescaped');
    expectRefused(pattern('^\\s$'), at, 'control character');
    expectRefused(pattern('^a"b$'), at, 'double quote');
    expectRefused(pattern('^a\\\\b$'), at, 'backslash');
    expectRefused(pattern('^[ -~]+$'), at, 'double quote');
    expectRefused(pattern('^\\x1f$'), at, 'control character');
    expectRefused(pattern('^[\\b]$'), at, 'control character');
  });

  it(`refuses patterns that unroll to more than ${MAX_REPETITIONS} repetitions`, () => {
    expectRefused(pattern('^((a{100}){100}){100}$'), at, 'repeats too much');
    expectRefused(pattern(`^a{${MAX_REPETITIONS + 1}}$`), at, 'repeats too much');
  });
});

describe('checkJsonSchema: arrays, objects, references, boolean schemas', () => {
  it('refuses minItems/maxItems without items, and counts XGrammar cannot honour beside prefixItems', () => {
    expectRefused(one({ type: 'array', minItems: 1 }), `${P}.properties.x.minItems`, /minItems.*'items'/);
    expectRefused(one({ type: 'array', maxItems: 1 }), `${P}.properties.x.maxItems`, /maxItems.*'items'/);
    expectRefused(one({ type: 'array', prefixItems: [{ type: 'integer' }, { type: 'integer' }], items: {}, maxItems: 1 }), `${P}.properties.x.maxItems`, 'prefixItems');
    expectRefused(one({ type: 'array', prefixItems: [{ type: 'integer' }], minItems: 2 }), `${P}.properties.x.minItems`, 'minItems');
    expectRefused(one({ type: 'array', items: false, minItems: 1 }), `${P}.properties.x.minItems`, 'minItems');
    expect(() => checkJsonSchema(one({ type: 'array', prefixItems: [{ type: 'integer' }], items: { type: 'string' }, minItems: 2 }), P)).not.toThrow();
  });

  it('refuses required names that are not properties', () => {
    expectRefused({ type: 'object', properties: { a: { type: 'string' } }, required: ['a', 'b'] }, `${P}.required[1]`, /required.*'b'/);
    expectRefused({ type: 'object', required: ['a'], additionalProperties: { type: 'string' } }, `${P}.required[0]`, 'required');
  });

  it('refuses property names XGrammar cannot write, naming them in brackets', () => {
    expectRefused({ type: 'object', properties: { 'say "hi"': { type: 'string' } } }, `${P}.properties["say \\"hi\\""]`, 'property name');
    expectRefused({ type: 'object', properties: { 'a\\b': { type: 'string' } } }, `${P}.properties["a\\\\b"]`, 'property name');
    expectRefused({ type: 'object', properties: { 'line\nbreak': { type: 'string' } } }, `${P}.properties["line\\nbreak"]`, 'property name');
  });

  it('accepts local references only, and they must resolve', () => {
    const defs = { $defs: { a: { type: 'string' } } };
    expectRefused({ ...one({ $ref: '#/$defs/b' }), ...defs }, `${P}.properties.x.$ref`, /\$ref.*does not resolve/);
    expectRefused(one({ $ref: '#/definitions/a' }), `${P}.properties.x.$ref`, 'does not resolve');
    expectRefused({ ...one({ $ref: 'https://example.com/schema.json' }), ...defs }, `${P}.properties.x.$ref`, /\$ref.*local reference/);
    expectRefused({ ...one({ $ref: 'other.json#/$defs/a' }), ...defs }, `${P}.properties.x.$ref`, 'local reference');
    expectRefused({ ...one({ $ref: '#/properties/y' }), ...defs }, `${P}.properties.x.$ref`, 'local reference');
    expectRefused({ ...one({ $ref: '#/$defs/a~1b' }), $defs: { 'a/b': { type: 'string' } } }, `${P}.properties.x.$ref`, 'local reference');
    expect(() => checkJsonSchema({ ...one({ $ref: '#/$defs/a' }), ...defs }, P)).not.toThrow();
  });

  it('accepts true (any value) as a subschema, and false only as items or additionalProperties', () => {
    expect(() => checkJsonSchema(one(true), P)).not.toThrow();
    expect(() => checkJsonSchema(one({ anyOf: [true, { type: 'integer' }] }), P)).not.toThrow();
    expect(() => checkJsonSchema({ type: 'object', properties: { a: { type: 'array', items: false } }, additionalProperties: false }, P)).not.toThrow();
    expectRefused(one(false), `${P}.properties.x`, 'false');
    expectRefused(one({ anyOf: [false, { type: 'integer' }] }), `${P}.properties.x.anyOf[0]`, 'false');
    expectRefused({ ...one({ type: 'integer' }), $defs: { never: false } }, `${P}.$defs.never`, 'false');
    expectRefused(one({ type: 'array', prefixItems: [false] }), `${P}.properties.x.prefixItems[0]`, 'false');
  });
});

describe('checkJsonSchema: invalid JSON Schema (the draft 2020-12 meta-schema)', () => {
  const cases: ReadonlyArray<readonly [string, Record<string, unknown>, string, string]> = [
    ['a negative minLength', one({ type: 'string', minLength: -1 }), `${P}.properties.x.minLength`, 'must be >= 0'],
    ['a misspelt type', one({ type: 'strng' }), `${P}.properties.x.type`, 'allowed values'],
    ['a type array with a misspelt type', one({ type: ['string', 'nul'] }), `${P}.properties.x.type`, 'must'],
    ['required as a string', { type: 'object', properties: { x: {} }, required: 'x' }, `${P}.required`, 'must be array'],
    ['duplicate required names', { type: 'object', properties: { x: {} }, required: ['x', 'x'] }, `${P}.required`, 'duplicate'],
    ['maxItems as a fraction', one({ type: 'array', items: {}, maxItems: 1.5 }), `${P}.properties.x.maxItems`, 'must be integer'],
    ['properties as an array', { type: 'object', properties: [] }, `${P}.properties`, 'must be object'],
    ['a property schema as a string', { type: 'object', properties: { x: 'string' } }, `${P}.properties.x`, 'must be object,boolean'],
    ['an empty anyOf', one({ anyOf: [] }), `${P}.properties.x.anyOf`, 'must NOT have fewer than 1 items'],
    ['a title as a number', one({ type: 'string', title: 5 }), `${P}.properties.x.title`, 'must be string'],
    ['a minimum as a string', one({ type: 'integer', minimum: '0' }), `${P}.properties.x.minimum`, 'must be number'],
    ['a pattern as a number', one({ type: 'string', pattern: 5 }), `${P}.properties.x.pattern`, 'must be string'],
  ];
  it.each(cases)('%s', (_, schema, param, reason) => {
    expectRefused(schema, param, 'not valid JSON Schema');
    expect(refused(schema).message).toContain(reason);
  });

  it('maps pointers through arrays and odd keys to the wire path', () => {
    expectRefused(one({ anyOf: [{ type: 'string' }, { type: 'strng' }] }), `${P}.properties.x.anyOf[1].type`, 'not valid JSON Schema');
    expectRefused({ type: 'object', properties: { 'zip code': { type: 'string', maxLength: -2 } } }, `${P}.properties["zip code"].maxLength`, 'must be >= 0');
    expectRefused({ type: 'object', properties: { 'a/b~c': { type: 'string', maxLength: -2 } } }, `${P}.properties["a/b~c"].maxLength`, 'must be >= 0');
  });

  it('refuses an empty enum, and ranges whose minimum is above their maximum', () => {
    expectRefused(one({ enum: [] }), `${P}.properties.x.enum`, 'enum');
    expectRefused(one({ type: 'integer', minimum: 5, maximum: 3 }), `${P}.properties.x.minimum`, /minimum.*maximum/);
    expectRefused(one({ type: 'string', minLength: 5, maxLength: 3 }), `${P}.properties.x.minLength`, /minLength.*maxLength/);
    expectRefused(one({ type: 'array', items: {}, minItems: 5, maxItems: 3 }), `${P}.properties.x.minItems`, /minItems.*maxItems/);
  });
});

describe('checkJsonSchema: paths', () => {
  it('names nested properties with dots, array entries with [i] and odd keys in JSON-quoted brackets', () => {
    const schema = {
      type: 'object',
      properties: {
        address: { type: 'object', properties: { zip: { type: 'string', uniqueItems: true } } },
        'weird key': { type: 'object', properties: { 'a.b': { anyOf: [{ type: 'string' }, { type: 'integer', not: {} }] } } },
      },
    };
    expectRefused(schema, `${P}.properties.address.properties.zip.uniqueItems`, 'uniqueItems');
    const second = { ...schema, properties: { 'weird key': schema.properties['weird key'] } };
    expectRefused(second, `${P}.properties["weird key"].properties["a.b"].anyOf[1].not`, "'not'");
  });

  it('uses the param it is given', () => {
    expect(refusal(() => checkJsonSchema({ type: 'array' }, 'schema')).param).toBe('schema.type');
  });
});

describe('checkJsonSchema: limits', () => {
  /** A root whose property chain nests `levels` schema levels in all (the root being the first). */
  function nested(levels: number): { schema: Record<string, unknown>; deepest: string } {
    let schema: Record<string, unknown> = { type: 'string' };
    let deepest = P;
    for (let level = levels; level > 1; level--) schema = { type: 'object', properties: { a: schema } };
    for (let level = 2; level <= levels; level++) deepest += '.properties.a';
    return { schema, deepest };
  }

  it(`accepts ${MAX_SCHEMA_DEPTH} levels and refuses one more, at the level that overflows`, () => {
    expect(() => checkJsonSchema(nested(MAX_SCHEMA_DEPTH).schema, P)).not.toThrow();
    const { schema, deepest } = nested(MAX_SCHEMA_DEPTH + 1);
    expectRefused(schema, deepest, `deeper than ${MAX_SCHEMA_DEPTH}`);
  });

  it('refuses a hostile depth without working through it', () => {
    let schema: unknown = true;
    for (let i = 0; i < 100_000; i++) schema = { type: 'array', items: schema };
    const { param } = refused({ type: 'object', properties: { a: schema } });
    expect(param).toBe(`${P}.properties.a${'.items'.repeat(MAX_SCHEMA_DEPTH - 1)}`);
  });

  it(`accepts ${MAX_SCHEMA_NODES} subschemas and refuses one more, at the one that overflows`, () => {
    const properties = (count: number): Record<string, unknown> => Object.fromEntries(Array.from({ length: count }, (_, i) => [`p${i}`, { type: 'integer' }]));
    expect(() => checkJsonSchema({ type: 'object', properties: properties(MAX_SCHEMA_NODES - 1) }, P)).not.toThrow();
    expectRefused({ type: 'object', properties: properties(MAX_SCHEMA_NODES) }, `${P}.properties.p${MAX_SCHEMA_NODES - 1}`, `${MAX_SCHEMA_NODES} subschemas`);
  });

  it(`accepts ${MAX_SCHEMA_VALUES} enum and const values in all and refuses one more, where it overflows`, () => {
    const values = (count: number): number[] => Array.from({ length: count }, (_, i) => i);
    expect(() => checkJsonSchema({ type: 'object', properties: { a: { enum: values(MAX_SCHEMA_VALUES - 1) }, b: { const: 0 } } }, P)).not.toThrow();
    expectRefused({ type: 'object', properties: { a: { enum: values(MAX_SCHEMA_VALUES) }, b: { const: 0 } } }, `${P}.properties.b.const`, `${MAX_SCHEMA_VALUES} enum and const values`);
  });

  it(`refuses more than ${MAX_SCHEMA_LITERAL_CHARS} characters of names and values for the grammar to spell out`, () => {
    const long = (chars: number): string => 'x'.repeat(chars);
    expect(() => checkJsonSchema(one({ const: long(MAX_SCHEMA_LITERAL_CHARS - 100) }), P)).not.toThrow();
    expectRefused(one({ const: long(MAX_SCHEMA_LITERAL_CHARS) }), `${P}.properties.x`, `${MAX_SCHEMA_LITERAL_CHARS} characters`);
    expectRefused({ type: 'object', properties: { [long(MAX_SCHEMA_LITERAL_CHARS)]: {} } }, P, `${MAX_SCHEMA_LITERAL_CHARS} characters`);
  });
});
