import type { FastifyReply, FastifyRequest } from 'fastify';
import { SpecrouteError } from '../../../errors/registry.js';
import type { Metrics } from '../../../observability/metrics.js';
import { toHttpError, type HttpError } from '../openai-error.js';
import { globalPlugin } from './global-plugin.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Set once the request was handed to `scheduler.admit`: from then on the scheduler records its outcome in
     * the metrics, so the error handler must not count it again.
     */
    specrouteAdmitted: boolean;
  }
}

/**
 * Every error reply in the OpenAI shape, `{error: {message, type, param, code}}`, with the registry's status:
 * thrown errors (schema validation, body parsing, the scheduler's refusals) and unknown routes alike. Requests
 * refused before the scheduler saw them are counted in `specroute_requests_total{transport="http"}` here.
 * 5xx replies never carry internals; the original error is logged.
 */
export const openAIErrors = globalPlugin<{ metrics: Metrics }>(async (app, { metrics }) => {
  app.decorateRequest('specrouteAdmitted', false);

  app.setErrorHandler(async (error, request, reply) => sendError(request, reply, error, metrics));

  app.setNotFoundHandler(async (request, reply) =>
    sendError(request, reply, new SpecrouteError('not_found', `there is no route ${request.method} ${request.url.split('?')[0]}`), metrics),
  );
});

export function sendError(request: FastifyRequest, reply: FastifyReply, error: unknown, metrics: Metrics): FastifyReply {
  const mapped = toHttpError(error, request.body);
  logIfInternal(request, mapped, error);
  if (!request.specrouteAdmitted) metrics.requestFinished('http', mapped.body.error.code);
  return reply.code(mapped.status).headers(mapped.headers).type('application/json; charset=utf-8').send(mapped.body);
}

export function logIfInternal(request: FastifyRequest, mapped: HttpError, error: unknown): void {
  if (mapped.internal) request.log.error({ err: error }, 'request failed with an internal error');
}
