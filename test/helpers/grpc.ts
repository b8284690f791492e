/**
 * gRPC test clients built from the same generated code the server uses (src/gen/ through the service adapter),
 * plus a raw client that sends arbitrary bytes for hostile-input tests.
 */
import * as grpc from '@grpc/grpc-js';
import { connect, type IncomingHttpHeaders } from 'node:http2';
import { once } from 'node:events';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { Health, HealthCheckRequestSchema, type HealthCheckResponse } from '../../src/gen/grpc/health/v1/health_pb.js';
import {
  GenerateRequestSchema,
  GenerationService,
  ListModelsRequestSchema,
  type GenerateResponse,
  type ListModelsResponse,
} from '../../src/gen/specroute/v1/generate_pb.js';
import { makeClientConstructor, methodPath } from '../../src/ingress/grpc/service-adapter.js';

export const GENERATE_PATH = methodPath(GenerationService.method.generate);
export const LIST_MODELS_PATH = methodPath(GenerationService.method.listModels);

export interface CallOptions {
  /** Extra metadata, such as `{ authorization: 'Bearer …' }`. */
  metadata?: Record<string, string | Buffer>;
  /** Milliseconds from now: the client's own deadline (grpc-js also sends it to the server as `grpc-timeout`). */
  deadlineMs?: number;
  /**
   * A `grpc-timeout` header value (`300m`, `0n`…) sent as plain metadata on a call with no client deadline:
   * the client never ends the call itself, so only the server can enforce it.
   */
  serverTimeout?: string;
}

/** How a call ended: its messages and final status (never throws for a non-OK status). */
export interface CallResult<T> {
  messages: T[];
  status: grpc.StatusObject;
  headers: grpc.Metadata | undefined;
}

function metadataOf(options: CallOptions): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(options.metadata ?? {})) metadata.set(key, value as grpc.MetadataValue);
  if (options.serverTimeout !== undefined) {
    if (options.deadlineMs !== undefined) throw new Error('serverTimeout is for calls without a client deadline');
    metadata.set('grpc-timeout', options.serverTimeout);
  }
  return metadata;
}

function callOptions(options: CallOptions): grpc.CallOptions {
  return options.deadlineMs !== undefined ? { deadline: Date.now() + options.deadlineMs } : {};
}

/** Collects a server stream to its end, whatever the status. */
export function collectStream<T>(stream: grpc.ClientReadableStream<T>): Promise<CallResult<T>> {
  return new Promise((resolve) => {
    const messages: T[] = [];
    let headers: grpc.Metadata | undefined;
    stream.on('metadata', (m: grpc.Metadata) => (headers = m));
    stream.on('data', (m: T) => messages.push(m));
    stream.on('error', () => undefined); // the status event carries it
    stream.on('status', (status: grpc.StatusObject) => resolve({ messages, status, headers }));
  });
}

type Unary<Req, Res> = (request: Req, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: Res) => void) => grpc.ClientUnaryCall;
type ServerStream<Req, Res> = (request: Req, metadata: grpc.Metadata, options: grpc.CallOptions) => grpc.ClientReadableStream<Res>;

function unaryResult<Res>(start: (callback: (error: grpc.ServiceError | null, response?: Res) => void) => grpc.ClientUnaryCall): Promise<CallResult<Res>> {
  return new Promise((resolve) => {
    let response: Res | undefined;
    let headers: grpc.Metadata | undefined;
    const call = start((_error, r) => (response = r));
    call.on('metadata', (m: grpc.Metadata) => (headers = m));
    call.on('status', (status: grpc.StatusObject) => setImmediate(() => resolve({ messages: response !== undefined ? [response] : [], status, headers })));
  });
}

/** A typed client for specroute.v1.GenerationService. */
export class GenerationClient {
  readonly raw: grpc.Client;

  constructor(readonly address: string) {
    const Client = makeClientConstructor(GenerationService);
    this.raw = new Client(address, grpc.credentials.createInsecure());
  }

  /** Starts a Generate stream (for tests that cancel or read it themselves). */
  start(request: MessageInitShape<typeof GenerateRequestSchema>, options: CallOptions = {}): grpc.ClientReadableStream<GenerateResponse> {
    const method = (this.raw as unknown as { Generate: ServerStream<unknown, GenerateResponse> }).Generate.bind(this.raw);
    return method(create(GenerateRequestSchema, request), metadataOf(options), callOptions(options));
  }

  generate(request: MessageInitShape<typeof GenerateRequestSchema>, options: CallOptions = {}): Promise<CallResult<GenerateResponse>> {
    return collectStream(this.start(request, options));
  }

  listModels(options: CallOptions = {}): Promise<CallResult<ListModelsResponse>> {
    const method = (this.raw as unknown as { ListModels: Unary<unknown, ListModelsResponse> }).ListModels.bind(this.raw);
    return unaryResult((cb) => method(create(ListModelsRequestSchema, {}), metadataOf(options), callOptions(options), cb));
  }

  /** Sends `bytes` as the request message of a server-streaming method (Generate by default), unvalidated. */
  rawStream(bytes: Buffer, options: CallOptions & { path?: string } = {}): Promise<CallResult<Buffer>> {
    const identity = (b: Buffer): Buffer => b;
    return collectStream(this.raw.makeServerStreamRequest(options.path ?? GENERATE_PATH, identity, identity, bytes, metadataOf(options), callOptions(options)));
  }

  /** Sends `bytes` as the request message of a unary method (ListModels by default), unvalidated. */
  rawUnary(bytes: Buffer, options: CallOptions & { path?: string } = {}): Promise<CallResult<Buffer>> {
    const identity = (b: Buffer): Buffer => b;
    return unaryResult((cb) => this.raw.makeUnaryRequest(options.path ?? LIST_MODELS_PATH, identity, identity, bytes, metadataOf(options), callOptions(options), cb));
  }

  close(): void {
    this.raw.close();
  }
}

/**
 * One call over a bare node:http2 session, for what grpc-js will not send as given: `headers` go out as they are
 * (a `grpc-timeout` with no client deadline), and the request's HEADERS and DATA frames are written in the same
 * turn once the connection is up, so they reach an in-process server together, in one read. (grpc-js may write
 * them in separate turns; a server timer can then run between the two.) Never throws for a non-OK status.
 */
export async function rawCall(address: string, message: Buffer, options: { path?: string; headers?: Record<string, string> } = {}): Promise<CallResult<Buffer>> {
  const session = connect(`http://${address}`);
  try {
    await once(session, 'connect');
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1); // byte 0: not compressed
    message.copy(frame, 5);
    const stream = session.request({ ':method': 'POST', ':path': options.path ?? GENERATE_PATH, 'content-type': 'application/grpc', te: 'trailers', ...options.headers });
    stream.end(frame);
    let head: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    const body: Buffer[] = [];
    stream.on('response', (h) => (head = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (chunk: Buffer) => body.push(chunk));
    await once(stream, 'close');
    const ending = trailers ?? head; // a trailers-only response carries its status in the headers
    const bytes = Buffer.concat(body);
    const messages: Buffer[] = [];
    for (let at = 0; at + 5 <= bytes.length; at += 5 + bytes.readUInt32BE(at + 1)) messages.push(bytes.subarray(at + 5, at + 5 + bytes.readUInt32BE(at + 1)));
    const metadata = grpc.Metadata.fromHttp2Headers(ending);
    metadata.remove('grpc-status');
    metadata.remove('grpc-message');
    const code = Number(ending['grpc-status'] ?? grpc.status.UNKNOWN) as grpc.status;
    const details = decodeURIComponent(String(ending['grpc-message'] ?? ''));
    return { messages, status: { code, details, metadata }, headers: trailers ? grpc.Metadata.fromHttp2Headers(head) : undefined };
  } finally {
    session.close();
  }
}

/** A typed client for grpc.health.v1.Health. */
export class HealthClient {
  readonly raw: grpc.Client;

  constructor(address: string) {
    const Client = makeClientConstructor(Health);
    this.raw = new Client(address, grpc.credentials.createInsecure());
  }

  check(service: string): Promise<CallResult<HealthCheckResponse>> {
    const method = (this.raw as unknown as { Check: Unary<unknown, HealthCheckResponse> }).Check.bind(this.raw);
    return unaryResult((cb) => method(create(HealthCheckRequestSchema, { service }), new grpc.Metadata(), {}, cb));
  }

  watch(service: string): grpc.ClientReadableStream<HealthCheckResponse> {
    const method = (this.raw as unknown as { Watch: ServerStream<unknown, HealthCheckResponse> }).Watch.bind(this.raw);
    return method(create(HealthCheckRequestSchema, { service }), new grpc.Metadata(), {});
  }

  close(): void {
    this.raw.close();
  }
}

/** The text, sources and final message of a finished Generate stream. */
export function summarize(messages: readonly GenerateResponse[]): { text: string; sources: number[]; chunks: number; final: Extract<GenerateResponse['event'], { case: 'final' }>['value'] | undefined } {
  let text = '';
  const sources: number[] = [];
  let chunks = 0;
  let final;
  for (const m of messages) {
    if (m.event.case === 'chunk') {
      chunks++;
      text += m.event.value.text;
      sources.push(m.event.value.source);
    } else if (m.event.case === 'final') final = m.event.value;
  }
  return { text, sources, chunks, final };
}
