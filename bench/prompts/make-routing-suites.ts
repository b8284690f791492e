/**
 * Writes the routing benchmark's prompt suites, bench/prompts/routing-agreement.jsonl and routing-checkable.jsonl,
 * from their templates (bench/lib/routing-suites.ts). Run it after changing a template, and commit both files.
 *
 *   npx vite-node bench/prompts/make-routing-suites.ts            # rewrites both files
 *   npx vite-node bench/prompts/make-routing-suites.ts -- --check # exits 1 if a file differs from what it would write
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root.js';
import { routingSuites } from '../lib/routing-suites.js';

const check = process.argv.includes('--check');
for (const [name, body] of Object.entries(routingSuites())) {
  const file = join(packageRoot(), 'bench', 'prompts', `${name}.jsonl`);
  if (!check) {
    writeFileSync(file, body);
    console.log(`wrote ${file}: ${body.split('\n').length - 1} prompts`);
  } else if (!existsSync(file) || readFileSync(file, 'utf8') !== body) {
    console.error(`${file} differs from what make-routing-suites.ts writes`);
    process.exitCode = 1;
  }
}
