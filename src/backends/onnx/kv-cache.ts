/**
 * One sequence's KV cache for an ONNX causal LM: the `present.*` tensors of the last run, fed back as the next
 * run's `past_key_values.*`. Rolling back keeps the first `keep` positions of every tensor (a slice along the
 * length axis of [1, kv_heads, length, head_dim]).
 */
import { Tensor } from 'onnxruntime-node';
import type { CausalLmSignature } from './causal-lm-signature.js';

export class KvCache {
  private keys: Tensor[];
  private values: Tensor[];
  private length_ = 0;

  constructor(private readonly signature: CausalLmSignature) {
    this.keys = Array.from({ length: signature.layers }, () => this.empty());
    this.values = Array.from({ length: signature.layers }, () => this.empty());
  }

  /** Positions held. */
  get length(): number {
    return this.length_;
  }

  private empty(): Tensor {
    return new Tensor('float32', new Float32Array(0), [1, this.signature.kvHeads, 0, this.signature.headDim]);
  }

  /** Keeps the first `keep` positions. */
  truncate(keep: number): void {
    if (keep >= this.length_) return;
    const slice = (t: Tensor): Tensor => {
      if (keep === 0) return this.empty();
      const { kvHeads, headDim } = this.signature;
      const data = t.data as Float32Array;
      const out = new Float32Array(kvHeads * keep * headDim);
      const from = this.length_ * headDim;
      const to = keep * headDim;
      for (let h = 0; h < kvHeads; h++) out.set(data.subarray(h * from, h * from + to), h * to);
      return new Tensor('float32', out, [1, kvHeads, keep, headDim]);
    };
    this.keys = this.keys.map(slice);
    this.values = this.values.map(slice);
    this.length_ = keep;
  }

  /** The `past_key_values.*` feeds. */
  feeds(): Record<string, Tensor> {
    const feeds: Record<string, Tensor> = {};
    const { pastKey, pastValue } = this.signature;
    for (let i = 0; i < this.signature.layers; i++) {
      feeds[pastKey[i]!] = this.keys[i]!;
      feeds[pastValue[i]!] = this.values[i]!;
    }
    return feeds;
  }

  /** Takes the `present.*` outputs of a run that appended `appended` positions. */
  update(outputs: Readonly<Record<string, unknown>>, appended: number): void {
    const { presentKey, presentValue, kvHeads, headDim } = this.signature;
    const length = this.length_ + appended;
    const take = (name: string): Tensor => {
      const t = outputs[name];
      if (!(t instanceof Tensor) || t.type !== 'float32') throw new Error(`onnx: the run returned no float32 ${name}`);
      const [batch, heads, len, dim] = t.dims;
      if (batch !== 1 || heads !== kvHeads || len !== length || dim !== headDim) {
        throw new Error(`onnx: ${name} has dims [${t.dims.join(', ')}], [1, ${kvHeads}, ${length}, ${headDim}] expected`);
      }
      return t;
    };
    this.keys = presentKey.map(take);
    this.values = presentValue.map(take);
    this.length_ = length;
  }

  /** Drops every position. */
  clear(): void {
    this.truncate(0);
  }
}
