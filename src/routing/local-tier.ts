import type { Tier } from '../events/route-decision.js';

/** The tiers a router can route away from (to the frontier). */
export const localTiers = ['slm', 'hybrid'] as const satisfies readonly Tier[];
export type LocalTier = (typeof localTiers)[number];
