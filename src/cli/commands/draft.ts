import { Command, Option } from 'commander';
import { makeDraft } from '../../models/draft-make.js';
import { localModelPath } from '../local-model.js';

export function draftCommand(): Command {
  const draft = new Command('draft').description('Make and inspect draft models.');
  draft
    .command('make')
    .description('Write a self-speculative draft: chosen layers of a verifier GGUF, optionally quantized, sharing its tokenizer byte for byte.')
    .requiredOption('--from <file>', 'the verifier GGUF (Llama architecture), or a URI (hf:OWNER/REPO/FILE, https://…; fetched into SPECROUTE_CACHE_DIR)')
    .requiredOption('--out <file>', 'where to write the draft GGUF')
    .option('--layers <list>', 'layers to keep, 0-based: ranges and indices such as 0-2 or 0,1,4 (default: all)')
    .addOption(new Option('--quantize <type>', 'quantize the weight matrices').choices(['q8_0', 'q4_0']))
    .option('--json', 'print the result as JSON', false)
    .addHelpText(
      'after',
      `
Examples:
  $ specroute draft make --from ../shared/models/stories260K.gguf --quantize q8_0 --out draft-q8.gguf
  $ specroute draft make --from ../shared/models/stories260K.gguf --layers 0-2 --out draft-3l.gguf
  $ specroute draft make --from model.gguf --layers 0,1,4 --quantize q4_0 --out draft.gguf --json
  $ specroute draft make --from hf:ggml-org/models/tinyllamas/stories260K.gguf --quantize q8_0 --out draft-q8.gguf`,
    )
    .action(async (flags: { from: string; out: string; layers?: string; quantize?: 'q8_0' | 'q4_0'; json: boolean }) => {
      const result = await makeDraft({
        from: await localModelPath(flags.from, '--from'),
        out: flags.out,
        ...(flags.layers !== undefined ? { layers: flags.layers } : {}),
        ...(flags.quantize !== undefined ? { quantize: flags.quantize } : {}),
      });
      if (flags.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else
        process.stdout.write(
          `wrote ${result.outPath}: ${result.name}\n  layers ${result.layers.join(',')} of ${result.sourceLayerCount}, ${result.tensorCount} tensors (${result.quantizedTensorCount} quantized), ${result.bytesWritten} bytes\n`,
        );
    });
  return draft;
}
