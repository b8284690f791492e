import type { Message } from '@bufbuild/protobuf';
import { invalidArgument } from '../../errors/registry.js';
import type { EscalationPolicyOptions } from '../../escalation/policy.js';
import { ChatRole, ChatRoleSchema, type EscalationOverride, type GenerateRequest, type SpeculationOverride } from '../../gen/specroute/v1/generate_pb.js';
import type { SpeculationOptions } from '../../pipeline/generate-options.js';
import type { SamplingParams } from '../../sampling/params.js';
import type { ChatMessage, GenerationRequest, PromptInput } from '../../scheduler/generation-request.js';

const roles: Partial<Record<ChatRole, ChatMessage['role']>> = {
  [ChatRole.SYSTEM]: 'system',
  [ChatRole.USER]: 'user',
  [ChatRole.ASSISTANT]: 'assistant',
};

/**
 * A decoded `specroute.v1.GenerateRequest` as the transport-free `GenerationRequest`. Only what the wire format
 * itself cannot express is checked here (a missing oneof, an unset enum, conflicting speculation fields); range
 * checks live once, in the scheduler's `validateGenerationRequest`. `timeoutMs` is what is left of the call's
 * deadline.
 */
export function toGenerationRequest(message: GenerateRequest, timeoutMs: number | undefined): GenerationRequest {
  rejectUnknownFields(message, '');
  const sampling: Partial<SamplingParams> = {
    ...(message.temperature !== undefined ? { temperature: message.temperature } : {}),
    ...(message.topK !== undefined ? { topK: message.topK } : {}),
    ...(message.topP !== undefined ? { topP: message.topP } : {}),
    ...(message.seed !== undefined ? { seed: message.seed } : {}),
  };
  const speculation = message.speculation ? toSpeculation(message.speculation) : undefined;
  const escalation = message.escalation ? toEscalation(message.escalation) : undefined;
  return {
    model: message.model,
    input: toInput(message),
    ...(message.maxTokens !== undefined ? { maxTokens: message.maxTokens } : {}),
    ...(Object.keys(sampling).length > 0 ? { sampling } : {}),
    ...(message.stop.length > 0 ? { stop: message.stop } : {}),
    ...(message.topLogprobs !== 0 ? { topLogprobs: message.topLogprobs } : {}),
    ...(speculation !== undefined ? { speculation } : {}),
    ...(escalation !== undefined ? { escalation } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(message.ignoreEos ? { ignoreEos: true } : {}),
  };
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

function toSpeculation(override: SpeculationOverride): Partial<SpeculationOptions> | false | undefined {
  return overrides<SpeculationOptions>('speculation', override.disable, {
    min: override.min,
    max: override.max,
    initial: override.initial,
    adaptive: override.adaptive,
    pMin: override.pMin,
  });
}

function toEscalation(override: EscalationOverride): Partial<EscalationPolicyOptions> | false | undefined {
  return overrides<EscalationPolicyOptions>('escalation', override.disable, {
    window: override.window,
    minConfidence: override.minConfidence,
    minMargin: override.minMargin,
    maxEntropy: override.maxEntropy,
    spanTokens: override.spanTokens,
    cooldownTokens: override.cooldownTokens,
  });
}

/**
 * An override message as `false` (its `disable` is set), the fields it sets, or `undefined` (none set).
 * `disable` with other fields is contradictory and refused.
 */
function overrides<T>(name: string, disable: boolean, fields: { [K in keyof T]?: T[K] | undefined }): Partial<T> | false | undefined {
  const set = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;
  const keys = Object.keys(set).map((key) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
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
