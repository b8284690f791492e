import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './models.js';
import { freePort } from './redis-server.js';

/** One `specroute serve` process, as a replica behind a load balancer runs. */
export interface Replica {
  readonly url: string;
  /** What it logged so far. */
  readonly stderr: string;
  close(): Promise<void>;
}

/**
 * Starts `specroute serve --config FILE` on a free port of 127.0.0.1 (no gRPC) with `env` added, and waits until
 * it is ready (`GET /ready`).
 */
export async function startReplica(config: string, env: Record<string, string>): Promise<Replica> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve', '--config', config, '--port', String(port), '--grpc-port', '-1'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}; stderr:\n${stderr}`);
    const ready = await fetch(`${url}/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`serve was not ready within 90 s; stderr:\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    get stderr() {
      return stderr;
    },
    close: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
