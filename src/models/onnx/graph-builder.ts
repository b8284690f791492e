/**
 * Builds an ONNX graph node by node: each op call appends a node and returns the name of its output, so graph
 * code reads like the computation (`const y = g.op('MatMul', [x, w])`). Constants are made once and shared.
 */
import { OnnxDataType, type OnnxAttribute, type OnnxGraph, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from './onnx-proto.js';

/** Attributes by name: integers (`int`), `{float}`, strings, integer lists, float lists (`{floats}`). */
export type AttributeValues = Record<string, number | { float: number } | string | readonly number[] | { floats: readonly number[] }>;

function toAttributes(values: AttributeValues | undefined): OnnxAttribute[] {
  if (values === undefined) return [];
  return Object.entries(values).map(([name, v]): OnnxAttribute => {
    if (typeof v === 'number') return { name, kind: 'int', value: v };
    if (typeof v === 'string') return { name, kind: 'string', value: v };
    if (Array.isArray(v)) return { name, kind: 'ints', value: v as readonly number[] };
    if ('float' in (v as object)) return { name, kind: 'float', value: (v as { float: number }).float };
    return { name, kind: 'floats', value: (v as { floats: readonly number[] }).floats };
  });
}

function float32Bytes(values: ArrayLike<number>): Uint8Array {
  const data = Float32Array.from(values as ArrayLike<number>);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function int64Bytes(values: readonly number[]): Uint8Array {
  const data = BigInt64Array.from(values.map((v) => BigInt(v)));
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export class GraphBuilder {
  private readonly nodes: OnnxNode[] = [];
  private readonly initializers: OnnxTensor[] = [];
  private readonly constants = new Map<string, string>();
  private readonly names = new Set<string>();
  private counter = 0;

  /** A fresh value name starting with `hint`. */
  fresh(hint: string): string {
    let name: string;
    do name = `${hint}_${this.counter++}`;
    while (this.names.has(name));
    this.names.add(name);
    return name;
  }

  /** Appends a node with one output and returns the output's name (`output` when given, else a fresh name). */
  op(opType: string, inputs: readonly string[], attributes?: AttributeValues, output?: string): string {
    const [name] = this.opN(opType, inputs, 1, attributes, output === undefined ? undefined : [output]);
    return name!;
  }

  /** Appends a node with `count` outputs. */
  opN(opType: string, inputs: readonly string[], count: number, attributes?: AttributeValues, outputs?: readonly string[]): string[] {
    const names = outputs ? [...outputs] : Array.from({ length: count }, () => this.fresh(opType.toLowerCase()));
    for (const name of names) this.names.add(name);
    this.nodes.push({ opType, inputs, outputs: names, name: `${opType}_${this.nodes.length}`, attributes: toAttributes(attributes) });
    return names;
  }

  /** Adds an initializer (a named constant tensor, for example a weight). */
  initializer(name: string, dataType: OnnxDataType, dims: readonly number[], data: Uint8Array): string {
    if (this.names.has(name)) throw new Error(`graph: duplicate value name ${name}`);
    this.names.add(name);
    this.initializers.push({ name, dataType, dims, data });
    return name;
  }

  /** A float32 initializer from values. */
  floatInitializer(name: string, dims: readonly number[], values: ArrayLike<number>): string {
    return this.initializer(name, OnnxDataType.FLOAT, dims, float32Bytes(values));
  }

  /** A shared int64 constant (a 1-D list, or a scalar when `scalar`). */
  int64(values: readonly number[], scalar = false): string {
    return this.constant(`i64${scalar ? 's' : ''}:${values.join(',')}`, OnnxDataType.INT64, scalar ? [] : [values.length], int64Bytes(values));
  }

  /** A shared float32 scalar constant. */
  float(value: number): string {
    return this.constant(`f32:${Object.is(value, -0) ? '-0' : String(Math.fround(value))}`, OnnxDataType.FLOAT, [], float32Bytes([value]));
  }

  private constant(key: string, dataType: OnnxDataType, dims: readonly number[], data: Uint8Array): string {
    const existing = this.constants.get(key);
    if (existing !== undefined) return existing;
    const name = this.fresh('const');
    this.initializers.push({ name, dataType, dims, data });
    this.constants.set(key, name);
    return name;
  }

  /** The finished graph. */
  build(name: string, inputs: readonly OnnxValueInfo[], outputs: readonly OnnxValueInfo[]): OnnxGraph {
    return { name, nodes: this.nodes, initializers: this.initializers, inputs, outputs };
  }
}
