/**
 * The benchmark prompt suites (read by src/routing/prompt-file.ts): JSON Lines files in bench/prompts/, one prompt per line, either raw text
 * (`{"id", "prompt"}`) or a chat (`{"id", "messages": [{"role", "content"}…]}`, rendered with the verifier's
 * chat template). A line may carry a checkable answer, `"expected"` (src/routing/expected.ts): the routing suites
 * use it to judge outputs; the other benchmarks ignore it.
 */
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { ChatTemplateMessage } from '../../src/backends/types.js';
import { packageRoot } from '../../src/package-root.js';
import type { Expected } from '../../src/routing/expected.js';
import { readPromptFile } from '../../src/routing/prompt-file.js';

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

/** Reads the first `count` prompts of a suite (all when `count` is omitted). Throws if there are fewer. */
export async function loadSuite(file: string, count?: number): Promise<SuitePrompt[]> {
  const prompts = (await readPromptFile(file)).map(({ id, input, expected }): SuitePrompt => {
    const extra = expected !== undefined ? { expected } : {};
    return input.kind === 'text' ? { id, prompt: input.text, ...extra } : { id, messages: input.messages, ...extra };
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
