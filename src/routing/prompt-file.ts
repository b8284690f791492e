/**
 * Prompt files: JSON Lines, one prompt a line, either raw text (`{"id"?, "prompt"}`) or a chat
 * (`{"id"?, "messages": [{"role", "content"}…]}`, rendered with the verifier's chat template), optionally with a
 * checkable answer (`"expected"`: src/routing/expected.ts). The bench's suites (bench/prompts/) and
 * `specroute router label` read them.
 */
import { readFile } from 'node:fs/promises';
import type { ChatMessage, PromptInput } from '../contract/generation-request.js';
import { parseExpected, type Expected } from './expected.js';

/** One line of a prompt file. */
export interface PromptLine {
  /** The line's `id`, or `line-N`. */
  readonly id: string;
  readonly input: PromptInput;
  /** What a good output satisfies, when the file has checkable answers. */
  readonly expected?: Expected;
}

const ROLES = new Set(['system', 'user', 'assistant']);

/** Reads a prompt file (blank lines skipped). Throws an `Error` naming `file:line` for a line it cannot use. */
export async function readPromptFile(file: string): Promise<PromptLine[]> {
  const lines = (await readFile(file, 'utf8')).split('\n');
  const prompts: PromptLine[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${file}:${i + 1}`;
    let value: { id?: unknown; prompt?: unknown; messages?: unknown; expected?: unknown };
    try {
      value = JSON.parse(line) as typeof value;
    } catch (error) {
      throw new Error(`${where}: not JSON (${(error as Error).message})`);
    }
    const id = typeof value.id === 'string' && value.id !== '' ? value.id : typeof value.id === 'number' ? String(value.id) : `line-${i + 1}`;
    let expected: { expected?: Expected } = {};
    if (value.expected !== undefined) {
      try {
        expected = { expected: parseExpected(value.expected) };
      } catch (error) {
        throw new Error(`${where}: ${(error as Error).message}`);
      }
    }
    if (typeof value.prompt === 'string' && value.prompt !== '') {
      prompts.push({ id, input: { kind: 'text', text: value.prompt }, ...expected });
      return;
    }
    if (Array.isArray(value.messages) && value.messages.length > 0) {
      const messages = value.messages.map((m: unknown, j): ChatMessage => {
        const { role, content } = (m ?? {}) as { role?: unknown; content?: unknown };
        if (typeof role !== 'string' || !ROLES.has(role) || typeof content !== 'string') {
          throw new Error(`${where}: messages[${j}] needs a role (system, user or assistant) and a string content`);
        }
        return { role: role as ChatMessage['role'], content };
      });
      prompts.push({ id, input: { kind: 'chat', messages }, ...expected });
      return;
    }
    throw new Error(`${where}: expected {"id", "prompt"} with a non-empty prompt, or {"id", "messages": [...]}`);
  });
  return prompts;
}
