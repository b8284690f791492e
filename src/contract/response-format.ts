/**
 * `response_format`: what the output must be. OpenAI's shapes, on chat and completions alike (and on gRPC):
 * free text, any JSON value (`json_object`), or JSON matching a schema (`json_schema`). The schema is checked at
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
