#!/usr/bin/env node
// Builds the native scoring kernels (native-bindings/build/Release/specroute_kernels.node) with node-gyp,
// quietly, against Node headers already on this machine: nothing is downloaded. Run by the package's own
// `install` script (so `npm ci` builds it) and by `npm run build:native`.
//
// It never fails the install: on any problem it prints one line,
//   specroute: native kernels not built (<reason>); using the TypeScript kernels
// keeps node-gyp's full output in native-bindings/build/build.log, and exits 0. specroute then runs on the
// TypeScript kernels (src/native/kernels.ts). SPECROUTE_NATIVE=0 skips the build.
//
// Then, the same way, it builds native-bindings/llama-logits (specroute_llama_logits.node), which reads
// node-llama-cpp's logits in place: against node-llama-cpp's addon headers and the llama.cpp headers of the same
// release, checked out of the git bundle node-llama-cpp ships (git must be on PATH). Without it, one line says
// why and llama scores go through node-llama-cpp's sampler. SPECROUTE_LLAMA_LOGITS=0 skips it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const addon = join(here, 'build', 'Release', 'specroute_kernels.node');
const logFile = join(here, 'build', 'build.log');
const BUILD_TIMEOUT_MS = 10 * 60_000;

function notBuilt(reason) {
  console.error(`specroute: native kernels not built (${reason}); using the TypeScript kernels`);
  process.exit(0);
}

/** node-gyp's entry script: npm's own (npm sets npm_config_node_gyp for scripts), a local one, or the one beside node. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    (() => {
      try {
        return createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
      } catch {
        return undefined;
      }
    })(),
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((path) => path && existsSync(path));
}

/**
 * node-gyp's --nodedir: npm's `nodedir` config when set (node-gyp reads npm_config_nodedir itself), else the
 * headers installed with this node binary (<prefix>/include/node), else node-gyp's own header cache. `null`
 * when there are no local headers: node-gyp would then try to download them, which we do not allow.
 */
function nodeHeaders() {
  const hasHeaders = (dir) => existsSync(join(dir, 'include', 'node', 'node_api.h')) && existsSync(join(dir, 'include', 'node', 'common.gypi'));
  if (process.env.npm_config_nodedir) return hasHeaders(process.env.npm_config_nodedir) ? [] : null;
  const prefix = join(dirname(process.execPath), '..');
  if (hasHeaders(prefix)) return [`--nodedir=${prefix}`];
  const cacheRoot = process.env.npm_config_devdir || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'node-gyp');
  if (hasHeaders(join(cacheRoot, process.versions.node))) return [];
  return null;
}

/** The most telling line of node-gyp's output: a compiler error, else node-gyp's own error. */
function reasonFrom(output) {
  const lines = output.split('\n').map((line) => line.trim()).filter(Boolean);
  const compiler = lines.find((line) => /\b(fatal )?error:/.test(line) && !line.startsWith('gyp'));
  const python = lines.find((line) => /^[A-Za-z]+Error: /.test(line));
  const gypError = lines.find((line) => /^gyp ERR! stack Error: /.test(line))?.replace(/^gyp ERR! stack Error: /, '');
  const anyGyp = lines.find((line) => /^gyp ERR! /.test(line) && !/^gyp ERR! (stack|System|command|cwd|node -v|node-gyp -v|not ok)/.test(line));
  const notFound = lines.find((line) => /not found|No such file/i.test(line));
  const reason = compiler ?? python ?? gypError ?? anyGyp ?? notFound ?? 'node-gyp failed';
  return reason.length > 160 ? `${reason.slice(0, 157)}...` : reason;
}

/** The full path of `command` (or of the first word of a command line such as CXX="ccache g++") on PATH, or null. */
function which(command) {
  const name = command.trim().split(/\s+/)[0] ?? '';
  if (!name) return null;
  if (name.includes('/') || name.includes('\\')) return existsSync(name) ? name : null;
  const extensions = process.platform === 'win32' ? ['.exe', '.cmd', '.bat', ''] : [''];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const ext of extensions) if (dir && existsSync(join(dir, name + ext))) return join(dir, name + ext);
  }
  return null;
}

/** What node-gyp needs besides itself and the headers, as a reason when something is missing (POSIX only). */
function missingTool() {
  if (process.platform === 'win32') return null; // node-gyp finds Visual Studio itself
  const cxx = process.env.CXX;
  if (cxx ? !which(cxx) : !['g++', 'c++', 'clang++'].some(which)) return cxx ? `the C++ compiler CXX=${cxx} is not found` : 'no C++ compiler (g++, c++ or clang++) on PATH';
  if (!which(process.env.MAKE || 'make')) return 'make is not on PATH';
  const python = process.env.PYTHON || process.env.npm_config_python;
  if (python ? !which(python) : !['python3', 'python'].some(which)) return python ? `the Python node-gyp needs (${python}) is not found` : 'no python3 on PATH (node-gyp needs it)';
  return null;
}

const mode = (process.env.SPECROUTE_NATIVE ?? '').trim().toLowerCase();
if (mode === '0' || mode === 'false' || mode === 'off') notBuilt('SPECROUTE_NATIVE=0');
if (!existsSync(join(root, 'node_modules', 'node-addon-api'))) notBuilt('node-addon-api is not installed');
const nodeGyp = findNodeGyp();
if (!nodeGyp) notBuilt('node-gyp not found; it ships with npm');
const missing = missingTool();
if (missing) notBuilt(missing);
const headerArgs = nodeHeaders();
if (headerArgs === null) notBuilt('no local Node headers; set npm config nodedir to a Node install with include/node');

/** Runs `node-gyp rebuild` in `dir` with `args`, logging its output to `logPath`; a failure's reason, or null. */
function nodeGypRebuild(dir, args, logPath) {
  const result = spawnSync(process.execPath, [nodeGyp, 'rebuild', ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: BUILD_TIMEOUT_MS,
    env: { ...process.env, npm_config_loglevel: process.env.npm_config_loglevel ?? 'warn' },
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  const log = relative(root, logPath);
  try {
    mkdirSync(dirname(logPath), { recursive: true });
    writeFileSync(logPath, `$ node ${nodeGyp} rebuild ${args.join(' ')}\n${output}${result.error ? `\n${result.error.stack}\n` : ''}`);
  } catch {
    // the log is a convenience; the one-line notice says what went wrong
  }
  if (result.error) return `${result.error.code === 'ETIMEDOUT' ? 'node-gyp timed out' : result.error.message}; see ${log}`;
  if (result.status !== 0) return `${reasonFrom(output)}; see ${log}`;
  return null;
}

const kernelsFailure = nodeGypRebuild(here, headerArgs, logFile);
if (kernelsFailure) notBuilt(kernelsFailure);

// A build that does not load (wrong architecture, missing symbol) is no better than none.
try {
  const kernels = createRequire(import.meta.url)(addon);
  const lse = kernels.logSumExp(Float32Array.from([0, 0]));
  if (Math.abs(lse - Math.LN2) > 1e-12) throw new Error(`logSumExp([0, 0]) gave ${lse}`);
} catch (error) {
  notBuilt(`built but does not load: ${String(error?.message ?? error).split('\n', 1)[0]}`);
}
console.error(`specroute: native kernels built (${relative(root, addon)})`);

buildLlamaLogits();

/** The in-place logits reader (native-bindings/llama-logits): built or not, it never fails the install. */
function buildLlamaLogits() {
  const skipped = (reason) => console.error(`specroute: in-place llama logits not built (${reason}); llama scores go through node-llama-cpp's sampler`);
  const off = (process.env.SPECROUTE_LLAMA_LOGITS ?? '').trim().toLowerCase();
  if (off === '0' || off === 'false' || off === 'off') return skipped('SPECROUTE_LLAMA_LOGITS=0');
  let llamaDir;
  try {
    // node-llama-cpp's entry is dist/index.js: its package folder is two levels up.
    llamaDir = join(dirname(createRequire(join(root, 'package.json')).resolve('node-llama-cpp')), '..', 'llama');
  } catch {
    return skipped('node-llama-cpp is not installed');
  }
  const addonHeaders = join(llamaDir, 'addon');
  const bundle = join(llamaDir, 'gitRelease.bundle');
  if (!existsSync(join(addonHeaders, 'AddonContext.h')) || !existsSync(bundle)) return skipped("node-llama-cpp ships no addon headers or llama.cpp bundle");
  if (!which('git')) return skipped('git is not on PATH (it unpacks the llama.cpp headers from node-llama-cpp\'s bundle)');

  const headers = join(here, 'build', 'llama-headers');
  const clone = join(here, 'build', 'llama-bundle');
  const git = (...args) => spawnSync('git', args, { encoding: 'utf8', timeout: BUILD_TIMEOUT_MS });
  rmSync(clone, { recursive: true, force: true });
  rmSync(headers, { recursive: true, force: true });
  mkdirSync(headers, { recursive: true });
  const cloned = git('clone', '--quiet', '--no-checkout', bundle, clone);
  const checkedOut = cloned.status === 0 ? git(`--git-dir=${join(clone, '.git')}`, `--work-tree=${headers}`, 'checkout', 'HEAD', '--', 'include', 'ggml/include') : cloned;
  rmSync(clone, { recursive: true, force: true });
  if (checkedOut.status !== 0) return skipped(`cannot unpack llama.cpp's headers from ${relative(root, bundle)}: ${(checkedOut.stderr || String(checkedOut.error ?? '')).trim().split('\n', 1)[0]}`);

  const dir = join(here, 'llama-logits');
  const failure = nodeGypRebuild(dir, [...headerArgs, `-Dnode_llama_cpp_addon=${addonHeaders}`, `-Dllama_headers=${headers}`], join(dir, 'build', 'build.log'));
  if (failure) return skipped(failure);
  const built = join(dir, 'build', 'Release', 'specroute_llama_logits.node');
  try {
    const reader = createRequire(import.meta.url)(built);
    if (reader.abiVersion !== 1 || typeof reader.probe !== 'function') throw new Error('unexpected exports');
  } catch (error) {
    return skipped(`built but does not load: ${String(error?.message ?? error).split('\n', 1)[0]}`);
  }
  console.error(`specroute: in-place llama logits built (${relative(root, built)})`);
}
