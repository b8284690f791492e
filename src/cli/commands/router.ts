/**
 * `specroute router`: train and evaluate the query-level router (docs/ARCHITECTURE.md#query-level-routing) from
 * labelled prompts (JSON Lines; src/routing/labelled-data.ts). Results on stdout (a Markdown table, or JSON with
 * --json); progress and notes on stderr.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { styleText } from 'node:util';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { RouterFeatureName } from '../../contract/router-features.js';
import { SpecrouteError, isSpecrouteError } from '../../errors/registry.js';
import { packageRoot } from '../../package-root.js';
import { thresholdToJson } from '../../routing/calibration.js';
import { featureVectorFromRecord, isRouterFeatureName, parseFeatureNames } from '../../routing/feature-vector.js';
import { commonTokenizer, parseLabelledData, qualityPairs, type LabelledRow } from '../../routing/labelled-data.js';
import { localTiers, type LocalTier } from '../../routing/local-tier.js';
import { loadRouterFile, saveRouterFile } from '../../routing/router-file.js';
import { evaluateAtThreshold, evaluateRouting, reportedShares, type ApgrAtShare, type RoutingEvaluation, type ThresholdEvaluation } from '../../routing/routing-evaluation.js';
import { defaultTrainRouter, jsonSafe, trainRouter, type CrossValidation, type FoldResult } from '../../routing/train-router.js';
import { useColor } from '../terminal.js';
import { routerLabelCommand } from './router-label.js';
import { integer, number } from '../options.js';

interface TrainFlags {
  data: string;
  out: string;
  targetFrontierShare: number;
  features?: RouterFeatureName[];
  localTier: LocalTier;
  l2: number;
  folds: number;
  seed: number;
  json: boolean;
}

interface EvalFlags {
  data: string;
  router: string;
  share?: number;
  json: boolean;
}

export function routerCommand(): Command {
  const router = new Command('router')
    .description('Label prompts on every tier, then train and evaluate the query-level router (which prompts go to the frontier).')
    .addHelpText(
      'after',
      `
Labelled prompts are JSON Lines, one prompt a line: its features (the verifier's pass over the prompt, an
embedding) and the quality of each tier's answer. The router file that train writes is what routing.router in
the config points at.

Examples:
  $ specroute router label --config specroute.yaml --prompts prompts.jsonl --out labelled.jsonl
  $ specroute router train --data labelled.jsonl --out router.json
  $ specroute router eval --data held-out.jsonl --router router.json`,
    );
  router.addCommand(trainCommand());
  router.addCommand(evalCommand());
  router.addCommand(routerLabelCommand());
  return router;
}

/** A comma-separated list of known feature names (unknown or repeated ones name themselves in the error). */
function featureList(value: string): RouterFeatureName[] {
  try {
    return parseFeatureNames(value.split(',').map((name) => name.trim()));
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function trainCommand(): Command {
  return new Command('train')
    .description(
      'Fit the router (a logistic regression on the prompt features, target (gain + 1) / 2 with gain = quality.frontier − quality[local tier]), ' +
        'calibrate its threshold on the training scores for a target frontier share, write the router file, and report k-fold cross-validation.',
    )
    .requiredOption('--data <file>', 'labelled prompts (JSON Lines, as `specroute router label` writes them)')
    .requiredOption('--out <file>', 'where to write the router file (JSON; point routing.router at it)')
    .option('--target-frontier-share <share>', 'the share of prompts to send to the frontier, from 0 to 1: the threshold is calibrated for it', number(0, 1), defaultTrainRouter.targetFrontierShare)
    .option('--features <list>', 'the features to use, comma-separated (default: every known feature present in every row)', featureList)
    .addOption(new Option('--local-tier <tier>', 'the tier the router routes away from').choices(localTiers).default(defaultTrainRouter.localTier))
    .option('--l2 <x>', 'L2 regularisation of the weights (on standardised features)', number(0, 1e6), defaultTrainRouter.l2)
    .option('--folds <k>', 'cross-validation folds (0: none)', integer(0), defaultTrainRouter.folds)
    .option('--seed <n>', 'seeds the assignment of prompts to folds', integer(0, 0xffffffff), defaultTrainRouter.seed)
    .option('--json', 'print the result as JSON', false)
    .addHelpText(
      'after',
      `
The same data, flags and seed give the same router (bar its provenance.trainedAt). Cross-validation repeats the
whole recipe per fold (fit and calibrate on the other folds, evaluate on the held-out one) and reports AUC, APGR at
10/20/30/50 % for the router, random (APGR = share) and the oracle, and the share of held-out prompts at or above
the fold's calibrated threshold.

Examples:
  $ specroute router train --data labelled.jsonl --out router.json
  $ specroute router train --data labelled.jsonl --out router.json --target-frontier-share 0.1 --folds 10 --seed 7
  $ specroute router train --data labelled.jsonl --out router.json --features first_entropy,first_margin,log_prompt_tokens --json`,
    )
    .action((flags: TrainFlags) => runTrain(flags));
}

function evalCommand(): Command {
  return new Command('eval')
    .description("Evaluate a router file on labelled prompts: its cost–quality curve, APGR at 10/20/30/50 % and AUC against random and the oracle, and what its threshold does on these prompts.")
    .requiredOption('--data <file>', 'labelled prompts (JSON Lines), ideally ones the router was not trained on')
    .requiredOption('--router <file>', 'the router file (`specroute router train --out`)')
    .option('--share <share>', "evaluate at the threshold re-derived from the router's training scores for this frontier share, from 0 to 1 (default: the file's threshold)", number(0, 1))
    .option('--json', 'print the evaluation as JSON (with the whole curve)', false)
    .addHelpText(
      'after',
      `
APGR(s) = (Q(s) − Q_local) / (Q_frontier − Q_local): the share of the quality gap recovered when the top s of the
prompts (by score) go to the frontier. Random's APGR is s; the oracle sends the prompts that gain most first.
"Of oracle" is the gain over random recovered: (APGR_router − s) / (APGR_oracle − s).

Examples:
  $ specroute router eval --data held-out.jsonl --router router.json
  $ specroute router eval --data held-out.jsonl --router router.json --share 0.3
  $ specroute router eval --data held-out.jsonl --router router.json --json | jq .apgrAt`,
    )
    .action((flags: EvalFlags) => runEval(flags));
}

function readData(path: string): { rows: LabelledRow[]; sha256: string } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new SpecrouteError('invalid_argument', `cannot read the labelled data ${path}: ${(error as Error).message}`, { param: '--data', cause: error });
  }
  return { rows: parseLabelledData(bytes.toString('utf8'), path, '--data'), sha256: createHash('sha256').update(bytes).digest('hex') };
}

function specrouteVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function note(message: string): void {
  const text = `specroute: ${message}`;
  process.stderr.write(`${useColor(process.stderr) ? styleText('yellow', text, { validateStream: false }) : text}\n`);
}

function progress(message: string): void {
  process.stderr.write(`specroute: ${message}\n`);
}

function runTrain(flags: TrainFlags): void {
  const { rows, sha256 } = readData(flags.data);
  const unknown = [...new Set(rows.flatMap((row) => Object.keys(row.features)))].filter((name) => !isRouterFeatureName(name));
  if (unknown.length > 0 && flags.features === undefined) note(`ignoring features the router does not know: ${unknown.join(', ')}`);
  progress(`read ${rows.length} labelled prompts from ${flags.data}; local tier ${flags.localTier}`);
  const result = trainRouter(
    rows,
    {
      ...(flags.features !== undefined ? { features: flags.features } : {}),
      localTier: flags.localTier,
      l2: flags.l2,
      targetFrontierShare: flags.targetFrontierShare,
      folds: flags.folds,
      seed: flags.seed,
      onProgress: progress,
    },
    { data: basename(flags.data), sha256, specroute: specrouteVersion() },
  );
  try {
    saveRouterFile(flags.out, result.document);
  } catch (error) {
    if (isSpecrouteError(error)) throw error;
    throw new SpecrouteError('invalid_argument', `cannot write the router file ${resolve(flags.out)}: ${(error as Error).message}`, { param: '--out', cause: error });
  }
  if (!result.fit.converged) note(`the fit stopped after ${result.fit.iterations} iterations without converging; the router may be rough (try a larger --l2)`);
  for (const message of new Set(result.crossValidation?.perFold.flatMap((f) => f.notes) ?? [])) note(message);
  const { document, featureSpec } = result;
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify(
        jsonSafe({
          out: flags.out,
          rows: rows.length,
          features: featureSpec.features,
          embeddingDims: document.embeddingDims,
          localTier: document.localTier,
          threshold: document.threshold,
          targetFrontierShare: document.targetFrontierShare,
          realisedShare: result.realisedShare,
          fit: result.fit,
          crossValidation: result.crossValidation ?? null,
        }),
      )}\n`,
    );
    return;
  }
  const lines: string[] = [];
  if (result.crossValidation !== undefined) lines.push(...crossValidationTable(result.crossValidation, flags.targetFrontierShare), '');
  const vectorLength = document.weights.length;
  lines.push(
    `wrote ${flags.out}: a logistic router over ${featureSpec.features.join(', ')} (${vectorLength} numbers), trained on ${rows.length} prompts, local tier ${document.localTier}`,
    `threshold ${document.threshold === null ? 'none (never the frontier)' : document.threshold.toPrecision(6)}: sends ${pct(result.realisedShare)} of the training prompts to the frontier (target ${pct(flags.targetFrontierShare)})`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

function runEval(flags: EvalFlags): void {
  const { rows } = readData(flags.data);
  const dataTokenizer = commonTokenizer(rows);
  const loaded = loadRouterFile(resolve(flags.router), { tokenizer: dataTokenizer, tokenizerOwner: `the data's (${flags.data})` }, { key: '--router' });
  const router = flags.share !== undefined ? loaded.withTargetShare(flags.share) : loaded;
  const scores = rows.map((row) => router.score(featureVectorFromRecord(router.featureSpec, row.features, row.id, '--data')));
  const pairs = qualityPairs(rows, router.localTier);
  const shares = [...new Set([...reportedShares, ...(flags.share !== undefined ? [flags.share] : [])])].sort((a, b) => a - b);
  const evaluation = evaluateRouting(pairs, scores, shares);
  const atThreshold = evaluateAtThreshold(pairs, scores, router.threshold);
  for (const message of evaluation.notes) note(message);
  progress(`scored ${rows.length} prompts from ${flags.data} with ${flags.router} (${router.features.join(', ')}; local tier ${router.localTier})`);
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify(
        jsonSafe({
          router: flags.router,
          data: flags.data,
          rows: evaluation.rows,
          localTier: router.localTier,
          qualityLocal: evaluation.qualityLocal,
          qualityFrontier: evaluation.qualityFrontier,
          hasRoom: evaluation.hasRoom,
          notes: evaluation.notes,
          auc: { router: evaluation.curves.router.auc, random: evaluation.curves.random.auc, oracle: evaluation.curves.oracle.auc },
          apgrAt: evaluation.apgrAt,
          atThreshold: { ...atThreshold, threshold: thresholdToJson(atThreshold.threshold), targetFrontierShare: router.targetFrontierShare, source: flags.share !== undefined ? 'share' : 'file' },
          curve: {
            shares: evaluation.curves.router.shares,
            router: { quality: evaluation.curves.router.quality, apgr: evaluation.curves.router.apgr },
            random: { quality: evaluation.curves.random.quality, apgr: evaluation.curves.random.apgr },
            oracle: { quality: evaluation.curves.oracle.quality, apgr: evaluation.curves.oracle.apgr },
          },
        }),
      )}\n`,
    );
    return;
  }
  process.stdout.write(`${evaluationReport(evaluation, atThreshold, { router: flags.router, data: flags.data, localTier: router.localTier, share: flags.share, target: router.targetFrontierShare }).join('\n')}\n`);
}

// ── Formatting ───────────────────────────────────────────────────────────────────────────────────────────────────

function num(value: number | null, digits = 3): string {
  return value === null ? 'n/a' : value.toFixed(digits);
}

function pct(share: number): string {
  return `${(100 * share).toFixed(1).replace(/\.0$/, '')} %`;
}

function triple(a: { router: number | null; random: number | null; oracle: number | null }): string {
  return `${num(a.router)} / ${num(a.random)} / ${num(a.oracle)}`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

function crossValidationTable(cv: CrossValidation, target: number): string[] {
  const header = ['fold', 'held out', 'AUC', ...reportedShares.map((s) => `APGR @ ${pct(s)}`), `share at threshold (target ${pct(target)})`];
  const row = (label: string, heldOut: string, f: Pick<FoldResult, 'auc' | 'apgrAt' | 'realisedShare'>): string[] => [
    label,
    heldOut,
    triple(f.auc),
    ...reportedShares.map((s) => {
      const at = f.apgrAt.find((a) => a.share === s);
      return at === undefined ? 'n/a' : triple(at);
    }),
    pct(f.realisedShare),
  ];
  return [
    `Cross-validation: ${cv.folds} folds (seed ${cv.seed}), each number on the held-out fold; cells are router / random / oracle.`,
    '',
    ...table(header, [...cv.perFold.map((f) => row(String(f.fold), String(f.testRows), f)), row('**mean**', String(cv.perFold.reduce((a, f) => a + f.testRows, 0)), cv.mean)]),
  ];
}

function evaluationReport(
  e: RoutingEvaluation,
  t: ThresholdEvaluation,
  context: { router: string; data: string; localTier: LocalTier; share: number | undefined; target: number },
): string[] {
  const lines = [
    `Router ${context.router} on ${context.data}: ${e.rows} prompts, local tier ${context.localTier}.`,
    `Mean quality: all local ${num(e.qualityLocal)}, all frontier ${num(e.qualityFrontier)}${e.hasRoom ? '' : ' (no room to route: APGR is undefined)'}.`,
    '',
  ];
  const apgrCell = (pick: (a: ApgrAtShare) => number | null): string[] => e.apgrAt.map((a) => num(pick(a)));
  lines.push(
    ...table(
      ['ranking', 'AUC', ...e.apgrAt.map((a) => `APGR @ ${pct(a.share)}`)],
      [
        ['router', num(e.curves.router.auc), ...apgrCell((a) => a.router)],
        ['random', num(e.curves.random.auc), ...apgrCell((a) => a.random)],
        ['oracle', num(e.curves.oracle.auc), ...apgrCell((a) => a.oracle)],
        ['gain over random recovered', '', ...apgrCell((a) => a.gainOverRandomRecovered)],
      ],
    ),
    '',
    'Cost–quality curve (mean quality by frontier share):',
    '',
    ...table(
      ['frontier share', 'router', 'random', 'oracle', 'router APGR', 'oracle APGR'],
      e.curves.router.shares.flatMap((s, i) =>
        i % 10 === 0 ? [[pct(s), num(e.curves.router.quality[i]!), num(e.curves.random.quality[i]!), num(e.curves.oracle.quality[i]!), num(e.curves.router.apgr[i]!), num(e.curves.oracle.apgr[i]!)]] : [],
      ),
    ),
    '',
  );
  const which = context.share !== undefined ? `re-derived from the training scores for a share of ${pct(context.share)}` : `the file's, calibrated for ${pct(context.target)}`;
  const threshold = t.threshold === Infinity ? 'none (never the frontier)' : t.threshold.toPrecision(6);
  lines.push(
    `At threshold ${threshold} (${which}): ${t.frontierCount} of ${e.rows} prompts (${pct(t.share)}) go to the frontier; ` +
      `quality ${num(t.quality)}, APGR ${num(t.apgr)} (random ${e.hasRoom ? num(t.share) : 'n/a'}, oracle ${num(t.oracleApgr)}), ` +
      `gain over random recovered ${num(t.gainOverRandomRecovered)}.`,
  );
  return lines;
}
