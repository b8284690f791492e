import type { ServerResponse } from 'node:http';

/** The headers of an OpenAI-style event stream (`x-accel-buffering` keeps nginx from holding it back). */
export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

/**
 * Writes server-sent events to a response it owns:
 * - `data: …` frames, honouring backpressure (a full socket buffer pauses the writer, and with it the pull on the
 *   generation, until it drains);
 * - a `: keep-alive` comment whenever nothing was written for `heartbeatMs` (a request waiting in the queue, a
 *   slow frontier span), so proxies and clients with idle timeouts keep the stream open;
 * - nothing once the client has gone.
 */
export class SseStream {
  private closed = false;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly res: ServerResponse,
    heartbeatMs: number,
  ) {
    res.on('close', () => {
      this.closed = true;
      clearTimeout(this.heartbeat);
    });
    // Writing to a connection the client reset reports an error here; the close above already ends the stream.
    res.on('error', () => {});
    this.heartbeat = setTimeout(() => this.beat(), Math.max(1, heartbeatMs));
    this.heartbeat.unref();
  }

  /** Whether the client went away (or the stream was ended). */
  get isClosed(): boolean {
    return this.closed || this.res.destroyed;
  }

  /** Sends one `data:` event; resolves once it may send the next, `false` when the client is gone. */
  async send(data: string): Promise<boolean> {
    if (this.isClosed) return false;
    const flushed = this.res.write(`data: ${data}\n\n`);
    this.heartbeat.refresh();
    if (!flushed) await this.drained();
    return !this.isClosed;
  }

  end(): void {
    clearTimeout(this.heartbeat);
    if (!this.isClosed && !this.res.writableEnded) this.res.end();
  }

  private beat(): void {
    if (this.isClosed) return;
    if (!this.res.writableNeedDrain) this.res.write(': keep-alive\n\n');
    this.heartbeat.refresh();
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }
}
