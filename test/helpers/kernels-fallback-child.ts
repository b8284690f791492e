/**
 * Run in a child process (through vite-node) by test/standalone/native-kernels.test.ts, with the environment
 * the test chooses (a bogus SPECROUTE_NATIVE_PATH, or SPECROUTE_NATIVE=0). Imports the kernels through every
 * module that uses them, computes a few results on fixed logits, and prints them as one JSON line on stdout.
 */
import { entropyOf, topLogprobs } from '../../src/backends/scores.js';
import { kernels, nativeUnavailableReason } from '../../src/native/kernels.js';
import { sampleResidual } from '../../src/pipeline/acceptance.js';
import { Rng } from '../../src/sampling/rng.js';
import { fallbackFixture } from './kernels-fixture.js';

const { logits, params } = fallbackFixture();
const logZ = kernels.logSumExp(logits);
const p = kernels.warp(logits, params);
const q = kernels.warp(logits, { temperature: 1.7, topK: 0, topP: 1, minP: 0 });
const scores = { kind: 'dense', probs: p.kind === 'dense' ? p.probs : new Float32Array(0), logits, logZ } as const;
process.stdout.write(
  `${JSON.stringify({
    name: kernels.name,
    reason: nativeUnavailableReason,
    logZ,
    argmax: kernels.argmax(logits),
    probs: p.kind === 'dense' ? Array.from(p.probs) : null,
    top: topLogprobs(scores, 3),
    entropy: entropyOf(scores, logits.length),
    residualToken: sampleResidual(p, q, new Rng(7)),
  })}\n`,
);
