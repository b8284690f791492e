import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withSettingsReference } from '../../src/contract/settings-reference.js';
import { allSettings } from '../../src/contract/request-settings.js';

const README = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');

describe("the README's request-settings reference", () => {
  it('is the table rendered from the single description (run `npm run gen:docs` when this fails)', () => {
    expect(withSettingsReference(README)).toBe(README);
  });

  it('writes no request setting default or range by hand in the configuration table', () => {
    // Config keys that set a request setting's server default are documented by the generated table only.
    const configTable = README.slice(README.indexOf('## Configuration'), README.indexOf('## ', README.indexOf('## Configuration') + 3));
    const rows = configTable.split('\n').filter((line) => line.startsWith('| '));
    for (const { spec } of allSettings()) {
      if (spec.config === undefined) continue;
      const leaf = spec.config.split('.').pop()!;
      for (const row of rows.filter((r) => new RegExp(`\\b${leaf}\\b`).test(r.split('|')[1]!))) {
        expect(row, spec.config).toContain('see [Request settings](#request-settings)');
      }
    }
  });
});
