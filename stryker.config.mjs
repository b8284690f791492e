// Mutation testing of the pure core: `npm run test:mutation`. Reports go to reports/mutation/ (git-ignored but for
// NOTES.md, which records the score and explains each surviving mutant).
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
    'src/contract/request-settings.ts',
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
