/**
 * Imports point one way: along the flow of a request, then down onto the floors
 * (docs/ARCHITECTURE.md#the-layer-rule). Reads every .ts file under src/ (src/gen, the generated code, is
 * imported but not read), parses its import specifiers and checks:
 * - no file under src/ imports bench/ or test/ (the published build carries neither), nor anything else outside src/;
 * - src/ imports only runtime dependencies and node: built-ins, never a devDependency;
 * - every top folder of src/ has a rank, and a file imports only from its own folder or a lower rank.
 * And every `docs/ARCHITECTURE.md#…` citation in the repository names one of its headings.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinModules } from 'node:module';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const src = join(root, 'src');

/**
 * The layers, highest first; a file may import from its own layer and from any layer ranked lower. A layer is a
 * top folder of src/, or one of the files directly in src/.
 */
const RANKS: Readonly<Record<string, number>> = {
  // The stages, in the order a request meets them.
  cli: 21, //           commands; `specroute bench` reaches bench/ only at run time, by a computed path
  'main.ts': 20, //     composition root: config → models → scheduler → ingress; graceful shutdown
  'index.ts': 20, //    the programmatic API (re-exports)
  profile: 20, //       `specroute profile`: times the models' passes and derives settings (beside the composition root)
  config: 19, //        the composition root's input: its schema takes each stage's defaults from that stage
  ingress: 18, //       fastify and grpc-js adapters over the scheduler's event stream
  routing: 17, //       query-level decisions for `auto` requests: features, semantic routes, the trained router, labelling
  scheduler: 16, //     admission, queue, deadlines, cancellation
  pipeline: 15, //      the speculative loop, acceptance rule, adaptive γ, stats recorder
  workers: 14, //       piscina pools, the worker protocol, the model worker
  backends: 13, //      node-llama-cpp and onnxruntime-node behind one interface
  escalation: 12, //    policy, frontier client, breaker, budgets
  streaming: 11, //     TokenEvent → OpenAI chunks | proto messages
  // The floors: shared types and tools that any stage may use, ordered among themselves.
  grammar: 10, //       XGrammar: JSON Schema → grammar, token masks, grammar states that roll back
  state: 9, //          what replicas share: sliding windows and the Redis connection (limits, breaker, quotas)
  observability: 8, //  Prometheus metrics
  models: 7, //         GGUF reading and writing, draft making, ONNX conversion
  native: 6, //         the C++ scoring kernels and their TypeScript fallbacks (uses sampling)
  sampling: 5, //       distributions, warping, rng, logprobs: pure math (defaults from the contract)
  contract: 4, //       the request contract: the settings description, GenerationRequest, the Generator interface
  events: 3, //         TokenEvent, TokenLogprob, SpeculationStats
  errors: 2, //         the error registry
  gen: 1, //            protoc-gen-es output (imports only @bufbuild/protobuf)
  'package-root.ts': 0, // finds the package root from src/ or dist/src/
};

/**
 * Imports that break the rule today, each with its reason. An entry that no longer matches an import fails the
 * test, so the list only shrinks.
 */
const EXCEPTIONS: ReadonlyArray<{ readonly from: string; readonly to: string; readonly reason: string }> = [];

interface Edge {
  readonly from: string; // repository-relative, e.g. src/events/token-event.ts
  readonly specifier: string;
  readonly to?: string; // repository-relative resolved path of a relative specifier
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return path === join(src, 'gen') ? [] : tsFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Specifiers of static imports and re-exports (`… from '…'`), side-effect imports and dynamic `import('…')`. */
function importSpecifiers(code: string): string[] {
  const patterns = [
    /^\s*(?:import|export)\s[\w\s{},*$]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((pattern) => [...code.matchAll(pattern)].map((m) => m[1]!));
}

const posix = (path: string): string => path.split(sep).join('/');

function edges(): Edge[] {
  return tsFiles(src).flatMap((file) =>
    importSpecifiers(readFileSync(file, 'utf8')).map((specifier) => {
      const from = posix(relative(root, file));
      if (!specifier.startsWith('.')) return { from, specifier };
      const to = posix(relative(root, resolve(dirname(file), specifier))).replace(/\.js$/, '.ts');
      return { from, specifier, to };
    }),
  );
}

/** The layer of a repository-relative path under src/: its top folder, or the file itself when it sits in src/. */
function layerOf(path: string): string {
  return path.split('/')[1]!;
}

const isException = (edge: Edge): boolean => EXCEPTIONS.some((e) => e.from === edge.from && e.to === edge.to);

describe('layering', () => {
  const all = edges();

  it('finds the imports (the parser sees static, multi-line, type-only, re-export and dynamic forms)', () => {
    expect(
      importSpecifiers(
        [
          "import { a } from './a.js';",
          'import type {\n  B,\n  C,\n} from "../b.js";',
          "export { d } from './d.js';",
          "export type * from './e.js';",
          "import './side-effect.js';",
          "const m = await import('./lazy.js');",
          "type T = typeof import('./types.js');",
          " * importing this from './not-code.js' is prose",
          "call(options.from, 'from', (x) => convertFrom(x, 'y'));",
        ].join('\n'),
      ).sort(),
    ).toEqual(['../b.js', './a.js', './d.js', './e.js', './lazy.js', './side-effect.js', './types.js']);
    expect(all.length).toBeGreaterThan(200);
  });

  it('src/ imports nothing from bench/, test/ or anywhere else outside src/', () => {
    const outside = all.filter((e) => e.to !== undefined && !e.to.startsWith('src/')).map((e) => `${e.from} → ${e.specifier}`);
    expect(outside).toEqual([]);
  });

  it('src/ imports only runtime dependencies and node: built-ins', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const bad = all
      .filter((e) => e.to === undefined)
      .filter((e) => {
        const name = e.specifier.startsWith('@') ? e.specifier.split('/').slice(0, 2).join('/') : e.specifier.split('/')[0]!;
        return !(e.specifier.startsWith('node:') || builtinModules.includes(name) || name in pkg.dependencies);
      })
      .map((e) => `${e.from} → ${e.specifier}`);
    expect(bad).toEqual([]);
  });

  it('every top folder and file of src/ has a rank', () => {
    const unranked = readdirSync(src).filter((name) => !(name in RANKS));
    expect(unranked).toEqual([]);
  });

  it('imports point down: a file imports its own layer or a lower one', () => {
    const upward = all
      .filter((e) => e.to !== undefined && e.to.startsWith('src/'))
      .filter((e) => {
        const from = layerOf(e.from);
        const to = layerOf(e.to!);
        return from !== to && RANKS[to]! >= RANKS[from]! && !isException(e);
      })
      .map((e) => `${e.from} (${layerOf(e.from)}) → ${e.to} (${layerOf(e.to!)})`);
    expect(upward).toEqual([]);
  });

  it('every listed exception still exists (remove it once the import is gone)', () => {
    const stale = EXCEPTIONS.filter((x) => !all.some((e) => e.from === x.from && e.to === x.to)).map((x) => `${x.from} → ${x.to}`);
    expect(stale).toEqual([]);
  });
});

/**
 * The browser UI (ui/, bundled by esbuild) may import from src/ only what runs in a browser: following its imports
 * through src/, no module may need a Node built-in or a package (uPlot and stylesheets are the UI's own imports).
 */
describe('the web UI layer (ui/)', () => {
  const ui = join(root, 'ui');
  const uiFiles = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? uiFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : []));

  it('reaches only the browser-safe part of src/', () => {
    const seen = new Set<string>();
    const bad: string[] = [];
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const inUi = file.startsWith(ui + sep);
      for (const specifier of importSpecifiers(readFileSync(file, 'utf8'))) {
        if (specifier.startsWith('.')) {
          const target = resolve(dirname(file), specifier);
          if (target.endsWith('.css')) continue;
          const ts = target.replace(/\.js$/, '.ts');
          if (!ts.startsWith(ui + sep) && !ts.startsWith(src + sep)) bad.push(`${posix(relative(root, file))} → ${specifier} (outside ui/ and src/)`);
          else visit(ts);
        } else if (!(inUi && (specifier === 'uplot' || specifier.endsWith('.css')))) bad.push(`${posix(relative(root, file))} → ${specifier}`);
      }
    };
    for (const file of uiFiles(ui)) visit(file);
    expect([...seen].filter((f) => f.startsWith(src + sep)).length).toBeGreaterThan(2);
    expect(bad).toEqual([]);
  });
});

/** A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function textFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return ['node_modules', 'dist', 'out', 'gen', '.git'].includes(entry.name) ? [] : textFiles(path);
    return /\.(ts|md)$/.test(entry.name) ? [path] : [];
  });
}

describe('docs/ARCHITECTURE.md citations', () => {
  it('every docs/ARCHITECTURE.md#… in src, bench, test, ui and README.md names a heading', () => {
    const doc = readFileSync(join(root, 'docs/ARCHITECTURE.md'), 'utf8');
    const anchors = new Set([...doc.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => anchorOf(m[1]!)));
    const files = [...['src', 'bench', 'test', 'ui'].flatMap((d) => textFiles(join(root, d))), join(root, 'README.md'), join(root, 'docs/ARCHITECTURE.md')];
    const cited = files.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/(?:docs\/ARCHITECTURE\.md)?#([a-z0-9_-]+)/g)]
        .filter((m) => m[0].startsWith('docs/') || file.endsWith('ARCHITECTURE.md'))
        .map((m) => ({ where: posix(relative(root, file)), anchor: m[1]! })),
    );
    expect(cited.length).toBeGreaterThan(5);
    expect(cited.filter((c) => !anchors.has(c.anchor)).map((c) => `${c.where}: #${c.anchor}`)).toEqual([]);
  });
});
