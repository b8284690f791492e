import { SpecrouteError } from '../../src/errors/registry.js';

/** The registry error `fn` throws. Fails when `fn` returns, and rethrows any other error. */
export function refusal(fn: () => unknown): SpecrouteError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SpecrouteError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}
