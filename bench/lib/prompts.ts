/** The benchmark prompt suites: JSON Lines files of `{"id", "prompt"}`. */
import { readFile } from 'node:fs/promises';

export interface BenchPrompt {
  readonly id: string;
  readonly prompt: string;
}

/** Reads the first `count` prompts of a suite (all of them when `count` is omitted). Throws if there are fewer. */
export async function loadPrompts(file: string, count?: number): Promise<BenchPrompt[]> {
  const lines = (await readFile(file, 'utf8')).split('\n').filter((line) => line.trim() !== '');
  const prompts = lines.map((line, i) => {
    const value = JSON.parse(line) as Partial<BenchPrompt>;
    if (typeof value.prompt !== 'string' || value.prompt === '') throw new Error(`${file}:${i + 1}: expected {"id", "prompt"} with a non-empty prompt`);
    return { id: typeof value.id === 'string' ? value.id : `line-${i + 1}`, prompt: value.prompt };
  });
  if (count !== undefined && prompts.length < count) throw new Error(`${file} has ${prompts.length} prompts; ${count} were asked for`);
  return count === undefined ? prompts : prompts.slice(0, count);
}
