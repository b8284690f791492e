/**
 * XGrammar (the grammar engine of vLLM and SGLang), compiled to WebAssembly by its authors as
 * `@mlc-ai/web-xgrammar`. Its `lib/index.js` is a UMD bundle that its package.json declares an ES module, so Node
 * can load it neither as ESM (it has no exports, and reads `require`) nor as CommonJS (the package says ESM).
 * It is evaluated here once per thread with the CommonJS wrapper Node itself would give it: no global is touched.
 * The WebAssembly is inlined in the bundle, so nothing is fetched.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { constants, runInThisContext } from 'node:vm';
import type * as XGrammar from '@mlc-ai/web-xgrammar';

export type { CompiledGrammar, GrammarCompiler, GrammarMatcher, TokenizerInfo } from '@mlc-ai/web-xgrammar';

type XGrammarModule = typeof XGrammar;

let loaded: XGrammarModule | undefined;

/** The engine's classes, loaded on first use. */
export function xgrammar(): XGrammarModule {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const file = require.resolve('@mlc-ai/web-xgrammar');
  const module = { exports: {} as XGrammarModule };
  // Compiled as Node's CommonJS loader compiles a file, with Node's own loader for the bundle's `import('module')`:
  // code made by `new Function` borrows the importing script's loader, which a test runner's module runner lacks.
  const wrapper = runInThisContext(`(function (exports, require, module, __filename, __dirname) {${readFileSync(file, 'utf8')}\n})`, {
    filename: file,
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER, // Node >= 20.12; warns once that it is experimental
  }) as (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;
  wrapper(module.exports, require, module, file, dirname(file));
  loaded = module.exports;
  return loaded;
}
