import type { RunnerTestCase, RunnerTestFile } from 'vitest';
import type { Reporter } from 'vitest/reporters';

/**
 * For mutation runs only (vitest.mutation.config.ts): a test file that fails to load gets one failed test that
 * carries the load error.
 *
 * A mutant can make a module throw while it is imported (a static mutant: `settingDefaults('')`). `vitest run`
 * reports such a file as failed, but StrykerJS's vitest runner (9.6.1) builds each mutant's verdict from the
 * tests it collected, and a file that never loaded collected none: the mutant would count as survived although
 * the tests detect it (stryker-js issue #6150). A file that loaded is left as it is, passing or failing.
 */
export class CollectionFailuresAsTests implements Reporter {
  onFinished(files: RunnerTestFile[] = []): void {
    for (const file of files) {
      if (file.result?.state !== 'fail' || file.tasks.length > 0) continue;
      // Only the fields a finished run is read for: vitest builds a test's context itself, and nothing reads it now.
      const test = {
        type: 'test',
        id: `${file.id}_load`,
        name: 'the test file loads',
        mode: 'run',
        file,
        suite: file,
        meta: {},
        timeout: 0,
        annotations: [],
        result: { state: 'fail', errors: file.result.errors ?? [] },
      } as unknown as RunnerTestCase;
      file.tasks.push(test);
    }
  }
}
