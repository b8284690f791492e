/**
 * How the scheduler names the end of a request that several aborts reach at once. A gRPC call's deadline is also
 * its request's `timeoutMs`, so the scheduler's own deadline and the transport's abort fire in the same turn; the
 * error the generation throws comes from whichever its signal saw first. The generator here behaves as the engine
 * does on an abort (it throws the abort reason through `throwIfAborted`), and lets the test land a second abort
 * between the first and the throw: the race that counted a gRPC deadline as `cancelled`.
 */
import { describe, expect, it } from 'vitest';
import type { Generator } from '../../src/contract/generator.js';
import { SpecrouteError } from '../../src/errors/registry.js';
import { Metrics } from '../../src/observability/metrics.js';
import { throwIfAborted } from '../../src/pipeline/decode-loop.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';

/** A generator that emits one token, then waits for its signal; `onAbort` runs before it throws. */
function waitingGenerator(onAbort: () => void): Generator {
  return {
    contextSize: 64,
    encode: () => ({ tokens: [1, 2], stop: [], param: 'prompt' }),
    async *generate(_request, _prompt, options) {
      yield { kind: 'token', text: 'a', tokenIds: [3], source: 'verifier', logprob: 0 };
      const signal = options!.signal!;
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      onAbort();
      await Promise.resolve();
      throwIfAborted(signal);
    },
  };
}

async function statusOf(run: (client: AbortController) => { timeoutMs: number; onAbort: () => void }): Promise<{ status: string; thrown: unknown }> {
  const client = new AbortController();
  const { timeoutMs, onAbort } = run(client);
  const metrics = new Metrics();
  const scheduler = new Scheduler({ hybrid: waitingGenerator(onAbort) }, metrics, { modelId: 'm', maxConcurrent: 1, maxQueue: 1, requestTimeoutMs: 60_000, defaultMaxTokens: 8 });
  const generation = await scheduler.admit({ model: 'm', input: { kind: 'text', text: 'x' }, timeoutMs }, { transport: 'grpc', signal: client.signal });
  let thrown: unknown;
  try {
    for await (const _ of generation);
  } catch (error) {
    thrown = error;
  }
  const counted = (await metrics.requests.get()).values.filter((v) => v.value > 0).map((v) => String(v.labels.status));
  expect(counted).toHaveLength(1);
  return { status: counted[0]!, thrown };
}

describe('the status of a request that several aborts reach', () => {
  it('is the deadline when the deadline fires first and the transport aborts before the error is caught', async () => {
    const deadline = new SpecrouteError('deadline_exceeded', 'the call ran past its deadline');
    const { status, thrown } = await statusOf((client) => ({ timeoutMs: 20, onAbort: () => client.abort(deadline) }));
    expect(status).toBe('deadline_exceeded');
    expect((thrown as SpecrouteError).code).toBe('deadline_exceeded');
  });

  it('is the deadline even when the transport names its abort a cancel after the deadline fired', async () => {
    const { status } = await statusOf((client) => ({ timeoutMs: 20, onAbort: () => client.abort(new SpecrouteError('cancelled', 'the client cancelled the call')) }));
    expect(status).toBe('deadline_exceeded');
  });

  it("is the transport's reason when it aborts first", async () => {
    const { status, thrown } = await statusOf((client) => {
      setTimeout(() => client.abort(new SpecrouteError('deadline_exceeded', 'the call ran past its deadline')), 20);
      return { timeoutMs: 60_000, onAbort: () => undefined };
    });
    expect(status).toBe('deadline_exceeded');
    expect((thrown as SpecrouteError).code).toBe('deadline_exceeded');
  });

  it('is cancelled for a client that goes away with no reason of its own', async () => {
    const { status, thrown } = await statusOf((client) => {
      setTimeout(() => client.abort(), 20);
      return { timeoutMs: 60_000, onAbort: () => undefined };
    });
    expect(status).toBe('cancelled');
    expect((thrown as SpecrouteError).code).toBe('cancelled');
  });
});
