import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { defaultModelLoadOptions, type ModelLoadOptions } from '../../src/backends/types.js';

const run = promisify(execFile);

/** The shared model directory beside the repository (CI clones main with ../shared next to it). */
export const MODELS_DIR = resolve(import.meta.dirname, '../../../shared/models');
export const STORIES = join(MODELS_DIR, 'stories260K.gguf');
export const TINY_RANDOM = join(MODELS_DIR, 'llama-2-tiny-random.gguf');
export const CLI = resolve(import.meta.dirname, '../../dist/src/cli/index.js');
export const PROMPTS_FILE = resolve(import.meta.dirname, '../../bench/prompts/stories.jsonl');

export function storyPrompts(): string[] {
  return readFileSync(PROMPTS_FILE, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => (JSON.parse(line) as { prompt: string }).prompt);
}

/** A new folder under this test run's scratch root (removed when the run ends; see test/global-setup.ts). */
export function scratchDir(prefix = 'scratch-'): string {
  return mkdtempSync(join(process.env.SPECROUTE_TEST_TMP ?? tmpdir(), prefix));
}

/** Runs the built CLI (as a user would) and returns its stdout. */
export async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
}

/** Makes a draft with `specroute draft make` and returns its path. */
export async function makeDraftWithCli(dir: string, name: string, from: string, flags: string[]): Promise<string> {
  const out = join(dir, `${name}.gguf`);
  await cli(['draft', 'make', '--from', from, '--out', out, ...flags]);
  return out;
}

export function modelOptions(modelPath: string, overrides: Partial<ModelLoadOptions> = {}): ModelLoadOptions {
  return { ...defaultModelLoadOptions, modelPath, threads: 1, contextSize: 512, ...overrides };
}
