/**
 * `specroute bench`: a thin stand-in for the benchmark harness, which lives in bench/ and is built apart from src/
 * (tsconfig.bench.json, into dist/bench/). The harness is found at run time by a computed path, so the build of
 * src/ neither compiles nor ships it (docs/ARCHITECTURE.md#the-bench-entry-point).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { packageRoot } from '../../package-root.js';

/** Where `npm run build` puts the harness's entry: dist/bench/command.js under the package root. */
export function benchModulePath(root: string = packageRoot()): string {
  return join(root, 'dist', 'bench', 'command.js');
}

/**
 * The `bench` command as `specroute --help` lists it. It takes every argument as it comes (its own `--help`
 * included), loads the harness and hands them over to the harness's own `bench` command.
 */
export function benchCommand(): Command {
  return new Command('bench')
    .description("Benchmark model pairs: acceptance (by position), speed-up over verifier-only and node-llama-cpp's own speculative decoding, against the ideals.")
    .usage('[command] [options]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText('after', '\nThe harness describes its commands and options itself: specroute bench --help')
    .action(async (_flags: unknown, command: Command) => {
      const path = benchModulePath();
      if (!existsSync(path)) {
        process.stderr.write(
          `specroute: the benchmark harness is not built (no ${path}). It ships with the source repository, not the package: run \`npm run build\` there.\n`,
        );
        process.exitCode = 1;
        return;
      }
      const harness = (await import(pathToFileURL(path).href)) as { benchCommand(): Command };
      // Named as the user types it, so the harness's usage lines read `specroute bench …`.
      await harness.benchCommand().name('specroute bench').parseAsync(command.args, { from: 'user' });
    });
}
