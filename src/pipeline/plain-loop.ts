import type { WorkerSequence } from '../workers/model-worker-client.js';
import { Rng } from '../sampling/rng.js';
import { scoreRequest, type DecodeLoop, type EmittedToken, type LoopCommand, type LoopContext } from './decode-loop.js';

/**
 * One model decoding alone: the verifier (verifier-only decoding, the baseline) or the draft (the `slm` tier,
 * `source: 'draft'`). The worker decodes in its own loop and streams tokens back over a MessagePort. A splice
 * (escalation) stops that loop, feeds the span to the model, and starts it again.
 */
export async function* decodePlain(verifier: WorkerSequence, ctx: LoopContext, source: 'verifier' | 'draft' = 'verifier'): DecodeLoop {
  const started = performance.now();
  const request = scoreRequest(ctx);
  const rng = new Rng(ctx.sampling.seed);
  const committed = [...ctx.prompt];
  let keep = 0;
  let first = true;
  let seed = ctx.sampling.seed;
  for (;;) {
    let command: LoopCommand | undefined;
    let consumed = 0;
    const from = keep;
    const pending = committed.slice(keep);
    const batches = verifier.decode({
      keep,
      tokens: pending,
      maxTokens: ctx.maxTokens - (committed.length - ctx.prompt.length),
      sampling: ctx.sampling,
      seed,
      topLogprobs: request.topLogprobs,
      stopTokens: ctx.stopTokens,
    });
    for await (const batch of batches) {
      // Passes after the prompt's, as the speculative loop counts them: the first token comes with the prompt's pass.
      const withPrompt = first ? 1 : 0;
      if (first) {
        ctx.stats.prefillMs = performance.now() - started;
        first = false;
      }
      for (let i = withPrompt; i < batch.tokens.length; i++) ctx.stats.block(0, 0);
      const block: EmittedToken[] = batch.tokens.map((token, i) => ({ token, source, scores: batch.scores[i]! }));
      command = yield block;
      const kept = command ? block.slice(0, command.cut) : block;
      committed.push(...kept.map((b) => b.token));
      consumed += kept.length;
      if (command) break; // stops the worker's loop
    }
    if (!command) break; // the worker finished: max tokens or a stop token
    // The worker's cache holds the pending tokens and all consumed tokens but the last.
    keep = Math.min(from + pending.length + Math.max(0, consumed - 1), committed.length - 1);
    const span = command.splice.slice(0, ctx.maxTokens - (committed.length - ctx.prompt.length));
    if (span.length > 0) {
      const scores = await verifier.evaluate(keep, [...committed.slice(keep), ...span.slice(0, -1)], span.length, request);
      keep = committed.length + span.length - 1;
      committed.push(...span);
      const next: LoopCommand | undefined = yield span.map((token, i) => ({ token, source: 'frontier', scores: scores[i]! }));
      void next; // frontier blocks are not cut
    }
    if (committed.length - ctx.prompt.length >= ctx.maxTokens) break;
    seed = rng.fork();
  }
  ctx.stats.verifyMs = performance.now() - started - ctx.stats.prefillMs;
}
