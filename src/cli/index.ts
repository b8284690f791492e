#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { isSpecrouteError } from '../errors/registry.js';
import { benchCommand } from './commands/bench.js';
import { convertCommand } from './commands/convert.js';
import { draftCommand } from './commands/draft.js';
import { generateCommand } from './commands/generate.js';
import { profileCommand } from './commands/profile.js';
import { pullCommand } from './commands/pull.js';
import { routerCommand } from './commands/router.js';
import { serveCommand } from './commands/serve.js';

const program = new Command('specroute')
  .description('Token-level speculative-routing inference: a draft proposes, a verifier checks, a frontier rescues.')
  .version('0.1.0')
  .showHelpAfterError()
  .addCommand(serveCommand())
  .addCommand(generateCommand())
  .addCommand(draftCommand())
  .addCommand(convertCommand())
  .addCommand(pullCommand())
  .addCommand(profileCommand())
  .addCommand(benchCommand())
  .addCommand(routerCommand());

// Commander would exit the process itself on a bad flag (status 1); throwing instead lets the status below be 2.
const throwOnExit = (command: Command): void => {
  command.exitOverride();
  command.commands.forEach(throwOnExit);
};
throwOnExit(program);

// Exit status: 0 success, 2 a usage error (a bad flag or a request the command refuses), 1 anything else (a model
// that could not be downloaded among them: the network, not the command line, failed).
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Commander exits 0 after --help and --version, 1 after a bad flag; a bad flag is a usage error.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (isSpecrouteError(error)) {
    process.stderr.write(`specroute: ${error.message}${error.param ? ` (${error.param})` : ''}\n`);
    process.exitCode = error.code === 'model_download_failed' ? 1 : 2;
  } else {
    process.stderr.write(`specroute: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  }
}
