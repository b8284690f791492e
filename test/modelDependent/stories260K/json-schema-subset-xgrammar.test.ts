import type { LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedLlama, vocabularySize } from '../../../src/backends/llama/llama-backend.js';
import { checkJsonSchema } from '../../../src/contract/json-schema-subset.js';
import { GrammarCompiler } from '../../../src/grammar/grammar-compiler.js';
import { grammarVocabularyOf, type GgufTokenizerMetadata } from '../../../src/grammar/grammar-vocabulary.js';
import type { GrammarMatcher } from '../../../src/grammar/xgrammar.js';
import { ACCEPTED_SCHEMAS } from '../../helpers/json-schemas.js';
import { STORIES } from '../../helpers/models.js';

/**
 * The subset `checkJsonSchema` accepts is what XGrammar enforces: every accepted schema compiles for a real
 * vocabulary (stories260K's) through `GrammarCompiler`, its grammar takes the values the schema allows and refuses
 * those it does not. And the keywords the checker refuses as "not enforced" are indeed ignored by this XGrammar,
 * so a newer engine that starts enforcing one fails here, and the subset can grow.
 */
const PARAM = 'response_format.json_schema.schema';

describe('json_schema subset against XGrammar (stories260K vocabulary)', () => {
  let model: LlamaModel;
  let compiler: GrammarCompiler;
  let eos: number;

  beforeAll(async () => {
    const llama = await sharedLlama();
    model = await llama.loadModel({ modelPath: STORIES, vocabOnly: true });
    const ggml = (model.fileInfo.metadata as { tokenizer?: { ggml?: GgufTokenizerMetadata } }).tokenizer?.ggml;
    const vocabulary = grammarVocabularyOf(ggml, vocabularySize(model));
    if (!vocabulary) throw new Error('stories260K has no tokenizer metadata');
    eos = vocabulary.stopTokens[0]!;
    compiler = await GrammarCompiler.create(vocabulary);
  });
  afterAll(async () => {
    compiler?.dispose();
    await model?.dispose();
  });

  /** Whether the schema's grammar takes `json` whole: its text, then the end of the output. */
  async function grammarAccepts(schema: object, json: string): Promise<boolean> {
    const state = await compiler.start({ kind: 'json_schema', schema: JSON.stringify(schema) });
    try {
      // The state hides its matcher; matching text rather than tokens needs it.
      const matcher = Reflect.get(state, 'matcher') as GrammarMatcher;
      return matcher._acceptString(json) && state.accept(eos);
    } finally {
      state.dispose();
    }
  }

  it.each(ACCEPTED_SCHEMAS.map((c) => [c.name, c] as const))('%s: accepted, compiled, and enforced', async (_, { schema, valid, invalid }) => {
    expect(() => checkJsonSchema(schema, PARAM)).not.toThrow();
    const state = await compiler.start({ kind: 'json_schema', schema: JSON.stringify(schema) });
    expect((await state.mask()).length).toBeGreaterThan(0);
    state.dispose();
    for (const value of valid) expect(await grammarAccepts(schema, JSON.stringify(value)), `accepts ${JSON.stringify(value)}`).toBe(true);
    for (const value of invalid) expect(await grammarAccepts(schema, JSON.stringify(value)), `refuses ${JSON.stringify(value)}`).toBe(false);
  });

  const one = (property: Record<string, unknown>): Record<string, unknown> => ({ type: 'object', properties: { x: property }, required: ['x'] });

  /** [what the checker refuses, a schema using it, a value the schema forbids that XGrammar still lets through] */
  const IGNORED: ReadonlyArray<readonly [string, Record<string, unknown>, string]> = [
    ['uniqueItems', one({ type: 'array', items: { type: 'integer' }, uniqueItems: true }), '{"x":[1,1]}'],
    ['multipleOf', one({ type: 'integer', multipleOf: 3 }), '{"x":4}'],
    ['not', one({ type: 'integer', not: { const: 1 } }), '{"x":1}'],
    ['allOf', one({ allOf: [{ type: 'integer' }, { minimum: 3 }] }), '{"x":1}'],
    ['if/then', one({ type: 'integer', if: { minimum: 0 }, then: { maximum: 9 } }), '{"x":12}'],
    ['dependentRequired', { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, dependentRequired: { a: ['b'] } }, '{"a":1}'],
    ['oneOf (compiled as anyOf: a value may match two branches)', one({ oneOf: [{ type: 'integer' }, { type: 'integer', minimum: 0 }] }), '{"x":1}'],
    ['exclusiveMinimum', one({ type: 'integer', exclusiveMinimum: 5 }), '{"x":5}'],
    ['minimum without a type', one({ minimum: 3 }), '{"x":1}'],
    ['type beside const', one({ type: 'integer', const: 'a' }), '{"x":"a"}'],
    ['type beside anyOf', one({ type: 'string', anyOf: [{ type: 'integer' }, { type: 'string' }] }), '{"x":1}'],
    ['maxLength beside $ref', { type: 'object', $defs: { s: { type: 'string' } }, properties: { x: { $ref: '#/$defs/s', maxLength: 1 } }, required: ['x'] }, '{"x":"abc"}'],
    ['maxLength beside pattern', one({ type: 'string', pattern: '^[a-z]+$', maxLength: 2 }), '{"x":"abc"}'],
    ['maxLength beside format', one({ type: 'string', format: 'email', maxLength: 5 }), '{"x":"ab@cd.ef"}'],
    ['required without properties', { type: 'object', required: ['a'], additionalProperties: { type: 'string' } }, '{}'],
    ['a remote $ref', one({ $ref: 'https://example.com/s.json' }), '{"x":[true]}'],
    ['a format XGrammar lacks (iri)', one({ type: 'string', format: 'iri' }), '{"x":"no iri"}'],
    ['a pattern with . (writes a raw quote)', one({ type: 'string', pattern: '^.*$' }), '{"x":"a"b"}'],
    ['a pattern with a negated class (writes a raw newline)', one({ type: 'string', pattern: '^[^@]+$' }), '{"x":"a\nb"}'],
    ['a json-pointer format (writes a raw quote)', one({ type: 'string', format: 'json-pointer' }), '{"x":"/a"b"}'],
  ];

  it.each(IGNORED)('not enforced by XGrammar, so refused: %s', async (_, schema, forbidden) => {
    expect(() => checkJsonSchema(schema, PARAM)).toThrow();
    expect(await grammarAccepts(schema, forbidden)).toBe(true);
  });

  it('a pattern anchored mid-way matches nothing in XGrammar, so it is refused', async () => {
    const schema = one({ type: 'string', pattern: '^a|^b$' });
    expect(() => checkJsonSchema(schema, PARAM)).toThrow();
    expect(await grammarAccepts(schema, '{"x":"a"}')).toBe(false);
    expect(await grammarAccepts(schema, '{"x":"b"}')).toBe(false);
  });

  it('number bounds: whole ones get the digit grammar (XGrammar alone writes 1x5 under maximum 1.5); fractional ones are refused', async () => {
    expect(() => checkJsonSchema(one({ type: 'number', maximum: 1.5 }), PARAM)).toThrow(/whole number/);
    const schema = one({ type: 'number', minimum: -2, maximum: 10 });
    expect(() => checkJsonSchema(schema, PARAM)).not.toThrow();
    for (const [value, ok] of [['-2', true], ['-2.5', false], ['-1.99', true], ['0.5', true], ['10', true], ['10.0', true], ['10.01', false], ['1x5', false], ['11', false]] as const) {
      expect(await grammarAccepts(schema, `{"x":${value}}`), value).toBe(ok);
    }
  });

  it('integer bounds: enforced exactly, also where XGrammar 0.1.27 alone fails (our digit grammar, integer-bounds.ts)', async () => {
    for (const [minimum, maximum] of [[0, 100], [1, 10], [1, 5], [-10, 10], [0, 255], [1900, 2100], [1, 365]] as const) {
      const schema = one({ type: 'integer', minimum, maximum });
      for (let x = minimum - 3; x <= maximum + 3; x++) {
        expect(await grammarAccepts(schema, `{"x":${x}}`), `${x} in [${minimum}, ${maximum}]`).toBe(x >= minimum && x <= maximum);
      }
    }
    // XGrammar's own range grammar lets these through; the compiled grammar does not.
    expect(await grammarAccepts(one({ type: 'integer', minimum: 5 }), '{"x":4}')).toBe(false);
    expect(await grammarAccepts(one({ type: 'integer', minimum: 0, maximum: 120 }), '{"x":125}')).toBe(false);
  });
});
