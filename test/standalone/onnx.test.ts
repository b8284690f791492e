import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { readCausalLmSignature } from '../../src/backends/onnx/causal-lm-signature.js';
import { loadConfig } from '../../src/config/load-config.js';
import { GraphBuilder } from '../../src/models/onnx/graph-builder.js';
import { OnnxDataType, encodeModel } from '../../src/models/onnx/onnx-proto.js';
import { concatMessage, ProtoWriter } from '../../src/models/onnx/protobuf-writer.js';
import { writeOnnxFiles } from '../../src/models/onnx/onnx-writer.js';
import { defaultTokenizerPath, tokenizerPathFor } from '../../src/models/onnx/tokenizer-path.js';
import { scratchDir } from '../helpers/models.js';

describe('protobuf writer', () => {
  it('encodes varints, negative int64s, strings and nested messages as protobuf does', () => {
    const inner = new ProtoWriter().int(1, 150).finish();
    const bytes = concatMessage(new ProtoWriter().int(1, 300).int(2, -1).string(3, 'hi').message(4, inner).finish());
    expect([...bytes]).toEqual([
      0x08, 0xac, 0x02, // field 1 varint 300
      0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, // field 2 varint -1 (ten bytes)
      0x1a, 0x02, 0x68, 0x69, // field 3 "hi"
      0x22, 0x03, 0x08, 0x96, 0x01, // field 4 { field 1: 150 }
    ]);
  });

  it('keeps large byte fields by reference instead of copying them', () => {
    const big = new Uint8Array(10_000).fill(7);
    const message = new ProtoWriter().bytes(9, big).finish();
    expect(message.chunks).toContain(big);
    expect(message.length).toBe(1 + 2 + big.length);
  });
});

describe('ONNX model encoding', () => {
  async function tinyModel(external: boolean): Promise<{ session: ort.InferenceSession; files: string[] }> {
    const g = new GraphBuilder();
    const weight = g.floatInitializer('w', [2, 3], Float32Array.from({ length: 6 }, (_, i) => i + 1));
    g.op('Add', [g.op('MatMul', ['x', weight]), g.float(0.5)], undefined, 'y');
    const graph = g.build('tiny', [{ name: 'x', elemType: OnnxDataType.FLOAT, shape: ['n', 2] }], [{ name: 'y', elemType: OnnxDataType.FLOAT, shape: ['n', 3] }]);
    const dir = scratchDir('onnx-');
    const path = join(dir, 'tiny.onnx');
    const model = { irVersion: 8, opsetVersion: 17, producerName: 'test', producerVersion: '0', graph, metadata: { k: 'v' } };
    expect(encodeModel(model).length).toBeGreaterThan(0);
    const pending = await writeOnnxFiles(path, model, { externalData: external });
    expect(readdirSync(dir).filter((f) => !f.startsWith('.'))).toEqual([]); // nothing in place before commit
    await pending.commit();
    return { session: await ort.InferenceSession.create(path), files: readdirSync(dir).sort() };
  }

  for (const external of [false, true]) {
    it(`writes a model onnxruntime loads and runs${external ? ', weights in external data' : ''}`, async () => {
      const { session, files } = await tinyModel(external);
      // The 24-byte weight is under the 1 KiB external threshold; only larger initializers move out.
      expect(files).toEqual(external ? ['tiny.onnx', 'tiny.onnx.data'] : ['tiny.onnx']);
      const { y } = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 0, 0, 1]), [2, 2]) });
      expect([...(y!.data as Float32Array)]).toEqual([1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
      await session.release();
    });
  }
});

describe('causal-LM signature', () => {
  const tensor = (name: string, type: string, shape: (number | string)[]) => ({ name, isTensor: true as const, type, shape });
  const kv = (name: string) => tensor(name, 'float32', ['batch_size', 2, 'past_sequence_length', 4]);
  const fake = (inputs: ReturnType<typeof tensor>[], outputs: ReturnType<typeof tensor>[]) =>
    ({ inputMetadata: inputs, outputMetadata: outputs }) as unknown as ort.InferenceSession;

  it('reads layers, heads and optional inputs from Optimum-style names (no position_ids here)', () => {
    const session = fake(
      [tensor('input_ids', 'int64', ['b', 's']), tensor('attention_mask', 'int64', ['b', 't']), ...[0, 1, 2].flatMap((i) => [kv(`past_key_values.${i}.key`), kv(`past_key_values.${i}.value`)])],
      [tensor('logits', 'float32', ['b', 's', 100]), ...[0, 1, 2].flatMap((i) => [kv(`present.${i}.key`), kv(`present.${i}.value`)])],
    );
    expect(readCausalLmSignature(session, 'm.onnx')).toMatchObject({
      layers: 3,
      kvHeads: 2,
      headDim: 4,
      vocabSize: 100,
      hasAttentionMask: true,
      hasPositionIds: false,
      hasUseCacheBranch: false,
    });
  });

  it('rejects a graph without a KV cache, naming the model', () => {
    const session = fake([tensor('input_ids', 'int64', ['b', 's'])], [tensor('logits', 'float32', ['b', 's', 100])]);
    expect(() => readCausalLmSignature(session, 'm.onnx')).toThrow(expect.objectContaining({ code: 'unsupported_model', param: 'modelPath' }));
  });
});

describe('tokenizer path', () => {
  it('is the model itself for GGUF, MODEL.tokenizer.gguf beside an ONNX model, or the one given', () => {
    expect(defaultTokenizerPath('/m/x.onnx')).toBe('/m/x.tokenizer.gguf');
    expect(tokenizerPathFor({ modelPath: '/m/x.gguf' })).toBe('/m/x.gguf');
    expect(tokenizerPathFor({ modelPath: '/m/x.gguf', tokenizerPath: '/t.gguf' })).toBe('/m/x.gguf');
    expect(tokenizerPathFor({ modelPath: '/m/x.ONNX' })).toBe('/m/x.tokenizer.gguf');
    expect(tokenizerPathFor({ modelPath: '/m/x.onnx', tokenizerPath: '/t.gguf' })).toBe('/t.gguf');
  });
});

describe('config for ONNX models', () => {
  const configFile = (yaml: string): string => {
    const dir = scratchDir('config-');
    writeFileSync(join(dir, 'c.yaml'), yaml);
    return join(dir, 'c.yaml');
  };

  it('takes an .onnx verifier with execution providers and a tokenizer; the defaults are documented', () => {
    const c = loadConfig(configFile('modelsDir: /models\nmodel:\n  verifier: { path: m.onnx, executionProviders: [cuda, cpu], tokenizer: t.gguf }\n  draft: { path: d.gguf }\n'), {}, {});
    expect(c.modelId).toBe('m');
    expect(c.verifierPath).toBe('/models/m.onnx');
    expect(c.model.verifier).toMatchObject({ executionProviders: ['cuda', 'cpu'], tokenizer: 't.gguf', kvCacheType: 'F32' });
    expect(c.model.draft).toMatchObject({ executionProviders: ['cpu'], kvCacheType: 'F32' });
    expect(c.model.draft!.tokenizer).toBeUndefined();
  });

  it('rejects deriving a draft from an ONNX verifier, naming the key', () => {
    expect(() => loadConfig(configFile('model:\n  verifier: { path: m.onnx }\n  draft: { derive: { layers: 0-1 } }\n'), {}, {})).toThrow(
      expect.objectContaining({ code: 'invalid_argument', param: 'model.draft.derive' }),
    );
    expect(() => loadConfig(configFile('model:\n  verifier: { path: m.onnx, executionProviders: [] }\n'), {}, {})).toThrow(
      expect.objectContaining({ param: 'model.verifier.executionProviders' }),
    );
  });
});
