import type { GrammarSpec } from '../grammar/grammar-spec.js';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type TransferListItem } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { ModelInfo, ModelLoadOptions, PositionScores, ScoreRequest } from '../backends/types.js';
import type { PromptSignals } from '../contract/router-features.js';
import { SpecrouteError } from '../errors/registry.js';
import { decodeWorkerError } from './worker-errors.js';
import type { DecodeBatch, DecodeTask, DraftResult, DraftTask, StepOutcome, StepTask, WorkerResults, WorkerTask } from './protocol.js';

/** The compiled worker entry. Under vitest (sources run as .ts) the build in dist/ is used. */
function workerFilename(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, 'model-worker.js');
  if (existsSync(beside)) return beside;
  const built = resolve(here, '../../dist/src/workers/model-worker.js');
  if (existsSync(built)) return built;
  throw new Error(`model worker entry not found (looked for ${beside} and ${built}); run \`npm run build\``);
}

/**
 * One model in its own worker thread (a piscina pool of exactly one thread that never idles out).
 * Requests open sequences on it; several sequences' tasks run concurrently so their evaluations batch.
 */
export class ModelWorker {
  private disposed = false;
  private open_ = 0;
  /** Settles when the last queued `promptSignals` call has left the worker. */
  private signalsTail: Promise<void> = Promise.resolve();

  private constructor(
    private readonly pool: Piscina,
    private readonly flags: Int32Array,
    readonly info: ModelInfo,
    /** A label for errors and logs, such as `draft` or `verifier`. */
    readonly role: string,
  ) {}

  static async start(options: ModelLoadOptions, role: string): Promise<ModelWorker> {
    const pool = new Piscina({
      filename: workerFilename(),
      minThreads: 1,
      maxThreads: 1,
      idleTimeout: Infinity,
      atomics: 'disabled',
      // Every open sequence may have a task in flight, plus open/close traffic and one prompt-signals task.
      concurrentTasksPerWorker: options.sequences + 5,
    });
    const buffer = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * options.sequences);
    try {
      const info = (await pool.run({ op: 'load', options, cancelFlags: buffer } satisfies WorkerTask)) as ModelInfo;
      return new ModelWorker(pool, new Int32Array(buffer), info, role);
    } catch (error) {
      await pool.destroy();
      throw rethrow(error, role);
    }
  }

  private async call<K extends WorkerTask['op']>(task: Extract<WorkerTask, { op: K }>, transferList?: TransferListItem[]): Promise<WorkerResults[K]> {
    if (this.disposed) throw new SpecrouteError('shutting_down', `${this.role} model is disposed`);
    try {
      return (await this.pool.run(task, transferList ? { transferList: transferList } : {})) as WorkerResults[K];
    } catch (error) {
      throw rethrow(error, this.role);
    }
  }

  /** Takes a sequence for one request. Close it when the request ends. */
  async open(): Promise<WorkerSequence> {
    const { slot } = await this.call<'open'>({ op: 'open' });
    this.open_++;
    return new WorkerSequence(this, slot, () => this.open_--);
  }

  /**
   * The router's prompt signals of `tokens` (the prompt as the model sees it: BOS and chat template included),
   * computed in the worker (ModelBackend.promptSignals): one pass of the model over the prompt on a context of its
   * own, so it takes none of the request sequences, never waits for one and never fails with `overloaded`.
   * Calls to one model run one at a time; they queue here, so a waiting call holds none of the worker's task
   * slots. Aborting `options.signal` rejects at once with the abort reason (a `SpecrouteError`; `cancelled`
   * otherwise): a call still queued never reaches the worker, and a running one is told to stop (a prompt pass in
   * progress finishes in the worker, and the next call starts after it). The first call also creates the model's
   * routing context (milliseconds on stories260K); call it once at boot to keep that off a request.
   */
  promptSignals(tokens: readonly number[], options: { signal?: AbortSignal } = {}): Promise<PromptSignals> {
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const cancelBuffer = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
    const cancel = new Int32Array(cancelBuffer);
    const run = this.signalsTail.then(() => {
      if (signal?.aborted) throw abortError(signal);
      return this.call<'signals'>({ op: 'signals', tokens, cancel: cancelBuffer });
    });
    this.signalsTail = run.then(
      () => undefined,
      () => undefined,
    );
    if (!signal) return run;
    return new Promise<PromptSignals>((resolve, reject) => {
      const onAbort = (): void => {
        Atomics.store(cancel, 0, 1);
        reject(abortError(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      void run.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /**
   * One lock-step pass (StepTask): every item at once, so their evaluations share batches. Each item settles on
   * its own; a failed item's error comes back as a registry error, as a failed call's would.
   */
  async step(task: Omit<StepTask, 'op'>): Promise<WorkerResults['step']> {
    const result = await this.call<'step'>({ op: 'step', ...task });
    const decode = <T>(outcome: StepOutcome<T>): StepOutcome<T> => (outcome.ok ? outcome : { ok: false, error: rethrow(outcome.error, this.role) });
    return { evaluate: result.evaluate.map(decode), draft: result.draft.map(decode) };
  }

  /** What the worker itself counts: its open sequences and how many sequences shared each batch. */
  stats(): Promise<WorkerResults['stats']> {
    return this.call<'stats'>({ op: 'stats' });
  }

  /** Sequences opened and not yet closed. */
  get openSequences(): number {
    return this.open_;
  }

  /** @internal */
  setCancelled(slot: number, value: boolean): void {
    Atomics.store(this.flags, slot, value ? 1 : 0);
  }

  /** @internal */
  run<K extends WorkerTask['op']>(task: Extract<WorkerTask, { op: K }>, transferList?: TransferListItem[]): Promise<WorkerResults[K]> {
    return this.call(task, transferList);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.pool.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** A request's sequence on one model worker. */
export class WorkerSequence {
  private closed = false;
  /** Tokens held in this sequence's cache, as far as the main thread knows. */
  length = 0;

  constructor(
    /** The model worker holding this sequence. */
    readonly worker: ModelWorker,
    readonly slot: number,
    private readonly onClose: () => void,
  ) {}

  /** Masks this sequence's scores with `spec`'s grammar from token index `start` on (ConstrainTask). */
  async constrain(spec: GrammarSpec, start: number): Promise<void> {
    await this.worker.run<'constrain'>({ op: 'constrain', slot: this.slot, spec, start });
  }

  async evaluate(keep: number, tokens: readonly number[], scoreLast: number, request: ScoreRequest): Promise<PositionScores[]> {
    const scores = await this.worker.run<'evaluate'>({ op: 'evaluate', slot: this.slot, keep, tokens, scoreLast, request });
    this.length = keep + tokens.length;
    return scores;
  }

  async draft(task: Omit<DraftTask, 'op' | 'slot'>): Promise<DraftResult> {
    const result = await this.worker.run<'draft'>({ op: 'draft', slot: this.slot, ...task });
    // The last drafted token is proposed but not evaluated.
    this.length = task.keep + task.tokens.length + Math.max(0, result.tokens.length - 1);
    return result;
  }

  /**
   * Plain decoding in the worker: yields token batches as the worker streams them over a MessagePort.
   * Stopping early (break, or `cancel()`) ends the worker's loop at its next step.
   */
  async *decode(task: Omit<DecodeTask, 'op' | 'slot' | 'port'>): AsyncGenerator<DecodeBatch> {
    const { port1, port2 } = new MessageChannel();
    const queue: DecodeBatch[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    port1.on('message', (batch: DecodeBatch) => {
      queue.push(batch);
      wake?.();
    });
    port1.on('close', () => {
      ended = true;
      wake?.();
    });
    // The port closes after the worker's last batch (the worker closes it in a finally, and a dying thread
    // closes it too); the task's own result can arrive before that last batch, so it does not end the stream.
    const done = this.worker.run<'decode'>({ op: 'decode', slot: this.slot, port: port2, ...task }, [port2]);
    done.catch(() => undefined);
    let generated = 0;
    try {
      while (true) {
        const batch = queue.shift();
        if (batch) {
          generated += batch.tokens.length;
          yield batch;
          continue;
        }
        if (ended) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      await done; // surface a worker error
    } finally {
      this.worker.setCancelled(this.slot, true);
      await done.catch(() => undefined);
      this.worker.setCancelled(this.slot, false);
      port1.close();
      this.length = task.keep + task.tokens.length + Math.max(0, generated - 1);
    }
  }

  /** Asks the worker to stop this sequence's running loop at its next step. */
  cancel(): void {
    if (!this.closed) this.worker.setCancelled(this.slot, true);
  }

  /** Frees the sequence (its KV cache) for another request. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.worker.setCancelled(this.slot, true);
    try {
      await this.worker.run<'close'>({ op: 'close', slot: this.slot });
    } finally {
      this.onClose();
    }
  }
}

/** Why an aborted call ends: the signal's reason when it is a registry error, `cancelled` otherwise. */
function abortError(signal: AbortSignal): SpecrouteError {
  const reason: unknown = signal.reason;
  return reason instanceof SpecrouteError ? reason : new SpecrouteError('cancelled', 'the prompt signals were cancelled', { cause: reason });
}

/** Errors cross the thread boundary as plain Errors; registry errors come back typed (see encodeWorkerError). */
function rethrow(error: unknown, role: string): Error {
  if (error instanceof SpecrouteError) return error;
  return decodeWorkerError(error) ?? new SpecrouteError('worker_failed', `${role} worker failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}
