/**
 * `specroute bench load`, the server mode of the harness: drives a specroute server with closed-loop streaming clients at several concurrencies, over
 * OpenAI-compatible SSE and over gRPC, and compares the aggregate throughput with in-process generation
 * (`engine.generate` on the same server's engine) at the same concurrency; with `--modes`, the request as
 * clients send it (`served`) against verifier-only and fixed-γ requests in the same run.
 *
 *   specroute bench load [--concurrency 1,4,16] [--modes served,verifier-only,fixed] [--out-dir bench/report/load]
 *   specroute bench load --url http://127.0.0.1:8080 --grpc 127.0.0.1:50051   # a live server
 *
 * Markdown on stdout (and <out-dir>/report.md), progress on stderr.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { packageRoot } from '../src/package-root.js';
import { integer, integerList, number } from '../src/cli/options.js';
import { fetchConfigModels } from '../src/config/fetch-models.js';
import { loadConfig, type ResolvedConfig } from '../src/config/load-config.js';
import { startServer, type RunningServer } from '../src/main.js';
import { GrpcDriver, InProcessDriver, SseDriver, type Driver, type Transport } from './lib/load-drivers.js';
import { renderMarkdown, summarizeCells, summarizeLoad, type MeasuredRun } from './lib/load-report.js';
import { MODES, modeLabel, modeSpeculation, runLoad, sameTokens, scrapeMetrics, summarizeRun, type Mode, type RunSpec } from './lib/load-run.js';
import { machineInfo, sha256File } from './lib/machine.js';
import { scoringText } from './lib/model-scoring.js';
import { loadPrompts } from './lib/prompts.js';

interface Flags {
  concurrency: number[];
  transports: Transport[];
  modes: Mode[];
  fixedGamma: number;
  reference: Mode;
  requests: number;
  maxTokens: number;
  repeats: number;
  timeCap: number;
  requestTimeout: number;
  promptsFile: string;
  seed: number;
  config: string;
  profile?: string;
  set: string[];
  check: boolean;
  url?: string;
  grpc?: string;
  apiKey?: string;
  model?: string;
  json?: string;
  outDir?: string;
  note?: string;
}

const root = packageRoot();
const log = (line: string): void => void process.stderr.write(`[load-bench] ${line}\n`);
const TRANSPORTS: readonly Transport[] = ['sse', 'grpc', 'in-process'];

const concurrencyList = integerList(1, 256);

function transportList(value: string): Transport[] {
  const list = value.split(',').map((v) => v.trim());
  for (const t of list) if (!TRANSPORTS.includes(t as Transport)) throw new InvalidArgumentError(`expected a comma-separated list of ${TRANSPORTS.join(', ')}; got "${t}"`);
  return TRANSPORTS.filter((t) => list.includes(t));
}

function modeList(value: string): Mode[] {
  const list = value.split(',').map((v) => v.trim());
  for (const m of list) if (!MODES.includes(m as Mode)) throw new InvalidArgumentError(`expected a comma-separated list of ${MODES.join(', ')}; got "${m}"`);
  return MODES.filter((m) => list.includes(m));
}

function setting(value: string, previous: string[] = []): string[] {
  if (!/^SPECROUTE_[A-Z0-9_]+=/.test(value)) throw new InvalidArgumentError(`expected SPECROUTE_KEY=VALUE (a config key in environment form), got "${value}"`);
  return [...previous, value];
}

function httpOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`expected an http URL such as http://127.0.0.1:8080, got "${value}"`);
  }
  if (url.protocol !== 'http:') throw new InvalidArgumentError(`only http:// is supported, got "${value}"`);
  return url.origin;
}

function hostPort(value: string): string {
  if (!/^[^\s/]+:\d+$/.test(value)) throw new InvalidArgumentError(`expected host:port such as 127.0.0.1:50051, got "${value}"`);
  return value;
}

/** The `bench load` command. */
export function loadBenchCommand(): Command {
  return new Command('load')
    .description(
      'Load benchmark: closed-loop streaming clients at each concurrency over SSE (POST /v1/completions, stream: true) and gRPC (Generate), ' +
        'reporting time-to-first-token and inter-token latency percentiles, aggregate tokens/s and requests/s, and the ratio to in-process ' +
        'generation (engine.generate on the same server) at the same concurrency; with --modes, the request as clients send it (served) against ' +
        'verifier-only and fixed-γ requests in the same run. Starts the server from the repo config on free loopback ports, ' +
        'or drives a live one given --url / --grpc.',
    )
    .option('--concurrency <list>', 'concurrent clients, comma-separated', concurrencyList, [1, 4, 16])
    .option('--transports <list>', `what to drive, comma-separated: ${TRANSPORTS.join(', ')} (in-process only with the built-in server)`, transportList, [...TRANSPORTS])
    .option(
      '--modes <list>',
      `what the requests ask for, comma-separated: served (no speculation field: the server's settings), verifier-only (speculation off), fixed (exactly --fixed-gamma draft tokens per block, not adaptive)`,
      modeList,
      ['served'],
    )
    .option('--fixed-gamma <n>', 'γ of the fixed mode: speculation {adaptive: false, min = initial = max = n, p_min: 0}', integer(1, 64), 4)
    .addOption(new Option('--reference <mode>', 'the request each prompt is generated alone with, for the same-tokens check (greedy: the verifier\'s output whatever the mode)').choices([...MODES]).default('served'))
    .option('--requests <n>', 'requests each client sends, one after another', integer(1), 4)
    .option('--max-tokens <n>', 'tokens generated per request (greedy, EOS ignored)', integer(1, 4096), 64)
    .option('--repeats <n>', 'interleaved repeats of every (concurrency, transport, mode) run; throughput figures are medians over them', integer(1), 5)
    .option('--time-cap <s>', 'per run: no client starts a request after this many seconds', number(0.1, 3600), 15)
    .option('--request-timeout <s>', 'per request: abort it after this many seconds', number(0.1, 3600), 60)
    .addOption(new Option('--prompts-file <file>', 'prompt suite (JSON Lines of {"id","prompt"}); request k uses prompt k mod count').default(resolve(root, 'bench/prompts/stories.jsonl'), 'bench/prompts/stories.jsonl'))
    .option('--seed <n>', 'request k is sent with seed + k (greedy decoding does not use it; recorded for re-runs)', integer(0, 2 ** 31), 1)
    .addOption(new Option('--config <file>', 'built-in server: the config file').default(resolve(root, 'specroute.yaml'), 'specroute.yaml of the repository'))
    .option('--profile <file>', 'built-in server: a fragment from `specroute profile --write FILE`, merged over the config file (as `serve --profile`): batching.profile makes speculation adapt to load')
    .option('--set <KEY=VALUE>', 'built-in server: a config override in SPECROUTE_* form, repeatable (e.g. SPECROUTE_MODEL__VERIFIER__THREADS=1)', setting, [])
    .option('--no-check', 'skip generating each prompt alone first, to check that every streamed request returns the same tokens')
    .option('--url <url>', 'drive a live server: its HTTP base URL (SSE)', httpOrigin)
    .option('--grpc <host:port>', 'drive a live server: its gRPC address', hostPort)
    .option('--api-key <key>', 'live server: the API key (Bearer header / authorization metadata)')
    .option('--model <id>', 'live server: the model id (default: the first one it lists)')
    .option('--json <file>', 'also write the full machine-readable report here')
    .option('--out-dir <dir>', 'also write report.md and report.json (the full report, as --json) here, e.g. bench/report/load')
    .option('--note <text>', 'a line quoted under the report\'s title (say, that it is a smoke run and not a measurement)')
    .addHelpText(
      'after',
      `
The built-in server is the repo's default config (stories260K with a derived 3-layer draft) on 127.0.0.1 with
free ports, a temporary cache dir and limits.maxConcurrent raised to the largest concurrency, so that nothing
queues. Each repeat runs, for every concurrency, every transport in turn and, within each, every mode in turn
(both orders rotate between repeats and concurrencies): one run per (repeat, concurrency, transport, mode).
Each run starts with concurrency clients; client i's j-th request is request k = i + j·concurrency and uses
prompt k. A run ends when every client has sent --requests requests, or at --time-cap plus the requests in
flight. The in-process baseline calls engine.generate on the server's own engine with the same prompts and
settings, so the ratio shows what admission, SSE/JSON or protobuf, the sockets and the clients cost. The clients
run in this process, on the server's cores.

Modes: served sends no speculation settings (the server's: adaptive γ, and with batching.profile the γ ceiling
by how many requests share a step); verifier-only sends speculation off (SSE \`specroute: {speculation: false}\`,
gRPC \`speculation: {disable: true}\`, in-process \`speculation: false\`); fixed sends \`{adaptive: false, min: G,
initial: G, max: G, p_min: 0}\` with G = --fixed-gamma. Greedy output is the verifier's whatever the mode, so one
reference per prompt (generated alone with --reference's request) checks every run.
The summary gives, per concurrency: tok/s ÷ concurrency 1 (same transport and mode), sequences per verifier
pass, SSE and gRPC ÷ in-process with their TTFT p50 overhead, and served ÷ max(verifier-only, fixed); ratios are
medians over repeats of ratios paired within a repeat.

Examples:
  $ specroute bench load
  $ specroute bench load --concurrency 1,4,16 --requests 8 --repeats 3 --json load-report.json
  $ specroute bench load --set SPECROUTE_MODEL__DRAFT=null            # verifier only
  $ specroute bench load --concurrency 1,4,16 --repeats 3 --out-dir bench/report/load
  $ specroute bench load --config bench/configs/load-59m-q8.yaml --profile bench/out/s59.profile.yaml \\
      --concurrency 1,4,8,16 --modes served,verifier-only,fixed --transports in-process --repeats 3
  $ specroute bench load --url http://127.0.0.1:8080 --grpc 127.0.0.1:50051 --api-key sk-…`,
    )
    .action((flags: Flags) => main(flags));
}

function getJson(url: string, apiKey: string | undefined): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    const req = http.get(url, { agent: false, timeout: 5000, headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (t: string) => (text += t));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`GET ${url}: HTTP ${res.statusCode} ${text.slice(0, 200)}`));
        try {
          resolvePromise(JSON.parse(text));
        } catch (error) {
          reject(new Error(`GET ${url}: ${(error as Error).message}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error) => reject(new Error(`GET ${url}: ${error.message}`)));
  });
}

/** The resolved config with secrets left out. */
function redacted(config: ResolvedConfig): unknown {
  return { ...config, auth: { apiKeys: config.auth.apiKeys.map(() => '(redacted)') } };
}

async function main(flags: Flags): Promise<void> {
  const startedAt = new Date().toISOString();
  const wallStart = performance.now();
  // As a shell would take it back: arguments with spaces or quotes (a --note) quoted.
  const command = ['specroute', ...process.argv.slice(2).map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`))].join(' ');
  const maxConcurrency = Math.max(...flags.concurrency);
  const external = flags.url !== undefined || flags.grpc !== undefined;

  const machine = await machineInfo();
  const prompts = await loadPrompts(flags.promptsFile);
  log(`${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}; ${prompts.length} prompts from ${relative(root, flags.promptsFile)}`);

  let server: RunningServer | undefined;
  let config: ResolvedConfig | undefined;
  let cacheDir: string | undefined;
  const drivers: Driver[] = [];
  try {
    let httpUrl: string | undefined;
    let grpcAddress: string | undefined;
    let model: string;
    let apiKey = flags.apiKey;
    const serverLines: string[] = [];
    const models: Record<string, unknown> = {};
    let transports = flags.transports;

    if (external) {
      httpUrl = flags.url;
      grpcAddress = flags.grpc;
      const dropped = transports.filter((t) => t === 'in-process' || (t === 'sse' && !httpUrl) || (t === 'grpc' && !grpcAddress));
      if (dropped.length > 0) log(`live server: skipping ${dropped.join(', ')} (${dropped.map((t) => (t === 'in-process' ? 'needs the built-in server' : `needs --${t === 'sse' ? 'url' : 'grpc'}`)).join('; ')})`);
      transports = transports.filter((t) => !dropped.includes(t));
      if (flags.model) model = flags.model;
      else if (httpUrl) {
        const list = (await getJson(`${httpUrl}/v1/models`, apiKey)) as { data?: Array<{ id: string; verifier?: string; draft?: string | null }> };
        const card = list.data?.[0];
        if (!card) throw new Error(`${httpUrl}/v1/models lists no model`);
        model = card.id;
        models.card = card;
      } else {
        const ids = await GrpcDriver.listModels(grpcAddress!, apiKey);
        if (!ids[0]) throw new Error(`${grpcAddress} lists no model`);
        model = ids[0];
      }
      serverLines.push(`server: live, ${[httpUrl && `HTTP ${httpUrl}`, grpcAddress && `gRPC ${grpcAddress}`].filter(Boolean).join(', ')}; model \`${model}\` (model files not hashed: not ours to read)`);
    } else {
      cacheDir = await mkdtemp(join(tmpdir(), 'load-bench-'));
      const env: NodeJS.ProcessEnv = { ...process.env, SPECROUTE_CACHE_DIR: cacheDir, SPECROUTE_LIMITS__MAX_CONCURRENT: String(Math.max(16, maxConcurrency)) };
      for (const entry of flags.set) {
        const at = entry.indexOf('=');
        env[entry.slice(0, at)] = entry.slice(at + 1);
      }
      // Loopback, free ports, whatever the file or the environment say.
      Object.assign(env, { SPECROUTE_HOST: '127.0.0.1', SPECROUTE_PORT: '0', SPECROUTE_GRPC_PORT: transports.includes('grpc') ? '0' : '-1' });
      // Models named by URI are fetched here, so that the report's paths and sha256 are the local files'.
      config = await fetchConfigModels(loadConfig(flags.config, flags.profile !== undefined ? { profile: flags.profile } : {}, env), { log: (line) => log(`server: ${line}`) });
      if (config.limits.maxConcurrent < maxConcurrency) log(`note: limits.maxConcurrent is ${config.limits.maxConcurrent} < ${maxConcurrency}: requests beyond it queue (seen as TTFT and "outside engine")`);
      log(`starting the server from ${relative(process.cwd(), flags.config) || flags.config} (cache ${cacheDir})`);
      const serverStart = performance.now();
      server = await startServer(config, (line) => log(`server: ${line}`));
      log(`server ready in ${((performance.now() - serverStart) / 1000).toFixed(1)} s`);
      httpUrl = server.httpUrl;
      grpcAddress = server.grpcPort !== null ? `127.0.0.1:${server.grpcPort}` : undefined;
      model = config.modelId;
      apiKey ??= config.auth.apiKeys[0];
      const verifierSha = await sha256File(config.verifierPath);
      models.verifier = { path: config.verifierPath, sha256: verifierSha };
      serverLines.push(`verifier: \`${basename(config.verifierPath)}\` sha256 \`${verifierSha}\``);
      const source = config.draftSource;
      const draftPath = source.kind === 'file' ? source.path : source.kind === 'derive' ? source.out : undefined;
      if (draftPath) {
        const draftSha = await sha256File(draftPath);
        models.draft = { path: draftPath, sha256: draftSha, ...(source.kind === 'derive' ? { derivedLayers: source.layers ?? null, quantize: source.quantize ?? null } : {}) };
        serverLines.push(`draft: \`${basename(draftPath)}\`${source.kind === 'derive' ? ` (derived: layers ${source.layers ?? 'default'}${source.quantize ? `, ${source.quantize}` : ''})` : ''} sha256 \`${draftSha}\``);
      } else serverLines.push('draft: none (verifier only)');
      const s = config.speculation;
      serverLines.push(
        `server: built-in, ${relative(root, flags.config) || flags.config}; threads verifier ${config.model.verifier.threads}` +
          `${config.model.draft ? `, draft ${config.model.draft.threads}` : ''}; context ${config.model.verifier.contextSize}; ` +
          `KV cache ${config.model.verifier.kvCacheType}${config.model.draft ? `/${config.model.draft.kvCacheType}` : ''}; ` +
          `${draftPath ? `speculation γ ${s.min}–${s.max} (initial ${s.initial}${s.adaptive ? ', adaptive' : ', fixed'}${s.pMin > 0 ? `, p_min ${s.pMin}` : ''})` : 'no speculation'}; ` +
          `limits.maxConcurrent ${config.limits.maxConcurrent}; ` +
          `batching: ${config.batching.lockStep ? `lock-step (gather ${config.batching.gatherMs} ms, prefill chunk ${config.batching.prefillChunk})` : 'off'}, ` +
          `${config.batching.profile ? `profile (γ ceiling by batch size ${config.batching.profile.gammaByBatchSize.join(',')}, α ${config.batching.profile.alpha})` : config.batching.calibrate && config.batching.lockStep ? 'no profile: step costs calibrated at boot (γ ceiling by load, α learned from the served blocks)' : 'no profile (no γ ceiling by load)'}` +
          `; scores ${scoringText(server.engine.verifier.info)}${server.engine.draft ? ` (verifier), ${scoringText(server.engine.draft.info)} (draft)` : ''}` +
          `${flags.profile ? `; --profile ${relative(root, flags.profile) || flags.profile}` : ''}` +
          `${flags.set.length > 0 ? `; --set ${flags.set.join(' ')}` : ''}`,
      );
    }
    if (transports.length === 0) throw new Error('nothing to drive: give --url and/or --grpc, or drop them to start the built-in server');

    for (const t of transports) {
      if (t === 'sse') drivers.push(new SseDriver(httpUrl!, model, apiKey));
      else if (t === 'grpc') drivers.push(new GrpcDriver(grpcAddress!, model, apiKey));
      else drivers.push(new InProcessDriver(server!.engine));
    }
    const modes = flags.modes;
    const label = (mode: Mode): string => modeLabel(mode, flags.fixedGamma);
    const spec = (mode: Mode, concurrency: number, requestsPerClient = flags.requests, maxTokens = flags.maxTokens): RunSpec => ({
      mode,
      speculation: modeSpeculation(mode, flags.fixedGamma),
      concurrency,
      requestsPerClient,
      timeCapMs: flags.timeCap * 1000,
      requestTimeoutMs: flags.requestTimeout * 1000,
      maxTokens,
      seed: flags.seed,
      prompts,
    });

    // Warm-up: every transport and mode at the largest concurrency (opens the sockets, JIT, worker caches).
    for (const driver of drivers) {
      for (const mode of modes) {
        const warm = await runLoad(driver, spec(mode, maxConcurrency, 1, Math.min(8, flags.maxTokens)));
        const failed = warm.requests.filter((r) => !r.ok);
        log(`warm-up ${driver.transport} ${label(mode)}: ${warm.requests.length - failed.length}/${warm.requests.length} ok in ${(warm.wallMs / 1000).toFixed(1)} s${failed[0] ? ` (${failed[0].error})` : ''}`);
        if (failed.length === warm.requests.length) throw new Error(`${driver.transport} ${label(mode)}: every warm-up request failed: ${failed[0]?.error}`);
      }
    }

    // Reference tokens: each prompt the runs will use, generated alone.
    const reference = new Map<string, readonly number[]>();
    if (flags.check) {
      const refDriver = drivers.find((d) => d.transport === 'in-process') ?? drivers[0]!;
      const count = Math.min(prompts.length, maxConcurrency * flags.requests);
      const ref = await runLoad(refDriver, { ...spec(flags.reference, 1, count), timeCapMs: Infinity });
      for (const r of ref.requests) if (r.ok) reference.set(r.promptId, ref.tokenIds.get(r.index)!);
      log(`reference: ${reference.size} prompts generated alone over ${refDriver.transport} (${label(flags.reference)}) in ${(ref.wallMs / 1000).toFixed(1)} s`);
    }

    const measured: MeasuredRun[] = [];
    const canScrape = httpUrl !== undefined;
    const rotate = <T>(list: readonly T[], shift: number): T[] => [...list.slice(shift % list.length), ...list.slice(0, shift % list.length)];
    const modeWidth = Math.max(...modes.map((m) => label(m).length));
    for (let r = 0; r < flags.repeats; r++) {
      for (const [ci, concurrency] of flags.concurrency.entries()) {
        for (const driver of rotate(drivers, r + ci)) {
          for (const mode of rotate(modes, r + ci)) {
            const before = canScrape ? await scrapeMetrics(httpUrl!, apiKey) : null;
            const run = await runLoad(driver, spec(mode, concurrency));
            const after = canScrape ? await scrapeMetrics(httpUrl!, apiKey) : null;
            const summary = summarizeRun(run, r, before && after ? { before, after } : null);
            measured.push({ summary, run, sameTokens: flags.check ? sameTokens(run, reference) : null });
            log(
              `repeat ${r + 1}/${flags.repeats} c=${concurrency} ${driver.transport.padEnd(10)} ${label(mode).padEnd(modeWidth)}: ${summary.ok}/${summary.requests} ok${summary.capped ? ' (capped)' : ''}, ` +
                `${summary.tokens} tokens in ${(summary.wallMs / 1000).toFixed(2)} s = ${summary.tokensPerSecond.toFixed(0)} tok/s; ` +
                `TTFT p50 ${summary.ttftP50.toFixed(1)} ms, ITL p50/p95 ${summary.itlP50.toFixed(2)}/${summary.itlP95.toFixed(2)} ms` +
                `${summary.verifierPasses ? `, ${summary.verifierPasses.meanSequences.toFixed(2)} seqs/pass` : ''}` +
                `${summary.verifierBatches ? `, ${summary.verifierBatches.meanSequences.toFixed(2)} seqs/batch` : ''}${summary.errors[0] ? `; error: ${summary.errors[0]}` : ''}`,
            );
          }
        }
      }
    }

    const cells = summarizeCells(measured);
    const figures = summarizeLoad(
      measured.map((m) => m.summary),
      cells,
    );
    for (const c of cells) {
      if (c.sameTokens && c.sameTokens.same < c.sameTokens.compared) {
        log(`warning: ${c.transport} ${label(c.mode)} at concurrency ${c.concurrency}: ${c.sameTokens.compared - c.sameTokens.same}/${c.sameTokens.compared} greedy requests differ from the same prompt generated alone`);
      }
    }
    const wallSeconds = (performance.now() - wallStart) / 1000;
    const settingsLine =
      `greedy (temperature 0), seed ${flags.seed} + request index, EOS ignored, ${flags.maxTokens} tokens per request, ${flags.requests} requests per client, ` +
      `concurrency ${flags.concurrency.join('/')}, modes ${modes.map(label).join('/')}, ${flags.repeats} interleaved repeats, time cap ${flags.timeCap} s per run, request timeout ${flags.requestTimeout} s, ` +
      `prompts \`${relative(root, flags.promptsFile)}\` (${prompts.length}); ${flags.check ? `same-tokens reference: each prompt alone, ${label(flags.reference)}` : 'output not checked'}; completions prompts (no chat template); clients in the benchmark's process (SSE: node:http keep-alive, one connection per stream; gRPC: one shared channel)`;
    const markdown = renderMarkdown(
      {
        title: `Load: ${model} over ${transports.join(', ')}${modes.length > 1 || modes[0] !== 'served' ? `; ${modes.map(label).join(', ')}` : ''}`,
        machine,
        server: serverLines,
        settings: settingsLine,
        command,
        wallSeconds,
        fixedGamma: flags.fixedGamma,
        ...(flags.note ? { note: flags.note } : {}),
      },
      cells,
      figures,
    );
    process.stdout.write(markdown);
    if (flags.json || flags.outDir) {
      const report = {
        tool: 'load-bench',
        startedAt,
        wallSeconds,
        command,
        note: flags.note ?? null,
        machine,
        server: { mode: external ? 'live' : 'built-in', httpUrl: httpUrl ?? null, grpc: grpcAddress ?? null, model, config: config ? redacted(config) : null },
        models,
        settings: {
          sampling: { temperature: 0 },
          seed: flags.seed,
          seedRule: 'request k of a run uses seed + k',
          ignoreEos: true,
          maxTokens: flags.maxTokens,
          requestsPerClient: flags.requests,
          concurrency: flags.concurrency,
          transports,
          modes,
          fixedGamma: flags.fixedGamma,
          modeSpeculation: Object.fromEntries(modes.map((m) => [m, modeSpeculation(m, flags.fixedGamma) ?? null])),
          reference: flags.check ? flags.reference : null,
          repeats: flags.repeats,
          timeCapSeconds: flags.timeCap,
          requestTimeoutSeconds: flags.requestTimeout,
          promptsFile: flags.promptsFile,
          prompts: prompts.map((p) => p.id),
          profile: flags.profile ?? null,
          set: flags.set,
          check: flags.check,
        },
        summary: figures,
        cells,
        runs: measured.map(({ summary, run, sameTokens }) => ({ ...summary, sameTokens, records: run.requests })),
      };
      const json = `${JSON.stringify(report, null, 2)}\n`;
      if (flags.json) {
        await writeFile(flags.json, json);
        log(`wrote ${flags.json}`);
      }
      if (flags.outDir) {
        await mkdir(flags.outDir, { recursive: true });
        await writeFile(join(flags.outDir, 'report.md'), markdown);
        await writeFile(join(flags.outDir, 'report.json'), json);
        log(`wrote ${join(flags.outDir, 'report.md')} and report.json`);
      }
    }
    log(`done in ${wallSeconds.toFixed(1)} s`);
  } finally {
    for (const driver of drivers) await driver.close().catch(() => undefined);
    if (server) await server.close().catch((error: unknown) => log(`server close: ${(error as Error).message}`));
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
  }
}
