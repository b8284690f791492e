import type { BatchItem, PrioritizedBatchItem } from 'node-llama-cpp';

/** How many sequences shared each evaluation batch of a context: size → batches. */
export type BatchSizeCounts = Record<number, number>;

/**
 * node-llama-cpp's default "maximum parallelism" split of a batch among the sequences waiting on a context
 * (each gets an equal share, the rest goes to the longest), wrapped to count how many sequences each batch
 * carried. That count is what shows requests' verification passes batching together.
 */
export function countingFairShareStrategy(counts: BatchSizeCounts) {
  return ({ items, size }: { items: readonly BatchItem[]; size: number }): PrioritizedBatchItem[] => {
    let free = size;
    const share = Math.max(1, Math.floor(size / Math.max(1, items.length)));
    const result: PrioritizedBatchItem[] = [];
    for (const item of items) {
      if (free === 0) break;
      const processAmount = Math.min(item.tokens.length, free, share);
      result.push({ item, processAmount });
      free -= processAmount;
    }
    // Hand what is left to clipped items, highest priority first.
    const clipped = result.filter((r) => r.processAmount < r.item.tokens.length).sort((a, b) => b.item.evaluationPriority - a.item.evaluationPriority);
    for (const r of clipped) {
      if (free === 0) break;
      const more = Math.min(r.item.tokens.length - r.processAmount, free);
      r.processAmount += more;
      free -= more;
    }
    const used = result.filter((r) => r.processAmount > 0);
    counts[used.length] = (counts[used.length] ?? 0) + 1;
    return used;
  };
}
