import type { RouteDecision } from '../events/route-decision.js';
import type { GenerationRequest } from './generation-request.js';
import type { EncodedPrompt } from './generator.js';

/**
 * What the scheduler asks about an `auto` request: which tier should answer it. Implemented by the routing layer
 * (src/routing/: semantic routes, then the trained router); without routing configured, always `hybrid`.
 */
export interface TierRouter {
  /** The tier of a validated, tokenized `auto` request, with why and how long deciding took. */
  decide(request: GenerationRequest, prompt: EncodedPrompt, signal: AbortSignal): Promise<RouteDecision>;
}
