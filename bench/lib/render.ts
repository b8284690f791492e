/** Markdown for benchmark results: the run's header, each plan's tables, and the measured costs. */
import { basename } from 'node:path';
import type { MachineInfo } from './machine.js';
import { fixed, markdownTable, percent } from './markdown.js';
import type { BenchDraft } from './plan.js';
import type { CellResult, PlanCosts, PlanResult, SettingResult } from './run-plan.js';

/** Where and on what a run happened. */
export interface RunHeader {
  readonly title: string;
  readonly machine: MachineInfo;
  readonly verifier: { readonly path: string; readonly sha256: string; readonly description: string };
  readonly drafts: readonly BenchDraft[];
  readonly command: string;
  readonly wallSeconds: number;
}

export function renderHeader(h: RunHeader): string {
  const { machine } = h;
  return [
    `# ${h.title}`,
    '',
    `- machine: ${machine.os}, ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB; node ${machine.node}, node-llama-cpp ${machine.nodeLlamaCpp}`,
    `- verifier: \`${basename(h.verifier.path)}\` (${h.verifier.description}) sha256 \`${h.verifier.sha256}\``,
    ...h.drafts.map((d) => `- draft ${d.label}: ${d.description}, sha256 \`${d.sha256}\``),
    `- command: \`${h.command}\` (${h.wallSeconds.toFixed(0)} s)`,
    '',
  ].join('\n');
}

const temperatureLabel = (t: number): string => (t <= 0 ? '0 (greedy)' : String(t));

/** One row per speculation setting of every cell: the cell's and setting's key columns, then `columns`. */
function settingRows(cells: readonly CellResult[], columns: (s: SettingResult, c: CellResult) => string[]): string[][] {
  return cells.flatMap((c) => c.settings.map((s) => [c.draft.label, c.suite, temperatureLabel(c.temperature), s.setting.label, ...columns(s, c)]));
}

/** One plan's tables. */
export function renderPlan(result: PlanResult): string {
  const { plan, cells } = result;
  const out: string[] = [`## ${plan.title}`, ''];
  out.push(
    `- ${plan.promptsPerSuite} prompts per suite × ${plan.maxTokens} tokens (EOS ignored), ${plan.repeats} interleaved repeats (arm order reversed on odd repeats), ` +
      `threads ${plan.threads === plan.draftThreads ? plan.threads : `${plan.threads} (verifier), ${plan.draftThreads} (draft)`}, seed ${plan.seed}, top-k off, top-p 1` +
      (plan.dstp ? `; DSTP = node-llama-cpp's DraftSequenceTokenPredictor (maxTokens ${plan.dstp.maxTokens}, minTokens ${plan.dstp.minTokens}, minConfidence ${plan.dstp.minConfidence})` : '') +
      ` (${result.wallSeconds.toFixed(0)} s)`,
    '',
  );

  out.push(
    markdownTable(
      ['draft', 'suite', 'T', 'setting', 'tok/s', 'verifier-only', 'speed-up', '÷ DSTP', 'α', 'acc. len', 'E', 'γ̄', 'textbook ideal', 'hw-aware ideal', 'measured / hw', 'same output'],
      settingRows(cells, ({ analysis: a, overDstp }, c) => [
        fixed(a.specTokensPerSecond, 0),
        fixed(a.baseTokensPerSecond, 0),
        `${fixed(a.speedup, 2)}× (${fixed(Math.min(...a.perRepeat.map((r) => r.ratio)), 2)}–${fixed(Math.max(...a.perRepeat.map((r) => r.ratio)), 2)})`,
        overDstp === null ? '' : `${fixed(overDstp, 2)}×`,
        fixed(a.acceptanceRate, 3),
        fixed(a.meanAcceptedLength, 2),
        fixed(a.tokensPerPass, 2),
        fixed(a.meanDraftLength, 2),
        `${fixed(a.textbookIdeal, 2)}×`,
        `${fixed(a.hardwareAwareIdeal, 2)}×`,
        percent(a.fractionOfHardwareIdeal),
        c.temperature <= 0 ? `${a.outputComparisons - a.outputMismatches}/${a.outputComparisons}` : '—',
      ]),
      ['l', 'l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
  );

  if (cells.some((c) => c.draftOnly || c.dstp)) {
    out.push('Baselines in the same repeats (tok/s, and the median of per-repeat ratios to verifier-only):', '');
    out.push(
      markdownTable(
        ['draft', 'suite', 'T', 'verifier-only', 'draft-only', 'DSTP', 'DSTP acceptance', 'ours: acceptance (best setting)'],
        cells.map((c) => {
          const best = [...c.settings].sort((a, b) => b.analysis.acceptanceRate - a.analysis.acceptanceRate)[0];
          return [
            c.draft.label,
            c.suite,
            temperatureLabel(c.temperature),
            fixed(c.verifierOnly.tokensPerSecond, 0),
            c.draftOnly ? `${fixed(c.draftOnly.tokensPerSecond, 0)} (${fixed(c.draftOnly.overVerifier, 2)}×)` : '',
            c.dstp ? `${fixed(c.dstp.tokensPerSecond, 0)} (${fixed(c.dstp.overVerifier, 2)}×)` : '',
            c.dstp ? `${fixed(c.dstp.acceptanceRate, 3)} (${c.dstp.validated}/${c.dstp.validated + c.dstp.refuted})` : '',
            best ? `${fixed(best.analysis.acceptanceRate, 3)} (${best.analysis.accepted}/${best.analysis.drafted}, ${best.setting.label})` : '',
          ];
        }),
        ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
    );
  }

  const positions = Math.max(0, ...cells.flatMap((c) => c.settings.map((s) => s.analysis.byPosition.length)));
  out.push('Acceptance by draft position (accepted / drafted at that position, pooled over repeats and prompts):', '');
  out.push(
    markdownTable(
      ['draft', 'suite', 'T', 'setting', ...Array.from({ length: positions }, (_, i) => String(i + 1))],
      settingRows(cells, ({ analysis: a }) =>
        Array.from({ length: positions }, (_, i) => {
          const p = a.byPosition[i];
          return p && p.drafted > 0 ? fixed(p.accepted / p.drafted, 2) : '';
        }),
      ),
      ['l', 'l', 'l', 'l', ...Array.from({ length: positions }, (): 'r' => 'r')],
    ),
    '',
  );

  out.push("Where a pass's time goes (ms per verifier pass: measured in the engine, against the ideal from in-process costs):", '');
  out.push(
    markdownTable(
      ['draft', 'suite', 'T', 'setting', 'draft', 'ideal γ̄·T_draft', 'verify', 'ideal T_verify', 'other', 'total', 'ideal total'],
      settingRows(cells, ({ analysis: a }) => [
        fixed(a.perPass.draftMs, 3),
        fixed(a.perPass.idealDraftMs, 3),
        fixed(a.perPass.verifyMs, 3),
        fixed(a.perPass.idealVerifyMs, 3),
        fixed(a.perPass.otherMs, 3),
        fixed(a.perPass.totalMs, 3),
        fixed(a.perPass.idealTotalMs, 3),
      ]),
      ['l', 'l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
  );
  return out.join('\n');
}

/** The legend of the tables' columns. */
export const columnNotes = [
  '- tok/s: decode phase (after each prompt\'s first token), median of the repeats; speed-up: median of the paired per-repeat ratios to verifier-only (range in brackets); ÷ DSTP: the same against node-llama-cpp\'s DraftSequenceTokenPredictor.',
  '- α = accepted / drafted; acc. len = accepted draft tokens per verifier pass; E = decoded tokens per verifier pass; γ̄ = drafted tokens per pass.',
  '- textbook ideal = E / (γ̄·c + 1) with c = T_draft / T_step; hw-aware ideal = tokens·T_step / Σ_passes (k·T_draft + T_verify(k)), k = that pass\'s draft length (from the per-position counts); for a fixed γ, E·T_step / (γ·T_draft + T_verify(γ)).',
  '- measured / hw can pass 100%: the ideal\'s baseline is T_step measured in-process, while the speed-up\'s is the verifier-only arm through the same worker pipeline, which pays a worker round trip per token; speculation pays it once per pass.',
  '- DSTP acceptance = validated / (validated + refuted) predictions: it keeps a drafted token only when the verifier samples the same token ("sample and match"); ours applies min(1, p/q).',
  '- same output (greedy only): prompts whose speculative tokens equal the verifier-only tokens.',
  '- time split: draft / verify = main-thread time waiting on the draft / verifier worker (round trips included); other = acceptance, detokenizing, streaming, event loop.',
].join('\n');

/** The in-process cost table. */
export function renderCosts(costs: PlanCosts): string {
  const ks = Object.keys(costs.verifier.verify).map(Number);
  return [
    '## Measured costs (in-process LlamaBackend, greedy, median ms per call after warm-up)',
    '',
    markdownTable(
      ['model', 'T_step', ...ks.map((k) => `T_verify(${k})`)],
      [
        ['verifier', fixed(costs.verifier.step.median, 3), ...ks.map((k) => fixed(costs.verifier.verify[k]!.median, 3))],
        ...[...costs.drafts].map(([label, c]) => [`draft ${label}`, fixed(c.step.median, 3), ...ks.map(() => '')]),
      ],
      ['l', 'r', ...ks.map((): 'r' => 'r')],
    ),
    '',
    `- T_verify(k): one verifier pass over k + 1 tokens, all scored; relative to T_step: ${ks.map((k) => `${k}: ${fixed(costs.verifier.verify[k]!.median / costs.verifier.step.median, 2)}×`).join(', ')}.`,
    '',
  ].join('\n');
}

/** The cell a headline figure comes from: greedy, the first suite, the first draft. */
export function headlineCell(result: PlanResult): CellResult | undefined {
  return result.cells.find((c) => c.temperature <= 0) ?? result.cells[0];
}
