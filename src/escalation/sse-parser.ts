/** One dispatched server-sent event. */
export interface SseEvent {
  /** The `event:` field, `message` when absent. */
  readonly event: string;
  /** The `data:` lines joined with "\n". */
  readonly data: string;
  readonly id: string | undefined;
  readonly retry: number | undefined;
}

/**
 * A server-sent events parser that follows the HTML standard's algorithm
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation): lines end in
 * CRLF, LF or CR (also split across chunks); a leading BOM is dropped; `:` lines are comments; one space after
 * the colon is removed; several `data:` lines join with "\n"; a blank line dispatches; an event with no data is
 * not dispatched; a trailing event without its blank line is discarded at the end of the stream.
 */
export class SseParser {
  private buffer = '';
  private started = false;
  private pendingCr = false;
  private data: string[] = [];
  private event = '';
  private id: string | undefined;
  private lastId: string | undefined;
  private retry: number | undefined;

  /** Feeds decoded text; returns the events completed by it. */
  push(text: string): SseEvent[] {
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1); // the LF of a CRLF split across chunks
    this.pendingCr = false;
    this.buffer += text;
    const events: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.buffer.slice(start, i);
      if (c === 13) {
        if (i + 1 < this.buffer.length) {
          if (this.buffer.charCodeAt(i + 1) === 10) i++;
        } else this.pendingCr = true;
      }
      start = i + 1;
      const event = this.line(line);
      if (event) events.push(event);
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\u0000')) this.id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
    return undefined;
  }

  private dispatch(): SseEvent | undefined {
    if (this.id !== undefined) this.lastId = this.id;
    this.id = undefined;
    const data = this.data;
    const event = this.event;
    this.data = [];
    this.event = '';
    if (data.length === 0) return undefined;
    return { event: event || 'message', data: data.join('\n'), id: this.lastId, retry: this.retry };
  }
}
