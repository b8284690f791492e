import { GlobalBudget, type BudgetGrant, type BudgetRefusal, RequestBudget, type BudgetOptions } from './budget.js';
import { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './circuit-breaker.js';
import { LocalBreaker, type FrontierBreaker } from './shared-breaker.js';
import type { SlidingWindows } from '../state/sliding-windows.js';
import { FrontierClient, type ContinuationRequest, type FrontierOptions } from './frontier-client.js';
import { FrontierError, type FrontierFailure } from './frontier-error.js';
import { WindowThresholdPolicy, type EscalationPolicy, type EscalationPolicyOptions } from './policy.js';

/** Why an escalation did not splice frontier text in. */
export type SkipReason = 'breaker_open' | BudgetRefusal | FrontierFailure | 'empty';

/** `cost`: what the call cost at the configured prices (a failed call at its worst case; 0 when none was made). */
export type EscalationOutcome =
  | { readonly kind: 'spliced'; readonly text: string; readonly frontierTokens: number; readonly latencyMs: number; readonly attempts: number; readonly cost: number }
  | { readonly kind: 'skipped'; readonly reason: SkipReason; readonly latencyMs: number; readonly attempts: number; readonly cost: number; readonly message?: string };

/** Observes the escalator, for metrics. */
export interface EscalationObserver {
  breakerChanged?(state: BreakerState): void;
  outcome?(outcome: EscalationOutcome, cost: { inputTokens: number; outputTokens: number; cost: number }): void;
  /** A whole request answered by the frontier (the `frontier` tier). */
  frontierCall?(usage: { inputTokens: number; outputTokens: number; cost: number }): void;
}

/**
 * The frontier held for one whole request (`Escalator.lease`), ended by the first of: `succeeded` with what the
 * call used, `failed` with why, or `release` when it ended with no verdict (never called, or its consumer left);
 * later calls do nothing.
 */
export interface FrontierLease {
  /** Most tokens the call may generate (the budget may grant fewer than asked). */
  readonly maxTokens: number;
  /** Returns what the call cost (0 when the lease had already ended). */
  succeeded(used: { inputTokens: number; outputTokens: number }): number;
  /** Returns what the call is charged: its worst case, since how much the frontier produced is unknown. */
  failed(error: FrontierError): number;
  release(): void;
}

export interface EscalatorOptions {
  frontier: FrontierOptions;
  breaker: CircuitBreakerOptions;
  budget: BudgetOptions;
  policy: EscalationPolicyOptions;
}

/** Where the limits every replica must share live (`state.redis`); by default, in this process. */
export interface EscalatorState {
  /** The budget's windows (calls per minute, cost per hour). */
  readonly windows?: SlidingWindows;
  /** The breaker (it reports its changes to the observer itself). */
  readonly breaker?: FrontierBreaker;
}

/** One request's escalation state: its policy, its share of the budget. */
export interface EscalationSession {
  readonly policy: EscalationPolicy;
  readonly spanTokens: number;
  escalate(request: Omit<ContinuationRequest, 'maxTokens'> & { approxInputTokens: number }, signal?: AbortSignal): Promise<EscalationOutcome>;
}

/**
 * The frontier behind its guards, shared by all requests: the client, the circuit breaker and the global
 * budget. Whatever the frontier does, an escalation ends in an outcome, never an exception: the request simply
 * goes on with local tokens.
 */
export class Escalator {
  readonly client: FrontierClient;
  readonly breaker: FrontierBreaker;
  readonly budget: GlobalBudget;

  constructor(
    readonly options: EscalatorOptions,
    private readonly observer: EscalationObserver = {},
    env: NodeJS.ProcessEnv = process.env,
    state: EscalatorState = {},
  ) {
    this.budget = new GlobalBudget(options.budget, state.windows);
    // Every HTTP attempt is a call: a retry takes one more from `callsPerMinute`, or is not made.
    this.client = new FrontierClient(options.frontier, env, Math.random, () => this.budget.takeRetry());
    this.breaker = state.breaker ?? new LocalBreaker(new CircuitBreaker(options.breaker, Date.now, (s) => observer.breakerChanged?.(s)));
  }

  /** Stops the breaker's polling of shared state. */
  dispose(): void {
    this.breaker.dispose();
  }

  /** A session for one request, with the policy's per-request overrides. */
  session(overrides: Partial<EscalationPolicyOptions> = {}, policy?: EscalationPolicy): EscalationSession {
    const policyOptions = { ...this.options.policy, ...overrides };
    const requestBudget = new RequestBudget(this.options.budget);
    return {
      policy: policy ?? new WindowThresholdPolicy(policyOptions),
      spanTokens: policyOptions.spanTokens,
      escalate: (request, signal) => this.escalate(request, policyOptions.spanTokens, requestBudget, signal),
    };
  }

  /**
   * Takes the frontier for a whole request (the `frontier` tier): one call under the global budget
   * (`callsPerMinute`, `maxCostPerHour`) and the breaker, not under the per-request escalation budget. Refused,
   * with the reason, when either says no.
   */
  async lease(inputTokens: number, maxTokens: number): Promise<FrontierLease | { refused: 'breaker_open' | BudgetRefusal }> {
    const reservation = await this.budget.reserve(inputTokens, maxTokens);
    if ('refused' in reservation) return { refused: reservation.refused };
    const { grant } = reservation;
    if (!(await this.breaker.tryAcquire())) {
      grant.settle({ inputTokens: 0, outputTokens: 0 });
      return { refused: 'breaker_open' };
    }
    let ended = false;
    const end = (): boolean => (ended ? false : (ended = true));
    return {
      maxTokens: grant.maxTokens,
      succeeded: (used) => {
        if (!end()) return 0;
        this.breaker.success();
        grant.settle(used);
        const cost = this.budget.costOf(used.inputTokens, Math.min(used.outputTokens, grant.maxTokens));
        this.observer.frontierCall?.({ ...used, cost });
        return cost;
      },
      failed: (error) => (end() ? this.callFailed(error, grant, inputTokens) : 0),
      release: () => {
        if (!end()) return;
        this.breaker.abandon();
        grant.settle({ inputTokens: 0, outputTokens: 0 });
      },
    };
  }

  private async escalate(request: Omit<ContinuationRequest, 'maxTokens'> & { approxInputTokens: number }, span: number, requestBudget: RequestBudget, signal?: AbortSignal): Promise<EscalationOutcome> {
    const started = performance.now();
    const skipped = (reason: SkipReason, attempts = 0, message?: string, cost = 0): EscalationOutcome => {
      const outcome: EscalationOutcome = { kind: 'skipped', reason, latencyMs: performance.now() - started, attempts, cost, ...(message ? { message } : {}) };
      this.observer.outcome?.(outcome, { inputTokens: 0, outputTokens: 0, cost: 0 });
      return outcome;
    };
    const share = requestBudget.take(span);
    if ('refused' in share) return skipped(share.refused);
    const reservation = await this.budget.reserve(request.approxInputTokens, share.maxTokens);
    if ('refused' in reservation) {
      requestBudget.refund(share.maxTokens);
      return skipped(reservation.refused);
    }
    const { grant } = reservation;
    if (!(await this.breaker.tryAcquire())) {
      requestBudget.refund(share.maxTokens);
      grant.settle({ inputTokens: 0, outputTokens: 0 });
      return skipped('breaker_open');
    }
    try {
      const result = await this.client.continue({ ...request, maxTokens: grant.maxTokens }, signal);
      this.breaker.success();
      const outputTokens = result.completionTokens ?? grant.maxTokens;
      const inputTokens = result.promptTokens ?? request.approxInputTokens;
      grant.settle({ inputTokens, outputTokens });
      requestBudget.refund(share.maxTokens - Math.min(outputTokens, grant.maxTokens));
      const cost = this.budget.costOf(inputTokens, Math.min(outputTokens, grant.maxTokens));
      if (result.text.length === 0) return skipped('empty', result.attempts, undefined, cost);
      const outcome: EscalationOutcome = { kind: 'spliced', text: result.text, frontierTokens: outputTokens, latencyMs: performance.now() - started, attempts: result.attempts, cost };
      this.observer.outcome?.(outcome, { inputTokens, outputTokens, cost });
      return outcome;
    } catch (error) {
      const e = error instanceof FrontierError ? error : new FrontierError('network', String(error));
      const cost = this.callFailed(e, grant, request.approxInputTokens);
      return skipped(e.failure, undefined, e.message, cost);
    }
  }

  /**
   * A frontier call that failed: the breaker's verdict (none for a cancelled call), and the grant settled at its
   * worst case, since how much the frontier produced before failing is unknown (never under-count). Returns that
   * worst case's cost.
   */
  private callFailed(error: FrontierError, grant: BudgetGrant, inputTokens: number): number {
    if (error.failure === 'cancelled') this.breaker.abandon();
    else this.breaker.failure();
    grant.settle({ inputTokens, outputTokens: grant.maxTokens });
    return this.budget.costOf(inputTokens, grant.maxTokens);
  }
}
