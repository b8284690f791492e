import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../bench/lib/mulberry32.js';
import { SpecrouteError } from '../../src/errors/registry.js';
import { parseLayerSpec, formatLayerList, isQuantizable } from '../../src/models/draft-make.js';
import { GgmlType, getGgmlType, ggmlTensorByteSize } from '../../src/models/gguf/ggml-types.js';
import {
  GgufValueType,
  encodeMetadataEntryBytes,
  setMetadataEntry,
  type GgufMetadataEntry,
} from '../../src/models/gguf/gguf-metadata.js';
import { GgufReader, readGgufHeader } from '../../src/models/gguf/gguf-reader.js';
import { writeGgufFile, type GgufWriteTensor } from '../../src/models/gguf/gguf-writer.js';
import {
  dequantizeF16,
  dequantizeQ4_0,
  dequantizeQ8_0,
  encodeF16,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  quantizeQ4_0,
  quantizeQ8_0,
  toFloat32,
} from '../../src/models/gguf/quantize.js';

const modelsDir = fileURLToPath(new URL('../../../shared/models/', import.meta.url));
const stories = join(modelsDir, 'stories260K.gguf');
const tinyRandom = join(modelsDir, 'llama-2-tiny-random.gguf');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'specroute-gguf-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The tensors of an open reader, as writer input that reads their data lazily. */
function copyTensors(reader: GgufReader): GgufWriteTensor[] {
  return reader.header.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type, data: () => reader.readTensorData(t) }));
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<SpecrouteError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SpecrouteError);
  expect((error as SpecrouteError).code).toBe(code);
  return error as SpecrouteError;
}

/** A standard normal sampler over a seeded uniform one (`mulberry32`). */
function gaussian(random: () => number, n: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(random(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random()) * scale;
  }
  return out;
}

describe('gguf reader', () => {
  it('parses stories260K.gguf', async () => {
    await using reader = await GgufReader.open(stories);
    const { header } = reader;
    expect(header.version).toBe(3);
    expect(header.alignment).toBe(32);
    expect(header.dataOffset % 32).toBe(0);
    expect(header.fileSize).toBe(1185376);
    expect(reader.getMetadataValue('general.architecture')).toBe('llama');
    expect(reader.getMetadataValue('llama.block_count')).toBe(5);
    expect(reader.getMetadataValue('llama.embedding_length')).toBe(64);
    const tokens = reader.getMetadata('tokenizer.ggml.tokens')!;
    expect(tokens.type).toBe(GgufValueType.ARRAY);
    expect(tokens.arrayType).toBe(GgufValueType.STRING);
    expect((tokens.value as string[]).slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
    expect((tokens.value as string[]).length).toBe(512);
    expect(reader.getMetadata('tokenizer.ggml.scores')!.arrayType).toBe(GgufValueType.FLOAT32);
    expect(header.tensors).toHaveLength(48);
    const q = reader.getTensor('blk.0.attn_q.weight')!;
    expect(q.dims).toEqual([64, 64]);
    expect(q.type).toBe(GgmlType.F32);
    expect(q.byteSize).toBe(64 * 64 * 4);
    const data = toFloat32(q.type, await reader.readTensorData(q), q.elementCount);
    expect(data.every((v) => Number.isFinite(v))).toBe(true);
    expect(data.some((v) => v !== 0)).toBe(true);
  });

  it('re-encodes every metadata entry of both models to its raw bytes', async () => {
    for (const file of [stories, tinyRandom]) {
      const header = await readGgufHeader(file);
      for (const entry of header.metadata) {
        const { raw, ...decoded } = entry;
        expect(Buffer.from(encodeMetadataEntryBytes(decoded)).equals(Buffer.from(raw!)), entry.key).toBe(true);
      }
    }
  });

  it('rejects a file with a bad magic', async () => {
    const path = join(dir, 'bad-magic.gguf');
    const bytes = await readFile(stories);
    bytes.write('GGUX', 0, 'latin1');
    await writeFile(path, bytes);
    const error = await expectCode(GgufReader.open(path), 'invalid_model_file');
    expect(error.message).toMatch(/magic/);
  });

  it('rejects truncated files, in the header and in the tensor data', async () => {
    const bytes = await readFile(stories);
    for (const [name, length] of [
      ['tiny', 3],
      ['header', 5000],
      ['data', bytes.length - 100],
    ] as const) {
      const path = join(dir, `truncated-${name}.gguf`);
      await writeFile(path, bytes.subarray(0, length));
      const error = await expectCode(GgufReader.open(path), 'invalid_model_file');
      expect(error.message).toMatch(/truncated|too short/);
    }
  });

  it('rejects an unknown metadata value type', async () => {
    const bytes = await readFile(stories);
    // The first KV starts at byte 24: u64 key length, key, then the u32 value type.
    const keyLength = Number(bytes.readBigUInt64LE(24));
    bytes.writeUInt32LE(99, 24 + 8 + keyLength);
    const path = join(dir, 'bad-type.gguf');
    await writeFile(path, bytes);
    const error = await expectCode(GgufReader.open(path), 'invalid_model_file');
    expect(error.message).toMatch(/unknown value type 99/);
  });

  it('rejects unsupported versions and a missing file', async () => {
    const bytes = await readFile(stories);
    bytes.writeUInt32LE(1, 4);
    await writeFile(join(dir, 'v1.gguf'), bytes);
    await expectCode(GgufReader.open(join(dir, 'v1.gguf')), 'invalid_model_file');
    bytes.writeUInt32BE(3, 4);
    await writeFile(join(dir, 'big-endian.gguf'), bytes);
    const error = await expectCode(GgufReader.open(join(dir, 'big-endian.gguf')), 'invalid_model_file');
    expect(error.message).toMatch(/big-endian/);
    await expectCode(GgufReader.open(join(dir, 'no-such.gguf')), 'model_not_found');
  });
});

describe('gguf writer', () => {
  it.each([
    ['stories260K', stories],
    ['llama-2-tiny-random', tinyRandom],
  ])('writes %s back byte for byte', async (_name, source) => {
    const out = join(dir, `roundtrip-${_name}.gguf`);
    await using reader = await GgufReader.open(source);
    const result = await writeGgufFile(out, { metadata: reader.header.metadata, tensors: copyTensors(reader) });
    const [a, b] = await Promise.all([readFile(source), readFile(out)]);
    expect(result.bytesWritten).toBe(a.length);
    expect(result.dataOffset).toBe(reader.header.dataOffset);
    expect(b.equals(a)).toBe(true);
  });

  it('encodes new entries of every value type and reads them back', async () => {
    const metadata: GgufMetadataEntry[] = [
      { key: 'general.architecture', type: GgufValueType.STRING, value: 'test' },
      { key: 't.u8', type: GgufValueType.UINT8, value: 255 },
      { key: 't.i8', type: GgufValueType.INT8, value: -128 },
      { key: 't.u16', type: GgufValueType.UINT16, value: 65535 },
      { key: 't.i16', type: GgufValueType.INT16, value: -32768 },
      { key: 't.u32', type: GgufValueType.UINT32, value: 4294967295 },
      { key: 't.i32', type: GgufValueType.INT32, value: -2147483648 },
      { key: 't.f32', type: GgufValueType.FLOAT32, value: Math.fround(0.1) },
      { key: 't.bool', type: GgufValueType.BOOL, value: true },
      { key: 't.str', type: GgufValueType.STRING, value: 'héllo ▁wörld 🙂' },
      { key: 't.u64', type: GgufValueType.UINT64, value: 2n ** 64n - 1n },
      { key: 't.i64', type: GgufValueType.INT64, value: -(2n ** 63n) },
      { key: 't.f64', type: GgufValueType.FLOAT64, value: 0.1 },
      { key: 't.strs', type: GgufValueType.ARRAY, arrayType: GgufValueType.STRING, value: ['a', '', 'ünï'] },
      { key: 't.i32s', type: GgufValueType.ARRAY, arrayType: GgufValueType.INT32, value: [1, -2, 3] },
      { key: 't.empty', type: GgufValueType.ARRAY, arrayType: GgufValueType.FLOAT32, value: [] },
      { key: 'general.alignment', type: GgufValueType.UINT32, value: 64 },
    ];
    const f32 = new Uint8Array(new Float32Array([1, 2, 3]).buffer);
    const out = join(dir, 'all-types.gguf');
    await writeGgufFile(out, {
      metadata,
      tensors: [
        { name: 'a', dims: [3], type: GgmlType.F32, data: f32 },
        { name: 'b', dims: [32, 2], type: GgmlType.Q8_0, data: quantizeQ8_0(new Float32Array(64).fill(127 / 256)) },
      ],
    });
    await using reader = await GgufReader.open(out);
    expect(reader.header.alignment).toBe(64);
    expect(reader.header.dataOffset % 64).toBe(0);
    expect(reader.header.metadata.map(({ key, type, arrayType, value }) => ({ key, type, value, ...(arrayType === undefined ? {} : { arrayType }) }))).toEqual(
      metadata.map((e) => ({ ...e })),
    );
    expect(reader.getTensor('b')!.offset).toBe(64);
    expect(Array.from(toFloat32(GgmlType.F32, await reader.readTensorData('a'), 3))).toEqual([1, 2, 3]);
    expect(Array.from(dequantizeQ8_0(await reader.readTensorData('b')))).toEqual(new Array(64).fill(127 / 256));
  });

  it('rejects bad metadata values before writing anything', () => {
    expect(() => setMetadataEntry([], 'x', 256, GgufValueType.UINT8)).toThrow(/not an integer in \[0, 255\]/);
    expect(() => setMetadataEntry([], 'x', 'no', GgufValueType.UINT32)).toThrow(SpecrouteError);
    expect(() => setMetadataEntry([], 'x', 1)).toThrow(/needs a type/);
  });

  it('leaves no file behind, and an existing file untouched, when writing fails', async () => {
    const out = join(dir, 'atomic', 'model.gguf');
    await mkdir(join(dir, 'atomic'));
    await writeFile(out, 'previous content');
    const metadata: GgufMetadataEntry[] = [{ key: 'general.architecture', type: GgufValueType.STRING, value: 'x' }];
    const failing = writeGgufFile(out, {
      metadata,
      tensors: [
        { name: 'a', dims: [4], type: GgmlType.F32, data: new Uint8Array(16) },
        {
          name: 'b',
          dims: [4],
          type: GgmlType.F32,
          data: () => Promise.reject(new Error('source went away')),
        },
      ],
    });
    await expect(failing).rejects.toThrow('source went away');
    const wrongSize = writeGgufFile(out, { metadata, tensors: [{ name: 'a', dims: [4], type: GgmlType.F32, data: new Uint8Array(15) }] });
    await expectCode(wrongSize, 'invalid_argument');
    expect(await readdir(join(dir, 'atomic'))).toEqual(['model.gguf']);
    expect(await readFile(out, 'utf8')).toBe('previous content');
  });
});

describe('ggml types', () => {
  it('knows the block and type sizes', () => {
    expect(getGgmlType(GgmlType.Q8_0)).toMatchObject({ name: 'Q8_0', blockSize: 32, typeSize: 34 });
    expect(getGgmlType(GgmlType.Q4_0)).toMatchObject({ blockSize: 32, typeSize: 18 });
    expect(getGgmlType(GgmlType.Q4_K)).toMatchObject({ blockSize: 256, typeSize: 144 });
    expect(getGgmlType(GgmlType.Q6_K)).toMatchObject({ blockSize: 256, typeSize: 210 });
    expect(getGgmlType(GgmlType.BF16)).toMatchObject({ blockSize: 1, typeSize: 2 });
    expect(ggmlTensorByteSize(GgmlType.F32, [64, 172])).toBe(64 * 172 * 4);
    expect(ggmlTensorByteSize(GgmlType.Q8_0, [64, 512])).toBe((64 * 512 * 34) / 32);
    expect(ggmlTensorByteSize(GgmlType.Q4_0, [64, 10, 3])).toBe((64 * 30 * 18) / 32);
  });

  it('names unknown and removed type ids clearly', () => {
    expect(() => getGgmlType(99, 'tensor x')).toThrow(/tensor x.*unknown ggml tensor type id 99/);
    expect(() => getGgmlType(31)).toThrow(/Q4_0_4_4.*removed/);
    expect(() => ggmlTensorByteSize(GgmlType.Q8_0, [172, 64], 'tensor y')).toThrow(/row length 172 of tensor y/);
  });
});

describe('quantization', () => {
  // Golden bytes produced by ggml's own quantize_row_q8_0_ref / quantize_row_q4_0_ref (libggml-base.so
  // from node-llama-cpp 3.22.1, called through ctypes) on the same 96 inputs.
  const golden = new Float32Array(96);
  for (let i = 0; i < 64; i++) golden[i] = (((i * 37) % 101) - 50) / 23;
  for (let i = 0; i < 32; i++) golden[64 + i] = (((i * 13) % 17) - 8) / 1000;
  const goldenQ8 =
    '622481df3d9af856b41270cd2b89e745a2005ebb1977d53390ee4caa0866c3217fdc4b243c96f656b0106fca2984e3439efd5db71777d1318beb4ba50565bf1f7fd939932104814f10d0915f20e0a16f30f0b17f4000c0814f10d0915f20e0a16f30f0b17f40';
  const goldenQ4 =
    '5934e046acf258bd1379df358be046acf26843b4740fb953fd9731eb852fca640ea842fd1914400dd995511eeaa6622ffbb7733ffcc8';

  it('matches ggml byte for byte', () => {
    expect(Buffer.from(quantizeQ8_0(golden)).toString('hex')).toBe(goldenQ8);
    expect(Buffer.from(quantizeQ4_0(golden)).toString('hex')).toBe(goldenQ4);
  });

  it('keeps Q8_0 and Q4_0 errors within their bounds on random data', () => {
    const random = mulberry32(42);
    const x = gaussian(random, 32 * 2000, 0.05);
    // A few blocks with outliers and with all-zero values.
    x[100] = 3;
    x.fill(0, 320, 352);
    const q8 = dequantizeQ8_0(quantizeQ8_0(x));
    const q4 = dequantizeQ4_0(quantizeQ4_0(x));
    let se8 = 0;
    let se4 = 0;
    let sx = 0;
    let worst8 = -Infinity;
    let worst4 = -Infinity;
    for (let b = 0; b < x.length / 32; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
      for (let j = 0; j < 32; j++) {
        const i = b * 32 + j;
        const e8 = Math.abs(q8[i]! - x[i]!);
        const e4 = Math.abs(q4[i]! - x[i]!);
        // Half a step of amax/127, plus the fp16 rounding of the scale (relative 2^-11, times ≤127 steps).
        worst8 = Math.max(worst8, e8 - (amax / 254 + amax * 2 ** -10));
        // Q4_0 steps are amax/8; the element opposite the max clips from +8 to +7: at most one step.
        worst4 = Math.max(worst4, e4 - (amax / 8 + amax * 2 ** -10));
        se8 += e8 * e8;
        se4 += e4 * e4;
        sx += x[i]! * x[i]!;
      }
    }
    expect(worst8).toBeLessThanOrEqual(1e-12);
    expect(worst4).toBeLessThanOrEqual(1e-12);
    expect(q8.slice(320, 352).every((v) => v === 0)).toBe(true);
    const rel8 = Math.sqrt(se8 / sx);
    const rel4 = Math.sqrt(se4 / sx);
    expect(rel8).toBeLessThan(0.01);
    expect(rel4).toBeLessThan(0.15);
    expect(rel4).toBeGreaterThan(rel8);
  });

  it('rejects inputs that are not whole blocks', () => {
    expect(() => quantizeQ8_0(new Float32Array(31))).toThrow(/multiple of 32/);
    expect(() => quantizeQ4_0(new Float32Array(33))).toThrow(/multiple of 32/);
    expect(() => toFloat32(GgmlType.Q4_K, new Uint8Array(144), 256)).toThrow(/Q4_K/);
  });
});

describe('float16 conversion', () => {
  const cases: Array<[number, number]> = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff], // largest finite half
    [65519, 0x7bff], // just below the halfway point to 65536
    [65520, 0x7c00], // halfway: ties to even, which is Inf
    [1e6, 0x7c00],
    [-1e6, 0xfc00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -14 - 2 ** -24, 0x03ff], // largest subnormal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // halfway to the smallest subnormal: ties to even (0)
    [Math.fround(2 ** -25 * 1.0000001), 0x0001],
    [3 * 2 ** -25, 0x0002], // 1.5 × smallest subnormal: ties to even (2)
    [2 ** -26, 0x0000],
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and the next half: even (1)
    [1 + 3 * 2 ** -11, 0x3c02], // halfway between 0x3c01 and 0x3c02: even (0x3c02)
    [Math.fround(1 + 2 ** -11 + 2 ** -20), 0x3c01], // just above halfway: up
    [Math.fround(0.1), 0x2e66],
  ];
  it.each(cases)('%d → 0x%s', (value, bits) => {
    expect(float32ToFloat16Bits(value)).toBe(bits);
  });

  it('maps NaN to the canonical quiet NaN', () => {
    expect(float32ToFloat16Bits(NaN)).toBe(0x7e00);
    expect(Number.isNaN(float16BitsToFloat32(0x7e00))).toBe(true);
    expect(Number.isNaN(float16BitsToFloat32(0x7c01))).toBe(true);
  });

  it('round-trips every finite half exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      const exponent = (h >> 10) & 0x1f;
      if (exponent === 0x1f && (h & 0x3ff) !== 0) continue; // NaN
      expect(float32ToFloat16Bits(float16BitsToFloat32(h))).toBe(h);
    }
    expect(float16BitsToFloat32(0x0001)).toBe(2 ** -24);
    expect(float16BitsToFloat32(0xfbff)).toBe(-65504);
    expect(Object.is(float16BitsToFloat32(0x8000), -0)).toBe(true);
  });

  it('encodes and decodes F16 tensors', () => {
    const x = new Float32Array([0, 1, -1.5, 65504, 2 ** -24, 0.1]);
    const back = dequantizeF16(encodeF16(x));
    expect(Array.from(back)).toEqual([0, 1, -1.5, 65504, 2 ** -24, float16BitsToFloat32(0x2e66)]);
  });
});

describe('layer lists', () => {
  it.each([
    ['0-2', 5, [0, 1, 2]],
    ['0,1,4', 5, [0, 1, 4]],
    [' 3 , 0-1 ', 5, [3, 0, 1]],
    ['4', 5, [4]],
    ['0 - 4', 5, [0, 1, 2, 3, 4]],
    ['2,0', 3, [2, 0]],
  ] as const)('parses %j with %i layers', (spec, count, expected) => {
    expect(parseLayerSpec(spec, count)).toEqual(expected);
  });

  it.each([
    ['', /empty/],
    ['  ', /empty/],
    ['a', /Cannot parse/],
    ['0-', /Cannot parse/],
    ['-1', /Cannot parse/],
    ['1.5', /Cannot parse/],
    ['0,,1', /Cannot parse/],
    [',', /Cannot parse/],
    ['0--2', /Cannot parse/],
    ['2-0', /backwards/],
    ['5', /out of range/],
    ['3-7', /out of range/],
    ['0,0', /more than once/],
    ['0-2,1', /more than once/],
  ])('rejects %j', (spec, message) => {
    let error: unknown;
    try {
      parseLayerSpec(spec, 5);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SpecrouteError);
    expect((error as SpecrouteError).code).toBe('invalid_argument');
    expect((error as SpecrouteError).param).toBe('layers');
    expect((error as SpecrouteError).message).toMatch(message);
  });

  it('formats layer lists compactly', () => {
    expect(formatLayerList([0, 1, 2, 4])).toBe('0-2,4');
    expect(formatLayerList([3, 0, 1])).toBe('3,0-1');
    expect(formatLayerList([0])).toBe('0');
  });

  it('quantizes only weight matrices whose rows are whole blocks', () => {
    expect(isQuantizable({ name: 'blk.0.attn_q.weight', dims: [64, 64] })).toBe(true);
    expect(isQuantizable({ name: 'token_embd.weight', dims: [64, 512] })).toBe(true);
    expect(isQuantizable({ name: 'blk.0.ffn_down.weight', dims: [172, 64] })).toBe(false);
    expect(isQuantizable({ name: 'blk.0.attn_norm.weight', dims: [64] })).toBe(false);
    expect(isQuantizable({ name: 'blk.0.attn_q.weight', dims: [8, 8] })).toBe(false);
    expect(isQuantizable({ name: 'blk.0.ffn_gate_inp.weight', dims: [64, 8] })).toBe(false);
  });
});
