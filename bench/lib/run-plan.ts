/**
 * Runs a `BenchPlan`: for each draft, suite and temperature, every arm (verifier-only, draft-only,
 * node-llama-cpp's DraftSequenceTokenPredictor, and each speculation setting) once per repeat, in an order that
 * reverses on odd repeats so slow machine drift cancels in the paired ratios.
 */
import { defaultModelLoadOptions, type ModelLoadOptions } from '../../src/backends/types.js';
import { SpeculativeEngine } from '../../src/pipeline/engine.js';
import { defaultSpeculation } from '../../src/pipeline/adaptive-draft-length.js';
import type { SamplingParams } from '../../src/sampling/params.js';
import { analyzePairs, type PairAnalysis } from './analysis.js';
import { measureCosts, type ModelCosts } from './costs.js';
import { DstpBaseline, type DstpRun } from './dstp.js';
import { maxDraftLength, type BenchDraft, type BenchPlan, type SpecSetting } from './plan.js';
import type { ProgressBar } from '../../src/cli/progress.js';
import { loadSuite, suiteName, suitePath, type SuitePrompt } from './prompts.js';
import { runPromptSet, type PromptSetRun } from './run-set.js';
import { median } from './summary.js';

/** Costs the ideals use: the verifier's T_step and T_verify(k), each draft's T_draft. */
export interface PlanCosts {
  readonly verifier: ModelCosts;
  readonly drafts: ReadonlyMap<string, ModelCosts>;
}

/** One speculation setting's result in a cell. */
export interface SettingResult {
  readonly setting: SpecSetting;
  readonly analysis: PairAnalysis;
  /** Median over repeats of this setting's tokens/s over the DSTP baseline's in the same repeat. */
  readonly overDstp: number | null;
  readonly runs: readonly PromptSetRun[];
}

/** A baseline's runs and its speed relative to verifier-only (median of per-repeat ratios). */
export interface BaselineResult<Run> {
  readonly tokensPerSecond: number;
  readonly overVerifier: number;
  readonly runs: readonly Run[];
}

/** The results for one draft × suite × temperature. */
export interface CellResult {
  readonly draft: BenchDraft;
  readonly suite: string;
  readonly temperature: number;
  readonly prompts: readonly string[];
  readonly verifierOnly: { readonly tokensPerSecond: number; readonly runs: readonly PromptSetRun[] };
  readonly draftOnly: BaselineResult<PromptSetRun> | null;
  readonly dstp: (BaselineResult<DstpRun> & { readonly acceptanceRate: number; readonly validated: number; readonly refuted: number }) | null;
  readonly settings: readonly SettingResult[];
}

export interface PlanResult {
  readonly plan: BenchPlan;
  readonly cells: readonly CellResult[];
  readonly wallSeconds: number;
}

/** Load options of one model of the run. */
function loadOptions(modelPath: string, threads: number): ModelLoadOptions {
  return { ...defaultModelLoadOptions, modelPath, threads };
}

/** Steps `runPlan` reports to the progress bar (one per arm run, warm-ups included). */
export function planSteps(plan: BenchPlan): number {
  const arms = 1 + (plan.draftOnly ? 1 : 0) + (plan.dstp ? 1 : 0) + plan.settings.length;
  return plan.drafts.length * (1 + plan.suites.length * plan.temperatures.length * plan.repeats) * arms;
}

/**
 * Times each model in-process (before any engine runs): the verifier's decode step and batched passes up to
 * the largest draft length of any plan, and each draft's decode step.
 */
export async function measurePlanCosts(
  plans: readonly BenchPlan[],
  options: { prompt: string; steps: number; rounds: number; onProgress?: (line: string) => void },
): Promise<PlanCosts> {
  const first = plans[0]!;
  const k = Math.max(...plans.map((p) => maxDraftLength(p, defaultSpeculation.max)));
  const drafts = new Map<string, BenchDraft>(plans.flatMap((p) => p.drafts.map((d) => [d.label, d] as const)));
  const costs = await measureCosts({
    models: [
      { id: 'verifier', load: loadOptions(first.verifierPath, first.threads), verifyDraftLengths: Array.from({ length: k + 1 }, (_, i) => i) },
      ...[...drafts.values()].map((d) => ({ id: `draft ${d.label}`, load: loadOptions(d.path, first.draftThreads), verifyDraftLengths: [] })),
    ],
    prompt: options.prompt,
    steps: options.steps,
    rounds: options.rounds,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  return { verifier: costs.verifier!, drafts: new Map([...drafts.keys()].map((label) => [label, costs[`draft ${label}`]!])) };
}

type Arm = { kind: 'verifier' } | { kind: 'draft-only' } | { kind: 'dstp' } | { kind: 'speculative'; setting: SpecSetting };

function armLabel(arm: Arm): string {
  return arm.kind === 'speculative' ? arm.setting.label : arm.kind;
}

/** Runs the plan. Engines are loaded per draft and disposed after it. */
export async function runPlan(plan: BenchPlan, costs: PlanCosts, progress: ProgressBar): Promise<PlanResult> {
  const started = performance.now();
  const suites = await Promise.all(plan.suites.map(async (s) => ({ name: suiteName(s), prompts: await loadSuite(suitePath(s), plan.promptsPerSuite) })));
  const arms: Arm[] = [
    { kind: 'verifier' },
    ...(plan.draftOnly ? [{ kind: 'draft-only' } as const] : []),
    ...(plan.dstp ? [{ kind: 'dstp' } as const] : []),
    ...plan.settings.map((setting) => ({ kind: 'speculative', setting }) as const),
  ];
  const verifyMs = Object.fromEntries(Object.entries(costs.verifier.verify).map(([k, s]) => [Number(k), s.median]));
  const cells: CellResult[] = [];

  for (const draft of plan.drafts) {
    const opened: Array<{ dispose(): Promise<void> }> = [];
    try {
      const engine = await SpeculativeEngine.load({ verifier: loadOptions(plan.verifierPath, plan.threads), draft: loadOptions(draft.path, plan.draftThreads) });
      opened.push(engine);
      const draftEngine = plan.draftOnly ? await SpeculativeEngine.load({ verifier: loadOptions(draft.path, plan.draftThreads) }) : undefined;
      if (draftEngine) opened.push(draftEngine);
      const dstp = plan.dstp
        ? await DstpBaseline.load({
            verifierPath: plan.verifierPath,
            draftPath: draft.path,
            threads: plan.threads,
            draftThreads: plan.draftThreads,
            maxDraftTokens: plan.dstp.maxTokens,
            minDraftTokens: plan.dstp.minTokens,
            minConfidence: plan.dstp.minConfidence,
          })
        : undefined;
      if (dstp) opened.push(dstp);

      const encode = (p: SuitePrompt): number[] => ('prompt' in p ? engine.encodePrompt(p.prompt) : engine.tokenizer.applyChatTemplate!(p.messages).tokens);
      const runArm = async (arm: Arm, prompts: number[][], maxTokens: number, sampling: SamplingParams): Promise<PromptSetRun | DstpRun> => {
        switch (arm.kind) {
          case 'verifier':
            return runPromptSet(engine, { prompts, maxTokens, sampling, speculation: false });
          case 'draft-only':
            return runPromptSet(draftEngine!, { prompts, maxTokens, sampling, speculation: false });
          case 'dstp':
            return dstp!.run(prompts, maxTokens, sampling);
          case 'speculative':
            return runPromptSet(engine, { prompts, maxTokens, sampling, speculation: arm.setting.speculation });
        }
      };

      // Warm-up: every arm once on a short set (JIT, worker caches, allocator).
      const warmPrompts = suites[0]!.prompts.slice(0, 2).map(encode);
      for (const arm of arms) {
        await runArm(arm, warmPrompts, Math.min(16, plan.maxTokens), { temperature: 0, topK: 0, topP: 1, minP: 0, seed: plan.seed });
        progress.tick(`${draft.label}: warm-up ${armLabel(arm)}`);
      }

      for (const suite of suites) {
        const prompts = suite.prompts.map(encode);
        for (const temperature of plan.temperatures) {
          const sampling: SamplingParams = { temperature, topK: 0, topP: 1, minP: 0, seed: plan.seed };
          const runs = new Map<Arm, Array<PromptSetRun | DstpRun>>(arms.map((a) => [a, []]));
          for (let r = 0; r < plan.repeats; r++) {
            const order = r % 2 === 0 ? arms : [...arms].reverse();
            for (const arm of order) {
              const run = await runArm(arm, prompts, plan.maxTokens, sampling);
              runs.get(arm)!.push(run);
              progress.tick(`${draft.label} ${suite.name} T=${temperature} repeat ${r + 1}/${plan.repeats} ${armLabel(arm)}: ${run.tokensPerSecond.toFixed(0)} tok/s`);
            }
          }
          cells.push(cellResult({ draft, suite: suite.name, temperature, prompts: suite.prompts.map((p) => p.id), arms, runs, costs, verifyMs }));
        }
      }
    } finally {
      for (const thing of opened.reverse()) await thing.dispose();
    }
  }
  return { plan, cells, wallSeconds: (performance.now() - started) / 1000 };
}

function cellResult(x: {
  draft: BenchDraft;
  suite: string;
  temperature: number;
  prompts: string[];
  arms: Arm[];
  runs: Map<Arm, Array<PromptSetRun | DstpRun>>;
  costs: PlanCosts;
  verifyMs: Record<number, number>;
}): CellResult {
  const of = <R>(kind: Arm['kind']): R[] | undefined => {
    const arm = x.arms.find((a) => a.kind === kind);
    return arm ? (x.runs.get(arm) as R[]) : undefined;
  };
  const base = of<PromptSetRun>('verifier')!;
  const ratios = (runs: ReadonlyArray<{ tokensPerSecond: number }>, over: ReadonlyArray<{ tokensPerSecond: number }>) =>
    median(runs.map((run, i) => run.tokensPerSecond / over[i]!.tokensPerSecond));
  const baseline = <R extends { tokensPerSecond: number }>(runs: R[] | undefined): BaselineResult<R> | null =>
    runs ? { tokensPerSecond: median(runs.map((r) => r.tokensPerSecond)), overVerifier: ratios(runs, base), runs } : null;
  const dstpRuns = of<DstpRun>('dstp');
  const validated = dstpRuns?.reduce((n, r) => n + r.predictions.validated, 0) ?? 0;
  const refuted = dstpRuns?.reduce((n, r) => n + r.predictions.refuted, 0) ?? 0;
  const costInputs = { stepMs: x.costs.verifier.step.median, draftStepMs: x.costs.drafts.get(x.draft.label)!.step.median, verifyMs: x.verifyMs };
  return {
    draft: x.draft,
    suite: x.suite,
    temperature: x.temperature,
    prompts: x.prompts,
    verifierOnly: { tokensPerSecond: median(base.map((r) => r.tokensPerSecond)), runs: base },
    draftOnly: baseline(of<PromptSetRun>('draft-only')),
    dstp: dstpRuns ? { ...baseline(dstpRuns)!, acceptanceRate: validated + refuted > 0 ? validated / (validated + refuted) : 0, validated, refuted } : null,
    settings: x.arms.flatMap((arm) => {
      if (arm.kind !== 'speculative') return [];
      const runs = x.runs.get(arm) as PromptSetRun[];
      return [
        {
          setting: arm.setting,
          analysis: analyzePairs(
            runs.map((spec, i) => ({ spec, base: base[i]! })),
            costInputs,
            arm.setting.gamma,
          ),
          overDstp: dstpRuns ? ratios(runs, dstpRuns) : null,
          runs,
        },
      ];
    }),
  };
}
