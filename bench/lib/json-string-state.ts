/**
 * Where a prefix of JSON text ends: inside a string literal (a key or a string value) or not (punctuation,
 * numbers, `true`/`false`/`null`). The structured-output bench splits the grammar's per-position mask cost by it.
 */
export function endsInsideString(text: string): boolean {
  let inside = false;
  let escaped = false;
  for (const char of text) {
    if (!inside) {
      if (char === '"') inside = true;
    } else if (escaped) {
      escaped = false;
    } else if (char === '\\') {
      escaped = true;
    } else if (char === '"') {
      inside = false;
    }
  }
  return inside;
}
