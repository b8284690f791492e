import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { ServerContext } from '../server-context.js';
import { apiKeyAuth } from './plugins/api-key-auth.js';
import { openAIErrors } from './plugins/errors.js';
import { jsonBody } from './plugins/json-body.js';
import { chatCompletionsRoute } from './routes/chat-completions.js';
import { completionsRoute } from './routes/completions.js';
import { modelsRoute } from './routes/models.js';
import { operationsRoute } from './routes/operations.js';
import { uiRoute } from './routes/ui.js';

export interface HttpAppOptions {
  /**
   * fastify's logger (pino options, `true`, or `false`). Errors that become 5xx replies are logged at `error`.
   *
   * Defaults to `{level: 'warn'}`.
   */
  logger?: FastifyServerOptions['logger'];
}

/**
 * The OpenAI-compatible HTTP API as a fastify instance, not yet listening (only `main.ts` listens).
 *
 * - `/v1/chat/completions`, `/v1/completions` (SSE when `stream: true`), `/v1/models`: behind the API keys when
 *   any are configured;
 * - `/health`, `/ready`, `/metrics`: always open.
 * - `/` (the playground), `/dashboard` and their files under `/ui/`: open, unless `server.ui` is false.
 *
 * No request timeout is set (fastify's `requestTimeout: 0`, the default): streams last as long as their
 * generation, bounded by the scheduler's deadline, and idle streams get heartbeat comments instead.
 */
export async function buildHttpApp(ctx: ServerContext, options: HttpAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? { level: 'warn' },
    bodyLimit: ctx.maxBodyBytes,
    requestTimeout: 0,
    ajv: {
      // Types are checked, never coerced ("5" is not an integer); unknown fields stay and are ignored.
      customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, allowUnionTypes: true, verbose: true },
    },
  });
  await app.register(openAIErrors, { metrics: ctx.metrics });
  await app.register(jsonBody, { bodyLimit: ctx.maxBodyBytes });
  await app.register(operationsRoute, { ctx });
  if (ctx.ui) await app.register(uiRoute, { ctx });
  await app.register(
    async (v1) => {
      await v1.register(apiKeyAuth, { keys: ctx.keys });
      await v1.register(modelsRoute, { ctx });
      await v1.register(chatCompletionsRoute, { ctx });
      await v1.register(completionsRoute, { ctx });
    },
    { prefix: '/v1' },
  );
  return app;
}
