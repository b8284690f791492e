import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODELS_DIR } from './models.js';

/**
 * Writes a config file serving stories260K with a draft of its first 3 layers (as the repo's specroute.yaml does,
 * with an absolute `modelsDir`), followed by `sections` (YAML for the other top-level keys). Returns its path.
 */
export function storiesConfigFile(sections: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'specroute-config-')), 'specroute.yaml');
  writeFileSync(
    file,
    `modelsDir: ${MODELS_DIR}
model:
  id: stories260K
  verifier: { path: stories260K.gguf, threads: 1, contextSize: 512 }
  draft: { derive: { layers: 0-2 }, threads: 1, contextSize: 512 }
${sections}`,
  );
  return file;
}
