import type { ZodIssue } from 'zod';

/** An issue's place in a JSON document: `features[2]`, `tokenizer.vocabSize`, `(root)`. */
export function issuePath(path: readonly (string | number)[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out === '' ? '(root)' : out;
}

/** "tokenizer.vocabSize: Expected number, received string"; an unknown key named in full. */
export function describeIssue(issue: ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => issuePath([...issue.path, k]));
    return `${keys.join(', ')}: unknown key${keys.length > 1 ? 's' : ''}`;
  }
  return `${issuePath(issue.path)}: ${issue.message}`;
}
