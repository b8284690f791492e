/**
 * Realistic response_format schemas inside the supported subset (src/contract/json-schema-subset.ts), each with
 * values it must accept and values it must refuse. The values are JSON as the grammar writes it (compact, the
 * properties in the schema's order), so the same list checks the checker (test/standalone) and what XGrammar
 * enforces (test/modelDependent/stories260K/json-schema-subset-xgrammar.test.ts).
 */
export interface SchemaCase {
  readonly name: string;
  readonly schema: Record<string, unknown>;
  readonly valid: readonly unknown[];
  readonly invalid: readonly unknown[];
}

export const ACCEPTED_SCHEMAS: readonly SchemaCase[] = [
  {
    name: 'a person: bounded name and age, an optional email',
    schema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: 'https://example.com/person',
      title: 'Person',
      type: 'object',
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 20, description: 'Full name' },
        age: { type: 'integer', minimum: 0, maximum: 100 },
        email: { type: 'string', format: 'email' },
      },
      required: ['name', 'age'],
      additionalProperties: false,
    },
    valid: [{ name: 'Ada', age: 36, email: 'ada@example.com' }, { name: 'Ada', age: 0 }, { name: 'Ada', age: 100 }],
    invalid: [{ name: '', age: 36 }, { age: 36 }, { name: 'Ada', age: 101 }, { name: 'Ada', age: -1 }, { name: 'Ada', age: 36, email: 'nope' }, { name: 'Ada', age: 36, x: 1 }],
  },
  {
    name: 'a nested address with a zip pattern',
    schema: {
      type: 'object',
      properties: {
        customer: { type: 'string', maxLength: 30 },
        address: {
          type: 'object',
          properties: { street: { type: 'string' }, city: { type: 'string' }, zip: { type: 'string', pattern: '^[0-9]{5}$' } },
          required: ['street', 'city', 'zip'],
          additionalProperties: false,
        },
      },
      required: ['customer', 'address'],
    },
    valid: [{ customer: 'Bo', address: { street: '1 Main St', city: 'Springfield', zip: '12345' } }],
    invalid: [
      { customer: 'Bo', address: { street: '1 Main St', city: 'Springfield', zip: '1234' } },
      { customer: 'Bo', address: { street: '1 Main St', city: 'Springfield' } },
    ],
  },
  {
    name: 'tags: one to three short strings',
    schema: {
      type: 'object',
      properties: { tags: { type: 'array', items: { type: 'string', maxLength: 8 }, minItems: 1, maxItems: 3 } },
      required: ['tags'],
    },
    valid: [{ tags: ['a'] }, { tags: ['a', 'b', 'c'] }],
    invalid: [{ tags: [] }, { tags: ['a', 'b', 'c', 'd'] }, { tags: ['much too long'] }, { tags: [1] }],
  },
  {
    name: 'a status from an enum',
    schema: {
      type: 'object',
      properties: { status: { type: 'string', enum: ['open', 'closed', 'in "review"'] } },
      required: ['status'],
    },
    valid: [{ status: 'open' }, { status: 'in "review"' }],
    invalid: [{ status: 'pending' }, { status: 'Open' }],
  },
  {
    name: 'constants of several types',
    schema: {
      type: 'object',
      properties: { kind: { const: 'event' }, version: { type: 'integer', const: 2 }, meta: { const: { source: 'api', flags: [1, 2] } } },
      required: ['kind', 'version', 'meta'],
    },
    valid: [{ kind: 'event', version: 2, meta: { source: 'api', flags: [1, 2] } }],
    invalid: [{ kind: 'Event', version: 2, meta: { source: 'api', flags: [1, 2] } }, { kind: 'event', version: 3, meta: { source: 'api', flags: [1, 2] } }],
  },
  {
    name: 'optional fields: only the title is required',
    schema: {
      type: 'object',
      properties: { title: { type: 'string' }, subtitle: { type: 'string' }, pages: { type: 'integer' }, draft: { type: 'boolean' } },
      required: ['title'],
    },
    valid: [{ title: 'T' }, { title: 'T', pages: 3 }, { title: 'T', subtitle: 'S', pages: 3, draft: false }],
    invalid: [{ subtitle: 'S' }, { title: 'T', draft: 'no' }],
  },
  {
    name: 'numbers: an unbounded number, bounded integers',
    schema: {
      type: 'object',
      properties: {
        price: { type: 'number' },
        rating: { type: 'integer', minimum: 1, maximum: 5 },
        year: { type: 'integer', minimum: 1900, maximum: 2100 },
        quantity: { type: 'integer', minimum: 1 },
      },
      required: ['price', 'rating', 'year', 'quantity'],
    },
    valid: [{ price: 9.99, rating: 5, year: 2024, quantity: 1 }, { price: -3, rating: 1, year: 1900, quantity: 1000 }],
    invalid: [
      { price: 1, rating: 6, year: 2024, quantity: 1 },
      { price: 1, rating: 0, year: 2024, quantity: 1 },
      { price: 1, rating: 3, year: 1899, quantity: 1 },
      { price: 1, rating: 3, year: 2101, quantity: 1 },
      { price: 1, rating: 3, year: 2000, quantity: 0 },
      { price: 1, rating: 2.5, year: 2000, quantity: 1 },
    ],
  },
  {
    name: 'strings with exact and bounded lengths',
    schema: {
      type: 'object',
      properties: { code: { type: 'string', minLength: 3, maxLength: 3 }, note: { type: 'string', maxLength: 10 } },
      required: ['code', 'note'],
    },
    valid: [{ code: 'ABC', note: '' }, { code: 'xyz', note: '0123456789' }],
    invalid: [{ code: 'AB', note: '' }, { code: 'ABCD', note: '' }, { code: 'ABC', note: '0123456789X' }],
  },
  {
    name: 'patterns: a SKU, a slug, a price',
    schema: {
      type: 'object',
      properties: {
        sku: { type: 'string', pattern: '^[A-Z]{3}-\\d{4}$' },
        slug: { type: 'string', pattern: '^[a-z0-9]+(?:-[a-z0-9]+)*$' },
        price: { type: 'string', pattern: '^\\$\\d+(\\.\\d{2})?$' },
      },
      required: ['sku', 'slug', 'price'],
    },
    valid: [{ sku: 'ABC-1234', slug: 'hello-world-2', price: '$12.50' }, { sku: 'XYZ-0000', slug: 'a', price: '$3' }],
    invalid: [
      { sku: 'AB-1234', slug: 'a', price: '$3' },
      { sku: 'ABC-1234', slug: 'Hello', price: '$3' },
      { sku: 'ABC-1234', slug: 'a-', price: '$3' },
      { sku: 'ABC-1234', slug: 'a', price: '3.5' },
    ],
  },
  {
    name: 'anyOf: a string or an integer, and a union of object shapes',
    schema: {
      type: 'object',
      properties: {
        id: { anyOf: [{ type: 'string', maxLength: 10 }, { type: 'integer' }] },
        payment: {
          anyOf: [
            { type: 'object', properties: { method: { const: 'card' }, last4: { type: 'string', pattern: '^\\d{4}$' } }, required: ['method', 'last4'] },
            { type: 'object', properties: { method: { const: 'cash' } }, required: ['method'] },
          ],
        },
      },
      required: ['id', 'payment'],
    },
    valid: [
      { id: 'a1', payment: { method: 'cash' } },
      { id: 42, payment: { method: 'card', last4: '1234' } },
    ],
    invalid: [{ id: 1.5, payment: { method: 'cash' } }, { id: 'a1', payment: { method: 'card' } }, { id: true, payment: { method: 'cash' } }],
  },
  {
    name: '$ref into $defs, used twice',
    schema: {
      type: 'object',
      $defs: { point: { type: 'object', properties: { x: { type: 'integer' }, y: { type: 'integer' } }, required: ['x', 'y'] } },
      properties: { from: { $ref: '#/$defs/point' }, to: { $ref: '#/$defs/point', description: 'the end' } },
      required: ['from', 'to'],
    },
    valid: [{ from: { x: 0, y: 0 }, to: { x: 3, y: -4 } }],
    invalid: [{ from: { x: 0 }, to: { x: 3, y: -4 } }, { from: { x: 0, y: 0 }, to: { x: '3', y: -4 } }],
  },
  {
    name: '$ref into definitions (draft-07 style)',
    schema: {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      definitions: { unit: { type: 'string', enum: ['kg', 'lb'] } },
      properties: { weight: { type: 'number' }, unit: { $ref: '#/definitions/unit' } },
      required: ['weight', 'unit'],
    },
    valid: [{ weight: 70.5, unit: 'kg' }],
    invalid: [{ weight: 70.5, unit: 'g' }],
  },
  {
    name: 'a recursive tree through $defs',
    schema: {
      type: 'object',
      $defs: {
        node: {
          type: 'object',
          properties: { name: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/node' } } },
          required: ['name', 'children'],
        },
      },
      properties: { root: { $ref: '#/$defs/node' } },
      required: ['root'],
    },
    valid: [{ root: { name: 'a', children: [{ name: 'b', children: [] }, { name: 'c', children: [{ name: 'd', children: [] }] }] } }],
    invalid: [{ root: { name: 'a', children: [{ name: 1, children: [] }] } }, { root: { name: 'a', children: [{ name: 'b' }] } }],
  },
  {
    name: 'a linked list through the root ($ref "#")',
    schema: {
      type: 'object',
      properties: { value: { type: 'integer' }, next: { anyOf: [{ $ref: '#' }, { type: 'null' }] } },
      required: ['value', 'next'],
    },
    valid: [{ value: 1, next: null }, { value: 1, next: { value: 2, next: null } }],
    invalid: [{ value: 1, next: { value: 'x', next: null } }, { value: 1 }],
  },
  {
    name: 'nullable fields as type arrays',
    schema: {
      type: 'object',
      properties: {
        middle_name: { type: ['string', 'null'], maxLength: 10 },
        score: { type: ['integer', 'null'], minimum: 0, maximum: 10 },
        birthday: { type: ['string', 'null'], format: 'date' },
        tags: { type: ['array', 'null'], items: { type: 'string' }, maxItems: 2 },
      },
      required: ['middle_name', 'score', 'birthday', 'tags'],
    },
    valid: [
      { middle_name: null, score: null, birthday: null, tags: null },
      { middle_name: 'Q', score: 10, birthday: '2001-02-03', tags: ['x', 'y'] },
    ],
    invalid: [
      { middle_name: 'Much too long', score: null, birthday: null, tags: null },
      { middle_name: null, score: 11, birthday: null, tags: null },
      { middle_name: null, score: null, birthday: '03/02/2001', tags: null },
      { middle_name: null, score: null, birthday: null, tags: ['x', 'y', 'z'] },
    ],
  },
  {
    name: 'formats: date-time, uuid, ipv4, hostname, time, duration, ipv6',
    schema: {
      type: 'object',
      properties: {
        at: { type: 'string', format: 'date-time' },
        id: { type: 'string', format: 'uuid' },
        ip: { type: 'string', format: 'ipv4' },
        host: { type: 'string', format: 'hostname' },
        opens: { type: 'string', format: 'time' },
        lasts: { type: 'string', format: 'duration' },
        ip6: { type: 'string', format: 'ipv6' },
      },
      required: ['at', 'id', 'ip', 'host', 'opens', 'lasts', 'ip6'],
    },
    valid: [
      {
        at: '2024-05-01T12:30:00Z',
        id: '123e4567-e89b-12d3-a456-426614174000',
        ip: '192.168.0.1',
        host: 'example.com',
        opens: '09:00:00+01:00',
        lasts: 'PT1H30M',
        ip6: '2001:db8::1',
      },
    ],
    invalid: [
      { at: 'yesterday', id: '123e4567-e89b-12d3-a456-426614174000', ip: '192.168.0.1', host: 'example.com', opens: '09:00:00Z', lasts: 'P1D', ip6: '::1' },
      { at: '2024-05-01T12:30:00Z', id: '123', ip: '192.168.0.1', host: 'example.com', opens: '09:00:00Z', lasts: 'P1D', ip6: '::1' },
      { at: '2024-05-01T12:30:00Z', id: '123e4567-e89b-12d3-a456-426614174000', ip: '256.0.0.1', host: 'example.com', opens: '09:00:00Z', lasts: 'P1D', ip6: '::1' },
    ],
  },
  {
    name: 'a tuple: prefixItems closed, and open with an items schema',
    schema: {
      type: 'object',
      properties: {
        point: { type: 'array', prefixItems: [{ type: 'number' }, { type: 'number' }] },
        row: { type: 'array', prefixItems: [{ type: 'string' }], items: { type: 'integer' }, minItems: 2, maxItems: 4 },
      },
      required: ['point', 'row'],
    },
    valid: [{ point: [1.5, -2], row: ['a', 1] }, { point: [0, 0], row: ['a', 1, 2, 3] }],
    invalid: [{ point: [1], row: ['a', 1] }, { point: [1, 2, 3], row: ['a', 1] }, { point: [1, 2], row: ['a'] }, { point: [1, 2], row: ['a', 'b'] }],
  },
  {
    name: 'a map: additionalProperties as a schema, and open with true',
    schema: {
      type: 'object',
      properties: {
        stock: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } },
        extra: { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'], additionalProperties: true },
      },
      required: ['stock', 'extra'],
    },
    valid: [{ stock: {}, extra: { id: 1 } }, { stock: { apples: 3, pears: 0 }, extra: { id: 1, anything: 'goes' } }],
    invalid: [{ stock: { apples: -1 }, extra: { id: 1 } }, { stock: { apples: 'three' }, extra: { id: 1 } }],
  },
  {
    name: 'an array of objects, with any value and odd property names',
    schema: {
      type: 'object',
      properties: {
        items: {
          type: 'array',
          items: {
            type: 'object',
            properties: { 'product name': { type: 'string' }, 'unit.price': { type: 'number' }, details: {}, raw: true },
            required: ['product name', 'unit.price'],
          },
          minItems: 1,
        },
        empty: { type: 'null' },
      },
      required: ['items', 'empty'],
    },
    valid: [
      { items: [{ 'product name': 'Pen', 'unit.price': 1.25 }], empty: null },
      { items: [{ 'product name': 'Pen', 'unit.price': 1, details: { color: 'blue' }, raw: [1] }], empty: null },
    ],
    invalid: [{ items: [], empty: null }, { items: [{ 'product name': 'Pen' }], empty: null }, { items: [{ 'product name': 'Pen', 'unit.price': 1 }], empty: 0 }],
  },
  {
    name: 'a mixed enum without a type, and items: false',
    schema: {
      type: 'object',
      properties: { answer: { enum: ['yes', 'no', 1, 0, null, true] }, none: { type: 'array', items: false } },
      required: ['answer', 'none'],
    },
    valid: [{ answer: 'yes', none: [] }, { answer: null, none: [] }, { answer: 0, none: [] }],
    invalid: [{ answer: 'maybe', none: [] }, { answer: false, none: [] }, { answer: 'yes', none: [1] }],
  },
];
