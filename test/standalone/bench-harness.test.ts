import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { endsInsideString } from '../../bench/lib/json-string-state.js';
import { grpcSpeculation, sseSpeculation } from '../../bench/lib/load-drivers.js';
import { renderSummary, summarizeCells, summarizeLoad, type CellFigures, type RunFigures } from '../../bench/lib/load-report.js';
import { modeSpeculation, parseMetrics, summarizeRun, type Mode, type RunResult } from '../../bench/lib/load-run.js';
import { speculationSettings } from '../../bench/lib/plan.js';
import { ProgressBar } from '../../src/cli/progress.js';
import { defaultSpeculation } from '../../src/pipeline/adaptive-draft-length.js';
import { GenerateRequestSchema } from '../../src/gen/specroute/v1/generate_pb.js';
import { toGenerationRequest } from '../../src/ingress/grpc/generate-request.js';
import { parseCompletionRequest } from '../../src/ingress/http/openai-request.js';
import { validateGenerationRequest } from '../../src/scheduler/validate.js';
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

/** A run of `tokens` over `wallMs` with one request, for the load bench's arithmetic. */
function loadRun(mode: Mode, tokens: number, wallMs: number): RunResult {
  return {
    transport: 'in-process',
    mode,
    concurrency: 1,
    wallMs,
    capped: false,
    requests: [{ client: 0, index: 0, promptId: 'p', seed: 1, ok: true, startMs: 0, ttftMs: 5, endMs: wallMs, tokens, chunks: tokens }],
    gapsMs: [],
    tokenIds: new Map([[0, Array.from({ length: tokens }, (_, i) => i)]]),
  };
}

describe('load bench figures', () => {
  it('sends each mode\'s speculation in the shape every transport parses back to the same request, and admission accepts', () => {
    expect(modeSpeculation('served', 4)).toBeUndefined();
    expect(modeSpeculation('verifier-only', 4)).toBe(false);
    const fixed = modeSpeculation('fixed', 6);
    expect(fixed).toEqual({ adaptive: false, min: 6, initial: 6, max: 6, pMin: 0 });
    for (const speculation of [false, fixed!] as const) {
      const http = parseCompletionRequest({ model: 'm', prompt: 'x', specroute: { speculation: sseSpeculation(speculation) } } as Parameters<typeof parseCompletionRequest>[0]);
      expect(http.generation.speculation).toEqual(speculation);
      const grpc = toGenerationRequest(create(GenerateRequestSchema, { model: 'm', input: { case: 'prompt', value: 'x' }, speculation: grpcSpeculation(speculation) }), undefined);
      expect(grpc.speculation).toEqual(speculation);
      expect(() => validateGenerationRequest(http.generation, defaultSpeculation)).not.toThrow();
    }
    expect(sseSpeculation(fixed!)).toEqual({ adaptive: false, min: 6, initial: 6, max: 6, p_min: 0 });
  });

  it('reads verifier batches and lock-step passes from /metrics, and takes their deltas over a run', () => {
    const metrics = (batches: string, passes?: number, sequences?: number): string =>
      [
        '# TYPE specroute_verifier_batches_by_sequences gauge',
        batches,
        ...(passes !== undefined ? [`specroute_step_passes_total{model="draft"} 999`, `specroute_step_passes_total{model="verifier"} ${passes}`] : []),
        ...(sequences !== undefined ? [`specroute_step_sequences_total{model="verifier"} ${sequences}`, `specroute_step_sequences_total{model="draft"} 7`] : []),
      ].join('\n');
    const before = parseMetrics(metrics('specroute_verifier_batches_by_sequences{sequences="1"} 3', 10, 12));
    expect(before).toEqual({ batches: { '1': 3 }, verifierSteps: { passes: 10, sequences: 12 } });
    expect(parseMetrics(metrics('')).verifierSteps).toBeNull();
    const after = parseMetrics(metrics('specroute_verifier_batches_by_sequences{sequences="1"} 5\nspecroute_verifier_batches_by_sequences{sequences="4"} 6', 18, 44));
    const summary = summarizeRun(loadRun('served', 8, 100), 0, { before, after });
    // 2 batches of 1 and 6 of 4: 26 sequences / 8 batches; 8 passes carried 32 sequences.
    expect(summary.verifierBatches).toEqual({ batches: 8, meanSequences: 26 / 8, histogram: { '1': 2, '4': 6 } });
    expect(summary.verifierPasses).toEqual({ passes: 8, sequences: 32, meanSequences: 4 });
    expect(summary.mode).toBe('served');
    expect(summary.tokensPerSecond).toBe(80);

    // A cell pools its runs' passes: (32 + 8) / (8 + 4), not the mean of 4 and 2.
    const second = summarizeRun(loadRun('served', 8, 100), 1, { before: after, after: { ...after, verifierSteps: { passes: 22, sequences: 52 } } });
    const [cell] = summarizeCells([
      { summary, run: loadRun('served', 8, 100), sameTokens: { same: 1, compared: 1 } },
      { summary: second, run: loadRun('served', 8, 100), sameTokens: { same: 0, compared: 1 } },
    ]);
    expect(cell!.sequencesPerVerifierPass).toBeCloseTo(40 / 12, 12);
    expect(cell!.sameTokens).toEqual({ same: 1, compared: 2 });
  });

  it('summarizes scaling, transports against in-process and served against the better baseline, paired per repeat', () => {
    const tps: Array<[RunFigures['transport'], Mode, number, [number, number]]> = [
      ['in-process', 'served', 1, [100, 120]],
      ['in-process', 'served', 4, [450, 420]],
      ['in-process', 'verifier-only', 1, [110, 100]],
      ['in-process', 'verifier-only', 4, [300, 500]],
      ['in-process', 'fixed', 1, [90, 150]],
      ['in-process', 'fixed', 4, [500, 400]],
      ['sse', 'served', 1, [95, 108]],
      ['sse', 'served', 4, [405, 441]],
    ];
    const runs: RunFigures[] = tps.flatMap(([transport, mode, concurrency, perRepeat]) => perRepeat.map((tokensPerSecond, repeat) => ({ transport, mode, concurrency, repeat, tokensPerSecond })));
    const ttft: Record<string, number> = { 'in-process|served|1': 10, 'in-process|served|4': 20, 'sse|served|1': 13.5, 'sse|served|4': 24 };
    const cells: CellFigures[] = tps.map(([transport, mode, concurrency, [a, b]]) => ({
      transport,
      mode,
      concurrency,
      tokensPerSecond: (a + b) / 2,
      ttftP50: ttft[`${transport}|${mode}|${concurrency}`] ?? Number.NaN,
      verifierBatchMeanSequences: null,
      sequencesPerVerifierPass: mode === 'served' && concurrency === 4 ? 3.9 : null,
      sameTokens: { same: transport === 'sse' && concurrency === 4 ? 7 : 8, compared: 8 },
    }));
    const summary = summarizeLoad(runs, cells);

    const scaling = (transport: string, mode: Mode, concurrency: number) => summary.scaling.find((r) => r.transport === transport && r.mode === mode && r.concurrency === concurrency)!;
    // 450/100 and 420/120.
    expect(scaling('in-process', 'served', 4).vsConcurrency1!.ratios).toEqual([4.5, 3.5]);
    expect(scaling('in-process', 'served', 4).vsConcurrency1!.median).toBeCloseTo(4, 12);
    expect(scaling('in-process', 'served', 4).sequencesPerVerifierPass).toBe(3.9);
    // 405/95 and 441/108.
    expect(scaling('sse', 'served', 4).vsConcurrency1!.median).toBeCloseTo((405 / 95 + 441 / 108) / 2, 12);
    expect(summary.scaling.map((r) => `${r.mode} ${r.transport} ${r.concurrency}`).slice(0, 4)).toEqual(['served sse 1', 'served sse 4', 'served in-process 1', 'served in-process 4']);

    // SSE ÷ in-process: 0.95 and 0.9 at c=1, 0.9 and 1.05 at c=4; TTFT p50 13.5 − 10 and 24 − 20.
    expect(summary.transports).toHaveLength(2);
    const [t1, t4] = summary.transports;
    expect(t1).toMatchObject({ mode: 'served', concurrency: 1, transport: 'sse', ttftOverheadMs: 3.5 });
    expect(t1!.throughput!.median).toBeCloseTo(0.925, 12);
    expect(t4).toMatchObject({ concurrency: 4, ttftOverheadMs: 4 });
    expect(t4!.throughput!.median).toBeCloseTo(0.975, 12);

    // served ÷ max(verifier-only, fixed): c=4: 450/max(300, 500) = 0.9 and 420/max(500, 400) = 0.84; c=1: 100/110 and 120/150.
    const modes = summary.modes!.filter((m) => m.transport === 'in-process');
    expect(modes.map((m) => m.concurrency)).toEqual([1, 4]);
    expect(modes[1]!.vsBetter!.ratios).toEqual([0.9, 0.84]);
    expect(modes[1]!.vsBetter!.median).toBeCloseTo(0.87, 12);
    expect(modes[1]!.vsVerifierOnly!.median).toBeCloseTo((1.5 + 0.84) / 2, 12);
    expect(modes[1]!.vsFixed!.median).toBeCloseTo((0.9 + 1.05) / 2, 12);
    expect(modes[0]!.vsBetter!.median).toBeCloseTo((100 / 110 + 0.8) / 2, 12);
    expect(modes[1]!.tokensPerSecond).toEqual({ served: 435, 'verifier-only': 400, fixed: 450 });
    // No baseline ran over SSE.
    expect(summary.modes!.find((m) => m.transport === 'sse')!.vsBetter).toBeNull();

    expect(summary.sameTokens).toEqual({ same: 63, compared: 64, differing: [{ transport: 'sse', mode: 'served', concurrency: 4, same: 7, compared: 8 }] });

    const text = renderSummary(summary, 4);
    expect(text).toContain('same tokens: 63/64 greedy requests equal their prompt generated alone; differing in sse served c=4 (7/8).');
    expect(text).toMatch(/\| served +\| in-process +\| +4 \| +435 \| 4\.00× \(3\.50–4\.50\) \| +3\.90 \|/);
    expect(text).toMatch(/\| served +\| +1 \| +0\.925× \(0\.900–0\.950\) \| +\+3\.5 \|/);
    expect(text).toMatch(/\| in-process \| +4 \| +435 \| +400 \| +450 \| .* \| 0\.870× \(0\.840–0\.900\) \|/);
    expect(text).toContain('fixed γ=4 tok/s');
  });

  it('leaves out the served-against-baselines table when only one mode ran, and scaling without concurrency 1', () => {
    const runs: RunFigures[] = [{ transport: 'in-process', mode: 'served', concurrency: 4, repeat: 0, tokensPerSecond: 10 }];
    const cells: CellFigures[] = [{ transport: 'in-process', mode: 'served', concurrency: 4, tokensPerSecond: 10, ttftP50: 1, verifierBatchMeanSequences: null, sequencesPerVerifierPass: null, sameTokens: null }];
    const summary = summarizeLoad(runs, cells);
    expect(summary.modes).toBeNull();
    expect(summary.transports).toEqual([]);
    expect(summary.sameTokens).toBeNull();
    expect(summary.scaling[0]!.vsConcurrency1).toBeNull();
    expect(renderSummary(summary)).not.toContain('Served against');
  });
});
