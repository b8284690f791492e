import type { ModelWorker, WorkerSequence } from '../workers/model-worker-client.js';
import type { PassTimePoint, StepProfile } from './step-costs.js';
import { gammaByBatchSize, monotoneCurve, stepCostsOf } from './step-costs.js';
import { openPrefilled, timeStep } from './step-timing.js';

/** The acceptance rate a calibration assumes until the served blocks say otherwise (weighted as a prior). */
export const CALIBRATION_ALPHA = 0.5;

/** Tokens each calibration sequence holds before the timed passes (a short prompt). */
const PROMPT_TOKENS = 16;
/** Timed repeats per point (after one warm-up); the median is kept. */
const REPEATS = 5;

/**
 * A quick measure of the step costs through the served workers themselves, for a server started without a profile
 * (docs/ARCHITECTURE.md#speculation-that-adapts-to-load): verifier passes of 1 … 16 sequences with one token each
 * and with several (every position scored, as a verification is), and draft passes of 1 … 16 sequences, one token
 * each.
 * It runs at boot, before any request, on sequences it opens and closes; on stories260K it takes about 0.2 s.
 * The acceptance rate is not measured: the profile starts from `CALIBRATION_ALPHA`, and the blocks served move it.
 */
export async function calibrateSteps(verifier: ModelWorker, draft: ModelWorker, options: { sequences: number; maxGamma: number }): Promise<StepProfile> {
  const count = Math.max(1, Math.min(16, options.sequences));
  const vocab = Math.min(verifier.info.vocabSize, draft.info.vocabSize);
  const token = (i: number): number => 1 + (i % Math.max(1, vocab - 1));
  const prompt = Array.from({ length: PROMPT_TOKENS }, (_, i) => token(i * 7 + 3));
  const open = (worker: ModelWorker): Promise<WorkerSequence[]> => openPrefilled(worker, Array.from({ length: count }, () => prompt));
  /** Median ms of a pass where each of `sequences` appends `perSequence` tokens, all scored, rolled back each time. */
  const time = async (worker: ModelWorker, all: readonly WorkerSequence[], sequences: number, perSequence: number): Promise<number> => {
    const use = all.slice(0, sequences);
    const times: number[] = [];
    for (let r = 0; r <= REPEATS; r++) {
      const ms = await timeStep(worker, use, PROMPT_TOKENS, (i) => Array.from({ length: perSequence }, (_, j) => token(r * 31 + i * 5 + j)));
      if (r > 0) times.push(ms);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)]!;
  };

  const verifySeqs = await open(verifier);
  let draftSeqs: WorkerSequence[] = [];
  try {
    draftSeqs = await open(draft);
    // One token each over 1 … 16 sequences, and several tokens each: a verification's shape at every load.
    const shapes = [...[1, 2, 4, 8, 16].map((b) => [b, 1] as const), [1, 8], [4, 4], [16, 4]].filter(([b]) => b <= count);
    const verify: PassTimePoint[] = [];
    for (const [sequences, each] of shapes) verify.push({ sequences, tokens: sequences * each, ms: await time(verifier, verifySeqs, sequences, each) });
    const drafts: PassTimePoint[] = [];
    for (const sequences of [1, 2, 4, 8, 16].filter((b) => b <= count)) drafts.push({ tokens: sequences, ms: await time(draft, draftSeqs, sequences, 1) });
    const measured = { verify, draft: monotoneCurve(drafts) };
    const costs = stepCostsOf(measured);
    return {
      alpha: CALIBRATION_ALPHA,
      ...measured,
      gammaByBatchSize: gammaByBatchSize(Math.max(1, options.sequences), CALIBRATION_ALPHA, costs, options.maxGamma),
      machine: 'calibrated at boot',
      measuredAt: new Date().toISOString(),
    };
  } finally {
    await Promise.allSettled([...verifySeqs, ...draftSeqs].map((s) => s.close()));
  }
}
