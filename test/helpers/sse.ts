/** A raw server-sent-event stream, read as the wire carries it (for what SDKs hide: comments, [DONE], errors). */
export interface RawSse {
  /** `data:` payloads in order, `[DONE]` included. */
  data: string[];
  /** Comment lines (`: keep-alive`). */
  comments: string[];
  /** The whole body. */
  raw: string;
}

export function parseSse(raw: string): RawSse {
  const data: string[] = [];
  const comments: string[] = [];
  for (const block of raw.split('\n\n')) {
    for (const line of block.split('\n')) {
      if (line.startsWith('data: ')) data.push(line.slice('data: '.length));
      else if (line.startsWith(':')) comments.push(line);
    }
  }
  return { data, comments, raw };
}

/** POSTs JSON and reads the whole response body as text. */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), ...(signal ? { signal } : {}) });
}

/** The text of a completions stream (`choices[0].text` or chat `delta.content`, concatenated). */
export function streamedText(sse: RawSse): string {
  let text = '';
  for (const payload of sse.data) {
    if (payload === '[DONE]') continue;
    const chunk = JSON.parse(payload) as { choices?: Array<{ text?: string; delta?: { content?: string } }> };
    const choice = chunk.choices?.[0];
    text += choice?.text ?? choice?.delta?.content ?? '';
  }
  return text;
}
