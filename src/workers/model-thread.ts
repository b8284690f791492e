import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TransferListItem, Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { ModelInfo, ModelLoadOptions } from '../backends/types.js';
import { isDyingNotice, type WorkerResults, type WorkerTask } from './protocol.js';

/** The compiled worker entry. Under vitest (sources run as .ts) the build in dist/ is used. */
function workerFilename(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, 'model-worker.js');
  if (existsSync(beside)) return beside;
  const built = resolve(here, '../../dist/src/workers/model-worker.js');
  if (existsSync(built)) return built;
  throw new Error(`model worker entry not found (looked for ${beside} and ${built}); run \`npm run build\``);
}

/** How long a thread that died may take to report its exit before its pool is torn down anyway. */
const EXIT_WAIT_MS = 5000;

/**
 * One generation of a model worker: a piscina pool of exactly one thread, with the model loaded in it
 * (docs/ARCHITECTURE.md#piscina-abort-kills-the-worker). It never outlives its thread: when the thread dies, piscina
 * would start a fresh one in the same pool, without the model; this generation is over instead, and
 * `ModelWorker` starts the next on a new pool (docs/ARCHITECTURE.md#workers-that-recover). Tasks already queued
 * in the old pool then fail with it, and can never run on a thread they were not meant for.
 *
 * Death is seen the moment the thread says it is dying of an uncaught error (its `DyingNotice`, posted before it
 * drains and exits), or else through piscina's `workerDestroy` event, which piscina emits synchronously while it
 * handles the thread's `exit` (termination, `process.exit` in the thread) or `error`, before it rejects the tasks
 * that were running there; either way `dead` already holds when their rejections arrive.
 */
export class ModelThread {
  private dead_ = false;
  /** Retired on purpose (disposed, or a load that failed): its end is no death. */
  private retired = false;
  private deathListener: (() => void) | undefined;
  private lastError: Error | undefined;
  private readonly exited: Promise<number>;
  private retiring: Promise<void> | undefined;
  /** Tasks sent and not settled, and who waits for there to be none. */
  private running = 0;
  private onIdle: (() => void) | undefined;
  private markEnded!: () => void;
  /** Settles when the thread has ended (died or retired). */
  readonly ended: Promise<void> = new Promise((resolve) => (this.markEnded = resolve));

  private constructor(
    private readonly pool: Piscina,
    /** The thread itself. */
    readonly worker: Worker,
    /** One Int32 cancel flag per sequence slot, shared with this thread only. */
    private readonly flags: Int32Array,
    /** Counts the threads of one `ModelWorker`: 0 for the first, one more for each restart. */
    readonly generation: number,
  ) {
    // Without a listener, an error piscina reports while no task runs (an uncaught exception in an idle thread)
    // would be rethrown on the main thread and end the process.
    pool.on('error', (error: Error) => (this.lastError ??= error));
    worker.on('error', (error: Error) => (this.lastError ??= error));
    this.exited = new Promise((done) => worker.once('exit', done));
    pool.on('message', (message: unknown) => {
      if (!isDyingNotice(message)) return;
      this.lastError ??= new Error(message.reason);
      this.end();
    });
    pool.on('workerDestroy', () => this.end());
  }

  private end(): void {
    if (this.dead_) return;
    this.dead_ = true;
    this.markEnded();
    if (!this.retired) this.deathListener?.();
  }

  /**
   * Starts a thread and loads the model in it (the `load` task, with a cancel-flag buffer of its own). Rejects with
   * the worker's error, after tearing the pool down, when the load fails or the thread dies first.
   */
  static async start(options: ModelLoadOptions, generation: number): Promise<{ thread: ModelThread; info: ModelInfo }> {
    const pool = new Piscina({
      filename: workerFilename(),
      minThreads: 1,
      maxThreads: 1,
      idleTimeout: Infinity,
      atomics: 'disabled',
      // Every open sequence may have a task in flight, plus open/close traffic and one prompt-signals task.
      concurrentTasksPerWorker: options.sequences + 5,
    });
    // Piscina starts its minimum of threads in its constructor.
    const worker = pool.threads[0];
    if (!worker) {
      await pool.destroy();
      throw new Error('piscina started no thread');
    }
    const buffer = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * options.sequences);
    const thread = new ModelThread(pool, worker, new Int32Array(buffer), generation);
    try {
      const info = (await pool.run({ op: 'load', options, cancelFlags: buffer } satisfies WorkerTask)) as ModelInfo;
      return { thread, info };
    } catch (error) {
      await thread.retire();
      throw error;
    }
  }

  /** Whether the thread has ended (died or retired): no task may be sent to it again. */
  get dead(): boolean {
    return this.dead_;
  }

  /** Calls `listener` once when the thread dies (at once if it already has); never for a retirement. */
  onDeath(listener: () => void): void {
    this.deathListener = listener;
    if (this.dead_ && !this.retired) queueMicrotask(listener);
  }

  run<K extends WorkerTask['op']>(task: Extract<WorkerTask, { op: K }>, transferList?: TransferListItem[]): Promise<WorkerResults[K]> {
    this.running++;
    const settled = (): void => {
      if (--this.running === 0) this.onIdle?.();
    };
    const result = this.pool.run(task, transferList ? { transferList } : {}) as Promise<WorkerResults[K]>;
    result.then(settled, settled);
    return result;
  }

  setCancelled(slot: number, value: boolean): void {
    Atomics.store(this.flags, slot, value ? 1 : 0);
  }

  /**
   * Tears the pool down (idempotent). A live thread is asked to stop every loop (all cancel flags) and given up to
   * `EXIT_WAIT_MS` for its tasks to settle before it is terminated: terminated with native work in flight, it would
   * abort the process (docs/ARCHITECTURE.md#piscina-abort-kills-the-worker). A dead one is first let finish dying,
   * so that piscina has handled its exit before the pool goes (a pool destroyed earlier would start a thread again
   * on it).
   */
  retire(): Promise<void> {
    return (this.retiring ??= (async () => {
      const wait = (until: Promise<unknown>): Promise<unknown> => Promise.race([until, new Promise<void>((r) => setTimeout(r, EXIT_WAIT_MS).unref())]);
      if (this.dead_) await wait(this.exited);
      else {
        this.retired = true;
        for (let slot = 0; slot < this.flags.length; slot++) Atomics.store(this.flags, slot, 1);
        if (this.running > 0) await wait(new Promise<void>((resolve) => (this.onIdle = resolve)));
      }
      await this.pool.destroy();
    })());
  }

  /** Why the thread ended, for logs: its exit code and the error it reported, once it has exited. */
  async exitReason(): Promise<string> {
    const code = await Promise.race([this.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), EXIT_WAIT_MS).unref())]);
    const error = this.lastError ? `: ${this.lastError.message}` : '';
    return code === undefined ? `no exit within ${EXIT_WAIT_MS} ms${error}` : `exit code ${code}${error}`;
  }
}
