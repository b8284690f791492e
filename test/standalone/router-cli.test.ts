/**
 * `specroute router train` and `eval` through the built CLI (as a user runs them; `npm test` builds first), on
 * synthetic labelled prompts written to a scratch folder. No model is loaded.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { featureVectorFromRecord } from '../../src/routing/feature-vector.js';
import { parseLabelledData, qualityPairs } from '../../src/routing/labelled-data.js';
import { loadRouterFile } from '../../src/routing/router-file.js';
import { evaluateAtThreshold, evaluateRouting } from '../../src/routing/routing-evaluation.js';
import { CLI, cli, scratchDir } from '../helpers/models.js';
import { syntheticRows, toJsonLines } from '../helpers/router-data.js';

interface Failure {
  code: number;
  stdout: string;
  stderr: string;
}

/** The failed run's exit status and output; fails the test when the run succeeds. */
async function fails(args: string[]): Promise<Failure> {
  const result = await cli(args).then(
    () => undefined,
    (e: Failure) => e,
  );
  expect(result, `specroute ${args.join(' ')} succeeded`).toBeDefined();
  return result!;
}

describe('specroute router train / eval', () => {
  const dir = scratchDir('router-cli-');
  const train = join(dir, 'train.jsonl');
  const test = join(dir, 'test.jsonl');
  const out = join(dir, 'router.json');

  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    writeFileSync(train, toJsonLines(syntheticRows(160, 1)));
    writeFileSync(test, toJsonLines(syntheticRows(120, 2)));
  });

  it('train writes a router file and prints the cross-validated table; eval on held-out data agrees with the library', async () => {
    const { stdout, stderr } = await cli(['router', 'train', '--data', train, '--out', out, '--target-frontier-share', '0.3', '--folds', '4', '--seed', '7']);
    expect(stdout).toMatch(/^Cross-validation: 4 folds \(seed 7\)/);
    expect(stdout).toMatch(/^\| fold \| held out \| AUC \| APGR @ 10 % \| APGR @ 20 % \| APGR @ 30 % \| APGR @ 50 % \| share at threshold \(target 30 %\) \|$/m);
    expect(stdout.match(/^\| [1-4] \| 40 \| /gm)).toHaveLength(4);
    expect(stdout).toMatch(/^\| \*\*mean\*\* \| 160 \| \d\.\d{3} \/ 0\.500 \/ \d\.\d{3} \|/m);
    expect(stdout).toMatch(/threshold \S+: sends 30 % of the training prompts to the frontier \(target 30 %\)/);
    expect(stderr).toMatch(/fold 4\/4: trained on 120, held out 40/);

    const router = loadRouterFile(out);
    expect(router.targetFrontierShare).toBe(0.3);
    expect(router.document.provenance).toMatchObject({ data: 'train.jsonl', rows: 160, specroute: '0.1.0' });
    expect(router.document.provenance?.sha256).toBe(
      (await import('node:crypto')).createHash('sha256').update(readFileSync(train)).digest('hex'),
    );

    const evaluated = await cli(['router', 'eval', '--data', test, '--router', out, '--json']);
    const report = JSON.parse(evaluated.stdout) as {
      rows: number;
      auc: { router: number; random: number; oracle: number };
      apgrAt: Array<{ share: number; router: number; random: number; oracle: number }>;
      atThreshold: { threshold: number; share: number; apgr: number; gainOverRandomRecovered: number; source: string };
      curve: { shares: number[] };
    };
    const rows = parseLabelledData(readFileSync(test, 'utf8'), test);
    const scores = rows.map((row) => router.score(featureVectorFromRecord(router.featureSpec, row.features, row.id)));
    const expected = evaluateRouting(qualityPairs(rows, 'hybrid'), scores);
    expect(report.rows).toBe(120);
    expect(report.auc.router).toBeCloseTo(expected.curves.router.auc!, 12);
    expect(report.auc.random).toBeCloseTo(0.5, 12);
    expect(report.auc.router).toBeGreaterThan(0.6);
    expect(report.auc.oracle).toBeGreaterThanOrEqual(report.auc.router);
    expect(report.apgrAt.map((a) => a.share)).toEqual([0.1, 0.2, 0.3, 0.5]);
    expect(report.apgrAt[2]!.router).toBeCloseTo(expected.apgrAt[2]!.router!, 12);
    expect(report.curve.shares).toHaveLength(101);
    const atThreshold = evaluateAtThreshold(qualityPairs(rows, 'hybrid'), scores, router.threshold);
    expect(report.atThreshold).toMatchObject({ threshold: router.threshold, source: 'file' });
    expect(report.atThreshold.share).toBe(atThreshold.share);
    expect(report.atThreshold.gainOverRandomRecovered).toBeCloseTo(atThreshold.gainOverRandomRecovered!, 12);

    const markdown = await cli(['router', 'eval', '--data', test, '--router', out, '--share', '0.5']);
    expect(markdown.stdout).toMatch(/^\| ranking \| AUC \| APGR @ 10 % \| APGR @ 20 % \| APGR @ 30 % \| APGR @ 50 % \|$/m);
    expect(markdown.stdout).toMatch(/^\| random \| 0\.500 \| 0\.100 \| 0\.200 \| 0\.300 \| 0\.500 \|$/m);
    expect(markdown.stdout).toMatch(/^\| 100 % \| /m);
    expect(markdown.stdout).toMatch(/At threshold \S+ \(re-derived from the training scores for a share of 50 %\): \d+ of 120 prompts/);
  });

  it('is deterministic given --seed, and --json reports the fit and the folds', async () => {
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.json');
    const args = ['--data', train, '--features', 'first_entropy,embedding', '--local-tier', 'slm', '--l2', '0.5', '--folds', '3', '--seed', '11', '--json'];
    const first = JSON.parse((await cli(['router', 'train', '--out', a, ...args])).stdout) as Record<string, unknown>;
    const second = JSON.parse((await cli(['router', 'train', '--out', b, ...args])).stdout) as Record<string, unknown>;
    expect({ ...second, out: a }).toEqual(first);
    expect(first).toMatchObject({ rows: 160, features: ['first_entropy', 'embedding'], embeddingDims: 8, localTier: 'slm' });
    expect((first.crossValidation as { perFold: unknown[] }).perFold).toHaveLength(3);
    const docA = JSON.parse(readFileSync(a, 'utf8')) as Record<string, unknown> & { provenance: Record<string, unknown> };
    const docB = JSON.parse(readFileSync(b, 'utf8')) as Record<string, unknown> & { provenance: Record<string, unknown> };
    expect({ ...docB, provenance: { ...docB.provenance, trainedAt: '' } }).toEqual({ ...docA, provenance: { ...docA.provenance, trainedAt: '' } });
    expect(docA.weights).toHaveLength(9);
  });

  it('exits 2 naming the flag for a bad flag, and names the router file and place for a bad one', async () => {
    const share = await fails(['router', 'train', '--data', train, '--out', out, '--target-frontier-share', '2']);
    expect(share.code).toBe(2);
    expect(share.stderr).toMatch(/option '--target-frontier-share <share>' argument '2' is invalid/);
    const feature = await fails(['router', 'train', '--data', train, '--out', out, '--features', 'first_entropy,foo']);
    expect(feature.code).toBe(2);
    expect(feature.stderr).toMatch(/option '--features <list>' argument 'first_entropy,foo' is invalid\. 'foo' is not a known feature \(known: embedding, /);
    const tier = await fails(['router', 'train', '--data', train, '--out', out, '--local-tier', 'frontier']);
    expect(tier.code).toBe(2);
    expect(tier.stderr).toMatch(/--local-tier/);
    const folds = await fails(['router', 'train', '--data', train, '--out', out, '--folds', '1']);
    expect(folds.code).toBe(2);
    expect(folds.stderr).toMatch(/1 folds for 160 prompts: use 0 \(no cross-validation\) or 2 to 160 \(--folds\)/);
    const noData = await fails(['router', 'train', '--data', join(dir, 'absent.jsonl'), '--out', out]);
    expect(noData.code).toBe(2);
    expect(noData.stderr).toMatch(/cannot read the labelled data .*absent\.jsonl.*\(--data\)/);

    const badData = join(dir, 'bad.jsonl');
    writeFileSync(badData, `${JSON.stringify(syntheticRows(1, 5)[0])}\n{"id": "p2", "oops"\n`);
    const data = await fails(['router', 'train', '--data', badData, '--out', out]);
    expect(data.code).toBe(2);
    expect(data.stderr).toMatch(/bad\.jsonl:2: not JSON: .*\(--data\)/);

    const lacking = join(dir, 'lacking.jsonl');
    writeFileSync(lacking, toJsonLines(syntheticRows(3, 6).map((row) => ({ ...row, features: { ...row.features, first_entropy: undefined } }))));
    const missing = await fails(['router', 'eval', '--data', lacking, '--router', out]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/row 'p0': feature 'first_entropy' is missing \(--data\)/);

    const badRouter = join(dir, 'bad-router.json');
    writeFileSync(badRouter, JSON.stringify({ ...JSON.parse(readFileSync(out, 'utf8')), format: 'specroute-router/0' }));
    const router = await fails(['router', 'eval', '--data', test, '--router', badRouter]);
    expect(router.code).toBe(2);
    expect(router.stderr).toMatch(/^specroute: --router \(.*bad-router\.json\): format is "specroute-router\/0"; this specroute reads "specroute-router\/1"/m);
  });

  it('has --help with examples', async () => {
    for (const args of [['router', '--help'], ['router', 'train', '--help'], ['router', 'eval', '--help']]) {
      const { stdout } = await cli(args);
      expect(stdout).toMatch(/Examples:/);
      expect(stdout).toMatch(/\$ specroute router /);
    }
  });
});
