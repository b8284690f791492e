/**
 * The gRPC ingress: one grpc-js server with `specroute.v1.GenerationService`, the standard `grpc.health.v1`
 * Health service and server reflection. It only listens and routes; the services are thin adapters over the
 * scheduler, and shutdown order (drain the scheduler, then close) is the composition root's business.
 */
import * as grpc from '@grpc/grpc-js';
import { Health } from '../../gen/grpc/health/v1/health_pb.js';
import { GenerationService } from '../../gen/specroute/v1/generate_pb.js';
import type { ServerContext } from '../server-context.js';
import { generationService } from './generation-service.js';
import { HealthState, healthService } from './health-service.js';
import { reflectionService } from './reflection.js';
import type { CallContext } from './service-adapter.js';

export interface GrpcServerOptions {
  /** Address to listen on, such as `127.0.0.1`, `0.0.0.0` or `::`. */
  host: string;
  /** Port; `0` picks a free one (read the bound port from the result). */
  port: number;
  /**
   * Called with errors that are bugs (not SpecrouteErrors); clients see only INTERNAL.
   *
   * Defaults to printing them on stderr.
   */
  onInternalError?: (error: unknown, call: CallContext) => void;
}

export interface GrpcServer {
  /** The bound port. */
  readonly port: number;
  /**
   * Stops the server: health turns NOT_SERVING, new calls are refused, calls in flight get `graceMs` to finish
   * and are then cancelled. Idempotent.
   */
  close(graceMs: number): Promise<void>;
}

export async function startGrpcServer(ctx: ServerContext, options: GrpcServerOptions): Promise<GrpcServer> {
  const server = new grpc.Server({
    // Oversized messages end with RESOURCE_EXHAUSTED before any decoding.
    'grpc.max_receive_message_length': ctx.maxBodyBytes,
  });
  const onInternalError =
    options.onInternalError ?? ((error: unknown, call: CallContext) => console.error(`specroute grpc: internal error in ${call.method.parent.typeName}/${call.method.name}:`, error));
  const health = new HealthState(() => ctx.ready());
  for (const service of [generationService(ctx, { onInternalError: (call, error) => onInternalError(error, call) }), healthService(health)]) {
    server.addService(service.definition, service.implementation);
  }
  reflectionService([GenerationService, Health]).addToServer(server);

  const address = options.host.includes(':') && !options.host.startsWith('[') ? `[${options.host}]:${options.port}` : `${options.host}:${options.port}`;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );

  let closing: Promise<void> | undefined;
  const close = (graceMs: number): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      health.shutDown();
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, graceMs);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    }));
  return { port, close };
}
