/** `specroute profile`'s report as text tables for a terminal (headings in bold where colour is allowed). */
import { basename } from 'node:path';
import { styleText } from 'node:util';
import type { ProfileReport } from '../profile/run-profile.js';
import { KNEE_GAIN } from '../profile/recommend.js';
import { THREADS_PROBE_TOKENS, VERIFY_SPREAD } from '../profile/pass-timer.js';

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
const size = (bytes: number): string => (bytes >= 2 ** 30 ? gib(bytes) : bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(0)} KiB`);
const count = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n));
const ms = (v: number | undefined): string => (v === undefined ? '–' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** Rows of cells, each column padded to its widest cell; the first column left-aligned, the rest right-aligned. */
function grid(rows: ReadonlyArray<readonly string[]>, indent = '  '): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => indent + row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd());
}

/** A labelled row of values split into lines of at most `per` values, each under its own header row. */
function wide(header: string, values: readonly number[], label: string, from = 1, per = 16): string[] {
  const lines: string[] = [];
  for (let i = 0; i < values.length; i += per) {
    const slice = values.slice(i, i + per);
    lines.push(...grid([[header, ...slice.map((_, k) => String(from + i + k))], [label, ...slice.map(String)]]));
  }
  return lines;
}

export function profileTable(report: ProfileReport, color: boolean): string {
  const h = (text: string): string => (color ? styleText('bold', text, { validateStream: false }) : text);
  const { machine: m, models, recommendation: rec, alpha, profile } = report;
  const out: string[] = [];
  const gpu = m.gpu === false ? 'no GPU' : `${m.gpu} ${m.gpuDevices.join(', ') || ''}${m.vram ? `, VRAM ${gib(m.vram.totalBytes)} (${gib(m.vram.freeBytes)} free)` : ''}`;
  out.push(h('machine'));
  const facts: Array<[string, string]> = [
    ['cpu', `${m.cpuModel}: ${m.cores} cores (${m.mathCores} for math; llama.cpp's thread limit ${m.llamaMaxThreads || 'none'})`],
    ['memory', `${gib(m.totalMemoryBytes)} (${gib(m.freeMemoryBytes)} free)`],
    ['gpu', gpu],
    ['software', `llama.cpp ${m.llamaCpp}, node ${m.node}, ${m.platform}`],
  ];
  out.push(...facts.map(([k, value]) => `  ${k.padEnd(9)} ${value}`));

  out.push('', h('models'));
  const modelRows = [['', 'file', 'size', 'params', 'vocab', 'layers', 'KV/token', 'decode step']];
  for (const [role, p] of [['verifier', models.verifier], ['draft', models.draft]] as const) {
    if (!p) continue;
    const f = p.facts;
    modelRows.push([role, basename(f.path), size(f.fileBytes), count(f.params), String(f.vocab), String(f.layers), `${f.kvBytesPerToken} B ${f.kvCacheType}`, `${ms(p.timings.decodeMs)} ms @${p.timings.decodeThreads}t`]);
  }
  out.push(...grid(modelRows));

  out.push('', h(`passes by threads (ms; medians of at least ${report.config.repeats} runs)`));
  const threadRows = [['threads', 'verifier step', `verifier ${THREADS_PROBE_TOKENS}-token pass`, ...(models.draft ? ['draft step'] : [])]];
  models.verifier.timings.threads.forEach((t, i) => {
    threadRows.push([String(t.threads), ms(t.decodeMs), ms(t.batchedMs), ...(models.draft ? [ms(models.draft.timings.threads[i]?.decodeMs)] : [])]);
  });
  out.push(...grid(threadRows));

  const v = models.verifier.timings;
  out.push('', h(`verify pass by tokens (medians; profile: made non-decreasing; verifier, ${v.batchedThreads} thread${v.batchedThreads === 1 ? '' : 's'}; tokens spread over up to ${VERIFY_SPREAD} sequences)`));
  out.push(
    ...grid([
      ['tokens', ...v.curve.map((p) => String(p.tokens))],
      ['sequences', ...v.curve.map((p) => String(p.sequences))],
      ['ms', ...v.curve.map((p) => ms(p.ms))],
      ['profile ms', ...profile.verify.map((p) => ms(p.ms))],
    ]),
  );
  if (!v.batchedAsOne) out.push('  note: some passes were split into several llama.cpp batches (batchSize too small?): the curve over-states a step');
  if (models.draft) {
    const d = models.draft.timings;
    out.push('', h(`draft pass by sequences (one token each; draft, ${d.decodeThreads} thread${d.decodeThreads === 1 ? '' : 's'})`));
    out.push(...grid([['sequences', ...d.curve.map((p) => String(p.sequences))], ['ms', ...d.curve.map((p) => ms(p.ms))], ['profile ms', ...(profile.draft ?? []).map((p) => ms(p.ms))]]));
  }

  out.push('', h('acceptance'));
  out.push(
    alpha
      ? `  α = ${alpha.alpha.toFixed(3)} per token (accepted ${alpha.accepted} of ${alpha.drafted} drafted, ${alpha.rejectedBlocks} of ${alpha.draftBlocks} blocks rejected; greedy, γ ${alpha.gamma}, ${alpha.prompts} prompts, ${alpha.generatedTokens} tokens, ${(alpha.ms / 1000).toFixed(1)} s)`
      : '  no draft: the verifier decodes alone (α 0, γ 0)',
  );

  out.push('', h(`γ by batch size (speculation.max ${report.config.speculationMax}; the last holds beyond)`));
  out.push(...wide('batch', profile.gammaByBatchSize, 'γ'));
  out.push('', h('step throughput by batch size (best γ, from the profile curves)'));
  out.push(...grid([['batch', ...rec.steps.map((s) => String(s.batch))], ['γ', ...rec.steps.map((s) => String(s.gamma))], ['step ms', ...rec.steps.map((s) => ms(s.stepMs))], ['tokens/s', ...rec.steps.map((s) => s.tokensPerSecond.toFixed(0))]]));

  const why = {
    throughput: `no larger batch gains ${KNEE_GAIN * 100} % step throughput`,
    memory: `memory holds ${rec.sequencesFit} sequences`,
    measured: 'the largest batch the measured verifier passes cover',
    limit: 'the most the config takes',
  }[rec.maxConcurrentBy];
  out.push('', h('recommended'));
  out.push(...grid([
    ['model.verifier.threads', String(rec.verifierThreads), `fastest ${THREADS_PROBE_TOKENS}-token pass`],
    ...(rec.draftThreads !== undefined ? [['model.draft.threads', String(rec.draftThreads), 'fastest decode step']] : []),
    ['limits.maxConcurrent', String(rec.maxConcurrent), why],
    ['contextSize', String(rec.contextSize), `${rec.sequencesFit >= 256 ? '256+' : rec.sequencesFit} sequences fit in ${gib(report.memory.budgetBytes)} (${report.memory.kvBytesPerToken} B KV per token, ${report.memory.basis})`],
    ['batching.profile', '', `α ${profile.alpha}, ${profile.verify.length} verify points${profile.draft ? `, ${profile.draft.length} draft points` : ''}, γ for 1–${profile.gammaByBatchSize.length} sequences`],
  ]));
  out.push('', `profiled in ${report.seconds} s`);
  return out.join('\n') + '\n';
}
