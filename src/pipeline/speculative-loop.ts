import { distOf } from '../backends/scores.js';
import { Rng } from '../sampling/rng.js';
import { sampleFrom } from '../native/kernels.js';
import type { WorkerSequence } from '../workers/model-worker-client.js';
import type { AcceptanceRule } from './acceptance.js';
import { AdaptiveDraftLength } from './adaptive-draft-length.js';
import { scoreRequest, throwIfAborted, type DecodeLoop, type EmittedToken, type LoopContext } from './decode-loop.js';

/**
 * The speculative loop. Each block: the draft proposes up to γ tokens (one worker task), the verifier scores the
 * uncommitted tokens plus the whole draft in one batched pass, the lossless rule keeps a prefix and adds the
 * correction or bonus token, and both caches roll back to what was committed. A pass with nothing drafted (γ = 0
 * while adaptation pauses the draft, or one token left) is a plain verifier step: its token is tagged `verifier`.
 *
 * Cache bookkeeping: `committed` is every token of the text; each model's cache holds a prefix of it
 * (`verifierKeep`, `draftKeep` tokens), always shorter than `committed`, so the next pass has at least one token to
 * evaluate and gets the distribution after the last committed token.
 *
 * `accept` is the acceptance rule: `acceptDraft` (docs/ARCHITECTURE.md#lossless-speculative-sampling) unless a test
 * gave the engine another (`EngineOptions.acceptance`, which holds the default).
 */
export async function* speculate(verifier: WorkerSequence, draft: WorkerSequence, ctx: LoopContext, accept: AcceptanceRule): DecodeLoop {
  const { prompt, sampling, stats } = ctx;
  const rng = new Rng(sampling.seed);
  const request = scoreRequest(ctx);
  const gamma = new AdaptiveDraftLength(ctx.speculation);

  // Prefill both models at once; the first token comes from the verifier itself.
  const started = performance.now();
  const [[first]] = await Promise.all([verifier.evaluate(0, prompt, 1, request), draft.evaluate(0, prompt, 0, request)]);
  stats.prefillMs = performance.now() - started;
  const committed = [...prompt];
  let verifierKeep = prompt.length;
  let draftKeep = prompt.length;
  let generated = 0;
  let block: EmittedToken[] = [{ token: sampleFrom(distOf(first!), rng), source: 'verifier', scores: first! }];
  let cacheValid = { verifier: prompt.length, draft: prompt.length }; // tokens of committed + block each cache holds

  for (;;) {
    const command = yield block;
    const kept = command ? block.slice(0, command.cut) : block;
    committed.push(...kept.map((b) => b.token));
    generated += kept.length;
    verifierKeep = Math.min(cacheValid.verifier, committed.length - 1);
    draftKeep = Math.min(cacheValid.draft, committed.length - 1);
    if (command && command.splice.length > 0) {
      // Feed the frontier's span to the verifier, scoring each of its tokens (their logprobs under the verifier).
      const span = command.splice.slice(0, ctx.maxTokens - generated);
      const t = performance.now();
      const scores = await verifier.evaluate(verifierKeep, [...committed.slice(verifierKeep), ...span.slice(0, -1)], span.length, request);
      stats.verifyMs += performance.now() - t;
      verifierKeep = committed.length + span.length - 1;
      cacheValid = { verifier: verifierKeep, draft: draftKeep };
      block = span.map((token, i) => ({ token, source: 'frontier', scores: scores[i]! }));
      if (block.length > 0) continue;
    }
    if (generated >= ctx.maxTokens) return;
    throwIfAborted(ctx.signal);

    const budget = Math.min(gamma.current, ctx.maxTokens - generated - 1);
    let t = performance.now();
    const proposal =
      budget > 0
        ? await draft.draft({
            keep: draftKeep,
            tokens: committed.slice(draftKeep),
            maxTokens: budget,
            sampling,
            seed: rng.fork(),
            pMin: ctx.speculation.pMin,
            stopTokens: ctx.stopTokens,
          })
        : { tokens: [], q: [] };
    stats.draftMs += performance.now() - t;
    throwIfAborted(ctx.signal);

    t = performance.now();
    const scores = await verifier.evaluate(verifierKeep, [...committed.slice(verifierKeep), ...proposal.tokens], proposal.tokens.length + 1, request);
    stats.verifyMs += performance.now() - t;

    const verdict = accept(proposal.tokens, proposal.q, scores.map(distOf), rng);
    stats.block(proposal.tokens.length, verdict.accepted);
    gamma.update(proposal.tokens.length, verdict.accepted);

    block = proposal.tokens.slice(0, verdict.accepted).map((token, i) => ({ token, source: 'draft', scores: scores[i]! }));
    block.push({ token: verdict.next, source: verdict.nextSource, scores: scores[verdict.accepted]! });
    // The verifier now holds committed + the whole draft; the draft holds committed + all but its last token
    // (or just committed when it proposed nothing or was not asked).
    const drafted = budget > 0 ? Math.max(0, proposal.tokens.length - 1) : 0;
    cacheValid = {
      verifier: committed.length + verdict.accepted,
      draft: budget > 0 ? committed.length + Math.min(verdict.accepted, drafted) : draftKeep,
    };
  }
}
