import type { Reporter, TestModule } from 'vitest/node';

/**
 * Fails the run when `CI` is set and any collected test was skipped (`skip`, `skipIf`, `todo`, or a suite that
 * never ran): CI is meant to run every test, so a test that silently stops running — a missing system package, a
 * condition that went false — turns CI red instead of green. Outside CI the skipped tests are only listed.
 * Filtering files on the command line (`vitest run some.test.ts`) does not count: only collected tests do.
 */
export default class NoSkipsReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const skipped: string[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        if (test.result().state === 'skipped') skipped.push(`${module.moduleId.replace(`${process.cwd()}/`, '')} > ${test.fullName}`);
      }
    }
    if (skipped.length === 0) return;
    const list = skipped.map((name) => `  - ${name}`).join('\n');
    if (process.env.CI) {
      process.stderr.write(`\nno-skips: CI is set and ${skipped.length} test(s) did not run; CI runs every test:\n${list}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`\nno-skips: ${skipped.length} test(s) skipped (an error under CI):\n${list}\n`);
    }
  }
}
