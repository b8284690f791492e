// Rewrites the request-settings reference table in README.md from the single description
// (src/contract/request-settings.ts), via the built dist/. `npm run gen:docs` builds, then runs this;
// test/standalone/readme-reference.test.ts fails when the README is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withSettingsReference } from '../dist/src/contract/settings-reference.js';

const readme = fileURLToPath(new URL('../README.md', import.meta.url));
const before = readFileSync(readme, 'utf8');
const after = withSettingsReference(before);
if (after !== before) writeFileSync(readme, after);
console.log(after === before ? 'gen-docs: README.md is up to date' : 'gen-docs: rewrote the request-settings table in README.md');
