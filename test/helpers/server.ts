import { resolve } from 'node:path';
import { loadConfig } from '../../src/config/load-config.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { scratchDir } from './models.js';

const DEFAULT_CONFIG = resolve(import.meta.dirname, '../../specroute.yaml');

/**
 * Starts the real server from the repo's default config (stories260K, a draft of its first 3 layers) on free
 * ports of 127.0.0.1. `settings` are any config keys in SPECROUTE_* form, e.g.
 * `{ SPECROUTE_LIMITS__MAX_CONCURRENT: '1', SPECROUTE_API_KEYS: 'sk-test-123456' }`.
 */
export async function startTestServer(settings: Record<string, string> = {}): Promise<RunningServer> {
  const config = loadConfig(DEFAULT_CONFIG, { port: 0, grpcPort: 0, host: '127.0.0.1' }, { SPECROUTE_CACHE_DIR: scratchDir(), ...settings });
  return startServer(config);
}
