/**
 * Says which field of an undecodable protobuf message is at fault. protobuf-es's `fromBinary` fails with a bare
 * "premature EOF" or "not valid utf-8"; a client needs the field, as every 4xx of specroute names it. Run only
 * after decoding failed: it walks the wire format against the message descriptor and reports the first problem.
 */
import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

export interface WireProblem {
  /**
   * The field path in proto names, such as `chat.messages[0].content`; an unknown field is `<path or message
   * type>#<number>`; the message type itself when no field is to blame.
   */
  readonly param: string;
  readonly message: string;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const MAX_DEPTH = 32;

export function diagnoseWire(schema: DescMessage, bytes: Uint8Array): WireProblem | undefined {
  return walk(schema, bytes, '', 0);
}

function walk(schema: DescMessage, bytes: Uint8Array, path: string, depth: number): WireProblem | undefined {
  const here = path === '' ? schema.typeName : path;
  if (depth > MAX_DEPTH) return { param: here, message: `${here} nests messages too deeply` };
  const reader = new BinaryReader(bytes);
  const counts = new Map<number, number>();
  while (reader.pos < reader.len) {
    const at = reader.pos;
    let fieldNo: number;
    let wireType: WireType;
    try {
      [fieldNo, wireType] = reader.tag();
    } catch (error) {
      return { param: here, message: `${path === '' ? '' : `${path}: `}invalid field tag at byte ${at} (${(error as Error).message})` };
    }
    const field = schema.fields.find((f) => f.number === fieldNo);
    const index = counts.get(fieldNo) ?? 0;
    counts.set(fieldNo, index + 1);
    const name = field ? join(path, field.name) : `${here}#${fieldNo}`;
    const expected = field ? expectedWireTypes(field) : undefined;
    if (expected && !expected.includes(wireType)) {
      return { param: name, message: `${name} has wire type ${WireType[wireType] ?? wireType}; a ${describe(field!)} field is encoded as ${expected.map((w) => WireType[w]).join(' or ')}` };
    }
    let value: Uint8Array;
    try {
      value = wireType === WireType.LengthDelimited ? reader.bytes() : reader.skip(wireType, fieldNo);
    } catch (error) {
      return { param: name, message: `${name} is truncated or malformed at byte ${at} (${(error as Error).message})` };
    }
    if (!field || wireType !== WireType.LengthDelimited) continue;
    const element = field.fieldKind === 'list' ? `${name}[${index}]` : name;
    if (isString(field)) {
      try {
        strictUtf8.decode(value);
      } catch {
        return { param: element, message: `${element} is not valid UTF-8` };
      }
    }
    const nested = field.fieldKind === 'message' ? field.message : field.fieldKind === 'list' && field.listKind === 'message' ? field.message : undefined;
    if (nested) {
      const problem = walk(nested, value, element, depth + 1);
      if (problem) return problem;
    }
  }
  return undefined;
}

function join(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`;
}

function isString(field: DescField): boolean {
  return (field.fieldKind === 'scalar' || (field.fieldKind === 'list' && field.listKind === 'scalar')) && field.scalar === ScalarType.STRING;
}

function describe(field: DescField): string {
  switch (field.fieldKind) {
    case 'scalar':
      return ScalarType[field.scalar].toLowerCase();
    case 'enum':
      return 'enum';
    case 'message':
      return 'message';
    case 'list':
      return `repeated ${field.listKind === 'scalar' ? ScalarType[field.scalar].toLowerCase() : field.listKind}`;
    case 'map':
      return 'map';
  }
}

/** Wire types a field may arrive in (repeated scalars: packed or not). */
function expectedWireTypes(field: DescField): WireType[] {
  switch (field.fieldKind) {
    case 'scalar':
      return [scalarWireType(field.scalar)];
    case 'enum':
      return [WireType.Varint];
    case 'message':
    case 'map':
      return [WireType.LengthDelimited];
    case 'list':
      if (field.listKind === 'message') return [WireType.LengthDelimited];
      if (field.listKind === 'enum') return [WireType.Varint, WireType.LengthDelimited];
      return [...new Set([scalarWireType(field.scalar), WireType.LengthDelimited])];
  }
}

function scalarWireType(scalar: ScalarType): WireType {
  switch (scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WireType.Bit32;
    default:
      return WireType.Varint;
  }
}
