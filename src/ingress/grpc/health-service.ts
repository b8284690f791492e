/**
 * The standard `grpc.health.v1.Health` service (Check and Watch). The server as a whole (`""`) and
 * `specroute.v1.GenerationService` are SERVING while `ServerContext.ready()` holds and until shutdown begins,
 * NOT_SERVING otherwise. Needs no API key: load balancers and orchestrators probe it.
 */
import { SpecrouteError } from '../../errors/registry.js';
import { create } from '@bufbuild/protobuf';
import { Health, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus as ServingStatus, type HealthCheckResponse } from '../../gen/grpc/health/v1/health_pb.js';
import { GenerationService } from '../../gen/specroute/v1/generate_pb.js';
import { implementService, type ImplementedService } from './service-adapter.js';

/** How often a Watch re-reads readiness (it has no change events of its own). */
const WATCH_POLL_MS = 1000;

/** Serving state shared by Check and Watch; `shutDown()` flips everything to NOT_SERVING and ends the watches. */
export class HealthState {
  private shuttingDown = false;
  private readonly wakers = new Set<() => void>();
  readonly services: ReadonlySet<string> = new Set(['', GenerationService.typeName]);

  constructor(private readonly ready: () => boolean) {}

  status(service: string): ServingStatus {
    if (!this.services.has(service)) return ServingStatus.SERVICE_UNKNOWN;
    return !this.shuttingDown && this.ready() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Marks the server NOT_SERVING for good and wakes every watcher so it can say so and end. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const wake of this.wakers) wake();
  }

  /** Resolves after the poll interval, at shutdown, or when `signal` aborts. */
  wait(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakers.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, WATCH_POLL_MS);
      this.wakers.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

const response = (status: ServingStatus): HealthCheckResponse => create(HealthCheckResponseSchema, { status });

export function healthService(state: HealthState): ImplementedService {
  return implementService(Health, {
    async check(request) {
      const status = state.status(request.service);
      if (status === ServingStatus.SERVICE_UNKNOWN) {
        throw new SpecrouteError('service_not_found', `unknown service '${request.service}'; known: '', ${GenerationService.typeName}`, { param: 'service' });
      }
      return response(status);
    },

    async *watch(request, call) {
      let last: ServingStatus | undefined;
      while (!call.signal.aborted) {
        const status = state.status(request.service);
        if (status !== last) {
          yield response(status);
          last = status;
        }
        // After saying NOT_SERVING at shutdown, end the call (OK) so it does not hold the server open; the
        // protocol tells clients to re-watch with backoff.
        if (state.isShuttingDown) return;
        await state.wait(call.signal);
      }
    },
  });
}
