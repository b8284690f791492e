/**
 * The stories ladder the routing benches run on: `frontier` = a model (stories260K) served by a second specroute
 * over HTTP on 127.0.0.1, `hybrid` = a copy made from it (quantized or truncated) as verifier with the `slm` copy
 * as its draft. Copies are made once and cached in `work`.
 */
import { resolve } from 'node:path';
import { loadConfig } from '../../src/config/load-config.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { parseDraftSpec, prepareDrafts } from './drafts.js';

export interface LadderOptions {
  readonly modelsDir: string;
  /** The frontier model, and the source of the local copies (relative to `modelsDir`). */
  readonly verifier: string;
  /** The hybrid tier's verifier, made from it (`draft make` syntax: q8_0, q4_0, L0-3…). */
  readonly local: string;
  /** The slm tier (and the hybrid tier's draft), made from it. */
  readonly slm: string;
  readonly work: string;
  /** The frontier server's `limits.maxConcurrent` and `limits.maxQueue`. */
  readonly frontierLimits: { readonly maxConcurrent: number; readonly maxQueue: number };
}

export interface Ladder {
  readonly source: string;
  readonly localPath: string;
  readonly slmPath: string;
  readonly frontier: RunningServer;
  /** A config for the local server: the pair, and the frontier behind it with escalation off and no call limit. */
  readonly config: Record<string, unknown>;
}

export async function startLadder(options: LadderOptions): Promise<Ladder> {
  const source = resolve(options.modelsDir, options.verifier);
  const [local, slm] = await prepareDrafts(source, [parseDraftSpec(options.local), parseDraftSpec(options.slm)], options.work);
  const { maxConcurrent, maxQueue } = options.frontierLimits;
  const frontier = await startServer(
    loadConfig(undefined, { port: 0, grpcPort: -1, host: '127.0.0.1' }, { SPECROUTE_MODEL__VERIFIER__PATH: source, SPECROUTE_MODEL__ID: 'frontier', SPECROUTE_LIMITS__MAX_CONCURRENT: String(maxConcurrent), SPECROUTE_LIMITS__MAX_QUEUE: String(maxQueue) }),
  );
  const config = {
    modelsDir: options.modelsDir,
    cacheDir: options.work,
    server: { grpcPort: -1 },
    model: { id: 'local', verifier: { path: local!.path, threads: 1 }, draft: { path: slm!.path, threads: 1 } },
    escalation: {
      frontier: { baseUrl: `${frontier.httpUrl}/v1`, model: 'frontier', api: 'completions', firstByteTimeoutMs: 30_000, totalTimeoutMs: 60_000 },
      // The hybrid tier is the pair alone here: routing chooses between it and the frontier.
      policy: { enabled: false },
      budget: { callsPerMinute: 1_000_000 },
    },
  };
  return { source, localPath: local!.path, slmPath: slm!.path, frontier, config };
}
