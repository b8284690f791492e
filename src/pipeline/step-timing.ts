/**
 * Lock-step passes timed from the main thread, as the server makes them (`ModelWorker.step`: the worker's round
 * trip and its scoring path included). The boot calibration (step-calibration.ts) and `specroute profile`
 * (src/profile/pass-timer.ts) time their passes here.
 */
import type { ScoreRequest } from '../backends/types.js';
import type { ModelWorker, WorkerSequence } from '../workers/model-worker-client.js';
import type { StepOutcome } from '../workers/protocol.js';

/** What a timed pass scores: greedy, the argmax of every position, as a greedy verification does. */
export const GREEDY_SCORES: ScoreRequest = { sampling: { temperature: 0, topK: 0, topP: 1, minP: 0 }, topLogprobs: 1 };

/**
 * Opens one sequence per prompt on `worker` and fills each with its prompt in one step (nothing scored). A failure
 * closes what was opened and throws.
 */
export async function openPrefilled(worker: ModelWorker, prompts: ReadonlyArray<readonly number[]>): Promise<WorkerSequence[]> {
  const opened: WorkerSequence[] = [];
  try {
    for (let i = 0; i < prompts.length; i++) opened.push(await worker.open());
    const result = await worker.step(opened, { evaluate: opened.map((s, i) => ({ slot: s.slot, keep: 0, tokens: prompts[i]!, scoreLast: 0, request: GREEDY_SCORES })), draft: [] });
    throwFirstFailure(result.evaluate);
    return opened;
  } catch (error) {
    await Promise.allSettled(opened.map((s) => s.close()));
    throw error;
  }
}

/**
 * Milliseconds of one step in which each of `sequences` rolls back to `keep` tokens and appends `tokensOf(k)` (k its
 * index), every appended position scored. A failed item throws its error.
 */
export async function timeStep(worker: ModelWorker, sequences: readonly WorkerSequence[], keep: number, tokensOf: (k: number) => readonly number[]): Promise<number> {
  const evaluate = sequences.map((s, k) => {
    const tokens = tokensOf(k);
    return { slot: s.slot, keep, tokens, scoreLast: tokens.length, request: GREEDY_SCORES };
  });
  const started = performance.now();
  const result = await worker.step(sequences, { evaluate, draft: [] });
  const ms = performance.now() - started;
  throwFirstFailure(result.evaluate);
  return ms;
}

function throwFirstFailure(outcomes: ReadonlyArray<StepOutcome<unknown>>): void {
  for (const outcome of outcomes) if (!outcome.ok) throw outcome.error;
}
