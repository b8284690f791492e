import { randomBytes } from 'node:crypto';
import type { ToolCalling } from '../contract/tool-calls.js';
import type { TokenEvent, TokenEventToken } from '../events/token-event.js';

/** `{"name":"NAME","arguments":` as the grammar writes a `required` call (compact JSON). */
const CALL_HEAD = /^\{"name":("(?:[^"\\]|\\.)*"),"arguments":/;

/**
 * The events of a tool-call request, reshaped for OpenAI's `tool_calls`: every token event is tagged with the
 * call, its text becomes a fragment of the call's `arguments`, and the final event says `tool_calls`
 * (docs/ARCHITECTURE.md#tool-calls). A named function's output is its arguments as they are. For `required`,
 * the model writes `{"name":…,"arguments":…}`: events wait until the name is complete (so that the first carries
 * it), the head is cut from their text, and the last event is held until the end so the closing `}` is cut too.
 * Every token event still goes out once, in order, with its provenance.
 */
export async function* toolCallEvents(events: AsyncIterable<TokenEvent>, calling: ToolCalling): AsyncGenerator<TokenEvent> {
  const id = `call_${randomBytes(12).toString('hex')}`;
  const named = calling.choice !== 'none' && calling.choice !== 'required' ? calling.choice.name : undefined;
  let name = named;
  let started = false;
  let text = ''; // everything the model wrote
  let released = 0; // characters of `text` handed out as arguments, or cut as the head
  /** Token events not sent yet, each with where its text ends in `text`. */
  let held: Array<{ event: TokenEventToken; end: number }> = [];

  const release = (event: TokenEventToken, upTo: number): TokenEventToken => {
    const fragment = text.slice(released, Math.max(released, upTo));
    released = Math.max(released, upTo);
    const toolCall = started ? { index: 0 } : { index: 0, id, name: name! };
    started = true;
    return { ...event, text: fragment, toolCall };
  };

  for await (const event of events) {
    if (event.kind === 'escalation') {
      yield event;
      continue;
    }
    if (event.kind === 'done') {
      // The held event ends the call: for `required`, without the wrapper's closing brace.
      const cut = named === undefined && event.finishReason === 'stop' && text.endsWith('}') ? 1 : 0;
      for (const [i, h] of held.entries()) {
        // Cut (by max_tokens) before the name was complete: no call to name, so no text either.
        yield name === undefined ? { ...h.event, text: '' } : release(h.event, i === held.length - 1 ? h.end - cut : h.end);
      }
      held = [];
      yield { ...event, finishReason: event.finishReason === 'stop' ? 'tool_calls' : event.finishReason };
      continue;
    }
    text += event.text;
    if (named !== undefined) {
      yield release(event, text.length);
      continue;
    }
    if (name === undefined) {
      const head = CALL_HEAD.exec(text);
      if (head) {
        name = JSON.parse(head[1]!) as string;
        released = head[0].length;
      }
    }
    held.push({ event, end: text.length });
    if (name === undefined) continue;
    // Everything but the newest event goes out; the newest may end with the wrapper's `}`.
    const last = held.pop()!;
    for (const h of held) yield release(h.event, h.end);
    held = [last];
  }
}
