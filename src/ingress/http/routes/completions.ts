import type { FastifyPluginAsync } from 'fastify';
import { completionChunkFormat, textCompletion } from '../../../streaming/openai-chunks.js';
import type { ServerContext } from '../../server-context.js';
import { parseCompletionRequest } from '../openai-request.js';
import { completionBodySchema, type CompletionBody } from '../schemas.js';
import { serveGeneration, type ResponseFormat } from '../serve-generation.js';

const completionFormat: ResponseFormat = { idPrefix: 'cmpl', chunks: completionChunkFormat, complete: textCompletion };

/** `POST /v1/completions`: OpenAI (legacy) text completions, streaming or not. */
export const completionsRoute: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  app.post<{ Body: CompletionBody }>('/completions', { schema: { body: completionBodySchema } }, async (request, reply) =>
    serveGeneration(ctx, request, reply, parseCompletionRequest(request.body), completionFormat),
  );
};
