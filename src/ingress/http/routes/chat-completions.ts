import type { FastifyPluginAsync } from 'fastify';
import { chatChunkFormat, chatCompletion } from '../../../streaming/openai-chunks.js';
import type { ServerContext } from '../../server-context.js';
import { parseChatRequest } from '../openai-request.js';
import { chatCompletionBodySchema, type ChatCompletionBody } from '../schemas.js';
import { serveGeneration, type ResponseFormat } from '../serve-generation.js';

const chatFormat: ResponseFormat = { idPrefix: 'chatcmpl', chunks: chatChunkFormat, complete: chatCompletion };

/** `POST /v1/chat/completions`: OpenAI chat completions, streaming (`chat.completion.chunk`) or not. */
export const chatCompletionsRoute: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  app.post<{ Body: ChatCompletionBody }>('/chat/completions', { schema: { body: chatCompletionBodySchema } }, async (request, reply) =>
    serveGeneration(ctx, request, reply, parseChatRequest(request.body), chatFormat),
  );
};
