import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import type { GenerationRequest } from '../../src/contract/generation-request.js';
import { allSettings, inRange, requestSettings, type SettingGroup, type SettingSpec } from '../../src/contract/request-settings.js';
import { SpecrouteError } from '../../src/errors/registry.js';
import { EscalationOverrideSchema, GenerateRequestSchema, RouteSchema, SpeculationOverrideSchema } from '../../src/gen/specroute/v1/generate_pb.js';
import { toGenerationRequest } from '../../src/ingress/grpc/generate-request.js';
import { parseChatRequest, parseCompletionRequest, renameParam } from '../../src/ingress/http/openai-request.js';
import { chatCompletionBodySchema, completionBodySchema } from '../../src/ingress/http/schemas.js';
import { validateGenerationRequest } from '../../src/scheduler/validate.js';
import { create } from '@bufbuild/protobuf';
import { refusal } from '../helpers/refusal.js';

/**
 * The single description of request settings (src/contract/request-settings.ts) against everything built from
 * it: the config schema, per-request validation, the HTTP JSON schema and parsing, gRPC parsing. A setting whose
 * range differs anywhere, or whose wire name is spelled differently on one transport, fails here.
 */

const settings = allSettings();
const camel = (name: string): string => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** A valid value other than the default, to see it reach the request. */
function sample(spec: SettingSpec): unknown {
  if (spec.kind === 'boolean') return true;
  if (spec.kind === 'enum') return spec.values.find((v) => v !== spec.default);
  return spec.max ?? spec.min + 1;
}

/** Values on both sides of each bound, and of the wrong type. */
function probes(spec: SettingSpec): unknown[] {
  if (spec.kind === 'boolean') return [true, false, 0, 1, 'true', null];
  if (spec.kind === 'enum') return [...spec.values, `${spec.values[0]}x`, spec.values[0]!.toUpperCase(), '', 0, true, null];
  const step = spec.kind === 'integer' ? 1 : 1e-6;
  const values: unknown[] = [spec.min, spec.min - step, spec.min + step, spec.min - 1, true, '1', Number.NaN, Number.POSITIVE_INFINITY];
  if (spec.kind === 'integer') values.push(spec.min + 0.5);
  if (spec.max !== undefined) values.push(spec.max, spec.max + step, spec.max - step, spec.max + 1);
  else values.push(1e9);
  return values;
}

/**
 * The other bound of γ, set to its extreme next to a probed one, so that the one rule between settings
 * (`min ≤ max`, the same for both) does not hide the range of the probed one.
 */
function companion(group: SettingGroup, field: string): Record<string, number> {
  if (group !== 'speculation') return {};
  return field === 'min' ? { max: requestSettings.speculation.max.max } : field === 'max' ? { min: requestSettings.speculation.min.min } : {};
}

/** A minimal valid config with `value` at the dotted `path`. */
function configWith(path: string, value: unknown, extra: Record<string, unknown> = {}): unknown {
  const config: Record<string, unknown> = { model: { verifier: { path: 'v.gguf' } } };
  const keys = path.split('.');
  let at = config;
  for (const key of keys.slice(0, -1)) at = (at[key] ??= {}) as Record<string, unknown>;
  Object.assign(at, extra);
  at[keys[keys.length - 1]!] = value;
  return config;
}

function requestWith(group: SettingGroup, field: string, value: unknown): GenerationRequest {
  const base: GenerationRequest = { model: 'm', input: { kind: 'text', text: 'Once' } };
  return (group === 'request' ? { ...base, [field]: value } : { ...base, [group]: { ...companion(group, field), [field]: value } }) as GenerationRequest;
}

function requestAccepts(group: SettingGroup, field: string, value: unknown): boolean {
  try {
    validateGenerationRequest(requestWith(group, field, value));
    return true;
  } catch (error) {
    if (error instanceof SpecrouteError && error.code === 'invalid_argument') return false;
    throw error;
  }
}

function readPath(value: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], value);
}

describe('the request settings description', () => {
  it('names each field the camelCase of its wire name, and every wire name once', () => {
    for (const { field, spec } of settings) expect(field).toBe(camel(spec.name));
    const wires = settings.map((s) => s.wire);
    expect(new Set(wires).size).toBe(wires.length);
  });

  for (const { group, field, wire, spec } of settings) {
    describe(wire, () => {
      it('the request accepts exactly the values the description does', () => {
        for (const value of probes(spec)) {
          // Request validation checks ranges; JSON schema and protobuf check types before it.
          if (spec.kind !== 'boolean' && typeof value !== 'number') continue;
          if (spec.kind === 'boolean' && typeof value !== 'boolean') continue;
          expect(requestAccepts(group, field, value), `${wire} = ${String(value)}`).toBe(inRange(spec, value));
        }
      });

      if (spec.config !== undefined) {
        const key = spec.config;
        it(`the config key ${key} accepts exactly the same values, and defaults to the description's default`, () => {
          for (const value of probes(spec)) {
            if (typeof value === 'number' && !Number.isFinite(value)) continue; // YAML has no NaN literal here
            expect(configSchema.safeParse(configWith(key, value, companion(group, field))).success, `${key} = ${String(value)}`).toBe(inRange(spec, value));
          }
          const parsed = configSchema.parse(configWith('modelsDir', '.'));
          expect(readPath(parsed, key)).toBe(spec.default);
        });
      }

      if (spec.grpc) {
        it('gRPC has a field of the same name and type, and parses it into the same place', () => {
          const message: DescMessage = group === 'speculation' ? SpeculationOverrideSchema : group === 'escalation' ? EscalationOverrideSchema : GenerateRequestSchema;
          const desc = message.fields.find((f) => f.name === spec.name);
          expect(desc, `${message.typeName}.${spec.name}`).toBeDefined();
          expect(desc!.localName).toBe(field);
          expect(scalarKind(desc!)).toBe(spec.kind);
          const value = sample(spec);
          const wireValue = spec.kind === 'enum' ? RouteSchema.values.find((v) => v.localName.toLowerCase() === value)!.number : value;
          const init = group === 'speculation' || group === 'escalation' ? { [group]: { [field]: wireValue } } : { [field]: wireValue };
          const parsed = toGenerationRequest(create(GenerateRequestSchema, { model: 'm', input: { case: 'prompt', value: 'x' }, ...init }), undefined);
          expect(group === 'request' ? parsed[field as keyof GenerationRequest] : (parsed[group] as Record<string, unknown>)[field]).toBe(value);
        });
      } else {
        it('gRPC carries it as the call deadline', () => {
          expect(wire).toBe('timeout_ms');
          expect(toGenerationRequest(create(GenerateRequestSchema, { model: 'm', input: { case: 'prompt', value: 'x' } }), 99.2).timeoutMs).toBe(100);
        });
      }

      it('the HTTP JSON schema types it where the description puts it, and parsing reads it', () => {
        const value = sample(spec);
        const inExtension = spec.http === 'extension';
        const holder = group === 'speculation' || group === 'escalation' ? { specroute: { [group]: { [spec.name]: value } } } : inExtension ? { specroute: { [spec.name]: value } } : { [spec.name]: value };
        const properties = (schema: { properties: Record<string, unknown> }): Record<string, { type: string | string[]; properties?: Record<string, unknown> }> =>
          schema.properties as Record<string, { type: string | string[]; properties?: Record<string, unknown> }>;
        const where = inExtension ? (group === 'request' ? properties(chatCompletionBodySchema).specroute!.properties! : (properties(chatCompletionBodySchema).specroute!.properties![group] as { properties: Record<string, unknown> }).properties) : properties(chatCompletionBodySchema);
        const typed = where[spec.name] as { type: string | string[] } | undefined;
        expect(typed, `${wire} in the chat body schema`).toBeDefined();
        expect([typed!.type].flat()).toContain(spec.kind === 'enum' ? 'string' : spec.kind);
        const parsed = parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], ...(wire === 'top_logprobs' ? { logprobs: true } : {}), ...holder }).generation;
        expect(group === 'request' ? parsed[field as keyof GenerationRequest] : (parsed[group] as Record<string, unknown>)[field]).toBe(value);
        if (wire !== 'top_logprobs') expect(Object.keys(properties(completionBodySchema))).toEqual(expect.arrayContaining(Object.keys(holder)));
      });
    });
  }

  it('an out-of-range value is refused naming the field by the name the HTTP request used', () => {
    const chat = parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], min_p: 1.5 });
    expect(renameParam(refusal(() => validateGenerationRequest(chat.generation)), chat.params)).toMatchObject({ param: 'min_p', message: 'min_p must be between 0 and 1, got 1.5' });
    const ext = parseCompletionRequest({ model: 'm', prompt: 'x', specroute: { escalation: { window: 300 } } });
    expect(renameParam(refusal(() => validateGenerationRequest(ext.generation)), ext.params)).toMatchObject({ param: 'specroute.escalation.window' });
    expect(requestSettings.sampling.minP).toMatchObject({ min: 0, max: 1, default: 0, config: 'sampling.minP' });
  });
});

function scalarKind(field: DescField): string {
  if (field.fieldKind !== 'scalar') return field.fieldKind;
  switch (field.scalar) {
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return 'number';
    case ScalarType.BOOL:
      return 'boolean';
    default:
      return 'integer';
  }
}
