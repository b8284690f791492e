import { defineConfig } from 'vitest/config';
import { CollectionFailuresAsTests } from './test/helpers/collection-failures-reporter.js';

/**
 * The tests StrykerJS runs against each mutant of the pure core (`npm run test:mutation`, stryker.config.mjs):
 * the fast standalone tests of the mutated modules only. No model files, no network, no child processes.
 * acceptance.test.ts (the statistical proof of losslessness, 120k samples per case) is left to `npm test`: under
 * Stryker's instrumentation it takes minutes per mutant; acceptance-steps.test.ts checks the rule exactly instead.
 */
export default defineConfig({
  test: {
    include: [
      'test/standalone/acceptance-steps.test.ts',
      'test/standalone/adaptive-draft-length.test.ts',
      'test/standalone/speculative-provenance.test.ts',
      'test/standalone/sampling.test.ts',
      'test/standalone/text-assembler.test.ts',
      'test/standalone/sse-parser.test.ts',
      'test/standalone/circuit-breaker.test.ts',
      'test/standalone/budget.test.ts',
      'test/standalone/escalation-policy.test.ts',
      'test/standalone/config.test.ts',
      'test/standalone/request-settings.test.ts',
      'test/standalone/request-validation.test.ts',
    ],
    // config.test.ts writes YAML files under one scratch folder per run; the global setup removes it.
    globalSetup: ['test/global-setup.ts'],
    // The TypeScript kernels (src/sampling/), which are the mutated ones; silently, without looking for the addon.
    env: { SPECROUTE_NATIVE: '0' },
    testTimeout: 30_000,
    // A mutant that breaks a module's import fails the test files that load it (see the reporter).
    reporters: ['default', new CollectionFailuresAsTests()],
  },
});
