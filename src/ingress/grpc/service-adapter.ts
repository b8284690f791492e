/**
 * The bridge between protobuf-es and @grpc/grpc-js (docs/ARCHITECTURE.md#protoc-gen-es-vs-grpc-js): protoc-gen-es v2
 * emits `GenService` descriptors, grpc-js wants a `ServiceDefinition` of paths and (de)serializers. This file
 * maps one to the other, and runs handlers written connect-es style: a unary handler is an async function, a
 * server-streaming handler an async generator, and both get a context whose `signal` carries cancellation and
 * the deadline. Errors thrown by handlers become gRPC statuses through the error registry (`grpc-status.ts`).
 */
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMethod, type DescService, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { SpecrouteError } from '../../errors/registry.js';
import { grpcStatusOf } from './grpc-status.js';
import { diagnoseWire } from './wire-diagnosis.js';

/** grpc-js's `ServiceDefinition` (its methods are typed `any` there), writable while it is built. */
type MutableServiceDefinition = { -readonly [K in keyof grpc.ServiceDefinition]: grpc.ServiceDefinition[K] };

/** The HTTP/2 path of a method: `/package.Service/Method`. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/**
 * The grpc-js `ServiceDefinition` of a protobuf-es service: binary protobuf both ways, with protobuf-es doing the
 * encoding. Keys are the proto method names (`Generate`), with the camelCase local name (`generate`) as grpc-js's
 * `originalName` alias, as @grpc/proto-loader does. Clients use it with `grpc.makeGenericClientConstructor`.
 */
export function grpcServiceDefinition(service: DescService): grpc.ServiceDefinition {
  const definition: MutableServiceDefinition = {};
  for (const method of service.methods) {
    definition[method.name] = {
      path: methodPath(method),
      requestStream: method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming',
      responseStream: method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
      requestSerialize: (message: MessageShape<typeof method.input>) => Buffer.from(toBinary(method.input, message)),
      requestDeserialize: (bytes: Buffer) => fromBinary(method.input, bytes),
      responseSerialize: (message: MessageShape<typeof method.output>) => Buffer.from(toBinary(method.output, message)),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
      originalName: method.localName,
    };
  }
  return definition;
}

/** A grpc-js client class for a protobuf-es service (tests, benchmarks, other Node services). */
export function makeClientConstructor(service: DescService): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(grpcServiceDefinition(service), service.typeName);
}

/** What a handler knows about its call. */
export interface CallContext {
  readonly method: DescMethod;
  /** The client's request metadata. */
  readonly metadata: grpc.Metadata;
  /**
   * Aborts when the client cancels or goes away, when the call's deadline passes (reason: a `deadline_exceeded`
   * SpecrouteError), or when the server is forced down.
   */
  readonly signal: AbortSignal;
  /** Milliseconds left before the client's deadline, or `undefined` when the call has none. */
  remainingMs(): number | undefined;
  /** Sends response headers now (before the first message). Ignored after they went. */
  sendHeader(headers: Readonly<Record<string, string>>): void;
}

type Handler<M extends GenServiceMethods[string]> = M['methodKind'] extends 'unary'
  ? (request: MessageShape<M['input']>, context: CallContext) => Promise<MessageInitShape<M['output']>>
  : M['methodKind'] extends 'server_streaming'
    ? (request: MessageShape<M['input']>, context: CallContext) => AsyncIterable<MessageInitShape<M['output']>>
    : never;

/** One handler per method of the service, by its local (camelCase) name. */
export type ServiceHandlers<S extends GenServiceMethods> = { [K in keyof S]: Handler<S[K]> };

export interface ServiceHooks {
  /** Runs for every call before its message is decoded; throw a SpecrouteError (`unauthenticated`) to refuse it. */
  authorize?(context: CallContext): void;
  /** A call refused before its handler ran: `authorize` threw, or its message was not valid protobuf. */
  onRejected?(context: CallContext, error: SpecrouteError): void;
  /** An error that is not a SpecrouteError (a bug). The client sees INTERNAL without details. */
  onInternalError?(context: CallContext, error: unknown): void;
}

export interface ServiceOptions {
  /**
   * Aborts when the server is forced down (the scheduler's `shutdownSignal`): every call's `signal` aborts with
   * its reason, and a server stream that waits on a client that stopped reading stops waiting and ends with that
   * status.
   */
  shutdown?: AbortSignal;
}

/** A service ready for `server.addService(definition, implementation)`. */
export interface ImplementedService {
  readonly definition: grpc.ServiceDefinition;
  readonly implementation: grpc.UntypedServiceImplementation;
}

/**
 * Binds handlers to a protobuf-es service for a grpc-js server. Requests reach the server undecoded and are
 * decoded here, so bytes that are not a valid message (bad wire format, invalid UTF-8 in a string field) end the
 * call with INVALID_ARGUMENT naming the field at fault (`wire-diagnosis.ts`) instead of grpc-js's bare INTERNAL.
 */
export function implementService<S extends GenServiceMethods>(service: GenService<S>, handlers: ServiceHandlers<S>, hooks: ServiceHooks = {}, options: ServiceOptions = {}): ImplementedService {
  const definition: MutableServiceDefinition = { ...grpcServiceDefinition(service) };
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const handler = handlers[method.localName as keyof S] as unknown as (request: unknown, context: CallContext) => unknown;
    // The server receives raw bytes; `decode` below turns them into the message (or a clear error).
    definition[method.name] = { ...definition[method.name]!, requestDeserialize: (bytes: Buffer) => bytes };
    if (method.methodKind === 'unary') {
      implementation[method.name] = unary(method, handler as (r: unknown, c: CallContext) => Promise<unknown>, hooks, options);
    } else if (method.methodKind === 'server_streaming') {
      implementation[method.name] = serverStreaming(method, handler as (r: unknown, c: CallContext) => AsyncIterable<unknown>, hooks, options);
    } else {
      throw new Error(`${methodPath(method)}: ${method.methodKind} methods are not supported by this adapter`);
    }
  }
  return { definition, implementation };
}

function unary(method: DescMethod, handler: (request: unknown, context: CallContext) => Promise<unknown>, hooks: ServiceHooks, options: ServiceOptions): grpc.handleUnaryCall<Buffer, unknown> {
  return (call, callback) => {
    const { context, dispose } = callContext(method, call, options.shutdown);
    const respond = async (): Promise<void> => {
      const request = decode(method, call.request, context, hooks);
      const response = await handler(request, context);
      callback(null, create(method.output, response as MessageInitShape<typeof method.output>));
    };
    respond()
      .catch((error: unknown) => callback(toStatus(error, context, hooks)))
      .finally(dispose);
  };
}

function serverStreaming(method: DescMethod, handler: (request: unknown, context: CallContext) => AsyncIterable<unknown>, hooks: ServiceHooks, options: ServiceOptions): grpc.handleServerStreamingCall<Buffer, unknown> {
  return (call) => {
    const { context, dispose } = callContext(method, call, options.shutdown);
    const stream = async (): Promise<void> => {
      const request = decode(method, call.request, context, hooks);
      for await (const response of handler(request, context)) {
        // A gone client (or a call grpc-js has ended at its deadline): stop pulling, which returns the handler's
        // generator and runs its cleanup. After any other abort (the server forced down) the call still needs its
        // status: keep pulling, and the handler, which sees the same signal, ends with it.
        if (call.cancelled) return;
        if (!call.write(create(method.output, response as MessageInitShape<typeof method.output>))) await drained(call, context.signal);
      }
      if (call.cancelled) return;
      if (context.signal.aborted) throw context.signal.reason;
      call.end();
    };
    stream()
      .catch((error: unknown) => {
        const status = toStatus(error, context, hooks);
        // After a cancel or a passed deadline grpc-js has ended the call; a status now would go nowhere.
        if (!call.cancelled) call.emit('error', status);
      })
      .finally(dispose);
  };
}

/** Authorizes, then decodes the request bytes. Throws SpecrouteErrors after reporting them as rejections. */
function decode(method: DescMethod, bytes: Buffer, context: CallContext, hooks: ServiceHooks): unknown {
  try {
    hooks.authorize?.(context);
    const invalid = (message: string, param: string, cause?: unknown): SpecrouteError =>
      new SpecrouteError('invalid_argument', `the request is not a valid ${method.input.typeName} message: ${message}`, { param, cause });
    // protobuf-es reads a field by its declared type whatever its wire type, and reports bad bytes without saying
    // where; the wire walk catches both and names the field.
    const problem = diagnoseWire(method.input, bytes);
    if (problem) throw invalid(problem.message, problem.param);
    try {
      return fromBinary(method.input, bytes);
    } catch (error) {
      throw invalid((error as Error).message, method.input.typeName, error);
    }
  } catch (error) {
    if (error instanceof SpecrouteError) hooks.onRejected?.(context, error);
    throw error;
  }
}

function toStatus(error: unknown, context: CallContext, hooks: ServiceHooks): Partial<grpc.StatusObject> {
  if (!(error instanceof SpecrouteError)) hooks.onInternalError?.(context, error);
  return grpcStatusOf(error);
}

/** How close to its deadline a cancelled call counts as having reached it (see `onCancelled`). */
const DEADLINE_CLOCK_SLACK_MS = 50;

type AnyServerCall = grpc.ServerUnaryCall<Buffer, unknown> | grpc.ServerWritableStream<Buffer, unknown>;

function callContext(method: DescMethod, call: AnyServerCall, shutdown: AbortSignal | undefined): { context: CallContext; dispose: () => void } {
  const controller = new AbortController();
  const onShutdown = (): void => controller.abort(shutdown?.reason);
  shutdown?.addEventListener('abort', onShutdown, { once: true });
  if (shutdown?.aborted) onShutdown();
  const deadline = deadlineMs(call.getDeadline());
  const remainingMs = (): number | undefined => (deadline === undefined ? undefined : deadline - Date.now());
  const pastDeadline = (): SpecrouteError => new SpecrouteError('deadline_exceeded', 'the call ran past its deadline');
  // A call with a deadline that ends is the deadline when the server ended it (grpc-js's own deadline timer sent
  // DEADLINE_EXCEEDED), or when the client reset it at or near the deadline (a client that enforces its deadline
  // itself). Node starts timers from the event loop's cached clock, which lags Date.now() by however long the loop
  // turn has run, so either timer can fire before Date.now() reaches the deadline: hence the slack.
  const onCancelled = (): void => {
    const left = remainingMs();
    const deadlineEnded = left !== undefined && (endedByServer(call) === true || left <= DEADLINE_CLOCK_SLACK_MS);
    controller.abort(deadlineEnded ? pastDeadline() : new SpecrouteError('cancelled', 'the client cancelled the call'));
  };
  call.on('cancelled', onCancelled);
  if (call.cancelled) onCancelled();
  // grpc-js answers DEADLINE_EXCEEDED by itself; this makes the work behind the call stop at the same moment.
  const left = remainingMs();
  const timer = left === undefined ? undefined : setTimeout(() => controller.abort(pastDeadline()), Math.max(0, left));
  let headersSent = false;
  const context: CallContext = {
    method,
    metadata: call.metadata,
    signal: controller.signal,
    remainingMs,
    sendHeader(headers) {
      if (headersSent || call.cancelled) return;
      headersSent = true;
      const metadata = new grpc.Metadata();
      for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
      call.sendMetadata(metadata);
    },
  };
  const dispose = (): void => {
    clearTimeout(timer);
    call.off('cancelled', onCancelled);
    shutdown?.removeEventListener('abort', onShutdown);
  };
  return { context, dispose };
}

/**
 * Whether the server ended a cancelled call itself (its HTTP/2 stream still open and never reset), rather than the
 * client resetting it (RST_STREAM) or the connection going away. grpc-js does not say why it cancelled a call, so
 * this reads its call chain down to the stream; `undefined` when a grpc-js version lacks that shape.
 */
function endedByServer(call: AnyServerCall): boolean | undefined {
  type Link = { stream?: { destroyed: boolean; rstCode?: number }; nextCall?: Link };
  let link = (call as unknown as { call?: Link }).call;
  for (let depth = 0; link !== undefined && depth < 8; depth++, link = link.nextCall) {
    if (link.stream) return !link.stream.destroyed && (link.stream.rstCode ?? 0) === 0;
  }
  return undefined;
}

/** A grpc-js deadline as epoch milliseconds; `undefined` for none (Infinity). */
function deadlineMs(deadline: grpc.Deadline): number | undefined {
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : undefined;
}

/** Resolves when the stream can take more, or when the call is aborted (then writing is pointless anyway). */
function drained(call: grpc.ServerWritableStream<Buffer, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    call.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
