import type { FastifyPluginAsync } from 'fastify';
import { SpecrouteError } from '../../../errors/registry.js';
import type { ModelCard, ServerContext } from '../../server-context.js';

/** OpenAI's model object, with what specroute serves it with under `specroute`. */
function modelObject(card: ModelCard): object {
  return {
    id: card.id,
    object: 'model',
    created: card.created,
    owned_by: card.ownedBy,
    specroute: { context_size: card.contextSize, verifier: card.verifier, draft: card.draft },
  };
}

/** `GET /v1/models` and `GET /v1/models/{model}`. */
export const modelsRoute: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  app.get('/models', async () => ({ object: 'list', data: ctx.models.map(modelObject) }));

  app.get<{ Params: { model: string } }>('/models/:model', async (request) => {
    const card = ctx.models.find((m) => m.id === request.params.model);
    if (!card) throw new SpecrouteError('model_not_found', `the model '${request.params.model}' does not exist`, { param: 'model' });
    return modelObject(card);
  });
};
