import { Tensor } from 'onnxruntime-node';
import { SpecrouteError } from '../../errors/registry.js';
import type { BackendSequence, PositionScores, ScoreRequest } from '../types.js';
import { KvCache } from './kv-cache.js';
import { scoresFromLogits } from '../scores.js';
import type { OnnxBackend } from './onnx-backend.js';

/**
 * One request's sequence on an ONNX model: its KV cache, evaluated a whole block of tokens per run (a prompt, or
 * a draft being verified) and rolled back by truncating the cache.
 */
export class OnnxSequence implements BackendSequence {
  private readonly cache: KvCache;
  private disposed = false;

  constructor(
    private readonly backend: OnnxBackend,
    private readonly release: () => void,
  ) {
    this.cache = new KvCache(backend.signature);
  }

  get length(): number {
    return this.cache.length;
  }

  async evaluate(keep: number, tokens: readonly number[], scoreLast: number, request: ScoreRequest): Promise<PositionScores[]> {
    if (this.disposed) throw new Error('evaluate: the sequence is disposed');
    const length = this.cache.length;
    if (keep > length) throw new Error(`evaluate: keep ${keep} is past the sequence length ${length}`);
    if (scoreLast < 0 || scoreLast > tokens.length) throw new Error(`evaluate: cannot score the last ${scoreLast} of ${tokens.length} tokens`);
    this.cache.truncate(keep);
    if (tokens.length === 0) return [];
    const { contextSize, vocabSize } = this.backend.info;
    if (keep + tokens.length > contextSize) {
      throw new SpecrouteError('context_length_exceeded', `the sequence would hold ${keep + tokens.length} tokens; the context holds ${contextSize}`);
    }

    const n = tokens.length;
    const signature = this.backend.signature;
    const feeds: Record<string, Tensor> = {
      input_ids: new Tensor('int64', BigInt64Array.from(tokens, (t) => BigInt(t)), [1, n]),
      ...this.cache.feeds(),
    };
    if (signature.hasAttentionMask) feeds['attention_mask'] = new Tensor('int64', new BigInt64Array(keep + n).fill(1n), [1, keep + n]);
    if (signature.hasPositionIds) feeds['position_ids'] = new Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(keep + i)), [1, n]);
    if (signature.hasUseCacheBranch) feeds['use_cache_branch'] = new Tensor('bool', new Uint8Array([keep > 0 ? 1 : 0]), [1]);
    const outputs = await this.backend.run(feeds);
    if (this.disposed) return [];
    this.cache.update(outputs, n);

    const logits = outputs['logits'];
    if (!(logits instanceof Tensor) || logits.type !== 'float32') throw new Error('evaluate: the run returned no float32 logits');
    const [, rows, vocab] = logits.dims;
    if (rows === undefined || vocab !== vocabSize || rows < scoreLast) {
      throw new Error(`evaluate: logits have dims [${logits.dims.join(', ')}]; ${scoreLast} rows of ${vocabSize} were needed`);
    }
    const data = logits.data as Float32Array;
    const scores: PositionScores[] = [];
    for (let row = rows - scoreLast, i = 0; row < rows; row++, i++) {
      scores.push(scoresFromLogits(data.slice(row * vocab, (row + 1) * vocab), request, request.masks?.[i]));
    }
    return scores;
  }

  /** Frees the cache and the slot. Safe to call more than once. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.cache.clear();
    this.release();
  }
}
