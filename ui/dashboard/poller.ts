/**
 * Runs a task now and then every `intervalMs` (from the start of one run to the start of the next; a run that takes
 * longer is followed at once), never two at a time, until stopped. The task reports its own failures: it must not
 * reject.
 */
export class Poller {
  private generation = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private active = false;

  constructor(
    readonly intervalMs: number,
    private readonly task: () => Promise<void>,
  ) {}

  /** Whether it is polling (started and not stopped since). */
  get running(): boolean {
    return this.active;
  }

  /** Starts polling with a run now; nothing if it is polling already. */
  start(): void {
    if (this.active) return;
    this.active = true;
    this.run(++this.generation);
  }

  /** Stops polling: a run under way finishes, and none follows. */
  stop(): void {
    this.active = false;
    this.generation++;
    clearTimeout(this.timer);
  }

  private run(generation: number): void {
    const started = Date.now();
    void this.task().then(() => {
      if (generation === this.generation) this.timer = setTimeout(() => this.run(generation), Math.max(0, this.intervalMs - (Date.now() - started)));
    });
  }
}
