/**
 * The config fragment `specroute profile --write FILE` writes: the recommended threads, `limits.maxConcurrent` and
 * `batching.profile`, under a header saying where and when it was measured. `specroute serve --profile FILE`
 * merges it over the config file; it may as well be pasted into one.
 */
import { Document, isMap, isSeq, visit } from 'yaml';
import { machineLine } from './machine.js';
import type { ProfileReport } from './run-profile.js';

/** The fragment's settings as a plain object (what `loadConfig` merges). */
export function fragmentOf(report: ProfileReport): Record<string, unknown> {
  const rec = report.recommendation;
  const memoryCapped = rec.contextSize < report.config.contextSize;
  const model: Record<string, Record<string, number>> = { verifier: { threads: rec.verifierThreads, ...(memoryCapped ? { contextSize: rec.contextSize } : {}) } };
  if (report.models.draft && rec.draftThreads !== undefined) model.draft = { threads: rec.draftThreads, ...(memoryCapped ? { contextSize: rec.contextSize } : {}) };
  return { model, limits: { maxConcurrent: rec.maxConcurrent }, batching: { profile: report.profile } };
}

/** The fragment as YAML text, with its header; `command` is the command line that made it. */
export function fragmentYaml(report: ProfileReport, command: string): string {
  const doc = new Document(fragmentOf(report));
  // Pass times and the γ table one line each: [{tokens: 1, ms: 0.9}, …] reads better than a page of mappings.
  visit(doc, {
    Seq(_, node) {
      if (node.items.every((item) => !isMap(item) && !isSeq(item))) node.flow = true;
    },
    Map(_, node, path) {
      if (isSeq(path.at(-1))) node.flow = true;
    },
  });
  const { verifier, draft } = report.models;
  const header = [
    `specroute hardware profile, measured ${report.measuredAt} in ${report.seconds} s`,
    `machine: ${machineLine(report.machine)}`,
    `verifier: ${verifier.facts.path}`,
    ...(draft ? [`draft: ${draft.facts.path} (acceptance α = ${report.profile.alpha})`] : ['no draft: γ is 0 at every batch size']),
    `made by: ${command}`,
    'Merge into your specroute.yaml, or pass to `specroute serve --profile FILE`.',
    'batching.profile.gammaByBatchSize[i] is the draft length for i + 1 sequences in a step (the last holds beyond).',
  ];
  doc.commentBefore = header.map((line) => ` ${line}`).join('\n');
  return doc.toString({ lineWidth: 0 });
}
