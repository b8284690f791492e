/**
 * The subset of ONNX's `onnx.proto` that a converted model needs, as plain types and their protobuf encoding.
 * Field numbers follow upstream onnx/onnx `onnx/onnx.proto` exactly (ModelProto, GraphProto, NodeProto,
 * AttributeProto, TensorProto, ValueInfoProto, TypeProto.Tensor, TensorShapeProto, OperatorSetIdProto,
 * StringStringEntryProto).
 */
import { ProtoWriter, type EncodedMessage } from './protobuf-writer.js';

/** `TensorProto.DataType` values. */
export const OnnxDataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  BFLOAT16: 16,
} as const;
export type OnnxDataType = (typeof OnnxDataType)[keyof typeof OnnxDataType];

/** `AttributeProto.AttributeType` values. */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** Where an initializer's bytes live when they are not inside the model file (`TensorProto.external_data`). */
export interface OnnxExternalData {
  /** File name relative to the model's folder. */
  readonly location: string;
  readonly offset: number;
  readonly length: number;
}

/** A constant tensor: an initializer, or the value of a `Constant` node. */
export interface OnnxTensor {
  readonly name: string;
  readonly dataType: OnnxDataType;
  readonly dims: readonly number[];
  /** Little-endian element bytes (`raw_data`); empty when `external` is set. */
  readonly data: Uint8Array;
  /** Set when the bytes are stored in a separate file. */
  readonly external?: OnnxExternalData;
}

export type OnnxAttribute =
  | { readonly name: string; readonly kind: 'int'; readonly value: number }
  | { readonly name: string; readonly kind: 'float'; readonly value: number }
  | { readonly name: string; readonly kind: 'string'; readonly value: string }
  | { readonly name: string; readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly name: string; readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly name: string; readonly kind: 'tensor'; readonly value: OnnxTensor };

export interface OnnxNode {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  readonly domain?: string;
  readonly attributes?: readonly OnnxAttribute[];
}

/** A graph input or output: a tensor with its element type and shape (numbers, or names of symbolic dimensions). */
export interface OnnxValueInfo {
  readonly name: string;
  readonly elemType: OnnxDataType;
  readonly shape: readonly (number | string)[];
}

export interface OnnxGraph {
  readonly name: string;
  /** Topologically sorted. */
  readonly nodes: readonly OnnxNode[];
  readonly initializers: readonly OnnxTensor[];
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
}

export interface OnnxModel {
  readonly irVersion: number;
  /** Version of the default (`ai.onnx`) operator set. */
  readonly opsetVersion: number;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly docString?: string;
  readonly graph: OnnxGraph;
  /** `ModelProto.metadata_props`. */
  readonly metadata: Readonly<Record<string, string>>;
}

function stringEntry(key: string, value: string): EncodedMessage {
  return new ProtoWriter().string(1, key).string(2, value).finish();
}

/** TensorProto: dims 1, data_type 2, name 8, raw_data 9, external_data 13, data_location 14. */
export function encodeTensor(tensor: OnnxTensor): EncodedMessage {
  const w = new ProtoWriter().packedInts(1, tensor.dims).int(2, tensor.dataType).string(8, tensor.name);
  if (tensor.external) {
    const { location, offset, length } = tensor.external;
    w.message(13, stringEntry('location', location)).message(13, stringEntry('offset', String(offset))).message(13, stringEntry('length', String(length)));
    w.int(14, 1); // DataLocation.EXTERNAL
  } else {
    w.bytes(9, tensor.data);
  }
  return w.finish();
}

/** AttributeProto: name 1, f 2, i 3, s 4, t 5, floats 7, ints 8, type 20. */
function encodeAttribute(attribute: OnnxAttribute): EncodedMessage {
  const w = new ProtoWriter().string(1, attribute.name);
  switch (attribute.kind) {
    case 'float':
      return w.int(20, AttributeType.FLOAT).float(2, attribute.value).finish();
    case 'int':
      return w.int(20, AttributeType.INT).int(3, attribute.value).finish();
    case 'string':
      return w.int(20, AttributeType.STRING).string(4, attribute.value).finish();
    case 'tensor':
      return w.int(20, AttributeType.TENSOR).message(5, encodeTensor(attribute.value)).finish();
    case 'floats':
      return w.int(20, AttributeType.FLOATS).packedFloats(7, attribute.value).finish();
    case 'ints':
      return w.int(20, AttributeType.INTS).packedInts(8, attribute.value).finish();
  }
}

/** NodeProto: input 1, output 2, name 3, op_type 4, attribute 5, domain 7. */
function encodeNode(node: OnnxNode): EncodedMessage {
  const w = new ProtoWriter();
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  if (node.name !== undefined) w.string(3, node.name);
  w.string(4, node.opType);
  for (const attribute of node.attributes ?? []) w.message(5, encodeAttribute(attribute));
  if (node.domain !== undefined) w.string(7, node.domain);
  return w.finish();
}

/** ValueInfoProto { name 1, type 2: TypeProto { tensor_type 1: { elem_type 1, shape 2: { dim 1: { dim_value 1 | dim_param 2 } } } } }. */
function encodeValueInfo(info: OnnxValueInfo): EncodedMessage {
  const shape = new ProtoWriter();
  for (const dim of info.shape) {
    shape.message(1, typeof dim === 'number' ? new ProtoWriter().int(1, dim).finish() : new ProtoWriter().string(2, dim).finish());
  }
  const tensorType = new ProtoWriter().int(1, info.elemType).message(2, shape.finish()).finish();
  const type = new ProtoWriter().message(1, tensorType).finish();
  return new ProtoWriter().string(1, info.name).message(2, type).finish();
}

/** GraphProto: node 1, name 2, initializer 5, input 11, output 12. */
function encodeGraph(graph: OnnxGraph): EncodedMessage {
  const w = new ProtoWriter();
  for (const node of graph.nodes) w.message(1, encodeNode(node));
  w.string(2, graph.name);
  for (const tensor of graph.initializers) w.message(5, encodeTensor(tensor));
  for (const input of graph.inputs) w.message(11, encodeValueInfo(input));
  for (const output of graph.outputs) w.message(12, encodeValueInfo(output));
  return w.finish();
}

/** ModelProto: ir_version 1, producer_name 2, producer_version 3, doc_string 6, graph 7, opset_import 8, metadata_props 14. */
export function encodeModel(model: OnnxModel): EncodedMessage {
  const w = new ProtoWriter().int(1, model.irVersion).string(2, model.producerName).string(3, model.producerVersion);
  if (model.docString !== undefined) w.string(6, model.docString);
  w.message(7, encodeGraph(model.graph));
  w.message(8, new ProtoWriter().string(1, '').int(2, model.opsetVersion).finish());
  for (const [key, value] of Object.entries(model.metadata)) w.message(14, stringEntry(key, value));
  return w.finish();
}
