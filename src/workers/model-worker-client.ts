import type { GrammarSpec } from '../grammar/grammar-spec.js';
import { MessageChannel, type TransferListItem, type Worker } from 'node:worker_threads';
import type { ModelInfo, ModelLoadOptions, PositionScores, ScoreRequest } from '../backends/types.js';
import type { PromptSignals } from '../contract/router-features.js';
import { abortReason, SpecrouteError } from '../errors/registry.js';
import { decodeWorkerError } from './worker-errors.js';
import { ModelThread } from './model-thread.js';
import { RestartBackoff, type RestartBackoffOptions } from './restart-backoff.js';
import type { DecodeBatch, DecodeTask, DraftResult, DraftTask, StepOutcome, StepTask, WorkerResults, WorkerTask } from './protocol.js';

/**
 * What a model worker tells its owner about its thread's life (logs, metrics). `message` is a log line;
 * `retryInMs` says when the next attempt starts (null: none will).
 */
export type WorkerEvent =
  | { readonly kind: 'died'; readonly role: string; readonly message: string }
  | { readonly kind: 'restarted'; readonly role: string; readonly message: string; readonly generation: number }
  | { readonly kind: 'restart-failed'; readonly role: string; readonly message: string; readonly retryInMs: number | null };

export interface ModelWorkerOptions {
  /** Told when the thread dies, when a restart fails, and when the model is back. Defaults to nobody. */
  readonly onEvent?: (event: WorkerEvent) => void;
  /**
   * How long a call that needs the model (`open`, `promptSignals`) waits for a restart in progress before it fails
   * with `model_unavailable`. Defaults to `30000`.
   */
  readonly restartWaitMs?: number;
  /** When to retry restarts that keep failing. Defaults to `defaultRestartBackoff`. */
  readonly backoff?: Partial<RestartBackoffOptions>;
}

interface Waiter {
  resolve(thread: ModelThread): void;
  reject(error: unknown): void;
}

/**
 * One model in its own worker thread (a piscina pool of exactly one thread that never idles out).
 * Requests open sequences on it; several sequences' tasks run concurrently so their evaluations batch.
 *
 * The thread may die (an uncaught error, `process.exit`, termination). Then every task of every sequence opened on
 * it fails with `model_unavailable` (retryable), and so does any later call on those sequences; the model is loaded
 * again on a new thread, with the same options, and calls that need the model (`open`, `promptSignals`) wait for
 * that meanwhile. `available` is false until it is back (docs/ARCHITECTURE.md#workers-that-recover).
 */
export class ModelWorker {
  /** The live thread; undefined while a restart is under way. */
  private thread: ModelThread | undefined;
  private disposing: Promise<void> | undefined;
  private restarting: Promise<void> | undefined;
  private readonly waiters = new Set<Waiter>();
  private readonly backoff: RestartBackoff;
  /** Ends the pause between two restart attempts early (at dispose). */
  private wake: (() => void) | undefined;
  private generations = 1;
  private open_ = 0;
  /** Batches by size of the threads that died, as last read from them (the `stats` task). */
  private batchSizesBefore: Record<number, number> = {};
  /** Batches by size of the live thread, as last read. */
  private batchSizesSeen: Record<number, number> = {};
  /** Settles when the last queued `promptSignals` call has left the worker. */
  private signalsTail: Promise<void> = Promise.resolve();

  private constructor(
    thread: ModelThread,
    readonly info: ModelInfo,
    /** A label for errors and logs, such as `draft` or `verifier`. */
    readonly role: string,
    private readonly loadOptions: ModelLoadOptions,
    private readonly options: ModelWorkerOptions,
  ) {
    this.backoff = new RestartBackoff(options.backoff);
    this.adopt(thread);
  }

  static async start(options: ModelLoadOptions, role: string, workerOptions: ModelWorkerOptions = {}): Promise<ModelWorker> {
    try {
      const { thread, info } = await ModelThread.start(options, 0);
      return new ModelWorker(thread, info, role, options, workerOptions);
    } catch (error) {
      throw rethrow(error, role);
    }
  }

  /** Whether the model is loaded on a live thread (false while it restarts, and once disposed). */
  get available(): boolean {
    return this.thread !== undefined && !this.disposing;
  }

  /** Threads started so far: the first, and one for each restart attempt. */
  get threadsStarted(): number {
    return this.generations;
  }

  /**
   * The live thread's `Worker`, for tests that kill it (`terminate()`) to see the worker recover. Undefined while
   * none is live. Nothing in the product uses it.
   */
  threadForTesting(): Worker | undefined {
    return this.thread?.worker;
  }

  /**
   * Makes the live thread die of an uncaught error, as a bug in the worker would (`CrashForTestingTask`), for tests
   * that see the worker recover. Resolves once the thread has said it is dying. Nothing in the product calls it.
   */
  async crashForTesting(): Promise<void> {
    const thread = this.thread;
    if (!thread) throw this.unavailable();
    await this.exec<'crashForTesting'>(thread, { op: 'crashForTesting' });
    // Piscina unrefs an idle thread and its port: hold the event loop open until the notice arrives.
    const alive = setInterval(() => undefined, 1000);
    await thread.ended.finally(() => clearInterval(alive));
  }

  private adopt(thread: ModelThread): void {
    this.thread = thread;
    thread.onDeath(() => this.died(thread));
    for (const waiter of this.waiters) waiter.resolve(thread);
    this.waiters.clear();
  }

  private died(thread: ModelThread): void {
    if (this.disposing || this.thread !== thread) return;
    this.thread = undefined;
    this.batchSizesBefore = addCounts(this.batchSizesBefore, this.batchSizesSeen);
    this.batchSizesSeen = {};
    this.restarting = this.restart(thread).catch((error: unknown) => {
      // Not expected (each attempt catches its own failure): say so rather than leave the worker down in silence.
      this.emit({ kind: 'restart-failed', role: this.role, retryInMs: null, message: `${this.role} worker restart stopped: ${(error as Error)?.message ?? String(error)}` });
    });
  }

  /** Lets the dead thread go, then loads the model on new threads until one holds it (or the worker is disposed). */
  private async restart(dead: ModelThread): Promise<void> {
    const reason = await dead.exitReason();
    await dead.retire();
    let delay = this.backoff.failed();
    this.emit({ kind: 'died', role: this.role, message: `${this.role} worker thread died (${reason}); its requests end with model_unavailable; reloading the model${delay > 0 ? ` in ${delay} ms` : ''}` });
    for (;;) {
      if (delay > 0) await this.pause(delay);
      if (this.disposing) return;
      const generation = this.generations++;
      const started = performance.now();
      try {
        const { thread, info } = await ModelThread.start(this.loadOptions, generation);
        if (this.disposing) return await thread.retire();
        if (info.vocabSize !== this.info.vocabSize || info.contextSize !== this.info.contextSize) {
          await thread.retire();
          throw new Error(`the model file changed (vocabulary ${info.vocabSize}, context ${info.contextSize}; was ${this.info.vocabSize}, ${this.info.contextSize})`);
        }
        this.backoff.loaded();
        this.adopt(thread);
        const ms = Math.round(performance.now() - started);
        this.emit({ kind: 'restarted', role: this.role, generation, message: `${this.role} worker reloaded its model in ${ms} ms on a new thread (restart ${generation})` });
        return;
      } catch (error) {
        if (this.disposing) return;
        delay = this.backoff.failed();
        const why = rethrow(error, this.role).message;
        this.emit({ kind: 'restart-failed', role: this.role, retryInMs: delay, message: `${this.role} worker restart failed (${why}); retrying in ${delay} ms` });
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    }).finally(() => (this.wake = undefined));
  }

  private emit(event: WorkerEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // An observer's failure is not the worker's.
    }
  }

  /** The live thread, waiting (up to `restartWaitMs`) for a restart under way. */
  private whenLive(signal?: AbortSignal): Promise<ModelThread> {
    if (this.disposing) return Promise.reject(disposedError(this.role));
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.thread) return Promise.resolve(this.thread);
    const waitMs = this.options.restartWaitMs ?? 30_000;
    return new Promise<ModelThread>((resolve, reject) => {
      const end = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiters.delete(waiter);
      };
      const waiter: Waiter = {
        resolve: (thread) => (end(), resolve(thread)),
        reject: (error) => (end(), reject(error)),
      };
      const onAbort = (): void => waiter.reject(abortError(signal!));
      const timer = setTimeout(() => waiter.reject(this.unavailable(`it is not back after ${waitMs} ms`)), waitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  /** Runs `task` on `thread`; a thread that died (before or during it) fails it with `model_unavailable`. */
  private async exec<K extends WorkerTask['op']>(thread: ModelThread, task: Extract<WorkerTask, { op: K }>, transferList?: TransferListItem[]): Promise<WorkerResults[K]> {
    if (this.disposing) throw disposedError(this.role);
    if (thread.dead) throw this.unavailable();
    try {
      return await thread.run(task, transferList);
    } catch (error) {
      if (this.disposing) throw disposedError(this.role, error);
      const failure = rethrow(error, this.role);
      // A dying thread fails its tasks with model_unavailable itself, which may arrive before its notice does.
      if (thread.dead || (failure instanceof SpecrouteError && failure.code === 'model_unavailable')) throw this.unavailable(undefined, error);
      throw failure;
    }
  }

  private unavailable(detail?: string, cause?: unknown): SpecrouteError {
    const message = `the ${this.role} model's worker stopped${detail ? ` and ${detail}` : ' and is restarting'}; retry the request`;
    return new SpecrouteError('model_unavailable', message, cause === undefined ? {} : { cause });
  }

  /**
   * Takes a sequence for one request. Close it when the request ends. While the worker restarts it waits for the
   * model to be back (up to `restartWaitMs`, or until `options.signal` aborts).
   */
  async open(options: { signal?: AbortSignal } = {}): Promise<WorkerSequence> {
    for (let attempt = 0; ; attempt++) {
      const thread = await this.whenLive(options.signal);
      try {
        const { slot } = await this.exec<'open'>(thread, { op: 'open' });
        this.open_++;
        return new WorkerSequence(this, thread, slot, () => this.open_--);
      } catch (error) {
        // The thread died under the call: wait for the next one, once.
        if (attempt > 0 || !(error instanceof SpecrouteError && error.code === 'model_unavailable')) throw error;
      }
    }
  }

  /**
   * The router's prompt signals of `tokens` (the prompt as the model sees it: BOS and chat template included),
   * computed in the worker (ModelBackend.promptSignals): one pass of the model over the prompt on a context of its
   * own, so it takes none of the request sequences, never waits for one and never fails with `overloaded`.
   * Calls to one model run one at a time; they queue here, so a waiting call holds none of the worker's task
   * slots. Aborting `options.signal` rejects at once with the abort reason (a `SpecrouteError`; `cancelled`
   * otherwise): a call still queued never reaches the worker, and a running one is told to stop (a prompt pass in
   * progress finishes in the worker, and the next call starts after it). The first call also creates the model's
   * routing context (milliseconds on stories260K); call it once at boot to keep that off a request. While the
   * worker restarts, a call waits for it as `open` does.
   */
  promptSignals(tokens: readonly number[], options: { signal?: AbortSignal } = {}): Promise<PromptSignals> {
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const cancelBuffer = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
    const cancel = new Int32Array(cancelBuffer);
    const run = this.signalsTail.then(async () => {
      if (signal?.aborted) throw abortError(signal);
      const thread = await this.whenLive(signal);
      return this.exec<'signals'>(thread, { op: 'signals', tokens, cancel: cancelBuffer });
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
   * One lock-step pass (StepTask) over `sequences` (those its items name): every item at once, so their evaluations
   * share batches. Each item settles on its own; a failed item's error comes back as a registry error, as a failed
   * call's would. A thread that dies fails the whole pass (`model_unavailable`), as any task.
   */
  async step(sequences: readonly WorkerSequence[], task: Omit<StepTask, 'op'>): Promise<WorkerResults['step']> {
    const result = await this.runFor<'step'>(sequences, { op: 'step', ...task });
    const decode = <T>(outcome: StepOutcome<T>): StepOutcome<T> => (outcome.ok ? outcome : { ok: false, error: rethrow(outcome.error, this.role) });
    return { evaluate: result.evaluate.map(decode), draft: result.draft.map(decode) };
  }

  /**
   * What the worker itself counts: its open sequences and how many sequences shared each batch. Batch counts add
   * up over restarts (a dead thread's as last read from it); while the worker restarts this answers at once.
   */
  async stats(): Promise<WorkerResults['stats']> {
    const thread = this.thread;
    if (thread) {
      try {
        const stats = await this.exec<'stats'>(thread, { op: 'stats' });
        if (thread === this.thread) this.batchSizesSeen = stats.batchSizes;
        return { openSequences: stats.openSequences, batchSizes: addCounts(this.batchSizesBefore, stats.batchSizes) };
      } catch (error) {
        if (!(error instanceof SpecrouteError && error.code === 'model_unavailable')) throw error;
      }
    }
    return { openSequences: 0, batchSizes: { ...this.batchSizesBefore } };
  }

  /** Sequences opened and not yet closed. */
  get openSequences(): number {
    return this.open_;
  }

  /**
   * @internal Runs a task that names the slots of `sequences` (all of this worker) on the thread they were opened
   * on. Fails with `model_unavailable` when that thread has died, or when they were opened on different threads: a
   * sequence never reaches a thread other than its own. Every task about sequences goes through here.
   */
  runFor<K extends WorkerTask['op']>(sequences: readonly WorkerSequence[], task: Extract<WorkerTask, { op: K }>, transferList?: TransferListItem[]): Promise<WorkerResults[K]> {
    const thread = sequences[0]?.thread;
    if (!thread) return Promise.reject(new SpecrouteError('internal', 'a sequence task names no sequence'));
    if (sequences.some((s) => s.worker !== this)) return Promise.reject(new SpecrouteError('internal', `a sequence task for the ${this.role} worker names another worker's sequence`));
    if (sequences.some((s) => s.thread !== thread)) return Promise.reject(this.unavailable());
    return this.exec(thread, task, transferList);
  }

  /** Frees the model (idempotent). A thread dying meanwhile is not restarted; calls waiting for one fail. */
  dispose(): Promise<void> {
    return (this.disposing ??= (async () => {
      for (const waiter of this.waiters) waiter.reject(disposedError(this.role));
      this.wake?.();
      await this.restarting?.catch(() => undefined);
      const thread = this.thread;
      this.thread = undefined;
      await thread?.retire();
    })());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/**
 * A request's sequence on one model worker. It belongs to the thread it was opened on: once that thread has died,
 * every call on it fails with `model_unavailable` (none reaches the thread that replaced it), and `close()` only
 * lets it go.
 */
export class WorkerSequence {
  private closed = false;

  constructor(
    /** The model worker holding this sequence. */
    readonly worker: ModelWorker,
    /** @internal The thread it was opened on. */
    readonly thread: ModelThread,
    readonly slot: number,
    private readonly onClose: () => void,
  ) {}

  /** The generation of the thread it was opened on (0 for the worker's first thread, one more per restart). */
  get generation(): number {
    return this.thread.generation;
  }

  /** Masks this sequence's scores with `spec`'s grammar from token index `start` on (ConstrainTask). */
  async constrain(spec: GrammarSpec, start: number): Promise<void> {
    await this.worker.runFor<'constrain'>([this], { op: 'constrain', slot: this.slot, spec, start });
  }

  evaluate(keep: number, tokens: readonly number[], scoreLast: number, request: ScoreRequest): Promise<PositionScores[]> {
    return this.worker.runFor<'evaluate'>([this], { op: 'evaluate', slot: this.slot, keep, tokens, scoreLast, request });
  }

  draft(task: Omit<DraftTask, 'op' | 'slot'>): Promise<DraftResult> {
    return this.worker.runFor<'draft'>([this], { op: 'draft', slot: this.slot, ...task });
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
    const done = this.worker.runFor<'decode'>([this], { op: 'decode', slot: this.slot, port: port2, ...task }, [port2]);
    // A task refused before it was sent (a dead thread) never takes the port: nothing would close it.
    done.catch(() => {
      ended = true;
      wake?.();
    });
    try {
      while (true) {
        const batch = queue.shift();
        if (batch) {
          yield batch;
          continue;
        }
        if (ended) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      await done; // surface a worker error
    } finally {
      this.thread.setCancelled(this.slot, true);
      await done.catch(() => undefined);
      this.thread.setCancelled(this.slot, false);
      port1.close();
    }
  }

  /** Asks the worker to stop this sequence's running loop at its next step. */
  cancel(): void {
    if (!this.closed) this.thread.setCancelled(this.slot, true);
  }

  /** Frees the sequence (its KV cache) for another request. Idempotent; on a thread that died it only lets go. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.thread.setCancelled(this.slot, true);
    try {
      if (!this.thread.dead) await this.worker.runFor<'close'>([this], { op: 'close', slot: this.slot });
    } catch (error) {
      // The thread died meanwhile: the sequence went with it.
      if (!(error instanceof SpecrouteError && error.code === 'model_unavailable')) throw error;
    } finally {
      this.onClose();
    }
  }
}

/** The counts of `a` and `b` added, key by key. */
function addCounts(a: Record<number, number>, b: Record<number, number>): Record<number, number> {
  const sum: Record<number, number> = { ...a };
  for (const [key, count] of Object.entries(b)) sum[Number(key)] = (sum[Number(key)] ?? 0) + count;
  return sum;
}

/** Why an aborted call ends (`abortReason`, worded for a call). */
function abortError(signal: AbortSignal): SpecrouteError {
  return abortReason(signal, 'the call was cancelled');
}

function disposedError(role: string, cause?: unknown): SpecrouteError {
  return new SpecrouteError('shutting_down', `${role} model is disposed`, cause === undefined ? {} : { cause });
}

/** Errors cross the thread boundary as plain Errors; registry errors come back typed (see encodeWorkerError). */
function rethrow(error: unknown, role: string): Error {
  if (error instanceof SpecrouteError) return error;
  return decodeWorkerError(error) ?? new SpecrouteError('worker_failed', `${role} worker failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}
