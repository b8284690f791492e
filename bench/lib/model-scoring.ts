import type { ModelInfo } from '../../src/backends/types.js';

/** Where a model's scores come from (`ModelInfo.scoring`), as the bench reports say it. */
export function scoringText(info: ModelInfo): string {
  if (!info.scoring) return 'from logits';
  return info.scoring.path === 'in-place' ? 'read in place' : `through node-llama-cpp's sampler (${info.scoring.reason})`;
}
