import { distOf } from '../backends/scores.js';
import { Rng } from '../sampling/rng.js';
import { sampleFrom } from '../native/kernels.js';
import type { AcceptanceRule } from './acceptance.js';
import { AdaptiveDraftLength } from './adaptive-draft-length.js';
import { scoreRequest, throwIfAborted, type DecodeLoop, type EmittedToken, type LoopContext, type LoopSequence } from './decode-loop.js';

/**
 * The speculative loop. Each block: the draft proposes up to γ tokens (one worker task), the verifier scores the
 * uncommitted tokens plus the whole draft in one batched pass, the lossless rule keeps a prefix and adds the
 * correction or bonus token, and both caches roll back to what was committed. A pass with nothing drafted (γ = 0
 * while adaptation pauses the draft, or one token left) is a plain verifier step: its token is tagged `verifier`.
 *
 * Without a draft (`draft` null) every pass is such a plain step, tagged `plainSource`: constrained decoding by
 * one model (verifier-only, or the draft alone on the `slm` tier) runs here so that it meets the grammar's forced
 * tokens exactly as the speculative pair does.
 *
 * With a grammar (`ctx.grammar`), the workers mask every scored position of both models (their sequences are
 * constrained), and the tokens the grammar forces after each committed block are committed at once, emitted at
 * the head of the next block with source `grammar`, and fed to both models in the next pass
 * (docs/ARCHITECTURE.md#structured-output).
 *
 * Cache bookkeeping: `committed` is every token of the text; each model's cache holds a prefix of it
 * (`verifierKeep`, `draftKeep` tokens), always shorter than `committed`, so the next pass has at least one token to
 * evaluate and gets the distribution after the last committed token.
 *
 * `accept` is the acceptance rule: `acceptDraft` (docs/ARCHITECTURE.md#lossless-speculative-sampling) unless a test
 * gave the engine another (`EngineOptions.acceptance`, which holds the default).
 */
export async function* speculate(
  verifier: LoopSequence,
  draft: LoopSequence | null,
  ctx: LoopContext,
  accept: AcceptanceRule,
  plainSource: 'verifier' | 'draft' = 'verifier',
): DecodeLoop {
  const { prompt, sampling, stats, grammar } = ctx;
  const rng = new Rng(sampling.seed);
  const request = scoreRequest(ctx);
  const gamma = new AdaptiveDraftLength(ctx.speculation);
  const committed = [...prompt];
  const generated = (): number => committed.length - prompt.length;
  /** Out of tokens, or the grammar forced the end of the text. */
  const ended = (): boolean => generated() >= ctx.maxTokens || grammar?.terminated === true;
  /** Commits the tokens the grammar forces now; they lead the next block. */
  const force = async (): Promise<EmittedToken[]> => {
    if (!grammar) return [];
    const forced = await grammar.forced(committed.slice(prompt.length), ctx.maxTokens - generated());
    committed.push(...forced);
    return forced.map((token) => ({ token, source: 'grammar', scores: null }));
  };

  // Prefill both models at once; the first token comes from the verifier itself.
  const started = performance.now();
  let block = await force();
  /** How many tokens at the head of `block` were committed before it was yielded (forced, or a frontier span). */
  let precommitted = block.length;
  if (ended()) {
    yield block;
    return;
  }
  const [[first]] = await Promise.all([verifier.evaluate(0, committed, 1, request), draft?.evaluate(0, committed, 0, request)]);
  stats.prefillMs = performance.now() - started;
  block.push({ token: sampleFrom(distOf(first!), rng), source: plainSource, scores: first! });
  let cacheValid = { verifier: committed.length, draft: committed.length }; // tokens of committed + block each cache holds

  for (;;) {
    const command = yield block;
    const cut = command ? command.cut : block.length;
    if (cut < precommitted) throw new Error('speculate: a forced or spliced token cannot be cut');
    const fresh = block.slice(precommitted, cut).map((b) => b.token);
    committed.push(...fresh);
    grammar?.commit(fresh);
    const verifierKeep = Math.min(cacheValid.verifier, committed.length - 1);
    const draftKeep = Math.min(cacheValid.draft, committed.length - 1);
    if (command && command.splice.length > 0) {
      // Feed the frontier's span to the verifier, scoring each of its tokens (their logprobs under the verifier).
      const span = command.splice.slice(0, ctx.maxTokens - generated());
      const t = performance.now();
      const scores = await verifier.evaluate(verifierKeep, [...committed.slice(verifierKeep), ...span.slice(0, -1)], span.length, request);
      stats.verifyMs += performance.now() - t;
      cacheValid = { verifier: committed.length + span.length - 1, draft: draftKeep };
      committed.push(...span);
      grammar?.commit(span);
      block = span.map((token, i) => ({ token, source: 'frontier', scores: scores[i]! }));
      block.push(...(await force()));
      precommitted = block.length;
      if (block.length > 0) continue;
    }
    if (generated() >= ctx.maxTokens) return;
    throwIfAborted(ctx.signal);
    block = await force();
    precommitted = block.length;
    if (ended()) {
      if (block.length > 0) yield block;
      return;
    }

    const budget = draft ? Math.min(gamma.current, ctx.step?.gammaCeiling() ?? Infinity, ctx.maxTokens - generated() - 1) : 0;
    let t = performance.now();
    const proposal =
      draft && budget > 0
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
    ctx.step?.block(proposal.tokens.length, verdict.accepted);
    gamma.update(proposal.tokens.length, verdict.accepted);

    // Under a grammar the block ends where forced text begins: the next pass starts with the forced tokens.
    const written = [...proposal.tokens.slice(0, verdict.accepted), verdict.next];
    const free = grammar ? await grammar.freePrefix(committed.slice(prompt.length), written) : written.length;
    block.push(...proposal.tokens.slice(0, Math.min(verdict.accepted, free)).map((token, i): EmittedToken => ({ token, source: 'draft', scores: scores[i]!, position: i })));
    if (free > verdict.accepted) {
      const next = { token: verdict.next, scores: scores[verdict.accepted]! };
      block.push(proposal.tokens.length > 0 ? { ...next, source: verdict.nextSource, position: verdict.accepted } : { ...next, source: plainSource });
    }
    // The verifier now holds committed + the whole draft; the draft holds committed + all but its last token
    // (or just committed when it proposed nothing or was not asked).
    const drafted = budget > 0 ? Math.max(0, proposal.tokens.length - 1) : 0;
    cacheValid = {
      verifier: committed.length + verdict.accepted,
      draft: budget > 0 ? committed.length + Math.min(verdict.accepted, drafted) : draftKeep,
    };
  }
}
