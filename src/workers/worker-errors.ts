import { errorRegistry, SpecrouteError, type ErrorCode } from '../errors/registry.js';

/**
 * Structured clone keeps only an Error's name and message across threads, so a registry error travels with its
 * code and param encoded in the message and is rebuilt on the main thread.
 */
const PREFIX = '\u0000specroute:';

export function encodeWorkerError(error: unknown): unknown {
  if (!(error instanceof SpecrouteError)) return error;
  return new Error(`${PREFIX}${JSON.stringify({ code: error.code, param: error.param, message: error.message })}`);
}

export function decodeWorkerError(error: unknown): SpecrouteError | undefined {
  const message = (error as Error | undefined)?.message;
  if (typeof message !== 'string' || !message.startsWith(PREFIX)) return undefined;
  const { code, param, message: text } = JSON.parse(message.slice(PREFIX.length)) as { code: string; param?: string; message: string };
  if (!(code in errorRegistry)) return undefined;
  return new SpecrouteError(code as ErrorCode, text, param !== undefined ? { param } : {});
}
