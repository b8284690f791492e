import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, cli, makeDraftWithCli, scratchDir, STORIES } from '../../helpers/models.js';

const ANSI = /\u001b\[/;
const run = promisify(execFile);

describe('specroute CLI on stories260K', () => {
  const dir = scratchDir();
  let draft: string;
  beforeAll(async () => {
    draft = await makeDraftWithCli(dir, 'q8', STORIES, ['--quantize', 'q8_0']);
  });

  it('generate --json writes one event per line, the last with the stats', async () => {
    const { stdout } = await cli(['generate', '--verifier', STORIES, '--draft', draft, '-p', 'Once upon a time', '-n', '20', '--json']);
    const events = stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; text?: string; source?: string; stats?: { mode: string; drafted: number } });
    const done = events.at(-1)!;
    expect(done.kind).toBe('done');
    expect(done.stats!.mode).toBe('speculative');
    expect(done.stats!.drafted).toBeGreaterThan(0);
    const tokens = events.filter((e) => e.kind === 'token');
    expect(tokens).toHaveLength(20);
    expect(tokens.map((e) => e.text).join('')).toMatch(/^, there was a little girl/);
    expect(new Set(tokens.map((e) => e.source))).toContain('draft');
  });

  it('prints plain text when stdout is not a terminal, and the stats on stderr', async () => {
    const { stdout, stderr } = await cli(['generate', '--verifier', STORIES, '--draft', draft, '-p', 'Once upon a time', '-n', '20']);
    expect(stdout).toMatch(/^, there was a little girl/);
    expect(stdout).not.toMatch(ANSI);
    expect(stderr).toMatch(/accepted: \d+/);
    expect(stderr).toMatch(/acceptance by position: 1:/);
  });

  it('colours tokens by source on a colour terminal, unless NO_COLOR is set, TERM is dumb or CI is set', async () => {
    const command = `${process.execPath} ${CLI} generate --verifier ${STORIES} --draft ${draft} -p "Once upon a time" -n 12`;
    // Node's colour detection also reads CI, FORCE_COLOR, NODE_DISABLE_COLORS and TMUX (CI=true alone means no
    // colour), so the child gets a terminal environment this test states in full.
    const neutral = { CI: undefined, FORCE_COLOR: undefined, NODE_DISABLE_COLORS: undefined, NO_COLOR: undefined, TMUX: undefined };
    const onTerminal = (env: Record<string, string | undefined>) =>
      run('script', ['-qec', command, '/dev/null'], { env: { ...process.env, ...neutral, ...env } });
    const tty = await onTerminal({ TERM: 'xterm-256color' });
    expect(tty.stdout).toMatch(ANSI);
    for (const env of [{ TERM: 'xterm-256color', NO_COLOR: '1' }, { TERM: 'dumb' }, { TERM: 'xterm-256color', CI: 'true' }]) {
      const plain = await onTerminal(env);
      expect(plain.stdout).not.toMatch(ANSI);
      expect(plain.stdout).toContain('there was a little girl');
    }
  });

  it('--no-draft decodes with the verifier alone', async () => {
    const { stdout } = await cli(['generate', '--verifier', STORIES, '--no-draft', '-p', 'Once upon a time', '-n', '20', '--json']);
    const done = JSON.parse(stdout.trim().split('\n').at(-1)!) as { stats: { mode: string; drafted: number; verifierPasses: number } };
    expect(done.stats.mode).toBe('verifier-only');
    expect(done.stats.drafted).toBe(0);
    // The prompt's pass writes the first token; every other token is a verifier pass of its own (the stats count
    // passes after the prompt's, as accepted + passes + 1 = tokens does for speculation).
    expect(done.stats.verifierPasses).toBe(19);
  });

  it('rejects bad flags naming them, and leaves no file behind on a bad draft request', async () => {
    const out = join(dir, 'never.gguf');
    const bad = await cli(['draft', 'make', '--from', STORIES, '--layers', '0-9', '--out', out]).catch((e: { code: number; stderr: string }) => e);
    expect((bad as { code: number }).code).toBe(2);
    expect((bad as { stderr: string }).stderr).toMatch(/layers/);
    expect(existsSync(out)).toBe(false);
    const neg = await cli(['generate', '--verifier', STORIES, '-p', 'x', '-n', '-3']).catch((e: { code: number; stderr: string }) => e);
    // `code` is the exit status of a failed run and undefined on success, so this fails if the flag is accepted.
    expect((neg as { code: number }).code).toBe(2);
    expect((neg as { stderr: string }).stderr).toMatch(/--max-tokens/);
  });

  it('has --help with examples for every command', async () => {
    for (const args of [['generate', '--help'], ['draft', 'make', '--help']]) {
      const { stdout } = await cli(args);
      expect(stdout).toMatch(/Examples:/);
      expect(stdout).toMatch(/\$ specroute /);
    }
  });
});
