import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../../server-context.js';

/**
 * Probes and metrics, open without an API key (orchestrators and Prometheus carry none):
 * - `GET /health`: liveness, 200 while the process serves HTTP at all;
 * - `GET /ready`: readiness, 200 once the models are loaded, 503 before that, while a model worker restarts, and
 *   from the start of shutdown;
 * - `GET /metrics`: the Prometheus text exposition.
 */
export const operationsRoute: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  app.get('/health', async () => ({ status: 'ok' }));

  app.get('/ready', async (_request, reply) => {
    if (ctx.ready()) return { status: 'ready' };
    return reply.code(503).header('retry-after', '1').send({ status: 'not_ready' });
  });

  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await ctx.metrics.render();
    return reply.type(contentType).send(body);
  });
};
