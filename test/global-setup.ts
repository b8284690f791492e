import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * One scratch folder per `vitest run`, removed when the run ends: the drafts, ONNX files, configs and stubs tests
 * write go under it (`scratchDir()` in helpers/models.ts), so runs leave nothing behind in the system's tmp.
 */
export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'specroute-test-'));
  process.env.SPECROUTE_TEST_TMP = root;
  return () => rmSync(root, { recursive: true, force: true });
}
