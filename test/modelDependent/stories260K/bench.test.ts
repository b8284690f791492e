import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, scratchDir } from '../../helpers/models.js';

interface Report {
  tool: string;
  machine: { cores: number; node: string };
  models: { verifier: { sha256: string }; drafts: Array<{ label: string; sha256: string }> };
  costs: { verifier: { step: { median: number }; verify: Record<string, unknown> } };
  plans: Array<{
    temperatures: number[];
    repeats: number;
    cells: Array<{
      suite: string;
      temperature: number;
      verifierOnly: { runs: Array<{ tokens: number[][] }> };
      draftOnly: { runs: unknown[] } | null;
      dstp: { runs: unknown[]; validated: number; refuted: number; acceptanceRate: number } | null;
      settings: Array<{
        setting: { label: string; gamma?: number };
        overDstp: number | null;
        analysis: { drafted: number; accepted: number; byPosition: Array<{ drafted: number; accepted: number }>; outputMismatches: number; hardwareAwareIdeal: number };
        runs: Array<{ tokens: number[][] }>;
      }>;
    }>;
  }>;
}

/**
 * `specroute bench` end to end on stories260K, at a size that runs in seconds. What is asserted is the harness's
 * behaviour (arms, pairing, counts, files, exact greedy output); speed is never asserted.
 */
describe('specroute bench on stories260K', () => {
  const dir = scratchDir();
  const out = join(dir, 'report');
  let stdout = '';
  let stderr = '';
  let report: Report;

  beforeAll(async () => {
    ({ stdout, stderr } = await cli(
      ['bench', '--suite', 'stories,chat', '--prompts', '2', '--max-tokens', '12', '--repeats', '2', '--gamma', '2,4', '--temperature', '0,0.8', '--cost-rounds', '1', '--out-dir', out],
      { NO_COLOR: '1' },
    ));
    report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Report;
  }, 240_000);

  it('runs every arm in every cell, pairs the repeats, and keeps greedy output identical to verifier-only', () => {
    const [plan] = report.plans;
    expect(plan!.cells.map((c) => `${c.suite}@${c.temperature}`)).toEqual(['stories@0', 'stories@0.8', 'chat@0', 'chat@0.8']);
    for (const cell of plan!.cells) {
      expect(cell.verifierOnly.runs).toHaveLength(2);
      expect(cell.draftOnly!.runs).toHaveLength(2);
      expect(cell.dstp!.runs).toHaveLength(2);
      expect(cell.settings.map((s) => s.setting.label)).toEqual(['γ=2', 'γ=4', 'adaptive']);
      for (const s of cell.settings) {
        expect(s.runs).toHaveLength(2);
        expect(s.overDstp).toBeGreaterThan(0);
        expect(s.analysis.drafted).toBeGreaterThan(0);
        expect(s.analysis.byPosition.reduce((n, p) => n + p.accepted, 0)).toBe(s.analysis.accepted);
        if (s.setting.gamma !== undefined) expect(s.analysis.byPosition.length).toBeLessThanOrEqual(s.setting.gamma);
        for (const run of s.runs) for (const tokens of run.tokens) expect(tokens).toHaveLength(12);
        if (cell.temperature === 0) {
          expect(s.analysis.outputMismatches).toBe(0);
          expect(s.runs[0]!.tokens).toEqual(cell.verifierOnly.runs[0]!.tokens);
        }
      }
    }
  });

  it('measures the baselines: node-llama-cpp DraftSequenceTokenPredictor predictions, and the draft alone', () => {
    // minTokens 1: the verifier waits for a prediction at every step, so every cell judges some, however fast
    // the verifier is against the draft.
    for (const c of report.plans[0]!.cells) {
      const judged = c.dstp!.validated + c.dstp!.refuted;
      expect(judged).toBeGreaterThan(0);
      expect(c.dstp!.acceptanceRate).toBeCloseTo(c.dstp!.validated / judged, 12);
    }
  });

  it('records the machine, model hashes and costs, and writes Markdown and SVG charts', () => {
    expect(report.tool).toBe('specroute bench');
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.models.verifier.sha256).toBe('270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d');
    expect(report.models.drafts[0]!.label).toBe('q8_0');
    expect(report.models.drafts[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.keys(report.costs.verifier.verify).map(Number)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toBe(`${stdout}`);
    expect(md).toMatch(/\| draft \| suite +\| T +\| setting/);
    expect(md).toContain('DSTP acceptance');
    for (const chart of ['run-speedup-vs-gamma.svg', 'run-acceptance-by-position.svg', 'run-acceptance-vs-temperature.svg', 'measured-vs-ideal.svg']) {
      const svg = readFileSync(join(out, chart), 'utf8');
      expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      expect(svg).toMatch(/<\/svg>$/);
      expect(svg).toContain('<circle');
      expect(md).toContain(`](${chart})`);
    }
    // Not a terminal: the progress bar writes one line per step on stderr.
    expect(stderr).toMatch(/\[bench\] \[#+\.*\] \d+\/\d+ /);
    expect(stderr).toMatch(/\[bench\] \[#{28}\] (\d+)\/\1 /);
  });

  it('takes the pair from a config file, and rejects bad input naming the flag', async () => {
    const config = join(dir, 'specroute.yaml');
    writeFileSync(config, `modelsDir: ${join(import.meta.dirname, '../../../../shared/models')}\nmodel:\n  verifier: { path: stories260K.gguf, threads: 1 }\n  draft: { derive: { layers: 0-2 } }\ncacheDir: ${join(dir, 'cache')}\n`);
    const json = join(dir, 'config.json');
    await cli(['bench', 'run', '--config', config, '--prompts', '1', '--max-tokens', '8', '--repeats', '1', '--gamma', '2', '--no-adaptive', '--no-dstp', '--no-draft-only', '--cost-rounds', '1', '--json', json]);
    const fromConfig = JSON.parse(readFileSync(json, 'utf8')) as Report;
    expect(fromConfig.models.drafts[0]!.label).toMatch(/L0-2|layers/i);
    expect(fromConfig.plans[0]!.cells[0]!.draftOnly).toBeNull();
    expect(fromConfig.plans[0]!.cells[0]!.dstp).toBeNull();

    for (const [args, named] of [
      [['--gamma', '0'], /--gamma/],
      [['--temperature', 'hot'], /--temperature/],
      [['--draft', 'q9_0'], /--draft/],
      [['--suite', join(dir, 'missing.jsonl')], /missing\.jsonl/],
      [['--verifier', join(dir, 'nope.gguf')], /verifier/],
    ] as const) {
      const failed = await cli(['bench', ...args, '--out-dir', join(dir, 'never')]).catch((e: { code: number; stderr: string }) => e);
      expect((failed as { code: number }).code).toBeGreaterThan(0);
      expect((failed as { stderr: string }).stderr).toMatch(named);
    }
    expect(existsSync(join(dir, 'never'))).toBe(false);
  }, 120_000);
});
