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
