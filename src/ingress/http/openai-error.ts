import type { FastifyError, FastifySchemaValidationError } from 'fastify';
import { errorRegistry, SpecrouteError, type ErrorCode } from '../../errors/registry.js';

/** OpenAI's error body: `{error: {message, type, param, code}}`. `code` is specroute's registry code. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: ErrorCode };
}

export interface HttpError {
  readonly status: number;
  readonly body: OpenAIErrorBody;
  readonly headers: Readonly<Record<string, string>>;
  /** A server fault (5xx that is not a plain "busy" or "too slow"): log the original error. */
  readonly internal: boolean;
}

/** 5xx codes whose own message is safe and useful to show (no paths, no stack, no worker details). */
const SAFE_SERVER_MESSAGES: ReadonlySet<ErrorCode> = new Set(['shutting_down', 'deadline_exceeded', 'model_unavailable']);
const GENERIC_SERVER_MESSAGE = 'the server hit an internal error; it has been logged';

/**
 * Maps anything thrown while serving a request to the OpenAI error shape and the registry's HTTP status:
 * `SpecrouteError`s as they are, fastify's own errors (schema validation, body limits, media type) to the
 * registry codes, anything else to a 500 whose message leaks nothing.
 */
export function toHttpError(error: unknown, body?: unknown): HttpError {
  const specroute = error instanceof SpecrouteError ? error : fromFastifyError(error, body);
  if (!specroute) return build('internal', GENERIC_SERVER_MESSAGE, undefined, true);
  const status = specroute.httpStatus;
  const internal = status >= 500 && !SAFE_SERVER_MESSAGES.has(specroute.code);
  return build(specroute.code, internal ? GENERIC_SERVER_MESSAGE : specroute.message, specroute.param, internal, specroute.retryAfterSeconds);
}

function build(code: ErrorCode, message: string, param: string | undefined, internal: boolean, retryAfterSeconds = 1): HttpError {
  const spec = errorRegistry[code];
  const headers: Record<string, string> = {};
  if (spec.http === 429 || spec.http === 503) headers['retry-after'] = String(retryAfterSeconds);
  if (spec.http === 401) headers['www-authenticate'] = 'Bearer';
  return { status: spec.http, body: { error: { message, type: spec.type, param: param ?? null, code } }, headers, internal };
}

function isFastifyError(error: unknown): error is FastifyError {
  return error instanceof Error && typeof (error as Partial<FastifyError>).code === 'string';
}

function fromFastifyError(error: unknown, body: unknown): SpecrouteError | undefined {
  if (!isFastifyError(error)) return undefined;
  if (error.validation) return fromValidation(error.validation, error.validationContext, body);
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new SpecrouteError('payload_too_large', 'the request body is larger than this server accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new SpecrouteError('unsupported_media_type', 'send the request body as JSON with Content-Type: application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new SpecrouteError('invalid_argument', 'the request body is empty; send a JSON object');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new SpecrouteError('invalid_argument', 'the Content-Length header does not match the request body');
  }
  // Other client errors fastify raises itself (a malformed URL, a bad header): say what fastify says, as a 400.
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return new SpecrouteError('invalid_argument', error.message);
  return undefined;
}

/**
 * One ajv error → one 400 naming the field by its wire path (`messages[0].content`). Of several errors (the
 * branches of a union type), the deepest one says most: the value matched the outer shape and failed inside.
 */
function fromValidation(errors: FastifySchemaValidationError[], context: string | undefined, body: unknown): SpecrouteError {
  const deepest = [...errors].sort((a, b) => depth(b) - depth(a))[0];
  if (!deepest) return new SpecrouteError('invalid_argument', 'the request is invalid');
  if (context !== undefined && context !== 'body') {
    return new SpecrouteError('invalid_argument', `the request's ${context} ${deepest.message ?? 'is invalid'}`);
  }
  let path = pointerToPath(deepest.instancePath, body);
  const params = deepest.params as Record<string, unknown>;
  if (deepest.keyword === 'required' && typeof params['missingProperty'] === 'string') {
    path = joinPath(path, params['missingProperty']);
    return new SpecrouteError('invalid_argument', `${path} is required`, { param: path });
  }
  if (path === '') return new SpecrouteError('invalid_argument', 'the request body must be a JSON object');
  return new SpecrouteError('invalid_argument', `${path} ${describe(deepest)}`, { param: path });
}

function depth(error: FastifySchemaValidationError): number {
  const segments = error.instancePath === '' ? 0 : error.instancePath.split('/').length - 1;
  // Prefer a concrete failure over the union's own "must match a schema in anyOf" at the same depth.
  return segments * 2 + (error.keyword === 'anyOf' || error.keyword === 'oneOf' ? 0 : 1);
}

function describe(error: FastifySchemaValidationError): string {
  const params = error.params as Record<string, unknown>;
  const got = 'data' in error ? typeName((error as { data?: unknown }).data) : undefined;
  switch (error.keyword) {
    case 'type': {
      const expected = String(params['type']).split(',').join(' or ');
      return `must be ${expected}${got ? `, got ${got}` : ''}`;
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `must be ${String(params['comparison'])} ${String(params['limit'])}`;
    case 'const':
      return `must be ${JSON.stringify(params['allowedValue'])}`;
    case 'enum':
      return `must be one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return error.message ?? 'is invalid';
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/**
 * `/messages/0/content` → `messages[0].content`. With the document at hand, a numeric segment is an index only
 * inside an array (`logit_bias.50256` is an object key).
 */
export function pointerToPath(pointer: string, document?: unknown): string {
  if (pointer === '') return '';
  let node: unknown = document;
  let path = '';
  for (const segment of pointer.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))) {
    const isIndex = /^\d+$/.test(segment) && (document === undefined || Array.isArray(node));
    path = isIndex ? `${path}[${segment}]` : joinPath(path, segment);
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[segment] : undefined;
  }
  return path;
}

function joinPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}
