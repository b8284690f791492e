/**
 * The benchmark prompt suites: JSON Lines files in bench/prompts/, one prompt per line, either raw text
 * (`{"id", "prompt"}`) or a chat (`{"id", "messages": [{"role", "content"}…]}`, rendered with the verifier's
 * chat template). A line may carry a checkable answer, `"expected"` (src/routing/expected.ts): the routing suites
 * use it to judge outputs; the other benchmarks ignore it.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { ChatTemplateMessage } from '../../src/backends/types.js';
import { packageRoot } from '../../src/package-root.js';
import { parseExpected, type Expected } from '../../src/routing/expected.js';

/** A raw-text prompt (a completion). */
export interface BenchPrompt {
  readonly id: string;
  readonly prompt: string;
  /** What a good output contains, when the suite has checkable answers. */
  readonly expected?: Expected;
}

/** A chat prompt: the messages so far; the model writes the assistant's reply. */
export interface BenchChat {
  readonly id: string;
  readonly messages: readonly ChatTemplateMessage[];
  /** What a good reply contains, when the suite has checkable answers. */
  readonly expected?: Expected;
}

export type SuitePrompt = BenchPrompt | BenchChat;

/** The suites shipped in bench/prompts/. */
export const builtInSuites = ['stories', 'chat', 'structured', 'routing-agreement', 'routing-checkable'] as const;

/** A suite by name (`stories`, `chat`, `routing-checkable`…: bench/prompts/NAME.jsonl) or by path. */
export function suitePath(nameOrPath: string): string {
  const builtIn = join(packageRoot(), 'bench', 'prompts', `${nameOrPath}.jsonl`);
  return existsSync(builtIn) ? builtIn : resolve(nameOrPath);
}

/** The suite's name in reports: the file name without `.jsonl`. */
export function suiteName(nameOrPath: string): string {
  return basename(nameOrPath).replace(/\.jsonl$/, '');
}

const ROLES = new Set(['system', 'user', 'assistant']);

/** Reads the first `count` prompts of a suite (all when `count` is omitted). Throws if there are fewer. */
export async function loadSuite(file: string, count?: number): Promise<SuitePrompt[]> {
  const lines = (await readFile(file, 'utf8')).split('\n').filter((line) => line.trim() !== '');
  const prompts = lines.map((line, i): SuitePrompt => {
    const where = `${file}:${i + 1}`;
    let value: { id?: unknown; prompt?: unknown; messages?: unknown; expected?: unknown };
    try {
      value = JSON.parse(line) as typeof value;
    } catch (error) {
      throw new Error(`${where}: not JSON (${(error as Error).message})`);
    }
    const id = typeof value.id === 'string' ? value.id : `line-${i + 1}`;
    let expected: { expected?: Expected } = {};
    if (value.expected !== undefined) {
      try {
        expected = { expected: parseExpected(value.expected) };
      } catch (error) {
        throw new Error(`${where}: ${(error as Error).message}`);
      }
    }
    if (typeof value.prompt === 'string' && value.prompt !== '') return { id, prompt: value.prompt, ...expected };
    if (Array.isArray(value.messages) && value.messages.length > 0) {
      const messages = value.messages.map((m: unknown, j) => {
        const { role, content } = (m ?? {}) as { role?: unknown; content?: unknown };
        if (typeof role !== 'string' || !ROLES.has(role) || typeof content !== 'string') {
          throw new Error(`${where}: messages[${j}] needs a role (system, user or assistant) and a string content`);
        }
        return { role, content } as ChatTemplateMessage;
      });
      return { id, messages, ...expected };
    }
    throw new Error(`${where}: expected {"id", "prompt"} with a non-empty prompt, or {"id", "messages": [...]}`);
  });
  if (count !== undefined && prompts.length < count) throw new Error(`${file} has ${prompts.length} prompts; ${count} were asked for`);
  return count === undefined ? prompts : prompts.slice(0, count);
}

/** Reads a suite of raw-text prompts only (for benchmarks that send completions). */
export async function loadPrompts(file: string, count?: number): Promise<BenchPrompt[]> {
  const prompts = await loadSuite(file, count);
  return prompts.map((p) => {
    if (!('prompt' in p)) throw new Error(`${file}: ${p.id} is a chat; this benchmark sends raw-text prompts`);
    return p;
  });
}
