import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Under CI a skipped test fails the run (test/helpers/no-skips-reporter.ts).
    reporters: ['default', './test/helpers/no-skips-reporter.ts'],
    // Model-dependent tests load real GGUF files and spawn worker threads; keep files sequential
    // on this 2-core machine so their timings do not starve each other.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
