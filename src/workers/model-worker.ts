/**
 * Entry point of a model worker thread (run by piscina). It owns one model backend and its sequences, and
 * serves the tasks of protocol.ts. Tasks for different sequences run concurrently, so node-llama-cpp batches
 * their evaluations together. The backend is chosen by the model file's extension (load-backend.ts).
 *
 * An uncaught error does not end the thread on the spot: a thread torn down while node-llama-cpp has native work
 * in flight aborts the whole process. The thread says it is dying, refuses new tasks, lets the running ones finish
 * their native work, fails them with `model_unavailable`, and only then exits
 * (docs/ARCHITECTURE.md#workers-that-recover).
 */
import { isMainThread, parentPort } from 'node:worker_threads';
import { loadBackend } from '../backends/load-backend.js';
import type { BackendSequence, ModelBackend, PositionScores } from '../backends/types.js';
import { SpecrouteError } from '../errors/registry.js';
import { Rng } from '../sampling/rng.js';
import { sampleFrom } from '../native/kernels.js';
import type { TokenDist } from '../sampling/token-dist.js';
import { distOf } from '../backends/scores.js';
import { GrammarCompiler } from '../grammar/grammar-compiler.js';
import { ConstrainedSequence } from './constrained-sequence.js';
import { encodeWorkerError } from './worker-errors.js';
import type { ConstrainTask, DecodeTask, DraftResult, DraftTask, DyingNotice, LoadTask, SignalsTask, StepOutcome, StepTask, WorkerResults, WorkerTask } from './protocol.js';

let backend: ModelBackend | undefined;
/** This thread's grammar compiler, made on the first constrained sequence. */
let grammars: Promise<GrammarCompiler> | undefined;
let cancelFlags: Int32Array | undefined;
const sequences = new Map<number, BackendSequence>();
/**
 * Work under way on each slot's sequence. A close waits for it: a sequence disposed while a decode of it is still
 * queued would give its id (and the KV cells that decode then fills) to the next sequence opened.
 */
const busy = new Map<number, Set<Promise<unknown>>>();
/** Slots being closed: no new work is taken for them. */
const closing = new Set<number>();
/** Tasks under way in this thread (each may hold native work). */
const running = new Set<Promise<unknown>>();
/** Set once an uncaught error was seen: the thread is draining, then exits. */
let dying: Error | undefined;
/** How long a dying thread waits for its tasks' native work before it exits anyway. */
const DRAIN_MS = 10_000;

export default async function handle(task: WorkerTask): Promise<WorkerResults[WorkerTask['op']]> {
  if (dying) throw encodeWorkerError(unavailable());
  const work = dispatch(task);
  running.add(work);
  try {
    const result = await work;
    if (dying) throw unavailable(); // its sequence is gone with the thread: no result of it may be used
    return result;
  } catch (error) {
    throw encodeWorkerError(dying ? unavailable() : error);
  } finally {
    running.delete(work);
  }
}

function unavailable(): SpecrouteError {
  return new SpecrouteError('model_unavailable', 'the model worker hit an internal error and is restarting; retry the request');
}

/** An uncaught error: say so, stop every loop at its next step, let the native work finish, then exit. */
function die(error: unknown): void {
  if (dying) return;
  dying = error instanceof Error ? error : new Error(String(error));
  parentPort?.postMessage({ specroute: 'dying', reason: dying.message } satisfies DyingNotice);
  if (cancelFlags) for (let slot = 0; slot < cancelFlags.length; slot++) Atomics.store(cancelFlags, slot, 1);
  const drained = Promise.allSettled([...running]);
  const limit = new Promise((resolve) => setTimeout(resolve, DRAIN_MS).unref());
  void Promise.race([drained, limit]).then(() => setImmediate(() => process.exit(1)));
}

// Only in a worker thread: on the main thread (imported by mistake) these would take over the process's errors.
if (!isMainThread) {
  process.on('uncaughtException', die);
  process.on('unhandledRejection', die);
}

async function dispatch(task: WorkerTask): Promise<WorkerResults[WorkerTask['op']]> {
  switch (task.op) {
    case 'load':
      return load(task);
    case 'open':
      return open();
    case 'close':
      return close(task.slot);
    case 'constrain':
      return onSlot(task.slot, () => constrain(task));
    case 'evaluate':
      return onSlot(task.slot, () => sequence(task.slot).evaluate(task.keep, task.tokens, task.scoreLast, task.request));
    case 'draft':
      return onSlot(task.slot, () => draft(task));
    case 'decode':
      return onSlot(task.slot, () => decode(task));
    case 'stats':
      return { openSequences: sequences.size, batchSizes: { ...(backend?.batchSizes ?? {}) } };
    case 'signals':
      return signals(task);
    case 'step':
      return step(task);
    case 'crashForTesting':
      setImmediate(() => {
        throw new Error('crashForTesting: an uncaught error in the model worker thread');
      });
      return undefined;
  }
}

/** Runs every item of a lock-step pass at once; each settles on its own. */
async function step(task: StepTask): Promise<WorkerResults['step']> {
  const settle = <T>(promise: Promise<T>): Promise<StepOutcome<T>> =>
    promise.then(
      (value) => ({ ok: true, value }) as const,
      (error: unknown) => ({ ok: false, error: encodeWorkerError(error) }) as const,
    );
  const [evaluate, drafted] = await Promise.all([
    Promise.all(task.evaluate.map((item) => settle(onSlot(item.slot, () => sequence(item.slot).evaluate(item.keep, item.tokens, item.scoreLast, item.request))))),
    Promise.all(task.draft.map((item) => settle(onSlot(item.slot, () => draft({ op: 'draft', ...item }))))),
  ]);
  return { evaluate, draft: drafted };
}

function signals(task: SignalsTask): Promise<WorkerResults['signals']> {
  if (!backend) throw new Error('model worker: not loaded');
  const flag = new Int32Array(task.cancel);
  return backend.promptSignals(task.tokens, { cancelled: () => Atomics.load(flag, 0) !== 0 });
}

async function load(task: LoadTask): Promise<WorkerResults['load']> {
  if (backend) throw new Error('model worker: already loaded');
  backend = await loadBackend(task.options);
  cancelFlags = new Int32Array(task.cancelFlags);
  return backend.info;
}

function open(): WorkerResults['open'] {
  if (!backend || !cancelFlags) throw new Error('model worker: not loaded');
  const seq = backend.openSequence();
  let slot = 0;
  while (sequences.has(slot)) slot++;
  if (slot >= cancelFlags.length) {
    void seq.dispose();
    throw new SpecrouteError('overloaded', 'no free sequence slot');
  }
  Atomics.store(cancelFlags, slot, 0);
  sequences.set(slot, seq);
  return { slot };
}

/** Runs `work` as work on `slot`'s sequence (a close of the slot waits for it). */
function onSlot<T>(slot: number, work: () => Promise<T>): Promise<T> {
  const running = Promise.resolve().then(work);
  let set = busy.get(slot);
  if (!set) busy.set(slot, (set = new Set()));
  const mine = set;
  mine.add(running);
  const done = (): void => {
    mine.delete(running);
    if (mine.size === 0 && busy.get(slot) === mine) busy.delete(slot);
  };
  running.then(done, done);
  return running;
}

/** Closes a slot: its loops stop at their next token, the work under way on it ends, then its sequence goes. */
async function close(slot: number): Promise<void> {
  const seq = sequences.get(slot);
  if (!seq || closing.has(slot)) return;
  closing.add(slot);
  try {
    if (cancelFlags && slot < cancelFlags.length) Atomics.store(cancelFlags, slot, 1);
    await Promise.allSettled([...(busy.get(slot) ?? [])]);
    await seq.dispose();
  } finally {
    sequences.delete(slot);
    closing.delete(slot);
  }
}

async function constrain(task: ConstrainTask): Promise<void> {
  const seq = sequence(task.slot);
  if (seq instanceof ConstrainedSequence) throw new Error(`model worker: sequence ${task.slot} is already constrained`);
  grammars ??= GrammarCompiler.create(backend?.grammarVocabulary());
  const state = await (await grammars).start(task.spec);
  sequences.set(task.slot, new ConstrainedSequence(seq, state, task.start));
}

function sequence(slot: number): BackendSequence {
  const seq = sequences.get(slot);
  if (!seq || closing.has(slot)) throw new Error(`model worker: no open sequence in slot ${slot}`);
  return seq;
}

function cancelled(slot: number): boolean {
  return cancelFlags !== undefined && Atomics.load(cancelFlags, slot) !== 0;
}

/** The draft's confidence in its next token: its raw top probability (greedy) or q(x) (sampling). */
function confidence(scores: PositionScores, token: number): number {
  return scores.kind === 'greedy' ? Math.exp(scores.top[0]?.logprob ?? 0) : (scores.probs[token] ?? 0);
}

async function draft(task: DraftTask): Promise<DraftResult> {
  const seq = sequence(task.slot);
  const rng = new Rng(task.seed);
  const request = { sampling: task.sampling };
  const tokens: number[] = [];
  const q: TokenDist[] = [];
  if (task.maxTokens <= 0) {
    // Nothing to propose, but the cache must still catch up with the committed tokens.
    await seq.evaluate(task.keep, task.tokens, 0, request);
    return { tokens, q };
  }
  let [scores] = await seq.evaluate(task.keep, task.tokens, 1, request);
  while (scores && tokens.length < task.maxTokens) {
    if (seq instanceof ConstrainedSequence && seq.forcesNext) break; // the grammar writes what comes next
    const dist = distOf(scores);
    const token = sampleFrom(dist, rng);
    if (task.pMin > 0 && confidence(scores, token) < task.pMin) break;
    tokens.push(token);
    q.push(dist);
    if (tokens.length >= task.maxTokens || task.stopTokens.includes(token) || cancelled(task.slot)) break;
    [scores] = await seq.evaluate(seq.length, [token], 1, request);
  }
  return { tokens, q };
}

async function decode(task: DecodeTask): Promise<WorkerResults['decode']> {
  const seq = sequence(task.slot);
  const rng = new Rng(task.seed);
  const request = { sampling: task.sampling, topLogprobs: task.topLogprobs };
  let generated = 0;
  try {
    let [scores] = await seq.evaluate(task.keep, task.tokens, 1, request);
    while (scores && generated < task.maxTokens && !cancelled(task.slot)) {
      const token = sampleFrom(distOf(scores), rng);
      generated++;
      task.port.postMessage({ tokens: [token], scores: [scores] });
      if (generated >= task.maxTokens || task.stopTokens.includes(token)) break;
      [scores] = await seq.evaluate(seq.length, [token], 1, request);
    }
  } finally {
    task.port.close();
  }
  return { generated };
}
