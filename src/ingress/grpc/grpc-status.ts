import * as grpc from '@grpc/grpc-js';
import { isSpecrouteError } from '../../errors/registry.js';

/** Trailer with the registry's stable error code (`invalid_argument`, `overloaded`…). */
export const ERROR_CODE_TRAILER = 'specroute-error-code';
/** Trailer with the offending request field as a path into the proto message (`chat.messages[1].content`). */
export const PARAM_TRAILER = 'specroute-param';
/** Trailer saying whether the same call may succeed later (`true` / `false`). */
export const RETRYABLE_TRAILER = 'specroute-retryable';
/** Trailer with the seconds to wait before retrying a refusal (as HTTP's `Retry-After`). */
export const RETRY_AFTER_TRAILER = 'retry-after';

/**
 * The gRPC status for an error: code from the registry, its message (which names the field at fault) as
 * details, and the code, field and retryability as trailers. Anything that is not a SpecrouteError is a bug and
 * becomes INTERNAL without details, so internals never leak.
 */
export function grpcStatusOf(error: unknown): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (!isSpecrouteError(error)) {
    metadata.set(ERROR_CODE_TRAILER, 'internal');
    return { code: grpc.status.INTERNAL, details: 'internal error', metadata };
  }
  metadata.set(ERROR_CODE_TRAILER, error.code);
  metadata.set(RETRYABLE_TRAILER, String(error.retryable));
  if (error.param !== undefined) metadata.set(PARAM_TRAILER, protoFieldPath(error.param));
  if (error.retryAfterMs !== undefined) metadata.set(RETRY_AFTER_TRAILER, String(error.retryAfterSeconds));
  return { code: error.grpcCode, details: error.message, metadata };
}

/**
 * Maps a shared request parameter name (snake_case wire names, as `validateGenerationRequest` gives them) to the
 * field path in `specroute.v1.GenerateRequest`, where the two differ: chat messages sit under `chat`, and the
 * request timeout is the call's deadline.
 */
export function protoFieldPath(param: string): string {
  if (param === 'messages' || param.startsWith('messages[')) return `chat.${param}`;
  if (param === 'timeout_ms') return 'grpc-timeout';
  return param;
}
