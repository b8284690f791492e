import { SpecrouteError } from '../../../errors/registry.js';
import { bearerToken, checkApiKey } from '../../auth.js';
import { globalPlugin } from './global-plugin.js';

/**
 * `Authorization: Bearer <key>` on every route of the scope it is registered in (the `/v1` API), compared in
 * constant time; a 401 in the OpenAI shape otherwise. With no keys configured it adds nothing. Health, readiness
 * and metrics are registered outside that scope and stay open (probes and scrapers carry no keys).
 */
export const apiKeyAuth = globalPlugin<{ apiKeys: readonly string[] }>(async (app, { apiKeys }) => {
  if (apiKeys.length === 0) return;
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    if (header === undefined) throw new SpecrouteError('unauthenticated', 'missing API key: send the header Authorization: Bearer <key>');
    const key = bearerToken(header);
    if (key === undefined) throw new SpecrouteError('unauthenticated', 'malformed Authorization header: expected Bearer <key>');
    if (!checkApiKey(key, apiKeys)) throw new SpecrouteError('unauthenticated', 'invalid API key');
  });
});
