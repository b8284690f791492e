export const tiers = ['slm', 'hybrid', 'frontier'] as const;
export type Tier = (typeof tiers)[number];
