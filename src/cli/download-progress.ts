/**
 * Model downloads on stderr. On a terminal, a bar redrawn in place: the file, bytes received of the total, rate
 * and time left. Elsewhere (logs, pipes) one line per transfer saying what is fetched and where, nothing more.
 */
import type { DownloadProgress } from '../models/model-download.js';
import { clock } from './progress.js';

/** Options of `DownloadReporter`. */
export interface DownloadReporterOptions {
  /** Where to draw. Defaults to `process.stderr`. */
  readonly stream?: NodeJS.WriteStream;
  /** The least time between two redraws of the bar, in ms (the last one is always drawn). Defaults to `100`. */
  readonly intervalMs?: number;
}

const WIDTH = 24;

export class DownloadReporter {
  private readonly stream: NodeJS.WriteStream;
  private readonly live: boolean;
  private readonly intervalMs: number;
  /** The transfer being shown: its file and attempt, when it started, and how many bytes it found already there. */
  private current: { path: string; attempt: number; startedAt: number; from: number } | undefined;
  private drawnAt = -Infinity;
  private drawn = false;

  constructor(options: DownloadReporterOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.live = Boolean(this.stream.isTTY);
    this.intervalMs = options.intervalMs ?? 100;
  }

  /** Pass as `onProgress` of a download. */
  readonly onProgress = (progress: DownloadProgress): void => {
    const now = performance.now();
    const { path, attempt, uri, total, received, resumedFrom } = progress;
    if (this.current?.path !== path || this.current.attempt !== attempt) {
      this.finish();
      this.current = { path, attempt, startedAt: now, from: received };
      const size = total !== undefined ? ` (${bytes(total)})` : '';
      const line = resumedFrom > 0 ? `resuming ${uri}${size} at ${bytes(resumedFrom)}, into ${path}` : `downloading ${uri}${size} to ${path}`;
      this.stream.write(`specroute: ${line}\n`);
    }
    if (!this.live || (now - this.drawnAt < this.intervalMs && received !== total)) return;
    this.drawnAt = now;
    const seconds = (now - this.current.startedAt) / 1000;
    const rate = seconds > 0 ? (received - this.current.from) / seconds : 0;
    const share = total ? Math.min(1, received / total) : 0;
    const filled = Math.round(share * WIDTH);
    const parts = [
      total !== undefined ? `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${(100 * share).toFixed(1)}%` : '',
      `${bytes(received)}${total !== undefined ? ` / ${bytes(total)}` : ''}`,
      rate > 0 ? `${bytes(rate)}/s` : '',
      total !== undefined && rate > 0 && received < total ? `~${clock((total - received) / rate)} left` : '',
    ].filter(Boolean);
    const columns = this.stream.columns ?? 120;
    this.stream.write(`\r\u001b[2K${parts.join('  ').slice(0, columns - 1)}`);
    this.drawn = true;
  };

  /** Ends the bar's line (after a download, or before other output). */
  finish(): void {
    if (this.live && this.drawn) this.stream.write('\n');
    this.drawn = false;
    this.drawnAt = -Infinity;
  }
}

/** `812 B`, `1.5 KiB`, `3.20 MiB`, `4.07 GiB`. */
export function bytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit >= 1 ? 2 : 1)} ${units[unit]}`;
}
