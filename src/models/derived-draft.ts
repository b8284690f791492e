import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { makeDraft } from './draft-make.js';

/**
 * The draft a config derives from its verifier (`model.draft.derive`), made once and cached: it is rebuilt
 * only when missing or older than the verifier file.
 */
export async function ensureDerivedDraft(options: { from: string; out: string; layers?: string; quantize?: 'q8_0' | 'q4_0' }): Promise<{ path: string; made: boolean }> {
  const [source, cached] = await Promise.all([stat(options.from), stat(options.out).catch(() => undefined)]);
  if (cached && cached.mtimeMs >= source.mtimeMs) return { path: options.out, made: false };
  await mkdir(dirname(options.out), { recursive: true });
  await makeDraft(options);
  return { path: options.out, made: true };
}
