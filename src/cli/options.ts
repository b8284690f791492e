import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { describeRange, inRange, type SettingSpec } from '../contract/request-settings.js';

/** Commander argument parsers that name the flag in their error. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got "${value}"`);
    return n;
  };
}

/** A comma-separated list of integers in [min, max], deduplicated and sorted. */
export function integerList(min: number, max: number) {
  const parse = integer(min, max);
  return (value: string): number[] => {
    const list = value.split(',').map((v) => parse(v.trim()));
    return [...new Set(list)].sort((a, b) => a - b);
  };
}

export function number(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`expected a number from ${min} to ${max}, got "${value}"`);
    return n;
  };
}

/** A comma-separated list of numbers in [min, max], deduplicated and sorted. */
export function numberList(min: number, max: number) {
  const parse = number(min, max);
  return (value: string): number[] => [...new Set(value.split(',').map((v) => parse(v.trim())))].sort((a, b) => a - b);
}

/** A JSON file's parsed content (`--json-schema FILE`). */
export function jsonFile(value: string): unknown {
  let text: string;
  try {
    text = readFileSync(value, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError(`cannot read "${value}": ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidArgumentError(`"${value}" is not JSON: ${(error as Error).message}`);
  }
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A parser for a flag that sets a request setting: its type and range from the single description. */
export function setting(spec: SettingSpec) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !inRange(spec, n)) throw new InvalidArgumentError(`expected ${describeRange(spec)}, got "${value}"`);
    return n;
  };
}

/** What `--draft-derive` asks for: the verifier's layers to keep and/or a quantization. */
export interface DraftDeriveSpec {
  layers?: string;
  quantize?: 'q8_0' | 'q4_0';
}

const QUANTIZE_TYPES = ['q8_0', 'q4_0'] as const;

/**
 * `layers=LIST` and/or `quantize=q8_0|q4_0`, comma-separated: `layers=0-2,quantize=q8_0`. A layer list may itself
 * hold commas (`layers=0,1,4`): a part without `=` continues the layer list before it. The list's syntax is checked
 * here (0-based indices and ascending ranges); whether the model has those layers is checked when the draft is made.
 */
export function draftDerive(value: string): DraftDeriveSpec {
  const usage = 'expected layers=LIST and/or quantize=q8_0|q4_0, comma-separated, such as layers=0-2,quantize=q8_0';
  const spec: DraftDeriveSpec = {};
  let last: string | undefined;
  for (const rawPart of value.split(',')) {
    const part = rawPart.trim();
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (last === 'layers' && part !== '') {
        spec.layers = `${spec.layers},${part}`;
        continue;
      }
      throw new InvalidArgumentError(`${usage}; got "${value}"`);
    }
    const key = part.slice(0, eq).trim();
    const setting = part.slice(eq + 1).trim();
    if (key !== 'layers' && key !== 'quantize') throw new InvalidArgumentError(`unknown key "${key}": ${usage}`);
    if (spec[key] !== undefined) throw new InvalidArgumentError(`${key} is given twice in "${value}"`);
    if (setting === '') throw new InvalidArgumentError(`${key} has no value in "${value}": ${usage}`);
    if (key === 'quantize') {
      const type = QUANTIZE_TYPES.find((t) => t === setting.toLowerCase());
      if (type === undefined) throw new InvalidArgumentError(`quantize must be q8_0 or q4_0, got "${setting}"`);
      spec.quantize = type;
    } else {
      spec.layers = setting;
    }
    last = key;
  }
  if (spec.layers !== undefined) {
    for (const range of spec.layers.split(',')) {
      const match = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(range.trim());
      if (match === null) throw new InvalidArgumentError(`cannot read "${range.trim()}" in layers=${spec.layers}: use 0-based indices and ranges such as 0-2 or 0,1,4`);
      if (match[2] !== undefined && Number(match[2]) < Number(match[1])) throw new InvalidArgumentError(`the range ${range.trim()} in layers=${spec.layers} runs backwards`);
    }
  }
  return spec;
}
