import { invalidArgument } from '../errors/registry.js';

/**
 * `response_format`: what the output must be. OpenAI's shapes, on chat and completions alike (and on gRPC):
 * free text, any JSON object (`json_object`), or JSON matching a schema (`json_schema`). The schema is checked at
 * admission against the subset the grammar enforces (`checkJsonSchema`), and the grammar enforces it as given:
 * optional properties stay optional, also with `strict: true` (docs/ARCHITECTURE.md#structured-output).
 */
export type ResponseFormat =
  | { readonly type: 'text' }
  | { readonly type: 'json_object' }
  | {
      readonly type: 'json_schema';
      /** The schema's name (OpenAI: `^[a-zA-Z0-9_-]{1,64}$`). */
      readonly name: string;
      /** A JSON Schema (the supported subset: `checkJsonSchema`). */
      readonly schema: Readonly<Record<string, unknown>>;
      /** Accepted for OpenAI compatibility; the schema is always enforced. */
      readonly strict?: boolean;
      readonly description?: string;
    };

/** OpenAI's limit on `json_schema.name`. */
const SCHEMA_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * `response_format` as both transports carry it (OpenAI's JSON shape; gRPC's message is mapped to it), to the
 * contract's type, naming a missing or malformed field by its wire path. The schema itself is checked at
 * admission (`checkJsonSchema`). `null` and absent are free text.
 */
export function parseResponseFormat(wire: { type: string; json_schema?: WireJsonSchema | undefined } | null | undefined): ResponseFormat | undefined {
  if (wire == null) return undefined;
  switch (wire.type) {
    case 'text':
    case 'json_object':
      return { type: wire.type };
    case 'json_schema': {
      const js = wire.json_schema;
      if (js == null) throw invalidArgument('response_format.json_schema', "response_format.json_schema is required when response_format.type is 'json_schema'");
      if (typeof js.name !== 'string' || !SCHEMA_NAME.test(js.name)) {
        throw invalidArgument('response_format.json_schema.name', 'response_format.json_schema.name is required: 1 to 64 letters, digits, underscores or dashes');
      }
      if (js.schema == null || typeof js.schema !== 'object' || Array.isArray(js.schema)) {
        throw invalidArgument('response_format.json_schema.schema', 'response_format.json_schema.schema is required: a JSON Schema object');
      }
      return {
        type: 'json_schema',
        name: js.name,
        schema: js.schema as Record<string, unknown>,
        ...(js.strict != null ? { strict: js.strict } : {}),
        ...(js.description != null ? { description: js.description } : {}),
      };
    }
    default:
      throw invalidArgument('response_format.type', `response_format.type must be one of text, json_object, json_schema (got '${wire.type}')`);
  }
}

/** `response_format.json_schema` on the wire, before it is checked. */
export interface WireJsonSchema {
  readonly name?: string | undefined;
  readonly description?: string | null | undefined;
  readonly schema?: unknown;
  readonly strict?: boolean | null | undefined;
}
