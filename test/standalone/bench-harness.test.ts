import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { endsInsideString } from '../../bench/lib/json-string-state.js';
import { speculationSettings } from '../../bench/lib/plan.js';
import { ProgressBar } from '../../src/cli/progress.js';
import { builtInSuites, loadPrompts, loadSuite, suitePath } from '../../bench/lib/prompts.js';
import { lineChart } from '../../bench/lib/svg-chart.js';
import { scratchDir } from '../helpers/models.js';

function jsonl(lines: string[]): string {
  const file = join(scratchDir('suite-'), 's.jsonl');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** Collects what a progress bar writes, as a pipe (not a terminal) or as a terminal. */
function sink(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  let text = '';
  const stream = { isTTY, columns: 80, write: (chunk: string) => ((text += chunk), true) } as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
}

describe('bench harness pieces', () => {
  it('crosses every draft-confidence cut-off with every fixed γ and the adaptive schedule', () => {
    expect(speculationSettings({ gammas: [2, 8], adaptive: true }).map((s) => [s.label, s.gamma, s.speculation])).toEqual([
      ['γ=2', 2, { adaptive: false, min: 1, initial: 2, max: 2, pMin: 0 }],
      ['γ=8', 8, { adaptive: false, min: 1, initial: 8, max: 8, pMin: 0 }],
      ['adaptive', undefined, { pMin: 0 }],
    ]);
    expect(speculationSettings({ gammas: [4], adaptive: false, pMins: [0, 0.5] }).map((s) => s.label)).toEqual(['γ=4 p≥0', 'γ=4 p≥0.5']);
  });

  it('ships three prompt suites, text and chat, and names a bad line', async () => {
    for (const name of builtInSuites) expect((await loadSuite(suitePath(name))).length).toBeGreaterThanOrEqual(12);
    const chat = await loadSuite(suitePath('chat'), 1);
    expect(chat[0]).toMatchObject({ id: 'chat-00', messages: [{ role: 'user' }] });
    await expect(loadPrompts(suitePath('chat'))).rejects.toThrow(/chat-00 is a chat/);

    await expect(loadSuite(jsonl(['{"id":"a","prompt":"x"}', 'not json']))).rejects.toThrow(/s\.jsonl:2: not JSON/);
    await expect(loadSuite(jsonl(['{"id":"a","messages":[{"role":"robot","content":"x"}]}']))).rejects.toThrow(/:1: messages\[0\] needs a role/);
    await expect(loadSuite(jsonl(['{"id":"a","prompt":""}']))).rejects.toThrow(/:1: expected/);
    await expect(loadSuite(jsonl(['{"id":"a","prompt":"x"}']), 2)).rejects.toThrow(/has 1 prompts; 2 were asked for/);
  });

  it('draws the progress bar in place on a terminal and one line per step elsewhere', () => {
    const pipe = sink(false);
    const bar = new ProgressBar({ total: 4, label: 'bench', stream: pipe.stream });
    for (let i = 0; i < 4; i++) bar.tick(`step ${i}`);
    bar.finish();
    const lines = pipe.text().trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^\[bench\] \[#{7}\.{21}\] 1\/4 \d+s elapsed: step 0$/);
    expect(lines[3]).toMatch(/^\[bench\] \[#{28}\] 4\/4 \d+s elapsed, ~0s left: step 3$/);

    const tty = sink(true);
    const live = new ProgressBar({ total: 2, label: 'bench', stream: tty.stream });
    live.tick('a');
    live.log('a message');
    live.tick('b');
    live.finish();
    expect(tty.text()).toContain('\r\u001b[2K[bench] [##############..............] 1/2');
    expect(tty.text()).toContain('\r\u001b[2K[bench] a message\n');
    expect(tty.text().endsWith('b\n')).toBe(true);
  });

  it('tells a JSON prefix that ends inside a string (key or value) from one that ends outside', () => {
    const inside = ['{"', '{"na', '{"name":"Li', '{"a":"x\\"', '{"a":"x\\', '{"a":["b","'];
    const outside = ['', '{', '{"name"', '{"name":', '{"a":"x\\""', '{"a":"x\\\\"', '{"a":1', '{"a":["b"]'];
    for (const text of inside) expect(endsInsideString(text), text).toBe(true);
    for (const text of outside) expect(endsInsideString(text), text).toBe(false);
  });

  it('puts chart ticks at round values', () => {
    const svg = lineChart([{ label: 's', points: [[1, 0.3], [8, 1.93]] }], { title: 't', xLabel: 'x', yLabel: 'y', xTick: (v) => String(v), yTick: (v) => String(v) });
    const labels = [...svg.matchAll(/<text x="[\d.]+" y="[\d.]+" text-anchor="(?:middle|end)">([^<]+)<\/text>/g)].map((m) => m[1]);
    expect(labels).toEqual(expect.arrayContaining(['0', '2', '4', '6', '8', '0.5', '1', '1.5', '2']));
    expect(labels).not.toContain('1.6');
  });
});
