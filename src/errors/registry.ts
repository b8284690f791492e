/**
 * The one registry of typed errors. Every error specroute raises on purpose has a stable code here,
 * with its HTTP status, its gRPC status code and whether a client may retry it.
 */

/** gRPC status codes (numeric values from grpc/status.proto), kept here so the registry needs no transport import. */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

interface ErrorSpec {
  /** HTTP status sent to clients. */
  readonly http: number;
  /** gRPC status code sent to clients. */
  readonly grpc: GrpcCode;
  /** OpenAI error `type` field. */
  readonly type: string;
  /** Whether the same request may succeed if retried later. */
  readonly retryable: boolean;
}

export const errorRegistry = {
  invalid_argument: { http: 400, grpc: GrpcCode.INVALID_ARGUMENT, type: 'invalid_request_error', retryable: false },
  unauthenticated: { http: 401, grpc: GrpcCode.UNAUTHENTICATED, type: 'authentication_error', retryable: false },
  model_not_found: { http: 404, grpc: GrpcCode.NOT_FOUND, type: 'invalid_request_error', retryable: false },
  /** An unknown service name asked of the gRPC health service. */
  service_not_found: { http: 404, grpc: GrpcCode.NOT_FOUND, type: 'invalid_request_error', retryable: false },
  context_length_exceeded: { http: 400, grpc: GrpcCode.INVALID_ARGUMENT, type: 'invalid_request_error', retryable: false },
  /** HTTP only: a request body that is not JSON (`Content-Type`). */
  unsupported_media_type: { http: 415, grpc: GrpcCode.INVALID_ARGUMENT, type: 'invalid_request_error', retryable: false },
  /** HTTP only: no such route. */
  not_found: { http: 404, grpc: GrpcCode.UNIMPLEMENTED, type: 'invalid_request_error', retryable: false },
  payload_too_large: { http: 413, grpc: GrpcCode.RESOURCE_EXHAUSTED, type: 'invalid_request_error', retryable: false },
  overloaded: { http: 429, grpc: GrpcCode.RESOURCE_EXHAUSTED, type: 'rate_limit_error', retryable: true },
  /** An API key over one of its quotas (`auth.keys[].requestsPerMinute`…); `param` names the limit. */
  quota_exceeded: { http: 429, grpc: GrpcCode.RESOURCE_EXHAUSTED, type: 'rate_limit_error', retryable: true },
  /** An API key asking for a tier it may not use (`auth.keys[].tiers`). */
  permission_denied: { http: 403, grpc: GrpcCode.PERMISSION_DENIED, type: 'permission_error', retryable: false },
  /** `route: frontier` refused by the frontier's limits (`callsPerMinute`, `maxCostPerHour`). */
  frontier_rate_limited: { http: 429, grpc: GrpcCode.RESOURCE_EXHAUSTED, type: 'rate_limit_error', retryable: true },
  /** `route: frontier` while the frontier's breaker is open, or the frontier failed before answering. */
  frontier_unavailable: { http: 503, grpc: GrpcCode.UNAVAILABLE, type: 'server_error', retryable: true },
  deadline_exceeded: { http: 504, grpc: GrpcCode.DEADLINE_EXCEEDED, type: 'timeout_error', retryable: true },
  cancelled: { http: 499, grpc: GrpcCode.CANCELLED, type: 'cancelled', retryable: false },
  shutting_down: { http: 503, grpc: GrpcCode.UNAVAILABLE, type: 'server_error', retryable: true },
  model_load_failed: { http: 500, grpc: GrpcCode.INTERNAL, type: 'server_error', retryable: false },
  /** A model named by URI (`hf:…`, `https://…`) could not be fetched, or did not match the size or sha256 it should have. */
  model_download_failed: { http: 500, grpc: GrpcCode.INTERNAL, type: 'server_error', retryable: false },
  worker_failed: { http: 500, grpc: GrpcCode.INTERNAL, type: 'server_error', retryable: true },
  /**
   * A model worker's thread died under the request (or is being restarted and did not come back in time): the
   * request ends, the worker reloads its model on a new thread, and the same request may then succeed
   * (docs/ARCHITECTURE.md#workers-that-recover).
   */
  model_unavailable: { http: 503, grpc: GrpcCode.UNAVAILABLE, type: 'server_error', retryable: true },
  invalid_model_file: { http: 400, grpc: GrpcCode.INVALID_ARGUMENT, type: 'invalid_request_error', retryable: false },
  unsupported_model: { http: 400, grpc: GrpcCode.FAILED_PRECONDITION, type: 'invalid_request_error', retryable: false },
  internal: { http: 500, grpc: GrpcCode.INTERNAL, type: 'server_error', retryable: false },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorRegistry;

/** The one error class: a stable `code` from the registry, the offending `param` for 4xx errors. */
export class SpecrouteError extends Error {
  override readonly name = 'SpecrouteError';
  readonly code: ErrorCode;
  /** The request field or option at fault, for example `messages[0].content` or `--layers`. */
  readonly param: string | undefined;
  /** For a retryable refusal: how long to wait before retrying, in ms (HTTP `Retry-After`, gRPC `retry-after`). */
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, options: { param?: string; cause?: unknown; retryAfterMs?: number } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.param = options.param;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** Whole seconds to wait before retrying (`Retry-After`): at least 1. */
  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.retryAfterMs ?? 1000) / 1000));
  }

  get httpStatus(): number {
    return errorRegistry[this.code].http;
  }
  get grpcCode(): GrpcCode {
    return errorRegistry[this.code].grpc;
  }
  get retryable(): boolean {
    return errorRegistry[this.code].retryable;
  }
  get type(): string {
    return errorRegistry[this.code].type;
  }
}

/** Shorthand for a 4xx error that names the field at fault. */
export function invalidArgument(param: string, message: string): SpecrouteError {
  return new SpecrouteError('invalid_argument', message, { param });
}

/**
 * Why an aborted signal ended the work: its reason when that is a registry error (a deadline, a shutdown), else
 * `cancelled` with `message`.
 */
export function abortReason(signal: AbortSignal | undefined, message = 'the request was cancelled'): SpecrouteError {
  const reason: unknown = signal?.reason;
  return reason instanceof SpecrouteError ? reason : new SpecrouteError('cancelled', message, { cause: reason });
}

export function isSpecrouteError(error: unknown): error is SpecrouteError {
  return error instanceof SpecrouteError;
}
