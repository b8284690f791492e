// Mutation testing of the pure core: `npm run test:mutation`. Reports go to reports/mutation/ (git-ignored but for
// NOTES.md, which records the score and explains each surviving mutant).
import { readFileSync } from 'node:fs';

/**
 * `file:from-to`, from the line that starts with `marker` to the end of the file: request-settings.ts is mutated
 * from its helpers on, not its table of settings (data whose every consumer is built from it; the README's
 * generated reference is what checks the table).
 */
function fromMarker(file, marker) {
  const lines = readFileSync(new URL(file, import.meta.url), 'utf8').split('\n');
  const at = lines.findIndex((line) => line.startsWith(marker));
  if (at < 0) throw new Error(`stryker.config.mjs: ${file} has no line starting with ${marker}`);
  const last = lines.at(-1) === '' ? lines.length - 1 : lines.length;
  return `${file}:${at + 1}-${last}`;
}
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  coverageAnalysis: 'perTest',
  concurrency: 2,
  mutate: [
    'src/pipeline/acceptance.ts',
    'src/pipeline/adaptive-draft-length.ts',
    'src/pipeline/text-assembler.ts',
    'src/sampling/token-dist.ts',
    'src/sampling/logprobs.ts',
    'src/sampling/params.ts',
    'src/sampling/rng.ts',
    'src/escalation/policy.ts',
    'src/escalation/circuit-breaker.ts',
    'src/escalation/budget.ts',
    'src/escalation/sse-parser.ts',
    'src/config/schema.ts',
    'src/config/load-config.ts',
    'src/contract/check-settings.ts',
    fromMarker('src/contract/request-settings.ts', 'export function settingDefaults'),
    'src/scheduler/validate.ts',
  ],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, reportTests: false },
  thresholds: { high: 90, low: 80, break: 80 },
  tempDirName: '.stryker-tmp',
  // The addon is not needed (the mutated kernels are the TypeScript ones), and a symlinked build folder cannot be copied.
  ignorePatterns: ['dist', 'bench/out', 'reports', 'native-bindings/build'],
};
