/**
 * A progress bar on stderr for long runs (benchmarks, `router label`): redrawn in place on a terminal, one line per step otherwise
 * (CI logs, pipes), so the output stays readable either way.
 */

export interface ProgressOptions {
  /** Steps in the whole run. */
  readonly total: number;
  /** Prefix of every line, e.g. `bench`. */
  readonly label: string;
  /** Where to draw. Defaults to `process.stderr`. */
  readonly stream?: NodeJS.WriteStream;
}

const WIDTH = 28;

export class ProgressBar {
  private done = 0;
  private readonly started = performance.now();
  /** When the first step ended: the rate (and so the estimate) is measured from there, after set-up work. */
  private firstDoneAt: number | undefined;
  private readonly stream: NodeJS.WriteStream;
  private readonly live: boolean;
  private drawn = false;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.live = Boolean(this.stream.isTTY);
  }

  /** Marks one step done, with what it measured. */
  tick(detail: string): void {
    this.done = Math.min(this.options.total, this.done + 1);
    const { total, label } = this.options;
    const now = performance.now();
    this.firstDoneAt ??= now;
    const elapsed = (now - this.started) / 1000;
    const eta = this.done > 1 ? ((now - this.firstDoneAt) / 1000 / (this.done - 1)) * (total - this.done) : 0;
    const filled = Math.round((this.done / Math.max(1, total)) * WIDTH);
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${this.done}/${total} ${clock(elapsed)} elapsed${this.done > 1 ? `, ~${clock(eta)} left` : ''}`;
    if (this.live) {
      const columns = this.stream.columns ?? 120;
      this.stream.write(`\r\u001b[2K${`[${label}] ${bar}  ${detail}`.slice(0, columns - 1)}`);
      this.drawn = true;
    } else {
      this.stream.write(`[${label}] ${bar}: ${detail}\n`);
    }
  }

  /** A message above the bar (the bar is redrawn on the next tick). */
  log(line: string): void {
    if (this.live && this.drawn) this.stream.write('\r\u001b[2K');
    this.stream.write(`[${this.options.label}] ${line}\n`);
    this.drawn = false;
  }

  /** Ends the bar's line. */
  finish(): void {
    if (this.live && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

/** `42s`, `3m07s`. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
