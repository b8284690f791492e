import type { Message } from '@bufbuild/protobuf';
import type { ChatMessage, GenerationRequest, PromptInput, RouteChoice } from '../../contract/generation-request.js';
import { requestSettings, type SettingGroup, type SettingSpec, type SettingValues } from '../../contract/request-settings.js';
import { parseResponseFormat } from '../../contract/response-format.js';
import { invalidArgument } from '../../errors/registry.js';
import { ChatRole, ChatRoleSchema, Route, RouteSchema, type GenerateRequest, type ResponseFormat } from '../../gen/specroute/v1/generate_pb.js';

const roles: Partial<Record<ChatRole, ChatMessage['role']>> = {
  [ChatRole.SYSTEM]: 'system',
  [ChatRole.USER]: 'user',
  [ChatRole.ASSISTANT]: 'assistant',
};

/**
 * A decoded `specroute.v1.GenerateRequest` as the transport-free `GenerationRequest`. The settings are read by
 * the single description (`src/contract/request-settings.ts`): each proto field is named like its setting, so
 * its generated camelCase name is the setting's field. Only what the wire format itself cannot express is checked
 * here (a missing oneof, an unset enum, `disable` with other fields); ranges are checked once, at admission.
 * `timeoutMs` is what is left of the call's deadline, rounded up to whole milliseconds.
 */
export function toGenerationRequest(message: GenerateRequest, timeoutMs: number | undefined): GenerationRequest {
  rejectUnknownFields(message, '');
  const { maxTokens, topLogprobs, ignoreEos } = settings('request', message);
  const sampling = settings('sampling', message);
  const speculation = message.speculation ? overrides('speculation', message.speculation.disable, settings('speculation', message.speculation)) : undefined;
  const escalation = message.escalation ? overrides('escalation', message.escalation.disable, settings('escalation', message.escalation)) : undefined;
  return {
    model: message.model,
    input: toInput(message),
    ...(maxTokens !== undefined ? { maxTokens } : {}),
    ...(Object.keys(sampling).length > 0 ? { sampling } : {}),
    ...(message.stop.length > 0 ? { stop: message.stop } : {}),
    ...(topLogprobs !== undefined && topLogprobs !== 0 ? { topLogprobs } : {}),
    ...(speculation !== undefined ? { speculation } : {}),
    ...(escalation !== undefined ? { escalation } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs: Math.max(1, Math.ceil(timeoutMs)) } : {}),
    ...(ignoreEos === true ? { ignoreEos: true } : {}),
    ...routeOf(message.route),
    ...responseFormatOf(message.responseFormat),
  };
}

/** The proto `ResponseFormat` as OpenAI's shape, parsed like HTTP's; the schema is JSON text on the wire. */
function responseFormatOf(format: ResponseFormat | undefined): Pick<GenerationRequest, 'responseFormat'> {
  const value = format?.format;
  if (!value?.case) return {};
  if (value.case === 'text') return {};
  if (value.case === 'jsonObject') return { responseFormat: { type: 'json_object' } };
  let schema: unknown;
  try {
    schema = JSON.parse(value.value.schema);
  } catch (error) {
    throw invalidArgument('response_format.json_schema.schema', `response_format.json_schema.schema is not JSON text: ${(error as Error).message}`);
  }
  const { name, strict, description } = value.value;
  const responseFormat = parseResponseFormat({ type: 'json_schema', json_schema: { name, schema, strict, ...(description ? { description } : {}) } });
  return responseFormat ? { responseFormat } : {};
}

/** The proto `Route` as the request's `route`; ROUTE_UNSPECIFIED is the server's default. */
function routeOf(route: Route): { route?: RouteChoice } {
  if (route === Route.UNSPECIFIED) return {};
  const name = RouteSchema.value[route]?.localName.toLowerCase();
  if (name === undefined || !(requestSettings.request.route.values as readonly string[]).includes(name)) {
    throw invalidArgument('route', `route must be ROUTE_AUTO, ROUTE_SLM, ROUTE_HYBRID or ROUTE_FRONTIER, got ${route}`);
  }
  return { route: name as RouteChoice };
}

/** The group's settings that the message sets (proto3 `optional` fields left unset are `undefined`). */
function settings<G extends SettingGroup>(group: G, message: object): Partial<SettingValues<G>> {
  const fields = message as Record<string, unknown>;
  const out: Record<string, number | boolean> = {};
  for (const [field, spec] of Object.entries(requestSettings[group]) as Array<[string, SettingSpec]>) {
    const value = spec.grpc && spec.kind !== 'enum' ? fields[field] : undefined; // enums are proto enums: see `routeOf`
    if (typeof value === 'number' || typeof value === 'boolean') out[field] = value;
  }
  return out as Partial<SettingValues<G>>;
}

function toInput(message: GenerateRequest): PromptInput {
  switch (message.input.case) {
    case 'prompt':
      return { kind: 'text', text: message.input.value };
    case 'chat':
      return {
        kind: 'chat',
        messages: message.input.value.messages.map((m, i) => {
          const role = roles[m.role];
          if (role === undefined) {
            throw invalidArgument(`messages[${i}].role`, `messages[${i}].role must be CHAT_ROLE_SYSTEM, CHAT_ROLE_USER or CHAT_ROLE_ASSISTANT, got ${ChatRoleSchema.value[m.role]?.name ?? m.role}`);
          }
          return { role, content: m.content };
        }),
      };
    default:
      throw invalidArgument('prompt', 'the request needs a prompt or chat messages (the oneof `input` is unset)');
  }
}

/**
 * An override message as `false` (its `disable` is set), the fields it sets, or `undefined` (none set).
 * `disable` with other fields is contradictory and refused.
 */
function overrides<T extends object>(name: 'speculation' | 'escalation', disable: boolean, set: T): T | false | undefined {
  const keys = Object.keys(set).map((field) => (requestSettings[name] as Record<string, SettingSpec>)[field]?.name ?? field);
  if (disable) {
    if (keys.length > 0) throw invalidArgument(`${name}.disable`, `${name}.disable excludes the other ${name} fields (${keys.join(', ')} set)`);
    return false;
  }
  return keys.length > 0 ? set : undefined;
}

/**
 * Fields this server does not know are refused rather than ignored (protobuf's default): a newer client's field
 * (say, a sampling option) would otherwise change the result silently. The error names the message and the
 * field numbers.
 */
function rejectUnknownFields(message: Message, path: string): void {
  const unknown = message.$unknown;
  if (unknown && unknown.length > 0) {
    const numbers = [...new Set(unknown.map((f) => f.no))].join(', ');
    const where = path === '' ? 'the request' : path;
    throw invalidArgument(path === '' ? message.$typeName : path, `${where} has fields this server does not know (${message.$typeName} field number ${numbers})`);
  }
  for (const [key, value] of Object.entries(message)) {
    if (key === '$unknown' || key === '$typeName') continue;
    const at = path === '' ? key : `${path}.${key}`;
    if (isMessage(value)) rejectUnknownFields(value, at);
    else if (Array.isArray(value)) value.forEach((item, i) => isMessage(item) && rejectUnknownFields(item, `${at}[${i}]`));
    else if (isOneof(value) && isMessage(value.value)) rejectUnknownFields(value.value, path === '' ? String(value.case) : `${path}.${String(value.case)}`);
  }
}

function isMessage(value: unknown): value is Message {
  return typeof value === 'object' && value !== null && typeof (value as { $typeName?: unknown }).$typeName === 'string';
}

function isOneof(value: unknown): value is { case: unknown; value: unknown } {
  return typeof value === 'object' && value !== null && 'case' in value;
}
