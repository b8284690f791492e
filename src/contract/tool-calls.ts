import { invalidArgument } from '../errors/registry.js';

/**
 * Tool calls (OpenAI's `tools` and `tool_choice`), served as constrained output: with `tool_choice: "required"` or
 * a named function, the grammar makes the model write one call whose arguments follow the function's
 * `parameters` schema, and the response carries it in OpenAI's `tool_calls` shape with `finish_reason:
 * "tool_calls"` (docs/ARCHITECTURE.md#tool-calls).
 */
export interface ToolFunction {
  /** OpenAI: `^[a-zA-Z0-9_-]{1,64}$`. */
  readonly name: string;
  readonly description?: string;
  /** A JSON Schema for the arguments (the structured-output subset); absent: no arguments (`{}`). */
  readonly parameters?: Readonly<Record<string, unknown>>;
}

/**
 * `none`: answer in text, ignoring the tools; `required`: call one of them; `{name}`: call that one. (`auto`, the
 * model choosing between text and a call, needs a chat template that knows tools, and is refused.)
 */
export type ToolChoice = 'none' | 'required' | { readonly name: string };

/** The tools of a request and how it must use them. */
export interface ToolCalling {
  readonly tools: readonly ToolFunction[];
  readonly choice: ToolChoice;
}

const FUNCTION_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
/** No parameters: an empty object. */
const NO_PARAMETERS = { type: 'object', properties: {}, additionalProperties: false } as const;

/** `tools` and `tool_choice` as the wire carries them (OpenAI's shapes). */
export interface WireToolCalling {
  readonly tools?: readonly unknown[] | null | undefined;
  readonly tool_choice?: unknown;
}

/**
 * OpenAI's `tools` / `tool_choice` to the contract's, naming a malformed field by its wire path. Absent tools, or
 * `tool_choice: "none"`, give no tool calling. `auto` (also what OpenAI assumes when tools come without a choice)
 * is refused naming `tool_choice`: the served chat templates do not describe tools to the model.
 */
export function parseToolCalling(wire: WireToolCalling): ToolCalling | undefined {
  const list = wire.tools ?? [];
  const choice = wire.tool_choice ?? (list.length > 0 ? 'auto' : 'none');
  if (choice === 'none') return undefined;
  if (list.length === 0) throw invalidArgument('tool_choice', 'tool_choice needs tools');
  const tools = list.map((tool, i) => toolFunction(tool, i));
  if (choice === 'required') return { tools, choice };
  if (choice === 'auto') {
    throw invalidArgument('tool_choice', "tool_choice 'auto' is not supported: this model's chat template does not describe tools; use 'required' or name a function");
  }
  const named = (choice as { type?: unknown; function?: { name?: unknown } } | null)?.function?.name;
  if (typeof choice !== 'object' || (choice as { type?: unknown }).type !== 'function' || typeof named !== 'string') {
    throw invalidArgument('tool_choice', "tool_choice must be 'none', 'required', or {type: 'function', function: {name}}");
  }
  if (!tools.some((t) => t.name === named)) throw invalidArgument('tool_choice.function.name', `tool_choice names '${named}', which is not in tools`);
  return { tools, choice: { name: named } };
}

function toolFunction(tool: unknown, i: number): ToolFunction {
  const t = tool as { type?: unknown; function?: { name?: unknown; description?: unknown; parameters?: unknown } } | null;
  if (t?.type !== 'function') throw invalidArgument(`tools[${i}].type`, `tools[${i}].type must be 'function'`);
  const fn = t.function;
  if (typeof fn?.name !== 'string' || !FUNCTION_NAME.test(fn.name)) {
    throw invalidArgument(`tools[${i}].function.name`, `tools[${i}].function.name is required: 1 to 64 letters, digits, underscores or dashes`);
  }
  if (fn.parameters != null && (typeof fn.parameters !== 'object' || Array.isArray(fn.parameters))) {
    throw invalidArgument(`tools[${i}].function.parameters`, `tools[${i}].function.parameters must be a JSON Schema object`);
  }
  return {
    name: fn.name,
    ...(typeof fn.description === 'string' ? { description: fn.description } : {}),
    ...(fn.parameters != null ? { parameters: fn.parameters as Record<string, unknown> } : {}),
  };
}

/** A function's arguments schema (an empty object when it takes none). */
export function parametersOf(tool: ToolFunction): Readonly<Record<string, unknown>> {
  return tool.parameters ?? NO_PARAMETERS;
}

/**
 * The JSON the model writes for a call: a named function's arguments alone; for `required`, the call as
 * `{"name": …, "arguments": …}`, one branch per function.
 */
export function toolCallSchema(calling: ToolCalling): Readonly<Record<string, unknown>> {
  const { choice, tools } = calling;
  if (choice !== 'none' && choice !== 'required') return parametersOf(tools.find((t) => t.name === choice.name)!);
  return {
    anyOf: tools.map((t) => ({
      type: 'object',
      properties: { name: { const: t.name }, arguments: parametersOf(t) },
      required: ['name', 'arguments'],
      additionalProperties: false,
    })),
  };
}
