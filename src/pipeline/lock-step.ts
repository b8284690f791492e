import type { PositionScores, ScoreRequest } from '../backends/types.js';
import { SpecrouteError } from '../errors/registry.js';
import type { ModelWorker, WorkerSequence } from '../workers/model-worker-client.js';
import type { DraftResult, DraftTask, StepOutcome } from '../workers/protocol.js';
import type { LoopSequence } from './decode-loop.js';
import type { LoadGamma } from './load-gamma.js';
import type { StepProfile } from './step-costs.js';

/** How requests share the models' passes: the config's `batching` section. */
export interface BatchingOptions {
  /**
   * Lock-step steps across requests; `false` lets each request run its own draft→verify cycle.
   *
   * Defaults to `true`.
   */
  readonly lockStep: boolean;
  /** `LockStepOptions.gatherMs`. Defaults to `2`. */
  readonly gatherMs: number;
  /** `LockStepOptions.prefillChunk`. Defaults to `128`. */
  readonly prefillChunk: number;
  /** Measured step costs (`specroute profile`): speculation then adapts to load. Defaults to none. */
  readonly profile: StepProfile | null;
  /**
   * Without a profile, measure the step costs at boot through the workers (`calibrateSteps`, a fraction of a second
   * on small models), so that speculation adapts to load all the same, from an assumed α that the served blocks
   * correct. `false` leaves γ to each request's own adaptation.
   *
   * Defaults to `true`.
   */
  readonly calibrate: boolean;
}

export const defaultBatching: BatchingOptions = { lockStep: true, gatherMs: 2, prefillChunk: 128, profile: null, calibrate: true };

/** How the steps of one served pair are formed. */
export interface LockStepOptions {
  /**
   * How long a pass waits for members still busy on the main thread before it starts without them, in ms.
   *
   * Defaults to `2`.
   */
  readonly gatherMs: number;
  /**
   * Most tokens of one evaluation in one pass: a longer one (a new request's prompt) is split over several passes.
   *
   * Defaults to `128`.
   */
  readonly prefillChunk: number;
  /** The γ ceiling by load; without one, the requests' own adaptive γ alone decides. Defaults to none. */
  readonly loadGamma?: LoadGamma;
}

type DraftRequest = Omit<DraftTask, 'op' | 'slot'>;

/** One submission waiting for (or carried between) passes. */
type Pending =
  | {
      readonly kind: 'evaluate';
      readonly member: StepMember;
      readonly sequence: WorkerSequence;
      keep: number;
      tokens: readonly number[];
      readonly scoreLast: number;
      readonly request: ScoreRequest;
      /** Scores of the chunks already evaluated (a prompt split over passes). */
      readonly scored: PositionScores[];
      readonly resolve: (scores: PositionScores[]) => void;
      readonly reject: (error: unknown) => void;
    }
  | {
      readonly kind: 'draft';
      readonly member: StepMember;
      readonly sequence: WorkerSequence;
      readonly task: DraftRequest;
      readonly resolve: (result: DraftResult) => void;
      readonly reject: (error: unknown) => void;
    };

/** What the passes of one model have carried since the engine started. */
export interface PassCounts {
  /** Passes (worker `step` tasks). */
  passes: number;
  /** Sequences in them, added up: sequences / passes is the mean batch. */
  sequences: number;
  /** Tokens evaluated in them (a draft's positions counted once each), added up. */
  tokens: number;
  /** Evaluations split over passes (`prefillChunk`). */
  chunked: number;
}

/** The passes of one model worker: what waits for the next one, and whether one is running. */
class PassQueue {
  pending: Pending[] = [];
  readonly counts: PassCounts = { passes: 0, sequences: 0, tokens: 0, chunked: 0 };
  constructor(readonly worker: ModelWorker) {}
}

/**
 * Lock-step steps across requests (docs/ARCHITECTURE.md#lock-step-steps). Every running request is a member; its
 * loop submits evaluations and drafts through its member instead of calling its sequences' workers. One pass runs
 * at a time, and passes alternate between the models that have work: a draft pass takes every member's drafts in
 * one task (the worker batches them position by position), then a verifier pass scores every member's drafts, and
 * the plain steps of members that drafted nothing, in one task. A pass starts when no member is busy on the main
 * thread (each is waiting for a pass, or away), or `gatherMs` after work was first waiting otherwise. A member is
 * away while it waits for something that is not a pass (its client reading the stream, the frontier), so it never
 * holds the others back; whoever comes late joins the next pass of that model, so members never drift apart.
 */
export class LockStep {
  private readonly queues = new Map<ModelWorker, PassQueue>();
  private readonly members = new Set<StepMember>();
  private checkScheduled = false;
  /** A pass is running (one at a time, on either model). */
  private inFlight = false;
  /** The model of the last pass: the next pass goes to the other one when it has work. */
  private last: PassQueue | undefined;
  /** Waits for busy members before a pass starts without them. */
  private timer: NodeJS.Timeout | undefined;
  private gatherExpired = false;

  constructor(private readonly options: LockStepOptions) {}

  /** A new member: call `leave()` when its request ends. */
  join(): StepMember {
    const member = new StepMember(this);
    this.members.add(member);
    return member;
  }

  /** Members (requests) now stepping. */
  get size(): number {
    return this.members.size;
  }

  /** What each model's passes carried, by the worker's role (`verifier`, `draft`). */
  passCounts(): Record<string, Readonly<PassCounts>> {
    return Object.fromEntries([...this.queues.values()].map((q) => [q.worker.role, { ...q.counts }]));
  }

  /** The γ ceiling of a step now: by load when step costs are known (a profile, or the boot calibration), else none. */
  gammaCeiling(): number {
    return this.options.loadGamma?.ceiling(this.members.size) ?? Infinity;
  }

  /** The load-adaptive γ table, when step costs are known. */
  get loadGamma(): LoadGamma | undefined {
    return this.options.loadGamma;
  }

  /** @internal */
  submit(worker: ModelWorker, pending: Pending): void {
    let queue = this.queues.get(worker);
    if (!queue) this.queues.set(worker, (queue = new PassQueue(worker)));
    queue.pending.push(pending);
    this.changed();
  }

  /** @internal Drops a member, failing whatever it still has waiting (not what a running pass holds). */
  remove(member: StepMember, reason: unknown): void {
    this.members.delete(member);
    for (const queue of this.queues.values()) {
      const mine = queue.pending.filter((p) => p.member === member);
      if (mine.length === 0) continue;
      queue.pending = queue.pending.filter((p) => p.member !== member);
      for (const p of mine) {
        member.outstanding--;
        p.reject(reason);
      }
    }
    this.changed();
  }

  /**
   * @internal A member's state changed. The check runs after the current task's microtasks: results of a pass
   * resolve together, and each member's loop runs on to its next submission before anyone counts as busy.
   */
  changed(): void {
    if (this.checkScheduled) return;
    this.checkScheduled = true;
    setImmediate(() => {
      this.checkScheduled = false;
      this.check();
    });
  }

  /**
   * Starts the next pass when one may start: none is running, something waits, and no member is busy (or the
   * gather time ran out). Passes alternate between the models that have work, so the members' drafts go in one
   * draft pass and their verifications in the verifier pass after it, whoever was late for which.
   */
  private check(): void {
    if (this.inFlight) return;
    const ready = [...this.queues.values()].filter((q) => q.pending.length > 0);
    if (ready.length === 0) return;
    let busy = false;
    for (const m of this.members) if (m.busy) busy = true;
    if (busy && this.options.gatherMs > 0 && !this.gatherExpired) {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.gatherExpired = true;
        this.check();
      }, this.options.gatherMs);
      return;
    }
    const next = ready.find((q) => q !== this.last) ?? ready[0]!;
    void this.dispatch(next);
  }

  private async dispatch(queue: PassQueue): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.gatherExpired = false;
    this.inFlight = true;
    this.last = queue;
    const items = queue.pending;
    queue.pending = [];
    const chunk = this.options.prefillChunk;
    const evaluates = items.filter((p) => p.kind === 'evaluate');
    const drafts = items.filter((p) => p.kind === 'draft');
    const parts = evaluates.map((p) => {
      const tokens = p.tokens.length > chunk ? p.tokens.slice(0, chunk) : p.tokens;
      const rest = p.tokens.length - tokens.length;
      return { slot: p.sequence.slot, keep: p.keep, tokens, scoreLast: Math.max(0, p.scoreLast - rest), request: p.request };
    });
    const started = performance.now();
    let results: { evaluate: StepOutcome<PositionScores[]>[]; draft: StepOutcome<DraftResult>[] };
    try {
      results = await queue.worker.step(
        items.map((p) => p.sequence),
        { evaluate: parts, draft: drafts.map((p) => ({ slot: p.sequence.slot, ...p.task })) },
      );
    } catch (error) {
      results = { evaluate: parts.map(() => ({ ok: false, error })), draft: drafts.map(() => ({ ok: false, error })) };
    }
    const counts = queue.counts;
    counts.passes++;
    counts.sequences += items.length;
    counts.tokens += parts.reduce((n, p) => n + p.tokens.length, 0);
    for (const r of results.draft) if (r.ok) counts.tokens += r.value.tokens.length;
    counts.chunked += parts.filter((part, i) => part.tokens.length < evaluates[i]!.tokens.length).length;
    this.observe(queue, parts, drafts, results, performance.now() - started);
    this.inFlight = false;
    evaluates.forEach((p, i) => {
      const outcome = results.evaluate[i]!;
      const part = parts[i]!;
      if (!outcome.ok) return settle(p, () => p.reject(outcome.error));
      p.scored.push(...outcome.value);
      if (part.tokens.length < p.tokens.length && !p.member.hasLeft) {
        // The rest of a long evaluation waits for the next pass; its member stays waiting.
        p.keep += part.tokens.length;
        p.tokens = p.tokens.slice(part.tokens.length);
        queue.pending.push(p);
        return;
      }
      settle(p, () => p.resolve(p.scored));
    });
    drafts.forEach((p, i) => {
      const outcome = results.draft[i]!;
      settle(p, () => (outcome.ok ? p.resolve(outcome.value) : p.reject(outcome.error)));
    });
    this.changed();
  }

  /** Feeds the pass's time to the load-adaptive γ: verifier passes by tokens, draft passes per draft position. */
  private observe(
    queue: PassQueue,
    parts: ReadonlyArray<{ tokens: readonly number[] }>,
    drafts: ReadonlyArray<Extract<Pending, { kind: 'draft' }>>,
    results: { draft: StepOutcome<DraftResult>[] },
    ms: number,
  ): void {
    const load = this.options.loadGamma;
    if (!load) return;
    if (drafts.length === 0) {
      const tokens = parts.reduce((n, p) => n + p.tokens.length, 0);
      if (queue.worker.role === 'verifier' && tokens > 0) load.observeVerify(parts.length, tokens, ms);
      return;
    }
    // A draft pass of k positions evaluates each member's catch-up with its first position; count positions.
    const positions = Math.max(...results.draft.map((r) => (r.ok ? r.value.tokens.length : 0)));
    if (positions > 0 && parts.length === 0) load.observeDraft(drafts.length, ms / positions);
  }
}

/** Marks the member waiting no more for this submission, then settles it. */
function settle(p: Pending, run: () => void): void {
  p.member.outstanding--;
  run();
}

/** One request stepping in a `LockStep`. */
export class StepMember {
  /** Submissions not yet settled. */
  outstanding = 0;
  private awayCount = 0;
  private left = false;
  private reason: unknown;

  constructor(private readonly step: LockStep) {}

  /** Whether `leave()` was called. */
  get hasLeft(): boolean {
    return this.left;
  }

  /** Busy on the main thread: neither waiting for a pass nor away. A pass waits (up to `gatherMs`) for busy members. */
  get busy(): boolean {
    return !this.left && this.outstanding === 0 && this.awayCount === 0;
  }

  /** `sequence` stepping through this member: what the loops drive instead of the sequence itself. */
  sequence(sequence: WorkerSequence): LoopSequence {
    return {
      evaluate: (keep, tokens, scoreLast, request) =>
        this.submit<PositionScores[]>(sequence, (resolve, reject) => ({ kind: 'evaluate', member: this, sequence, keep, tokens, scoreLast, request, scored: [], resolve, reject })),
      draft: (task) => this.submit<DraftResult>(sequence, (resolve, reject) => ({ kind: 'draft', member: this, sequence, task, resolve, reject })),
    };
  }

  /** The γ ceiling of this member's next step (by how many members step now). */
  gammaCeiling(): number {
    return this.step.gammaCeiling();
  }

  /** Records a speculative block for the load-adaptive γ's acceptance rate. */
  block(drafted: number, accepted: number): void {
    this.step.loadGamma?.observeBlock(drafted, accepted);
  }

  /** Runs `work` with the member away: passes do not wait for it meanwhile (the frontier, a client reading). */
  async away<T>(work: Promise<T>): Promise<T> {
    this.awayCount++;
    try {
      return await work;
    } finally {
      this.awayCount--;
      this.step.changed();
    }
  }

  /** Marks the member away until `resume()`: around a generator's `yield`, which cannot be wrapped in `away`. */
  pause(): void {
    this.awayCount++;
    this.step.changed();
  }

  resume(): void {
    this.awayCount--;
  }

  /** Ends the member: anything it still has waiting, or submits later, fails with `reason`. Idempotent. */
  leave(reason: unknown = new SpecrouteError('cancelled', 'the request has ended')): void {
    if (this.left) return;
    this.left = true;
    this.reason = reason;
    this.step.remove(this, reason);
  }

  private submit<T>(sequence: WorkerSequence, make: (resolve: (value: T) => void, reject: (error: unknown) => void) => Pending): Promise<T> {
    if (this.left) return Promise.reject(this.reason);
    return new Promise<T>((resolve, reject) => {
      this.outstanding++;
      this.step.submit(sequence.worker, make(resolve, reject));
    });
  }
}
