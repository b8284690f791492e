/** The machine a profile was measured on: CPU, memory, GPUs and VRAM, as node.js and node-llama-cpp report them. */
import { availableParallelism, cpus, freemem, totalmem } from 'node:os';
import type { Llama } from 'node-llama-cpp';

export interface MachineInfo {
  readonly cpuModel: string;
  /** `os.availableParallelism()`: the CPUs this process may use. */
  readonly cores: number;
  /** node-llama-cpp's count of cores useful for math. */
  readonly mathCores: number;
  /** The most threads node-llama-cpp's instance lets one process use (0: no limit). */
  readonly llamaMaxThreads: number;
  readonly totalMemoryBytes: number;
  readonly freeMemoryBytes: number;
  /** node-llama-cpp's GPU backend (`cuda`, `vulkan`, `metal`), or `false` on the CPU alone. */
  readonly gpu: string | false;
  readonly gpuDevices: readonly string[];
  /** VRAM, when there is a GPU. */
  readonly vram: { readonly totalBytes: number; readonly freeBytes: number } | null;
  readonly llamaCpp: string;
  readonly node: string;
  readonly platform: string;
}

export async function describeMachine(llama: Llama): Promise<MachineInfo> {
  const gpu = llama.gpu;
  const [devices, vram] = gpu === false ? [[], null] : await Promise.all([llama.getGpuDeviceNames().catch(() => []), llama.getVramState().catch(() => null)]);
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    mathCores: llama.cpuMathCores,
    llamaMaxThreads: llama.maxThreads,
    totalMemoryBytes: totalmem(),
    freeMemoryBytes: freemem(),
    gpu,
    gpuDevices: devices,
    vram: vram ? { totalBytes: vram.total, freeBytes: vram.free } : null,
    llamaCpp: llama.llamaCppRelease.release,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

/** One line naming the machine, for the profile's `machine` field and the fragment's header. */
export function machineLine(m: MachineInfo): string {
  const gib = (b: number): string => `${(b / 2 ** 30).toFixed(1)} GiB`;
  const gpu = m.gpu === false ? 'no GPU' : `${m.gpu}: ${m.gpuDevices.join(', ') || 'unnamed'}${m.vram ? ` (${gib(m.vram.totalBytes)} VRAM)` : ''}`;
  return `${m.cpuModel}, ${m.cores} cores, ${gib(m.totalMemoryBytes)} RAM, ${gpu}`;
}
