/**
 * How much room the routing suites leave a router, measured with the real stories ladder: greedy outputs of
 * stories260K.gguf (F32, the frontier) and of copies made from it by `draft make` (Q8_0, Q4_0: the hybrid's
 * verifier; first 3 and first 2 layers: the slm). Quality as the query-level routing design defines it:
 * agreement suite, token LCS of a copy's output over the F32 output's tokens (F32 scores 1); checkable suite, 1
 * when the output satisfies the line's `expected` (every model judged the same way, F32 included).
 *
 * It prints, per kind of prompt, each model's mean quality, and for hybrid = Q4_0 and hybrid = Q8_0 the APGR at a
 * 20 % and 30 % frontier share (`evaluateRouting`, the router evaluation's own) of a random router (= the share),
 * of the oracle (routes the highest true gain first), of a "kind oracle" that knows only each prompt's kind (its kind's mean gain, in-sample: about what a
 * router that recognises kinds can take) and of one router feature alone, the local model's `first_margin` (lowest
 * first).
 *
 *   npx tsc -b tsconfig.build.json   # the engine's model workers run from dist/
 *   npx vite-node bench/prompts/measure-routing-suites.ts -- [--suite routing-agreement,routing-checkable]
 *     [--agreement-tokens 48] [--checkable-tokens 24] [--models-dir ../shared/models] [--work /tmp/routing-suites]
 *     [--json FILE]
 *
 * Every model runs alone (no draft), greedy, one thread, one prompt at a time, through `SpeculativeEngine`: the
 * path a served request takes (chats through the verifier's chat template). Outputs stop at EOS or the token limit.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultModelLoadOptions } from '../../src/backends/types.js';
import type { PromptInput } from '../../src/contract/generation-request.js';
import { SpeculativeEngine } from '../../src/pipeline/engine.js';
import { satisfies } from '../../src/routing/expected.js';
import { tokenAgreement } from '../../src/routing/agreement.js';
import { evaluateRouting, type ApgrAtShare } from '../../src/routing/routing-evaluation.js';
import { parseDraftSpec, prepareDrafts } from '../lib/drafts.js';
import { sha256File } from '../lib/machine.js';
import { fixed, markdownTable } from '../lib/markdown.js';
import { loadSuite, suitePath, type SuitePrompt } from '../lib/prompts.js';

/** The ladder: the frontier first, then the copies, by label. */
const COPIES = [
  { label: 'Q8_0', spec: 'q8_0' },
  { label: 'Q4_0', spec: 'q4_0' },
  { label: 'L0-2', spec: 'L0-2' },
  { label: 'L0-1', spec: 'L0-1' },
] as const;
const FRONTIER = 'F32';
/** The local tiers routed away from, in the order reported. */
const HYBRIDS = ['Q4_0', 'Q8_0'] as const;
const SHARES = [0.2, 0.3] as const;

interface Output {
  readonly ids: number[];
  readonly text: string;
  /** Top probability minus the second at the first generated position (the router's `first_margin`). */
  readonly firstMargin: number;
}

async function generateAll(modelPath: string, prompts: readonly SuitePrompt[], maxTokens: number): Promise<Output[]> {
  const engine = await SpeculativeEngine.load({ verifier: { ...defaultModelLoadOptions, modelPath, threads: 1 } });
  try {
    const outputs: Output[] = [];
    for (const p of prompts) {
      const input: PromptInput = 'prompt' in p ? { kind: 'text', text: p.prompt } : { kind: 'chat', messages: p.messages };
      const ids: number[] = [];
      let text = '';
      let firstMargin = NaN;
      for await (const event of engine.generate({ model: '', input, maxTokens, sampling: { temperature: 0 }, topLogprobs: 2 }, engine.encode(input))) {
        if (event.kind !== 'token') continue;
        if (ids.length === 0) {
          const [first, second] = event.topLogprobs ?? [];
          firstMargin = Math.exp(first?.logprob ?? 0) - Math.exp(second?.logprob ?? -Infinity);
        }
        ids.push(...event.tokenIds);
        text += event.text;
      }
      outputs.push({ ids, text, firstMargin });
    }
    return outputs;
  } finally {
    await engine.dispose();
  }
}

/** The kind of a prompt: its id without the trailing `-nnn`. */
const kindOf = (id: string): string => id.replace(/-\d+$/, '');

interface SuiteResult {
  readonly suite: string;
  readonly maxTokens: number;
  readonly prompts: number;
  readonly rows: Array<{ id: string; kind: string; quality: Record<string, number>; firstMargin: Record<string, number>; outputs: Record<string, string> }>;
}

function measure(suite: string, prompts: readonly SuitePrompt[], outputs: Record<string, Output[]>, maxTokens: number): SuiteResult {
  const checkable = prompts.every((p) => p.expected !== undefined);
  const rows = prompts.map((p, i) => {
    const quality: Record<string, number> = {};
    const texts: Record<string, string> = {};
    const firstMargin: Record<string, number> = {};
    for (const [label, outs] of Object.entries(outputs)) {
      const out = outs[i]!;
      texts[label] = out.text;
      firstMargin[label] = out.firstMargin;
      quality[label] = checkable ? Number(satisfies(out.text, p.expected!)) : label === FRONTIER ? 1 : tokenAgreement(out.ids, outputs[FRONTIER]![i]!.ids);
    }
    return { id: p.id, kind: kindOf(p.id), quality, firstMargin, outputs: texts };
  });
  return { suite, maxTokens, prompts: prompts.length, rows };
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

function report(result: SuiteResult): string {
  const labels = [FRONTIER, ...COPIES.map((c) => c.label)];
  const kinds = [...new Set(result.rows.map((r) => r.kind))];
  const lines = [`### ${result.suite} (${result.prompts} prompts, ${result.maxTokens} tokens)`, ''];
  const byKind = kinds.map((kind) => result.rows.filter((r) => r.kind === kind));
  const qualityRow = (name: string, rows: typeof result.rows): string[] => [
    name,
    String(rows.length),
    ...labels.map((l) => fixed(mean(rows.map((r) => r.quality[l]!)), 2)),
    ...HYBRIDS.map((h) => fixed(mean(rows.map((r) => r.quality[FRONTIER]! - r.quality[h]!)), 2)),
  ];
  lines.push(
    markdownTable(
      ['kind', 'n', ...labels, ...HYBRIDS.map((h) => `gain vs ${h}`)],
      [...byKind.map((rows, i) => qualityRow(kinds[i]!, rows)), qualityRow('**all**', result.rows)],
      ['l', 'r', ...labels.map(() => 'r' as const), ...HYBRIDS.map(() => 'r' as const)],
    ),
    '',
  );
  const apgrRows = HYBRIDS.map((h) => {
    const pairs = result.rows.map((r) => ({ local: r.quality[h]!, frontier: r.quality[FRONTIER]! }));
    const kindGain = new Map(kinds.map((k, i) => [k, mean(byKind[i]!.map((r) => r.quality[FRONTIER]! - r.quality[h]!))]));
    const byKindRank = evaluateRouting(pairs, result.rows.map((r) => kindGain.get(r.kind)!), SHARES).apgrAt;
    const byMargin = evaluateRouting(pairs, result.rows.map((r) => -r.firstMargin[h]!), SHARES).apgrAt;
    const f = (x: number | null): string => (x === null ? 'n/a' : fixed(x, 2));
    const ofOracle = (a: ApgrAtShare): string => `${f(a.router)} (${f(a.gainOverRandomRecovered)})`;
    const cells = SHARES.flatMap((s, i) => [fixed(s, 2), f(byKindRank[i]!.oracle), ofOracle(byKindRank[i]!), ofOracle(byMargin[i]!)]);
    return [`hybrid = ${h}`, fixed(mean(result.rows.map((r) => r.quality[h]!)), 3), fixed(mean(result.rows.map((r) => r.quality[FRONTIER]!)), 3), ...cells];
  });
  lines.push(
    markdownTable(
      ['local tier', 'Q_local', 'Q_frontier', ...SHARES.flatMap((s) => [`random@${s * 100}%`, `oracle@${s * 100}%`, `kind oracle@${s * 100}%`, `low margin@${s * 100}%`])],
      apgrRows,
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    'APGR at a frontier share: random = the share; oracle = highest true gain first; kind oracle = highest mean gain of',
    "the prompt's kind first (in-sample); low margin = the local model's lowest `first_margin` first. In brackets: the",
    "share of the oracle's gain over random that a ranking takes, (APGR − share) / (APGR_oracle − share).",
    '',
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      suite: { type: 'string', default: 'routing-agreement,routing-checkable' },
      'agreement-tokens': { type: 'string', default: '48' },
      'checkable-tokens': { type: 'string', default: '24' },
      'models-dir': { type: 'string', default: resolve('..', 'shared', 'models') },
      work: { type: 'string', default: '/tmp/routing-suites' },
      json: { type: 'string' },
    },
  });
  const frontierPath = join(values['models-dir'], 'stories260K.gguf');
  mkdirSync(values.work, { recursive: true });
  const drafts = await prepareDrafts(frontierPath, COPIES.map((c) => ({ ...parseDraftSpec(c.spec), label: c.label })), values.work);
  const models: Array<{ label: string; path: string; sha256: string }> = [
    { label: FRONTIER, path: frontierPath, sha256: await sha256File(frontierPath) },
    ...drafts.map((d) => ({ label: d.spec.label, path: d.path, sha256: d.sha256 })),
  ];
  const results: SuiteResult[] = [];
  const sections = [
    `Models: ${models.map((m) => `${m.label} = ${basename(m.path)} (sha256 ${m.sha256.slice(0, 12)})`).join('; ')}. Greedy, verifier only, threads 1.`,
    '',
  ];
  for (const suite of values.suite.split(',').map((s) => s.trim())) {
    const prompts = await loadSuite(suitePath(suite));
    const maxTokens = Number(prompts.every((p) => p.expected !== undefined) ? values['checkable-tokens'] : values['agreement-tokens']);
    const outputs: Record<string, Output[]> = {};
    for (const m of models) {
      const started = Date.now();
      outputs[m.label] = await generateAll(m.path, prompts, maxTokens);
      console.error(`${suite}: ${m.label} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    const result = measure(suite, prompts, outputs, maxTokens);
    results.push(result);
    sections.push(report(result));
  }
  console.log(sections.join('\n'));
  if (values.json) writeFileSync(values.json, JSON.stringify({ models, results }, null, 1));
}

await main();
