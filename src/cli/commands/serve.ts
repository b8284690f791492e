import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { loadConfig } from '../../config/load-config.js';
import { startServer } from '../../main.js';
import { integer } from '../options.js';

const DEFAULT_CONFIG = 'specroute.yaml';

export function serveCommand(): Command {
  return new Command('serve')
    .description('Serve the OpenAI-compatible HTTP API (SSE) and the gRPC API over one loaded draft/verifier pair.')
    .option('-c, --config <file>', `YAML config file (default: ./${DEFAULT_CONFIG} when present)`)
    .option('--host <address>', 'address to listen on')
    .option('--port <n>', 'HTTP port (0 picks a free one)', integer(0, 65535))
    .option('--grpc-port <n>', 'gRPC port (0 picks a free one, -1 disables gRPC)', integer(-1, 65535))
    .option('--models-dir <dir>', 'folder that relative model paths start from')
    .addHelpText(
      'after',
      `
Flags override the config file; SPECROUTE_* environment variables override both
(SPECROUTE_PORT, SPECROUTE_GRPC_PORT, SPECROUTE_HOST, SPECROUTE_MODELS_DIR, SPECROUTE_API_KEYS=k1,k2,
or any key as SPECROUTE_SECTION__KEY, e.g. SPECROUTE_LIMITS__MAX_QUEUE=8).

Examples:
  $ specroute serve                                  # ./specroute.yaml: stories260K from ../shared/models
  $ specroute serve --config prod.yaml --port 9000 --grpc-port -1
  $ SPECROUTE_API_KEYS=sk-local-123456 specroute serve --models-dir /models`,
    )
    .action(async (flags: { config?: string; host?: string; port?: number; grpcPort?: number; modelsDir?: string }) => {
      const file = flags.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
      const config = loadConfig(file, {
        ...(flags.host !== undefined ? { host: flags.host } : {}),
        ...(flags.port !== undefined ? { port: flags.port } : {}),
        ...(flags.grpcPort !== undefined ? { grpcPort: flags.grpcPort } : {}),
        ...(flags.modelsDir !== undefined ? { modelsDir: flags.modelsDir } : {}),
      });
      const log = (message: string): void => void process.stderr.write(`specroute: ${message}\n`);
      const server = await startServer(config, log);
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          log(`${signal}: draining streams in flight, then shutting down`);
          process.off('SIGINT', onInt);
          process.off('SIGTERM', onTerm);
          void server.close().then(resolve);
        };
        const onInt = (): void => stop('SIGINT');
        const onTerm = (): void => stop('SIGTERM');
        process.on('SIGINT', onInt);
        process.on('SIGTERM', onTerm);
      });
      log('stopped');
    });
}
