/**
 * `specroute profile`: measures this machine and the served pair, and derives the settings the server should run
 * with (docs/ARCHITECTURE.md#the-hardware-profile). The models are the ones `serve` would load from the same
 * config: a derived draft is made (or found in the cache) exactly as at boot.
 */
import { stat } from 'node:fs/promises';
import { sharedLlama } from '../backends/llama/llama-backend.js';
import type { ModelLoadOptions } from '../backends/types.js';
import type { ResolvedConfig } from '../config/load-config.js';
import { stepProfileSchema } from '../config/schema.js';
import { SpecrouteError } from '../errors/registry.js';
import { ensureDerivedDraft } from '../models/derived-draft.js';
import { isOnnxPath } from '../models/onnx/tokenizer-path.js';
import { ALPHA_PROMPTS, measureAlpha, type AlphaMeasurement } from './acceptance-rate.js';
import { describeMachine, machineLine, type MachineInfo } from './machine.js';
import { readModelFacts, type ModelFacts } from './model-facts.js';
import { timePasses, type ModelTimings } from './pass-timer.js';
import { MEMORY_SHARE, recommend, type Recommendation } from './recommend.js';
import { monotoneCurve, type PassTimePoint, type StepProfile } from '../pipeline/step-costs.js';

/** Tokens in each sequence before a timed pass: a short prompt, as a request's would be. */
export const PROMPT_TOKENS = 32;

export interface ProfileOptions {
  /** Most threads tried per model. Defaults to the CPUs this process may use. */
  readonly threadsMax: number;
  /** Batch sizes of the γ table: 1 … this. */
  readonly maxBatch: number;
  /** Timed passes per figure (median kept). */
  readonly repeats: number;
  /** Untimed passes before them. */
  readonly warmup: number;
  /** Progress, one line per stage. */
  readonly log?: (message: string) => void;
}

export interface ModelProfile {
  readonly facts: ModelFacts;
  readonly timings: ModelTimings;
}

/** Everything `specroute profile` measured and recommends (its `--json` output). */
export interface ProfileReport {
  readonly measuredAt: string;
  /** Seconds the whole profile took. */
  readonly seconds: number;
  readonly machine: MachineInfo;
  /** What the profile read from the config. */
  readonly config: { readonly source: string; readonly contextSize: number; readonly speculationMax: number; readonly gpuLayers: number; readonly threadsTried: readonly number[]; readonly repeats: number };
  readonly models: { readonly verifier: ModelProfile; readonly draft: ModelProfile | null };
  /** Null without a draft. */
  readonly alpha: AlphaMeasurement | null;
  /** The memory the KV caches may take, and what each sequence needs per token on both models. */
  readonly memory: { readonly basis: 'ram' | 'vram'; readonly budgetBytes: number; readonly kvBytesPerToken: number };
  readonly recommendation: Recommendation;
  /** `batching.profile`, valid under `stepProfileSchema`. */
  readonly profile: StepProfile;
}

/** Thread counts to try up to `max`: every one to 4, then 6, 8, 12, 16, 24, 32, … and `max` itself. */
export function threadCandidates(max: number): number[] {
  const out = new Set<number>();
  for (let t = 1; t <= Math.min(4, max); t++) out.add(t);
  for (let t = 4; t < max; t *= 2) {
    if (t * 1.5 <= max) out.add(t * 1.5);
    if (t * 2 <= max) out.add(t * 2);
  }
  out.add(Math.max(1, max));
  return [...out].sort((a, b) => a - b);
}

export async function runProfile(config: ResolvedConfig, options: ProfileOptions): Promise<ProfileReport> {
  const started = performance.now();
  const log = options.log ?? (() => undefined);
  const { verifier, draft } = config.model;
  if (isOnnxPath(config.verifierPath) || (config.draftSource.kind === 'file' && isOnnxPath(config.draftSource.path))) {
    throw new SpecrouteError('unsupported_model', 'specroute profile measures GGUF models only (node-llama-cpp); profile the GGUF the ONNX model was converted from', {
      param: isOnnxPath(config.verifierPath) ? 'model.verifier.path' : 'model.draft.path',
    });
  }
  const draftPath = await resolveDraft(config, log);
  const llama = await sharedLlama();
  const machine = await describeMachine(llama);
  const limit = machine.llamaMaxThreads > 0 ? Math.min(options.threadsMax, machine.llamaMaxThreads) : options.threadsMax;
  const threads = threadCandidates(limit);
  log(`machine: ${machineLine(machine)}; trying threads ${threads.join(', ')}`);

  const text = ALPHA_PROMPTS.join(' ');
  const common = { repeats: options.repeats, warmup: options.warmup, text, promptTokens: PROMPT_TOKENS, threads };
  const verifierFacts = await readModelFacts(config.verifierPath, verifier.kvCacheType);
  log(`timing the verifier ${config.verifierPath}`);
  const verifierTimings = await timePasses({ ...common, modelPath: config.verifierPath, gpuLayers: verifier.gpuLayers, batchSize: verifier.batchSize, kvCacheType: verifier.kvCacheType, role: 'verifier' });
  let draftProfile: ModelProfile | null = null;
  let alpha: AlphaMeasurement | null = null;
  if (draftPath && draft) {
    const facts = await readModelFacts(draftPath, draft.kvCacheType);
    log(`timing the draft ${draftPath}`);
    const timings = await timePasses({ ...common, modelPath: draftPath, gpuLayers: draft.gpuLayers, batchSize: draft.batchSize, kvCacheType: draft.kvCacheType, role: 'draft' });
    draftProfile = { facts, timings };
    log('measuring the acceptance rate of the pair');
    const load = (m: Pick<typeof verifier, 'contextSize' | 'batchSize' | 'gpuLayers' | 'kvCacheType'>, path: string, t: number): ModelLoadOptions => ({
      modelPath: path,
      threads: t,
      contextSize: m.contextSize,
      batchSize: m.batchSize,
      gpuLayers: m.gpuLayers,
      sequences: 1,
      kvCacheType: m.kvCacheType,
    });
    alpha = await measureAlpha({ verifier: load(verifier, config.verifierPath, verifierTimings.decodeThreads), draft: load(draft, draftPath, timings.decodeThreads) });
  }

  // Memory: the KV caches of every sequence on both models, within a share of what is free (VRAM when offloading).
  const weights = verifierFacts.fileBytes + (draftProfile?.facts.fileBytes ?? 0);
  const offloading = machine.vram !== null && verifier.gpuLayers > 0;
  const free = offloading ? machine.vram!.freeBytes : machine.freeMemoryBytes;
  const budgetBytes = Math.max(0, MEMORY_SHARE * free - weights);
  const kvBytesPerToken = verifierFacts.kvBytesPerToken + (draftProfile?.facts.kvBytesPerToken ?? 0);
  const trainContextSize = Math.min(...[verifierFacts.trainContextSize, draftProfile?.facts.trainContextSize ?? Infinity].filter((n) => n > 0));

  // The profile's curves: made non-decreasing (an inversion is noise), to the microsecond (never 0 ms, which the
  // schema refuses). The medians as measured stay in `models.*.timings.curve`.
  const curveOf = (points: readonly PassTimePoint[]): PassTimePoint[] => monotoneCurve(points).map(({ tokens, ms }) => ({ tokens, ms: Math.max(0.001, round(ms)) }));
  const verify = curveOf(verifierTimings.curve);
  const draftCurve = draftProfile && curveOf(draftProfile.timings.curve);
  const alphaValue = alpha ? round(alpha.alpha, 4) : 0;
  const recommendation = recommend({
    alpha: alphaValue,
    verify,
    ...(draftCurve ? { draft: draftCurve, draftThreads: draftProfile!.timings.decodeThreads } : {}),
    verifierThreads: verifierTimings.batchedThreads,
    maxGamma: config.speculation.max,
    maxBatch: options.maxBatch,
    contextSize: Math.min(verifier.contextSize, draft?.contextSize ?? Infinity),
    trainContextSize: Number.isFinite(trainContextSize) ? trainContextSize : 0,
    kvBytesPerToken,
    memoryBudgetBytes: budgetBytes,
  });
  const measuredAt = new Date().toISOString();
  const profile = stepProfileSchema.parse({
    alpha: alphaValue,
    verify,
    ...(draftCurve ? { draft: draftCurve } : {}),
    gammaByBatchSize: recommendation.gammaByBatchSize,
    machine: machineLine(machine),
    measuredAt,
  });
  return {
    measuredAt,
    seconds: round((performance.now() - started) / 1000, 1),
    machine,
    config: { source: config.source, contextSize: verifier.contextSize, speculationMax: config.speculation.max, gpuLayers: verifier.gpuLayers, threadsTried: threads, repeats: options.repeats },
    models: { verifier: { facts: verifierFacts, timings: verifierTimings }, draft: draftProfile },
    alpha,
    memory: { basis: offloading ? 'vram' : 'ram', budgetBytes: Math.floor(budgetBytes), kvBytesPerToken },
    recommendation,
    profile,
  };
}

/** The draft `serve` would load: a file, or derived from the verifier and cached (as main.ts does at boot). */
async function resolveDraft(config: ResolvedConfig, log: (message: string) => void): Promise<string | undefined> {
  const source = config.draftSource;
  if (source.kind === 'none') return undefined;
  if (source.kind === 'file') {
    await stat(source.path).catch(() => {
      throw new SpecrouteError('invalid_argument', `no such file: ${source.path}`, { param: 'model.draft.path' });
    });
    return source.path;
  }
  const { path, made } = await ensureDerivedDraft({
    from: config.verifierPath,
    out: source.out,
    ...(source.layers ? { layers: source.layers } : {}),
    ...(source.quantize ? { quantize: source.quantize } : {}),
  });
  log(made ? `made draft ${path} from ${config.verifierPath}` : `draft ${path} (derived, cached)`);
  return path;
}

function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
