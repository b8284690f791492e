import type { FastifyReply, FastifyRequest } from 'fastify';
import { SpecrouteError } from '../../errors/registry.js';
import type { TokenEvent } from '../../events/token-event.js';
import type { ChunkFormat, MappingOptions, ResponseMeta } from '../../streaming/openai-chunks.js';
import type { Generation } from '../../scheduler/scheduler.js';
import type { ServerContext } from '../server-context.js';
import { renameParam, type ParsedRequest } from './openai-request.js';
import { toHttpError } from './openai-error.js';
import { logIfInternal } from './plugins/errors.js';
import { SSE_HEADERS, SseStream } from './sse-stream.js';

/** Response header naming the tier that answers (`slm`, `hybrid`, `frontier`); the reason is in the final chunk. */
export const ROUTE_HEADER = 'x-specroute-route';

/** How one OpenAI API renders a generation: its id prefix, its stream of chunks, its whole response. */
export interface ResponseFormat {
  readonly idPrefix: string;
  chunks(meta: ResponseMeta, options: MappingOptions): ChunkFormat<object>;
  complete(meta: ResponseMeta, events: readonly TokenEvent[], options: MappingOptions): object;
}

/**
 * The one request flow both generation routes share: admit (a refusal is an ordinary JSON error reply, sent
 * before any SSE header), then either collect the events into one response or stream them as SSE.
 *
 * A client that disconnects aborts the request's signal: the scheduler drops it from the queue or the engine
 * frees its sequences at once. An error after the SSE headers went out becomes one last event,
 * `data: {"error": {message, type, param, code}}`, and the stream ends without `data: [DONE]`, so that no client
 * mistakes it for a complete answer (the OpenAI SDKs raise an APIError on such an event).
 */
export async function serveGeneration(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  parsed: ParsedRequest,
  format: ResponseFormat,
): Promise<FastifyReply> {
  const abort = new AbortController();
  const res = reply.raw;
  res.once('close', () => {
    if (!res.writableFinished) abort.abort(new SpecrouteError('cancelled', 'the client closed the connection'));
  });

  request.specrouteAdmitted = true; // from here on the scheduler records the outcome
  let generation: Generation;
  try {
    generation = await ctx.scheduler.admit(parsed.generation, { transport: 'http', signal: abort.signal, key: request.specrouteKey });
  } catch (error) {
    throw renameParam(error, parsed.params);
  }
  const meta: ResponseMeta = { id: `${format.idPrefix}-${generation.id}`, created: generation.created, model: generation.model };
  const options: MappingOptions = {
    logprobs: parsed.logprobs,
    topLogprobs: parsed.topLogprobs,
    includeUsage: parsed.includeUsage,
    tokenText: (token, previous) => ctx.tokenizer.detokenize([token], previous === undefined ? undefined : [previous]),
  };

  if (!parsed.stream) {
    const events: TokenEvent[] = [];
    try {
      for await (const event of generation) events.push(event);
    } catch (error) {
      throw renameParam(error, parsed.params);
    }
    return reply.header(ROUTE_HEADER, generation.route.tier).send(format.complete(meta, events, options));
  }

  reply.hijack();
  res.writeHead(200, { ...SSE_HEADERS, [ROUTE_HEADER]: generation.route.tier });
  res.flushHeaders();
  request.raw.socket?.setTimeout(0); // a stream lasts as long as its generation
  const sse = new SseStream(res, ctx.heartbeatSeconds * 1000);
  const chunks = format.chunks(meta, options);
  const send = async (list: readonly object[]): Promise<boolean> => {
    for (const chunk of list) if (!(await sse.send(JSON.stringify(chunk)))) return false;
    return true;
  };
  try {
    if (!(await send(chunks.opening()))) return reply;
    for await (const event of generation) {
      // Leaving the loop early (client gone) returns the generation, which frees its sequence.
      const out = event.kind === 'token' ? [chunks.token(event)] : event.kind === 'escalation' ? [chunks.escalation(event)] : chunks.closing(event);
      if (!(await send(out))) return reply;
    }
    await sse.send('[DONE]');
  } catch (error) {
    if (sse.isClosed) return reply; // the client left: nobody to tell
    const mapped = toHttpError(renameParam(error, parsed.params));
    logIfInternal(request, mapped, error);
    await sse.send(JSON.stringify(mapped.body));
  } finally {
    sse.end();
  }
  return reply;
}
