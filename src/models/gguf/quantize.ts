/**
 * Quantization of float tensors to Q8_0 and Q4_0, bit for bit as ggml's reference functions
 * (`quantize_row_q8_0_ref`, `quantize_row_q4_0_ref` in ggml/src/ggml-quants.c) do it, plus the
 * float16/bfloat16 conversions and the dequantization of F16/BF16/Q8_0/Q4_0 back to float32.
 *
 * Every intermediate is rounded to float32 (`Math.fround`) where the C code computes in `float`, so
 * the bytes equal what llama.cpp's `llama-quantize` writes for the same input.
 */
import { SpecrouteError } from '../../errors/registry.js';
import { GgmlType, ggmlTypeName } from './ggml-types.js';

/** Elements per Q8_0 / Q4_0 block. */
export const QK8_0 = 32;
export const QK4_0 = 32;
/** Bytes per Q8_0 block: an fp16 scale and 32 int8 values. */
export const Q8_0_BLOCK_BYTES = 2 + QK8_0;
/** Bytes per Q4_0 block: an fp16 scale and 32 4-bit values packed two per byte. */
export const Q4_0_BLOCK_BYTES = 2 + QK4_0 / 2;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The IEEE-754 bits of `x` as a float32. */
export function float32ToBits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

/** The float32 whose IEEE-754 bits are `bits`. */
export function bitsToFloat32(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0]!;
}

/**
 * float32 → IEEE-754 binary16 bits, rounding to nearest, ties to even (as F16C's `_cvtss_sh(x, 0)` and
 * ggml's portable `ggml_compute_fp32_to_fp16` do). Overflow gives ±Inf, tiny values give subnormals or
 * ±0, any NaN becomes the quiet NaN `0x7e00` with its sign (bit-identical to `ggml_fp32_to_fp16_row`).
 */
export function float32ToFloat16Bits(x: number): number {
  const w = float32ToBits(x);
  const sign = (w >>> 16) & 0x8000;
  const exp = (w >>> 23) & 0xff;
  let mant = w & 0x7fffff;
  if (exp === 0xff) {
    // Inf, or NaN: the canonical quiet NaN with its sign, as ggml_compute_fp32_to_fp16 writes it.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00;
  }
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → Inf
  if (e <= 0) {
    // Subnormal half (or zero). The value is mant·2^(e-25) with the implicit bit made explicit.
    const shift = 14 - e;
    if (shift > 24) return sign; // below half of the smallest subnormal: rounds to ±0
    mant |= 0x800000;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) === 1)) half += 1; // may carry into the smallest normal
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half += 1; // a carry may reach Inf, correctly
  return sign | half;
}

/** IEEE-754 binary16 bits → the exact float32 (every half is representable). */
export function float16BitsToFloat32(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) {
    if (mant === 0) return bitsToFloat32(sign);
    // Subnormal: mant · 2^-24, exact in float32.
    const v = mant * 2 ** -24;
    return sign !== 0 ? -v : v;
  }
  if (exp === 0x1f) return bitsToFloat32(sign | 0x7f800000 | (mant << 13));
  return bitsToFloat32(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

/** bfloat16 bits → float32 (the top half of the float32 bits). */
export function bf16BitsToFloat32(h: number): number {
  return bitsToFloat32((h & 0xffff) << 16);
}

/** `roundf` from C: to nearest, ties away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

function checkBlocks(length: number, qk: number, kind: string): number {
  if (length % qk !== 0) {
    throw new SpecrouteError('invalid_argument', `${kind} needs a multiple of ${qk} elements, got ${length}.`);
  }
  return length / qk;
}

/**
 * Quantizes `x` to Q8_0 exactly as `quantize_row_q8_0_ref`: per block of 32, `d = amax/127` (stored as
 * fp16), `q = roundf(x/d)`. `x.length` must be a multiple of 32; rows are simply concatenated blocks.
 */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  const nb = checkBlocks(x.length, QK8_0, 'Q8_0');
  const out = new Uint8Array(nb * Q8_0_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  for (let i = 0; i < nb; i++) {
    const base = i * QK8_0;
    let amax = 0;
    for (let j = 0; j < QK8_0; j++) {
      const v = Math.abs(x[base + j]!);
      if (v > amax) amax = v; // MAX(amax, fabsf(v))
    }
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = i * Q8_0_BLOCK_BYTES;
    view.setUint16(o, float32ToFloat16Bits(d), true);
    for (let j = 0; j < QK8_0; j++) {
      const x0 = Math.fround(x[base + j]! * id);
      view.setInt8(o + 2 + j, roundf(x0));
    }
  }
  return out;
}

/**
 * Quantizes `x` to Q4_0 exactly as `quantize_row_q4_0_ref`: per block of 32, `max` is the element with
 * the largest magnitude (sign kept, first one on ties), `d = max/-8` (stored as fp16),
 * `q = min(15, (int8)(x/d + 8.5))`; element j goes to the low nibble of byte j, element j+16 to its high nibble.
 */
export function quantizeQ4_0(x: Float32Array): Uint8Array {
  const nb = checkBlocks(x.length, QK4_0, 'Q4_0');
  const out = new Uint8Array(nb * Q4_0_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  const half = QK4_0 / 2;
  for (let i = 0; i < nb; i++) {
    const base = i * QK4_0;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK4_0; j++) {
      const v = x[base + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = i * Q4_0_BLOCK_BYTES;
    view.setUint16(o, float32ToFloat16Bits(d), true);
    for (let j = 0; j < half; j++) {
      const x0 = Math.fround(x[base + j]! * id);
      const x1 = Math.fround(x[base + half + j]! * id);
      // (int8_t) truncates toward zero; (uint8_t) of MIN(15, …) wraps a (never expected) negative value.
      const xi0 = Math.min(15, (Math.trunc(Math.fround(x0 + 8.5)) << 24) >> 24) & 0xff;
      const xi1 = Math.min(15, (Math.trunc(Math.fround(x1 + 8.5)) << 24) >> 24) & 0xff;
      out[o + 2 + j] = (xi0 | (xi1 << 4)) & 0xff;
    }
  }
  return out;
}

/** Q8_0 → float32 as `dequantize_row_q8_0`: `y = q·d`. */
export function dequantizeQ8_0(data: Uint8Array, elementCount?: number): Float32Array {
  const nb = Math.floor(data.length / Q8_0_BLOCK_BYTES);
  const n = elementCount ?? nb * QK8_0;
  checkBlocks(n, QK8_0, 'Q8_0');
  if (n / QK8_0 > nb) throw new SpecrouteError('invalid_argument', `Q8_0 data holds ${nb} blocks, ${n / QK8_0} needed.`);
  const out = new Float32Array(n);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < n / QK8_0; i++) {
    const o = i * Q8_0_BLOCK_BYTES;
    const d = float16BitsToFloat32(view.getUint16(o, true));
    for (let j = 0; j < QK8_0; j++) out[i * QK8_0 + j] = view.getInt8(o + 2 + j) * d;
  }
  return out;
}

/** Q4_0 → float32 as `dequantize_row_q4_0`: `y = (nibble − 8)·d`. */
export function dequantizeQ4_0(data: Uint8Array, elementCount?: number): Float32Array {
  const nb = Math.floor(data.length / Q4_0_BLOCK_BYTES);
  const n = elementCount ?? nb * QK4_0;
  checkBlocks(n, QK4_0, 'Q4_0');
  if (n / QK4_0 > nb) throw new SpecrouteError('invalid_argument', `Q4_0 data holds ${nb} blocks, ${n / QK4_0} needed.`);
  const out = new Float32Array(n);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const half = QK4_0 / 2;
  for (let i = 0; i < n / QK4_0; i++) {
    const o = i * Q4_0_BLOCK_BYTES;
    const d = float16BitsToFloat32(view.getUint16(o, true));
    for (let j = 0; j < half; j++) {
      const b = data[o + 2 + j]!;
      out[i * QK4_0 + j] = ((b & 0x0f) - 8) * d;
      out[i * QK4_0 + half + j] = ((b >> 4) - 8) * d;
    }
  }
  return out;
}

/** F16 (little-endian) → float32. */
export function dequantizeF16(data: Uint8Array, elementCount?: number): Float32Array {
  const n = elementCount ?? Math.floor(data.length / 2);
  const out = new Float32Array(n);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < n; i++) out[i] = float16BitsToFloat32(view.getUint16(i * 2, true));
  return out;
}

/** float32 → F16 bytes (little-endian), round to nearest even. */
export function encodeF16(x: Float32Array): Uint8Array {
  const out = new Uint8Array(x.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < x.length; i++) view.setUint16(i * 2, float32ToFloat16Bits(x[i]!), true);
  return out;
}

/** The ggml types `toFloat32` can read. */
export const dequantizableTypes: ReadonlySet<number> = new Set([
  GgmlType.F32,
  GgmlType.F16,
  GgmlType.BF16,
  GgmlType.Q8_0,
  GgmlType.Q4_0,
]);

/**
 * The tensor bytes `data` of ggml type `type` as float32 values. Supports F32, F16, BF16, Q8_0 and Q4_0;
 * throws `SpecrouteError('unsupported_model')` for any other type.
 */
export function toFloat32(type: number, data: Uint8Array, elementCount: number): Float32Array {
  switch (type) {
    case GgmlType.F32: {
      const out = new Float32Array(elementCount);
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      for (let i = 0; i < elementCount; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case GgmlType.F16:
      return dequantizeF16(data, elementCount);
    case GgmlType.BF16: {
      const out = new Float32Array(elementCount);
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      for (let i = 0; i < elementCount; i++) out[i] = bf16BitsToFloat32(view.getUint16(i * 2, true));
      return out;
    }
    case GgmlType.Q8_0:
      return dequantizeQ8_0(data, elementCount);
    case GgmlType.Q4_0:
      return dequantizeQ4_0(data, elementCount);
    default:
      throw new SpecrouteError(
        'unsupported_model',
        `Cannot convert ggml type ${ggmlTypeName(type)} to float32; supported: F32, F16, BF16, Q8_0, Q4_0.`,
      );
  }
}

/** The quantized types specroute can produce. */
export type QuantizationType = 'q8_0' | 'q4_0';

/** The ggml type id of a quantization target. */
export function quantizationGgmlType(target: QuantizationType): number {
  return target === 'q8_0' ? GgmlType.Q8_0 : GgmlType.Q4_0;
}

/** Quantizes float32 values to `target` (Q8_0 or Q4_0). */
export function quantize(target: QuantizationType, x: Float32Array): Uint8Array {
  return target === 'q8_0' ? quantizeQ8_0(x) : quantizeQ4_0(x);
}
