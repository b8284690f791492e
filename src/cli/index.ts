#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { isSpecrouteError } from '../errors/registry.js';
import { benchCommand } from './commands/bench.js';
import { convertCommand } from './commands/convert.js';
import { draftCommand } from './commands/draft.js';
import { generateCommand } from './commands/generate.js';
import { serveCommand } from './commands/serve.js';

const program = new Command('specroute')
  .description('Token-level speculative-routing inference: a draft proposes, a verifier checks, a frontier rescues.')
  .version('0.1.0')
  .showHelpAfterError()
  .addCommand(serveCommand())
  .addCommand(generateCommand())
  .addCommand(draftCommand())
  .addCommand(convertCommand())
  .addCommand(benchCommand());

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode;
  } else if (isSpecrouteError(error)) {
    process.stderr.write(`specroute: ${error.message}${error.param ? ` (${error.param})` : ''}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`specroute: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  }
}
