import type { FastifyRequest } from 'fastify';
import { SpecrouteError } from '../../../errors/registry.js';
import { globalPlugin } from './global-plugin.js';

/**
 * Request bodies are JSON and must be valid UTF-8: fastify's own parser decodes leniently (invalid bytes become
 * U+FFFD), so this one decodes with a fatal decoder first, then hands the text to fastify's default JSON parser
 * (which also refuses `__proto__` / `constructor.prototype` keys). Both failures are 400s that say what is
 * wrong with the body; a body over `bodyLimit` is fastify's 413, before any parsing; another media type a 415.
 */
export const jsonBody = globalPlugin<{ bodyLimit: number }>(async (app, { bodyLimit }) => {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // JSON only: fastify's text/plain parser would turn a text body into a string the schema then rejects with a
  // less helpful message; any other media type is a 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (request: FastifyRequest, raw: Buffer, done) => {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(raw);
    } catch {
      done(new SpecrouteError('invalid_argument', 'the request body is not valid UTF-8'), undefined);
      return;
    }
    if (text.trim() === '') {
      done(new SpecrouteError('invalid_argument', 'the request body is empty; send a JSON object'), undefined);
      return;
    }
    parseJson(request, text, (error, value) => {
      if (error) done(new SpecrouteError('invalid_argument', jsonErrorMessage(text)), undefined);
      else done(null, value);
    });
  });
});

/** fastify's parser hides where the syntax error is; JSON.parse says it. Valid JSON failed on prototype poisoning. */
function jsonErrorMessage(text: string): string {
  try {
    JSON.parse(text);
    return 'the request body holds a forbidden key (__proto__ or constructor.prototype)';
  } catch (syntax) {
    return `the request body is not valid JSON: ${(syntax as Error).message}`;
  }
}
