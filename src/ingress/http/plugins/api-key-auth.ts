import { SpecrouteError } from '../../../errors/registry.js';
import type { KeyQuota } from '../../../scheduler/key-quotas.js';
import { bearerToken, type ApiKeyRing } from '../../auth.js';
import { globalPlugin } from './global-plugin.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The quotas of the request's API key (`auth.keys`); undefined for a plain key or no authentication. */
    specrouteKey: KeyQuota | undefined;
  }
}

/**
 * `Authorization: Bearer <key>` on every route of the scope it is registered in (the `/v1` API), compared in
 * constant time; a 401 in the OpenAI shape otherwise. The key's quotas ride on the request to the scheduler. With
 * no keys configured it adds nothing. Health, readiness and metrics are registered outside that scope and stay
 * open (probes and scrapers carry no keys).
 */
export const apiKeyAuth = globalPlugin<{ keys: ApiKeyRing }>(async (app, { keys }) => {
  app.decorateRequest('specrouteKey', undefined);
  if (!keys.enabled) return;
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    if (header === undefined) throw new SpecrouteError('unauthenticated', 'missing API key: send the header Authorization: Bearer <key>');
    const key = bearerToken(header);
    if (key === undefined) throw new SpecrouteError('unauthenticated', 'malformed Authorization header: expected Bearer <key>');
    const identity = keys.identify(key);
    if (!identity) throw new SpecrouteError('unauthenticated', 'invalid API key');
    request.specrouteKey = identity.quota;
  });
});
