import type { EscalationSettings } from '../contract/generation-request.js';
import { settingDefaults } from '../contract/request-settings.js';

/**
 * When the verifier is unsure enough to ask the frontier: the window, thresholds, span and cool-down that a
 * request may override (`escalation.*` of the request settings, `src/contract/request-settings.ts`, where their
 * ranges and defaults live), and whether to escalate at all.
 */
export interface EscalationPolicyOptions extends EscalationSettings {
  /**
   * Escalate at all. Turned off, requests decode locally whatever the thresholds say (a request turns it off
   * with `escalation: false`).
   *
   * Defaults to `true` when a frontier is configured.
   */
  enabled: boolean;
}

export const defaultEscalationPolicy: EscalationPolicyOptions = { enabled: true, ...settingDefaults('escalation') };

/** What the verifier said about one position it is about to emit. */
export interface PositionSignal {
  /** The verifier's top raw probability at the position. */
  readonly topProb: number;
  /** The verifier's top probability minus its second highest. */
  readonly margin: number;
  /** The verifier's entropy at the position, in nats. */
  readonly entropy: number;
}

/**
 * A decision rule over the positions a request is about to emit. Implementations are stateful per request and
 * pluggable: the engine only calls `observe` before each token and `escalated` after each escalation attempt.
 */
export interface EscalationPolicy {
  /** Sees the next position; true asks to escalate before emitting it. */
  observe(signal: PositionSignal): boolean;
  /** Tells the policy an escalation happened (or was skipped) here: start the cool-down. */
  escalated(): void;
}

/** Sliding-window thresholds on confidence and entropy, with a cool-down (BiLD-style fallback). */
export class WindowThresholdPolicy implements EscalationPolicy {
  private readonly confidences: number[] = [];
  private readonly margins: number[] = [];
  private readonly entropies: number[] = [];
  private cooldown: number;

  constructor(private readonly options: EscalationPolicyOptions) {
    this.cooldown = 0;
  }

  observe(signal: PositionSignal): boolean {
    const { window } = this.options;
    for (const [list, value] of [
      [this.confidences, signal.topProb],
      [this.margins, signal.margin],
      [this.entropies, signal.entropy],
    ] as const) {
      list.push(value);
      if (list.length > window) list.shift();
    }
    if (this.cooldown > 0) {
      this.cooldown--;
      return false;
    }
    if (!this.options.enabled || this.confidences.length < window) return false;
    const { minConfidence, minMargin, maxEntropy } = this.options;
    return (
      (minConfidence > 0 && mean(this.confidences) < minConfidence) ||
      (minMargin > 0 && mean(this.margins) < minMargin) ||
      (maxEntropy > 0 && mean(this.entropies) > maxEntropy)
    );
  }

  escalated(): void {
    this.cooldown = this.options.cooldownTokens;
    this.confidences.length = 0;
    this.margins.length = 0;
    this.entropies.length = 0;
  }
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
}
