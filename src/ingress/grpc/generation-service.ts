/**
 * `specroute.v1.GenerationService`: thin handlers over the scheduler. Parsing the wire message is
 * `generate-request.ts`, events to messages is `streaming/proto-messages.ts`, errors to statuses is
 * `grpc-status.ts`; nothing here decides anything about generation.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { SpecrouteError } from '../../errors/registry.js';
import { GenerationService, type GenerateResponse, type ListModelsResponseSchema } from '../../gen/specroute/v1/generate_pb.js';
import { toGenerateResponse } from '../../streaming/proto-messages.js';
import { bearerToken } from '../auth.js';
import type { KeyQuota } from '../../scheduler/key-quotas.js';
import type { ServerContext } from '../server-context.js';
import { toGenerationRequest } from './generate-request.js';
import { implementService, type CallContext, type ImplementedService, type ServiceHooks } from './service-adapter.js';

/** Response header carrying the generation's id (also in the final message). */
export const REQUEST_ID_HEADER = 'specroute-request-id';
/** Response header naming the tier that answers (the final message's `route` says why). */
export const ROUTE_HEADER = 'specroute-route';

export function generationService(ctx: ServerContext, hooks: Pick<ServiceHooks, 'onInternalError'> = {}): ImplementedService {
  /** What `authorize` found for each call (the same context reaches the handler): its key's quotas, if any. */
  const keys = new WeakMap<CallContext, KeyQuota | undefined>();
  return implementService(
    GenerationService,
    {
      async *generate(message, call): AsyncGenerator<GenerateResponse> {
        const left = call.remainingMs();
        const request = beforeScheduler(ctx, () => {
          if (left !== undefined && left <= 0) throw new SpecrouteError('deadline_exceeded', 'the call arrived past its deadline');
          return toGenerationRequest(message, left);
        });
        // Throws at once (bad field, unknown model, prompt too long, overloaded, shutting down); the scheduler
        // records those in the metrics, and everything after admission.
        const generation = await ctx.scheduler.admit(request, { transport: 'grpc', signal: call.signal, key: keys.get(call) });
        call.sendHeader({ [REQUEST_ID_HEADER]: generation.id, [ROUTE_HEADER]: generation.route.tier });
        for await (const event of generation) yield toGenerateResponse(event, generation);
      },

      async listModels(): Promise<MessageInitShape<typeof ListModelsResponseSchema>> {
        return {
          models: ctx.models.map((m) => ({
            id: m.id,
            created: BigInt(m.created),
            ownedBy: m.ownedBy,
            contextSize: m.contextSize,
            verifier: m.verifier,
            ...(m.draft !== null ? { draft: m.draft } : {}),
          })),
        };
      },
    },
    {
      authorize: (call) => void keys.set(call, authorize(ctx, call)),
      // Generations refused before the scheduler saw them (auth, undecodable message) still count in
      // `specroute_requests_total`; the scheduler counts every other outcome.
      onRejected: (call, error) => {
        if (call.method.localName === 'generate') ctx.metrics.requestFinished('grpc', error.code);
      },
      ...hooks,
    },
    // A stream stuck on a client that stopped reading must not hold the scheduler's drain (and shutdown) open.
    { shutdown: ctx.scheduler.shutdownSignal },
  );
}

/** Runs a check that precedes admission, counting its refusal in the metrics as the scheduler would. */
function beforeScheduler<T>(ctx: ServerContext, check: () => T): T {
  try {
    return check();
  } catch (error) {
    ctx.metrics.requestFinished('grpc', error instanceof SpecrouteError ? error.code : 'internal');
    throw error;
  }
}

/**
 * `authorization: Bearer <key>` metadata, compared in constant time: the key's quotas, if it has any. No keys
 * configured: everyone may call.
 */
function authorize(ctx: ServerContext, call: Pick<CallContext, 'metadata'>): KeyQuota | undefined {
  if (!ctx.keys.enabled) return undefined;
  const values = call.metadata.get('authorization');
  const header = values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined;
  const key = bearerToken(header);
  if (key === undefined) {
    throw new SpecrouteError('unauthenticated', 'missing API key: send the metadata `authorization: Bearer <key>`', { param: 'authorization' });
  }
  const identity = ctx.keys.identify(key);
  if (!identity) throw new SpecrouteError('unauthenticated', 'invalid API key', { param: 'authorization' });
  return identity.quota;
}
