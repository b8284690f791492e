import { spawn } from 'node:child_process';
import { CLI } from './models.js';

/** A `specroute serve` process, started as a user (or a replica behind a load balancer) starts it. */
export interface ServeProcess {
  /** `http://HOST:PORT`, from serve's own log line (so `--port 0` works). */
  readonly url: string;
  /** What it logged so far. */
  readonly stderr: string;
  /** SIGTERM (SIGKILL after 20 s); resolves to the exit code, at once when it has already exited. */
  stop(): Promise<number | null>;
}

/**
 * Spawns `specroute serve ARGS` and waits until it listens: serve logs `specroute: HTTP on http://HOST:PORT` once
 * `/ready` is true, and that line gives the port. Fails with its stderr when it exits first or takes over 90 s.
 */
export async function startServe(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], {
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let stderr = '';
  child.stderr.setEncoding('utf8');
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not listen within 90 s; stderr:\n${stderr}`)), 90_000);
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      const match = /HTTP on (http:\/\/\S+?)(,|\s|$)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening; stderr:\n${stderr}`));
    });
  });
  return {
    url,
    get stderr() {
      return stderr;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
  };
}
