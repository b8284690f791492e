/**
 * XGrammar (the grammar engine of vLLM and SGLang), compiled to WebAssembly by its authors as
 * `@mlc-ai/web-xgrammar`. Its `lib/index.js` is a UMD bundle that its package.json declares an ES module, so Node
 * can load it neither as ESM (it has no exports, and reads `require`) nor as CommonJS (the package says ESM).
 * It is evaluated here once per thread with the CommonJS wrapper Node itself would give it (no global is
 * touched). Its one dynamic `import('module')` (Emscripten's way to get `createRequire` in Node) is handed to this
 * module's own `import`, since code compiled at run time has no loader of its own. The WebAssembly is inlined in
 * the bundle, so nothing is fetched.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { compileFunction } from 'node:vm';
import type * as XGrammar from '@mlc-ai/web-xgrammar';

export type { CompiledGrammar, GrammarCompiler, GrammarMatcher, TokenizerInfo } from '@mlc-ai/web-xgrammar';

type XGrammarModule = typeof XGrammar;

const DYNAMIC_IMPORT = "import('module')";

let loaded: XGrammarModule | undefined;

/** The engine's classes, loaded on first use. */
export function xgrammar(): XGrammarModule {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const file = require.resolve('@mlc-ai/web-xgrammar');
  const source = readFileSync(file, 'utf8');
  if (source.split(DYNAMIC_IMPORT).length !== 2 || source.split('import(').length !== 2) {
    throw new Error(`${file}: expected exactly one dynamic import, ${DYNAMIC_IMPORT}; this version of @mlc-ai/web-xgrammar is not supported`);
  }
  const params = ['exports', 'require', 'module', '__filename', '__dirname', '__importModule'];
  const wrapper = compileFunction(source.replace(DYNAMIC_IMPORT, "__importModule('module')"), params, { filename: file }) as (
    exports: object,
    require: NodeJS.Require,
    module: { exports: object },
    filename: string,
    dirname: string,
    importModule: (specifier: string) => Promise<unknown>,
  ) => void;
  const module = { exports: {} as XGrammarModule };
  wrapper(module.exports, require, module, file, dirname(file), (specifier) => import(specifier));
  loaded = module.exports;
  return loaded;
}
