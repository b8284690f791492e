/**
 * The ggml tensor types: id, name, block size (elements per block) and type size (bytes per block),
 * as in ggml's `type_traits` table (ggml/src/ggml.c). Used to compute tensor byte sizes.
 */
import { SpecrouteError } from '../../errors/registry.js';

/** Ids of the ggml tensor types that specroute refers to by name. */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  MXFP4: 39,
} as const;
export type GgmlTypeName = keyof typeof GgmlType;

/** One row of the ggml type table. */
export interface GgmlTypeInfo {
  /** The numeric id stored in GGUF tensor infos. */
  readonly id: number;
  /** ggml's name, for example `Q8_0`. */
  readonly name: GgmlTypeName;
  /** Elements per block (1 for plain float/int types). */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
}

const table: readonly GgmlTypeInfo[] = [
  { id: 0, name: 'F32', blockSize: 1, typeSize: 4 },
  { id: 1, name: 'F16', blockSize: 1, typeSize: 2 },
  { id: 2, name: 'Q4_0', blockSize: 32, typeSize: 18 },
  { id: 3, name: 'Q4_1', blockSize: 32, typeSize: 20 },
  { id: 6, name: 'Q5_0', blockSize: 32, typeSize: 22 },
  { id: 7, name: 'Q5_1', blockSize: 32, typeSize: 24 },
  { id: 8, name: 'Q8_0', blockSize: 32, typeSize: 34 },
  { id: 9, name: 'Q8_1', blockSize: 32, typeSize: 36 },
  { id: 10, name: 'Q2_K', blockSize: 256, typeSize: 84 },
  { id: 11, name: 'Q3_K', blockSize: 256, typeSize: 110 },
  { id: 12, name: 'Q4_K', blockSize: 256, typeSize: 144 },
  { id: 13, name: 'Q5_K', blockSize: 256, typeSize: 176 },
  { id: 14, name: 'Q6_K', blockSize: 256, typeSize: 210 },
  { id: 15, name: 'Q8_K', blockSize: 256, typeSize: 292 },
  { id: 16, name: 'IQ2_XXS', blockSize: 256, typeSize: 66 },
  { id: 17, name: 'IQ2_XS', blockSize: 256, typeSize: 74 },
  { id: 18, name: 'IQ3_XXS', blockSize: 256, typeSize: 98 },
  { id: 19, name: 'IQ1_S', blockSize: 256, typeSize: 50 },
  { id: 20, name: 'IQ4_NL', blockSize: 32, typeSize: 18 },
  { id: 21, name: 'IQ3_S', blockSize: 256, typeSize: 110 },
  { id: 22, name: 'IQ2_S', blockSize: 256, typeSize: 82 },
  { id: 23, name: 'IQ4_XS', blockSize: 256, typeSize: 136 },
  { id: 24, name: 'I8', blockSize: 1, typeSize: 1 },
  { id: 25, name: 'I16', blockSize: 1, typeSize: 2 },
  { id: 26, name: 'I32', blockSize: 1, typeSize: 4 },
  { id: 27, name: 'I64', blockSize: 1, typeSize: 8 },
  { id: 28, name: 'F64', blockSize: 1, typeSize: 8 },
  { id: 29, name: 'IQ1_M', blockSize: 256, typeSize: 56 },
  { id: 30, name: 'BF16', blockSize: 1, typeSize: 2 },
  { id: 34, name: 'TQ1_0', blockSize: 256, typeSize: 54 },
  { id: 35, name: 'TQ2_0', blockSize: 256, typeSize: 66 },
  { id: 39, name: 'MXFP4', blockSize: 32, typeSize: 17 },
];

const byId = new Map<number, GgmlTypeInfo>(table.map((info) => [info.id, info]));

/** Ids that ggml once used and has since removed (the repacked Q4_0_4_4… and IQ4_NL_4_4… layouts). */
const removedIds = new Map<number, string>([
  [4, 'Q4_2'],
  [5, 'Q4_3'],
  [31, 'Q4_0_4_4'],
  [32, 'Q4_0_4_8'],
  [33, 'Q4_0_8_8'],
  [36, 'IQ4_NL_4_4'],
  [37, 'IQ4_NL_4_8'],
  [38, 'IQ4_NL_8_8'],
]);

/** The table row for `id`, or `undefined` when ggml has no such type (or no longer has it). */
export function findGgmlType(id: number): GgmlTypeInfo | undefined {
  return byId.get(id);
}

/**
 * The table row for `id`. Throws `SpecrouteError('unsupported_model')` for an unknown or removed id;
 * `what` (for example a tensor name) is named in the message.
 */
export function getGgmlType(id: number, what?: string): GgmlTypeInfo {
  const info = byId.get(id);
  if (info !== undefined) return info;
  const subject = what === undefined ? '' : ` of ${what}`;
  const removed = removedIds.get(id);
  const reason =
    removed !== undefined
      ? `ggml type ${id} (${removed}) has been removed from ggml and is not supported`
      : `unknown ggml tensor type id ${id}`;
  throw new SpecrouteError('unsupported_model', `The type${subject} is not supported: ${reason}.`);
}

/** The display name of a type id: `Q8_0`, or `type#99` for an unknown id. */
export function ggmlTypeName(id: number): string {
  return byId.get(id)?.name ?? `type#${id}`;
}

/**
 * Bytes taken by a tensor of type `id` with dimensions `dims` (ggml order: `dims[0]` is the row length).
 * Throws when the type is unknown or the row length is not a multiple of the type's block size.
 */
export function ggmlTensorByteSize(id: number, dims: readonly number[], what?: string): number {
  const info = getGgmlType(id, what);
  const rowLength = dims[0] ?? 1;
  if (rowLength % info.blockSize !== 0) {
    const subject = what === undefined ? 'a tensor' : what;
    throw new SpecrouteError(
      'invalid_model_file',
      `The row length ${rowLength} of ${subject} is not a multiple of the ${info.name} block size ${info.blockSize}.`,
    );
  }
  let elements = 1;
  for (const d of dims) elements *= d;
  return (elements / info.blockSize) * info.typeSize;
}
