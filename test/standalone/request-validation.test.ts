import { describe, expect, it } from 'vitest';
import { checkSettings, checkSpeculationBounds, speculationBoundsHold } from '../../src/contract/check-settings.js';
import type { GenerationRequest } from '../../src/contract/generation-request.js';
import { allSettings, describeRange, inRange, requestSettings, settingDefaults, wireName, type SettingSpec } from '../../src/contract/request-settings.js';
import { MAX_STOP_SEQUENCES, validateGenerationRequest } from '../../src/scheduler/validate.js';
import { refusal } from '../helpers/refusal.js';

/**
 * Admission-time validation (src/scheduler/validate.ts) and the contract helpers it stands on
 * (src/contract/check-settings.ts, request-settings.ts): what is refused, and the wire name and message of the
 * refusal. test/standalone/request-settings.test.ts walks the ranges of every setting.
 */

const text = (t: string, over: Partial<GenerationRequest> = {}): GenerationRequest => ({ model: 'm', input: { kind: 'text', text: t }, ...over });
const chat = (messages: Array<{ role: string; content: string }>): GenerationRequest => ({ model: 'm', input: { kind: 'chat', messages } }) as GenerationRequest;

function expectRefused(request: GenerationRequest, param: string, message: string | RegExp, server?: Parameters<typeof validateGenerationRequest>[1]): void {
  const error = refusal(() => validateGenerationRequest(request, server));
  expect(error.code).toBe('invalid_argument');
  expect(error.param).toBe(param);
  if (typeof message === 'string') expect(error.message).toBe(message);
  else expect(error.message).toMatch(message);
}

describe('validateGenerationRequest', () => {
  it('accepts a plain text request and a chat request', () => {
    expect(() => validateGenerationRequest(text('Once upon a time'))).not.toThrow();
    expect(() => validateGenerationRequest(chat([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }, { role: 'assistant', content: '' }]))).not.toThrow();
  });

  it('requires a model id', () => {
    expectRefused(text('x', { model: '' }), 'model', 'model is required');
    expectRefused({ input: { kind: 'text', text: 'x' } } as unknown as GenerationRequest, 'model', 'model is required');
    expectRefused(text('x', { model: 42 as unknown as string }), 'model', 'model is required');
  });

  it('refuses an empty prompt or an empty message list, and a message of an unknown role', () => {
    expectRefused(text(''), 'prompt', 'prompt must not be empty');
    expectRefused(chat([]), 'messages', 'messages must hold at least one message');
    expectRefused(chat([{ role: 'user', content: 'a' }, { role: 'tool', content: 'b' }]), 'messages[1].role', 'messages[1].role must be one of system, user, assistant');
  });

  it('refuses text that is not valid Unicode or holds a NUL, naming where', () => {
    expectRefused(text('a\uD800b'), 'prompt', 'prompt is not valid Unicode (unpaired surrogate or invalid UTF-8)');
    expectRefused(text('a\uDC00'), 'prompt', /not valid Unicode/);
    expectRefused(text('\uDFFFb'), 'prompt', /not valid Unicode/);
    expectRefused(text('a\uD800'), 'prompt', /not valid Unicode/);
    expectRefused(text('\uDBFF\uDBFF\uDC00'), 'prompt', /not valid Unicode/);
    expectRefused(text('a\u0000b'), 'prompt', 'prompt contains a NUL character');
    expectRefused(chat([{ role: 'user', content: 'ok' }, { role: 'user', content: 'x\uD83D' }]), 'messages[1].content', 'messages[1].content is not valid Unicode (unpaired surrogate or invalid UTF-8)');
    expectRefused(chat([{ role: 'user', content: '\u0000' }]), 'messages[0].content', 'messages[0].content contains a NUL character');
    // Well-formed surrogate pairs (emoji, astral CJK) are text like any other.
    expect(() => validateGenerationRequest(text('\uD83D\uDE00 𠀀 \uDBFF\uDFFF'))).not.toThrow();
  });

  it('takes up to four non-empty, well-formed stop sequences', () => {
    expect(MAX_STOP_SEQUENCES).toBe(4);
    expect(() => validateGenerationRequest(text('x', { stop: ['a', 'b', 'c', 'd'] }))).not.toThrow();
    expect(() => validateGenerationRequest(text('x', { stop: [] }))).not.toThrow();
    expectRefused(text('x', { stop: ['a', 'b', 'c', 'd', 'e'] }), 'stop', 'stop takes at most 4 sequences');
    expectRefused(text('x', { stop: ['a', ''] }), 'stop[1]', 'stop sequences must not be empty');
    expectRefused(text('x', { stop: ['\uD800'] }), 'stop[0]', 'stop[0] is not valid Unicode (unpaired surrogate or invalid UTF-8)');
    expectRefused(text('x', { stop: ['a', 'b\u0000'] }), 'stop[1]', 'stop[1] contains a NUL character');
  });

  it('checks every group of settings by its wire name', () => {
    expectRefused(text('x', { maxTokens: 0 }), 'max_tokens', 'max_tokens must be a positive integer, got 0');
    expectRefused(text('x', { topLogprobs: 21 }), 'top_logprobs', 'top_logprobs must be an integer from 0 to 20, got 21');
    expectRefused(text('x', { timeoutMs: 0.5 }), 'timeout_ms', 'timeout_ms must be a positive integer, got 0.5');
    expectRefused(text('x', { ignoreEos: 1 as unknown as boolean }), 'ignore_eos', 'ignore_eos must be true or false, got 1');
    expectRefused(text('x', { sampling: { topP: 0 } }), 'top_p', 'top_p must be in (0, 1], got 0');
    expectRefused(text('x', { speculation: { pMin: 2 } }), 'speculation.p_min', 'speculation.p_min must be between 0 and 1, got 2');
    expectRefused(text('x', { escalation: { window: 0 } }), 'escalation.window', 'escalation.window must be an integer from 1 to 256, got 0');
  });

  it('checks min ≤ max of speculation after merging the request over the server\'s settings', () => {
    expectRefused(text('x', { speculation: { min: 5, max: 3 } }), 'speculation.min', 'speculation.min (5) must not exceed speculation.max (3)');
    expectRefused(text('x', { speculation: { min: 5 } }), 'speculation.min', 'speculation.min (5) must not exceed speculation.max (4)', { max: 4 });
    expectRefused(text('x', { speculation: { max: 1 } }), 'speculation.min', 'speculation.min (2) must not exceed speculation.max (1)', { min: 2, max: 8 });
    expect(() => validateGenerationRequest(text('x', { speculation: { max: 4 } }), { min: 2, max: 8 })).not.toThrow();
    expect(() => validateGenerationRequest(text('x', { speculation: { min: 4, max: 4 } }))).not.toThrow();
    // The request's own values win over the server's.
    expect(() => validateGenerationRequest(text('x', { speculation: { min: 1, max: 2 } }), { min: 6, max: 8 })).not.toThrow();
  });

  it('takes false for speculation and escalation (verifier-only, never escalate) without checking further', () => {
    expect(() => validateGenerationRequest(text('x', { speculation: false, escalation: false }), { min: 9, max: 1 })).not.toThrow();
  });

  it('leaves absent settings to the server\'s defaults', () => {
    expect(() => validateGenerationRequest(text('x', { maxTokens: undefined, sampling: { temperature: undefined } }))).not.toThrow();
  });
});

describe('checkSettings and the speculation bounds', () => {
  it('checks only the fields present and known to the group', () => {
    expect(() => checkSettings('sampling', { temperature: 1, notASetting: -5, topK: undefined })).not.toThrow();
    const error = refusal(() => checkSettings('sampling', { temperature: 2.5 }));
    expect(error).toMatchObject({ code: 'invalid_argument', param: 'temperature', message: 'temperature must be between 0 and 2, got 2.5' });
    expect(refusal(() => checkSettings('escalation', { minConfidence: -0.1 })).message).toBe('escalation.min_confidence must be between 0 and 1, got -0.1');
  });

  it('speculationBoundsHold: min ≤ max when both are known', () => {
    expect(speculationBoundsHold({ min: 2, max: 3 })).toBe(true);
    expect(speculationBoundsHold({ min: 3, max: 3 })).toBe(true);
    expect(speculationBoundsHold({ min: 4, max: 3 })).toBe(false);
    expect(speculationBoundsHold({ min: 4 })).toBe(true);
    expect(speculationBoundsHold({ max: 0 })).toBe(true);
    expect(speculationBoundsHold({})).toBe(true);
  });

  it('checkSpeculationBounds names <prefix>.min', () => {
    expect(() => checkSpeculationBounds({ min: 1, max: 1 }, 'x')).not.toThrow();
    expect(refusal(() => checkSpeculationBounds({ min: 2, max: 1 }, 'specroute.speculation'))).toMatchObject({
      param: 'specroute.speculation.min',
      message: 'specroute.speculation.min (2) must not exceed specroute.speculation.max (1)',
    });
  });
});

describe('request-settings helpers', () => {
  const integer = (min: number, max?: number): SettingSpec => ({ name: 'n', doc: '', http: 'body', grpc: true, kind: 'integer', min, max, default: undefined });
  const number = (min: number, max?: number, minExclusive = false): SettingSpec => ({ name: 'x', doc: '', http: 'body', grpc: true, kind: 'number', min, max, minExclusive, default: undefined });
  const boolean: SettingSpec = { name: 'b', doc: '', http: 'body', grpc: true, kind: 'boolean', default: false };
  const tiers: SettingSpec = { name: 'route', doc: '', http: 'extension', grpc: true, kind: 'enum', values: ['auto', 'slm'], default: 'auto' };

  it('describeRange puts each kind of range in words', () => {
    expect(describeRange(boolean)).toBe('true or false');
    expect(describeRange(integer(0, 64))).toBe('an integer from 0 to 64');
    expect(describeRange(integer(1))).toBe('a positive integer');
    expect(describeRange(integer(0))).toBe('a non-negative integer');
    expect(describeRange(integer(5))).toBe('an integer ≥ 5');
    expect(describeRange(number(0))).toBe('a number ≥ 0');
    expect(describeRange(number(0, undefined, true))).toBe('a number > 0');
    expect(describeRange(number(0, 1))).toBe('between 0 and 1');
    expect(describeRange(number(0, 1, true))).toBe('in (0, 1]');
    expect(describeRange(tiers)).toBe('one of auto, slm');
  });

  it('inRange: type, finiteness, integrality and bounds (min exclusive when said)', () => {
    expect([true, false, 0, 'true', null, undefined].map((v) => inRange(boolean, v))).toEqual([true, true, false, false, false, false]);
    const i = integer(1, 3);
    expect([1, 3, 2, 0, 4, 1.5, '2', Number.NaN, Infinity].map((v) => inRange(i, v))).toEqual([true, true, true, false, false, false, false, false, false]);
    expect(inRange(integer(1), 1e12)).toBe(true);
    // An enum takes exactly its words: not another word, another case, or a number.
    expect(['auto', 'slm', 'hybrid', 'AUTO', '', 0, null].map((v) => inRange(tiers, v))).toEqual([true, true, false, false, false, false, false]);
    expect(inRange(integer(1), -Infinity)).toBe(false);
    const open = number(0, 1, true);
    expect([0, 1e-9, 1, 1.0000001, 0.5, -0].map((v) => inRange(open, v))).toEqual([false, true, true, false, true, false]);
    expect([0, 1.5, -1e-9].map((v) => inRange(number(0, 2), v))).toEqual([true, true, false]);
    expect(inRange(number(0), 1e300)).toBe(true);
    // Unbounded above: still a finite number.
    expect([Infinity, Number.NaN, '2', null].map((v) => inRange(number(0), v))).toEqual([false, false, false, false]);
  });

  it('wireName prefixes the speculation and escalation groups only', () => {
    expect(wireName('request', requestSettings.request.maxTokens)).toBe('max_tokens');
    expect(wireName('sampling', requestSettings.sampling.minP)).toBe('min_p');
    expect(wireName('speculation', requestSettings.speculation.pMin)).toBe('speculation.p_min');
    expect(wireName('escalation', requestSettings.escalation.spanTokens)).toBe('escalation.span_tokens');
  });

  it('allSettings lists every setting of every group once, in table order, with its wire name', () => {
    const all = allSettings();
    const expected = Object.entries(requestSettings).flatMap(([group, specs]) => Object.keys(specs).map((field) => `${group}.${field}`));
    expect(all.map((s) => `${s.group}.${s.field}`)).toEqual(expected);
    for (const s of all) {
      expect(s.spec).toBe((requestSettings[s.group] as Record<string, SettingSpec>)[s.field]);
      expect(s.wire).toBe(wireName(s.group, s.spec));
    }
  });

  it('settingDefaults gives each group\'s defaults, leaving out settings without one (the seed)', () => {
    for (const group of Object.keys(requestSettings) as Array<keyof typeof requestSettings>) {
      const specs = Object.entries(requestSettings[group]) as Array<[string, SettingSpec]>;
      expect(settingDefaults(group), group).toEqual(Object.fromEntries(specs.filter(([, s]) => s.default !== undefined).map(([field, s]) => [field, s.default])));
      expect(Object.keys(settingDefaults(group)).length, group).toBeGreaterThan(0);
    }
    expect(settingDefaults('sampling')).toMatchObject({ temperature: 0, topP: 1 });
    expect('seed' in settingDefaults('sampling')).toBe(false);
  });
});
