import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SpecrouteError } from '../../src/errors/registry.js';
import { realisedShare } from '../../src/routing/calibration.js';
import { featureVectorFromRecord } from '../../src/routing/feature-vector.js';
import { parseLabelledData } from '../../src/routing/labelled-data.js';
import { loadRouterFile, saveRouterFile, type RouterFileDocument, type RouterFileExpectations } from '../../src/routing/router-file.js';
import { trainRouter } from '../../src/routing/train-router.js';
import { scratchDir } from '../helpers/models.js';
import { syntheticRows, TEST_TOKENIZER, toJsonLines } from '../helpers/router-data.js';

const rows = parseLabelledData(toJsonLines(syntheticRows(120, 3)), 'data.jsonl');
const trained = trainRouter(rows, { folds: 0, targetFrontierShare: 0.3 }, { data: 'data.jsonl', sha256: 'ab'.repeat(32), specroute: '0.1.0', trainedAt: '2025-01-01T00:00:00.000Z' });
const dir = scratchDir('router-file-');

/** Writes `text` (or the trained document changed by `edit`) and returns its path. */
function fileWith(name: string, content: string | ((doc: Record<string, unknown>) => void)): string {
  const path = join(dir, name);
  if (typeof content === 'string') writeFileSync(path, content);
  else {
    const doc = structuredClone(trained.document) as unknown as Record<string, unknown>;
    content(doc);
    writeFileSync(path, JSON.stringify(doc));
  }
  return path;
}

function loadError(path: string, expect: RouterFileExpectations = {}): SpecrouteError {
  try {
    loadRouterFile(path, expect);
  } catch (error) {
    if (!(error instanceof SpecrouteError)) throw error;
    return error;
  }
  throw new Error(`${path} loaded`);
}

describe('router file', () => {
  it('round-trips: the loaded router scores exactly as trained, with the calibrated threshold', () => {
    const path = join(dir, 'router.json');
    saveRouterFile(path, trained.document);
    const router = loadRouterFile(path, { tokenizer: TEST_TOKENIZER, embeddingDims: 8 });
    expect(router.kind).toBe('logistic');
    expect(router.features).toEqual(['embedding', 'prompt_mean_logprob', 'prompt_mean_entropy', 'first_entropy', 'first_margin', 'log_prompt_tokens', 'log_max_tokens']);
    expect(router.featureSpec.embeddingDims).toBe(8);
    expect(router.localTier).toBe('hybrid');
    expect(router.threshold).toBe(trained.document.threshold);
    const scores = rows.map((row) => router.score(featureVectorFromRecord(router.featureSpec, row.features, row.id)));
    expect(scores).toEqual(trained.document.trainingScores);
    expect(realisedShare(scores, router.threshold)).toBeCloseTo(0.3, 12); // 36 of 120, distinct scores
    expect(router.toFrontier(router.threshold)).toBe(true);
    expect(router.document.provenance).toMatchObject({ data: 'data.jsonl', rows: 120, trainedAt: '2025-01-01T00:00:00.000Z', specroute: '0.1.0' });
    // Readable: one top-level key a line.
    expect(readFileSync(path, 'utf8').split('\n')[1]).toBe('  "format": "specroute-router/1",');
  });

  it('withTargetShare re-derives the threshold from the training scores', () => {
    const path = join(dir, 'router.json');
    saveRouterFile(path, trained.document);
    const router = loadRouterFile(path);
    const tenth = router.withTargetShare(0.1);
    expect(tenth.targetFrontierShare).toBe(0.1);
    expect(realisedShare(router.trainingScores, tenth.threshold)).toBeCloseTo(0.1, 12);
    const never = router.withTargetShare(0);
    expect(never.threshold).toBe(Infinity);
    expect(never.document.threshold).toBeNull();
    // "Never" survives a save and a load as null.
    const neverPath = join(dir, 'never.json');
    saveRouterFile(neverPath, never.document);
    expect(JSON.parse(readFileSync(neverPath, 'utf8')).threshold).toBeNull();
    expect(loadRouterFile(neverPath).threshold).toBe(Infinity);
    expect(router.threshold).toBe(trained.document.threshold); // unchanged
  });

  it('every problem is invalid_argument naming routing.router, the file and the place inside it', () => {
    const cases: Array<[string, string | ((doc: Record<string, unknown>) => void), RegExp, RouterFileExpectations?]> = [
      ['not-json.json', '{"format": "specroute-router/1",', /: not JSON: /],
      ['array.json', '[1, 2]', /: must hold a JSON object/],
      ['no-format.json', (d) => delete d.format, /: format is missing \(expected "specroute-router\/1"\): not a router file\?$/],
      ['format.json', (d) => (d.format = 'specroute-router/2'), /: format is "specroute-router\/2"; this specroute reads "specroute-router\/1"/],
      ['kind.json', (d) => (d.kind = 'mlp'), /: kind is "mlp"; this specroute reads "logistic"$/],
      [
        'feature.json',
        (d) => ((d.features as string[])[2] = 'foo'),
        /: features\[2\] 'foo' is not a known feature \(known: embedding, prompt_mean_logprob, prompt_mean_entropy, first_entropy, first_margin, log_prompt_tokens, log_max_tokens\)$/,
      ],
      ['twice.json', (d) => ((d.features as string[])[2] = 'embedding'), /: features\[2\] 'embedding' is listed twice$/],
      ['weights.json', (d) => (d.weights as number[]).pop(), /: weights has 13 entries; the feature spec needs 14 \(embedding, prompt_mean_logprob, .*log_max_tokens; embeddingDims 8\)$/],
      ['mean.json', (d) => (d.standardize as { mean: number[] }).mean.push(0), /: standardize\.mean has 15 entries; the feature spec needs 14/],
      ['std.json', (d) => ((d.standardize as { std: number[] }).std[3] = 0), /: standardize\.std\[3\]: Number must be greater than 0$/],
      ['vocab.json', (d) => ((d.tokenizer as { vocabSize: unknown }).vocabSize = '512'), /: tokenizer\.vocabSize: Expected number, received string$/],
      ['unknown-key.json', (d) => (d.thresold = 0.5), /: thresold: unknown key$/],
      ['tier.json', (d) => (d.localTier = 'frontier'), /: localTier: Invalid enum value\. Expected 'slm' \| 'hybrid', received 'frontier'$/],
      ['dims.json', (d) => (d.embeddingDims = 0), /: embeddingDims is 0 but features lists 'embedding'$/],
      [
        'tokenizer.json',
        () => undefined,
        /: trained for a tokenizer with 512 tokens \(fingerprint 0123abcd0123abcd\); the verifier's has 32000 tokens \(fingerprint ffffeeeeddddcccc\)$/,
        { tokenizer: { vocabSize: 32000, fingerprint: 'ffffeeeeddddcccc' } },
      ],
      [
        'embedding.json',
        () => undefined,
        /: embeddingDims is 8 \(trained on 8-dimensional embeddings\); the embedding model gives 64$/,
        { tokenizer: TEST_TOKENIZER, embeddingDims: 64 },
      ],
    ];
    for (const [name, content, message, expect_] of cases) {
      const path = fileWith(name, content);
      const error = loadError(path, expect_);
      expect(error.code, name).toBe('invalid_argument');
      expect(error.param, name).toBe('routing.router');
      expect(error.message, name).toMatch(new RegExp(`^routing\\.router \\(${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\)`));
      expect(error.message, name).toMatch(message);
    }
    const missing = join(dir, 'missing.json');
    expect(loadError(missing).message).toMatch(/^routing\.router \(.*missing\.json\): cannot read the router file: ENOENT/);
  });

  it('the embedding dims are checked only for a router that reads the embedding; a flag can stand for the key', () => {
    const scalar = trainRouter(rows, { folds: 0, features: ['first_entropy', 'first_margin'] });
    const path = join(dir, 'scalar.json');
    saveRouterFile(path, scalar.document as RouterFileDocument);
    expect(loadRouterFile(path, { embeddingDims: 64 }).featureSpec.features).toEqual(['first_entropy', 'first_margin']);
    try {
      loadRouterFile(path, { tokenizer: { vocabSize: 1, fingerprint: '0000000000000000' }, tokenizerOwner: "the data's" }, { key: '--router' });
      expect.unreachable();
    } catch (error) {
      expect((error as SpecrouteError).param).toBe('--router');
      expect((error as SpecrouteError).message).toMatch(/^--router \(.*scalar\.json\): trained for .*; the data's has 1 tokens/);
    }
  });

  it('saveRouterFile refuses an inconsistent document', () => {
    const broken = { ...trained.document, weights: [1] };
    expect(() => saveRouterFile(join(dir, 'broken.json'), broken)).toThrow(/weights has 1 entries/);
  });
});
