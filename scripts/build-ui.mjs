// Builds the browser UI (the playground at `/`, the dashboard at `/dashboard`) into dist/ui/ with esbuild: one
// bundle per page (TypeScript, uPlot bundled in: nothing is fetched from a CDN), its stylesheet, and the pages'
// static files. Run by `npm run build`, so `npm ci` (through `prepare`) builds it; dist/ui is not committed.
// Type checking is tsc's job (`npm run typecheck` checks ui/tsconfig.json); esbuild only strips types.
import { build } from 'esbuild';
import { cp, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'ui');
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: { playground: 'ui/playground/main.ts', dashboard: 'ui/dashboard/main.ts' },
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: true,
  outdir: out,
  logLevel: 'warning',
  // uPlot's stylesheet, imported by the dashboard's code, lands beside the bundle as dashboard.css.
  loader: { '.css': 'css' },
});
for (const file of ['playground/index.html', 'dashboard/dashboard.html', 'shared/specroute.css', 'shared/favicon.svg']) {
  await cp(join(root, 'ui', file), join(out, file.slice(file.indexOf('/') + 1)));
}
