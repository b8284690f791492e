/** What a benchmark report records about where it ran and on which files, so anyone can re-run it. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';

/** The machine and runtime a benchmark ran on. */
export interface MachineInfo {
  /** For example `Linux 6.8.0-1019-aws (x64)`. */
  readonly os: string;
  /** The first CPU's model name. */
  readonly cpuModel: string;
  /** Logical CPUs Node sees. */
  readonly cores: number;
  /** Total memory in GiB. */
  readonly memoryGiB: number;
  /** `process.version`. */
  readonly node: string;
  /** The installed node-llama-cpp version, or `unknown`. */
  readonly nodeLlamaCpp: string;
  readonly hostname: string;
}

/** Describes this machine and runtime. */
export async function machineInfo(): Promise<MachineInfo> {
  const cpus = os.cpus();
  return {
    os: `${os.type()} ${os.release()} (${os.arch()})`,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    nodeLlamaCpp: await packageVersion('node-llama-cpp'),
    hostname: os.hostname(),
  };
}

async function packageVersion(name: string): Promise<string> {
  try {
    const require = createRequire(import.meta.url);
    const entry = require.resolve(name);
    const marker = `/node_modules/${name}/`;
    const root = entry.slice(0, entry.lastIndexOf(marker) + marker.length);
    const pkg = JSON.parse(await readFile(`${root}package.json`, 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The sha256 of a file, as lowercase hex (streamed: any size). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
