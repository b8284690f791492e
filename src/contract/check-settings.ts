import { invalidArgument } from '../errors/registry.js';
import { describeRange, inRange, requestSettings, wireName, type SettingGroup, type SettingSpec } from './request-settings.js';

/**
 * Checks the settings of one group that are present in `values` (keyed by camelCase field) against the single
 * description, naming a bad one by its wire name: `top_p must be a number in (0, 1], got 1.5`.
 */
export function checkSettings(group: SettingGroup, values: Readonly<Record<string, unknown>>): void {
  const specs = requestSettings[group] as Readonly<Record<string, SettingSpec>>;
  for (const [field, value] of Object.entries(values)) {
    const spec = specs[field];
    if (spec === undefined || value === undefined) continue;
    if (!inRange(spec, value)) {
      const wire = wireName(group, spec);
      throw invalidArgument(wire, `${wire} must be ${describeRange(spec)}, got ${String(value)}`);
    }
  }
}

type Bounds = { readonly min?: number | undefined; readonly max?: number | undefined };

/** The one rule between speculation settings: `min` must not exceed `max` (after merging with the server's). */
export function speculationBoundsHold(s: Bounds): boolean {
  return s.min === undefined || s.max === undefined || s.min <= s.max;
}

/** Throws `invalid_argument` naming `<prefix>.min` when `speculationBoundsHold` fails. */
export function checkSpeculationBounds(s: Bounds, prefix: string): void {
  if (!speculationBoundsHold(s)) {
    throw invalidArgument(`${prefix}.min`, `${prefix}.min (${s.min}) must not exceed ${prefix}.max (${s.max})`);
  }
}
