import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { configModelUris } from '../../config/fetch-models.js';
import { loadConfig } from '../../config/load-config.js';
import { SpecrouteError, isSpecrouteError } from '../../errors/registry.js';
import { downloadModel } from '../../models/model-download.js';
import { parseModelUri } from '../../models/model-uri.js';
import { DownloadReporter } from '../download-progress.js';

const DEFAULT_CONFIG = 'specroute.yaml';

interface PullFlags {
  config?: string;
  cacheDir?: string;
  json: boolean;
}

export function pullCommand(): Command {
  return new Command('pull')
    .description('Fetch models named by URI into the cache ahead of time (resumable, checked against the size and sha256 the server reports), and print where each went.')
    .argument('[uri...]', 'hf:OWNER/REPO[:REVISION]/PATH/TO/FILE, or an https:// URL (add #sha256=HEX to check it); none: every model the config names by URI')
    .option('-c, --config <file>', `config file whose cacheDir (and, with no URI given, whose models) to use (default: ./${DEFAULT_CONFIG} when present)`)
    .option('--cache-dir <dir>', "where the files go (default: the config's cacheDir, else <os tmpdir>/specroute-cache)")
    .option('--json', 'print one JSON object per file: uri, path, size, sha256, sha256Verified, reused, checked, resumedFrom', false)
    .addHelpText(
      'after',
      `
Prints only the local path of each file on stdout, one a line, so that \`$(specroute pull URI)\` is the file;
progress goes to stderr (a bar on a terminal, else one line per download). Files land under
CACHE/models/hf/OWNER/REPO/REVISION/PATH (CACHE/models/url/HOST/KEY/FILE for URLs), beside FILE.sha256 once
verified; a file already there with the right size and sha256 is not fetched again, and an interrupted download
resumes from its FILE.part. \`specroute serve\` fetches the same way at boot into the same cacheDir, so a pull
beforehand only moves the wait. The hub is HF_ENDPOINT (default https://huggingface.co); HF_TOKEN is sent to it
(never to the CDN it redirects to) for private and gated repositories. SPECROUTE_CACHE_DIR overrides the config
file and --cache-dir, as SPECROUTE_* variables do for every command.

Examples:
  $ specroute pull hf:ggml-org/models/tinyllamas/stories260K.gguf
  $ specroute pull hf:OWNER/REPO:v1.0/model-q8_0.gguf --cache-dir /var/cache/specroute
  $ specroute pull 'https://example.com/models/model.gguf#sha256=<64 hex digits>' --json
  $ specroute pull --config prod.yaml       # every model prod.yaml names by URI, before serving it
  $ HF_ENDPOINT=https://hf-mirror.example.com HF_TOKEN=hf_xxx specroute pull hf:my-org/private-model/model.gguf`,
    )
    .action(async (uris: string[], flags: PullFlags) => {
      for (const uri of uris) parseModelUri(uri, 'uri');
      const file = flags.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
      const config = loadConfig(file, flags.cacheDir !== undefined ? { cacheDir: resolve(flags.cacheDir) } : {});
      const wanted = uris.length > 0 ? uris.map((uri) => ({ uri, key: undefined })) : configModelUris(config);
      if (wanted.length === 0) {
        throw new SpecrouteError('invalid_argument', `give a URI to fetch, or a config that names models by URI (${file ?? 'no config file was found, and the defaults'} name none)`, { param: 'uri' });
      }
      const abort = new AbortController();
      const onSigint = (): void => abort.abort();
      process.once('SIGINT', onSigint);
      const reporter = new DownloadReporter();
      try {
        for (const { uri, key } of wanted) {
          const got = await downloadModel(uri, { cacheDir: config.cacheDir, onProgress: reporter.onProgress, signal: abort.signal }).catch((error: unknown) => {
            if (key === undefined || !isSpecrouteError(error)) throw error;
            throw new SpecrouteError(error.code, `config ${config.source}: ${key}: ${error.message}`, { param: key, cause: error });
          });
          reporter.finish();
          if (!got.checked) process.stderr.write(`specroute: the server of ${uri} could not be reached; using the copy verified earlier\n`);
          process.stdout.write(flags.json ? `${JSON.stringify({ uri, ...(key ? { key } : {}), ...got })}\n` : `${got.path}\n`);
        }
      } catch (error) {
        reporter.finish();
        if (isSpecrouteError(error) && error.code === 'cancelled') {
          process.stderr.write(`specroute: ${error.message}\n`);
          process.exitCode = 130;
          return;
        }
        throw error;
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
