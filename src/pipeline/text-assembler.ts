import type { Tokenizer } from '../backends/types.js';
import type { TokenEventToken } from '../events/token-event.js';

/** Bytes of one character at most; a longer run of undecodable tokens is emitted as it is. */
const MAX_HELD_TOKENS = 4;
const REPLACEMENT = '\uFFFD';

/**
 * Turns a stream of emitted tokens into token events with text, honouring stop sequences.
 *
 * - Text is decoded incrementally, with the preceding tokens as context (leading spaces), and a token whose text
 *   ends in an incomplete UTF-8 character is held until the character completes.
 * - A token is released only when its text cannot be the start of a stop sequence. When a stop sequence appears,
 *   the text is cut before it and the stream ends.
 */
export class TextAssembler {
  private readonly held: Array<{ event: TokenEventToken; text: string }> = [];
  private undecoded: Array<Omit<TokenEventToken, 'text'>> = [];
  private context: number[];
  private stopped = false;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly stops: readonly string[],
    /** The prompt's tokens: context for the first token's leading space. */
    promptTokens: readonly number[],
  ) {
    this.context = promptTokens.slice(-MAX_HELD_TOKENS);
  }

  /** Whether a stop sequence has ended the text. */
  get hasStopped(): boolean {
    return this.stopped;
  }

  /** Adds one emitted token; returns the events that are now safe to send. */
  push(token: Omit<TokenEventToken, 'text'>): TokenEventToken[] {
    if (this.stopped) return [];
    this.undecoded.push(token);
    const ids = this.undecoded.flatMap((t) => t.tokenIds);
    const text = this.tokenizer.detokenize(ids, this.context);
    if (text.endsWith(REPLACEMENT) && this.undecoded.length < MAX_HELD_TOKENS) return [];
    // The decoded text goes with the first of the held tokens' events; the others carry none.
    const decoded = this.undecoded.map((t, i) => ({ event: { ...t, text: i === 0 ? text : '' }, text: i === 0 ? text : '' }));
    this.context = [...this.context, ...ids].slice(-MAX_HELD_TOKENS);
    this.undecoded = [];
    this.held.push(...decoded);
    return this.release();
  }

  /** Ends the stream: releases whatever is still held (no stop sequence can complete now). */
  flush(): TokenEventToken[] {
    if (this.stopped) return [];
    const out = this.held.splice(0).map((h) => h.event);
    if (this.undecoded.length > 0) {
      const ids = this.undecoded.flatMap((t) => t.tokenIds);
      const text = this.tokenizer.detokenize(ids, this.context);
      out.push(...this.undecoded.map((t, i) => ({ ...t, text: i === 0 ? text : '' })));
      this.undecoded = [];
    }
    return out;
  }

  private release(): TokenEventToken[] {
    const pending = this.held.map((h) => h.text).join('');
    if (this.stops.length === 0) return this.held.splice(0).map((h) => h.event);

    const stopAt = firstStop(pending, this.stops);
    if (stopAt >= 0) {
      this.stopped = true;
      const out: TokenEventToken[] = [];
      let offset = 0;
      for (const { event, text } of this.held) {
        if (offset >= stopAt) break;
        const keep = Math.min(text.length, stopAt - offset);
        out.push(keep === text.length ? event : { ...event, text: text.slice(0, keep) });
        offset += text.length;
      }
      this.held.length = 0;
      return out;
    }

    // Hold back the longest tail that could still grow into a stop sequence.
    const safe = pending.length - longestStopPrefixSuffix(pending, this.stops);
    const out: TokenEventToken[] = [];
    let offset = 0;
    while (this.held.length > 0 && offset + this.held[0]!.text.length <= safe) {
      const next = this.held.shift()!;
      offset += next.text.length;
      out.push(next.event);
    }
    return out;
  }
}

function firstStop(text: string, stops: readonly string[]): number {
  let best = -1;
  for (const stop of stops) {
    const at = text.indexOf(stop);
    if (at >= 0 && (best < 0 || at < best)) best = at;
  }
  return best;
}

/** Length of the longest suffix of `text` that is a proper prefix of some stop sequence. */
function longestStopPrefixSuffix(text: string, stops: readonly string[]): number {
  let best = 0;
  for (const stop of stops) {
    for (let len = Math.min(stop.length - 1, text.length); len > best; len--) {
      if (text.endsWith(stop.slice(0, len))) {
        best = len;
        break;
      }
    }
  }
  return best;
}
