import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScoreRequest } from '../../../src/backends/types.js';
import { ModelWorker } from '../../../src/workers/model-worker-client.js';
import { modelOptions, STORIES } from '../../helpers/models.js';

/**
 * A close of a sequence while work on it is still under way in the worker (a request that ends while its
 * lock-step draft runs). The worker stops that work and waits for it before it disposes the sequence and frees
 * the slot: a decode still queued for a disposed sequence would fill the cells of the next sequence given the same
 * llama.cpp id ("inconsistent sequence positions", then "Eval has failed", seen once in CI).
 */
const GREEDY: ScoreRequest = { sampling: { temperature: 0, topK: 0, topP: 1, minP: 0 } };

describe('closing a sequence with work under way (stories260K)', () => {
  let worker: ModelWorker;
  const prompt = [1, 403, 407, 261, 378, 189, 9, 505, 350, 395, 281, 345];
  beforeAll(async () => {
    worker = await ModelWorker.start(modelOptions(STORIES, { sequences: 2 }), 'draft');
  });
  afterAll(async () => worker?.dispose());

  it('stops the work, waits for it, then frees the sequence; the next one starts from an empty cache', async () => {
    const reference = await (async () => {
      const s = await worker.open();
      try {
        return await s.evaluate(0, prompt, prompt.length, GREEDY);
      } finally {
        await s.close();
      }
    })();
    for (let round = 0; round < 4; round++) {
      const busy = await worker.open();
      await busy.evaluate(0, prompt, 1, GREEDY);
      let settled = false;
      const running = busy.draft({ keep: prompt.length, tokens: [prompt[round]!], maxTokens: 200, sampling: GREEDY.sampling, seed: round, pMin: 0, stopTokens: [] });
      running.then(
        () => (settled = true),
        () => (settled = true),
      );
      // The close task as the worker gets it, without the client's cancel flag first: the worker must stop the
      // draft itself.
      await worker.runFor<'close'>([busy], { op: 'close', slot: busy.slot });
      expect(settled).toBe(true);
      expect((await running).tokens.length).toBeLessThan(200);
      await busy.close();
      const next = await worker.open();
      const scores = await next.evaluate(0, prompt, prompt.length, GREEDY);
      expect(scores.map((s) => (s.kind === 'greedy' ? s.token : -1))).toEqual(reference.map((s) => (s.kind === 'greedy' ? s.token : -1)));
      await next.close();
    }
  });
});
