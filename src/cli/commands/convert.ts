import { Command } from 'commander';
import { SpecrouteError, isSpecrouteError } from '../../errors/registry.js';
import { convertGgufToOnnx } from '../../models/onnx/gguf-to-onnx.js';
import { localModelPath } from '../local-model.js';

/** The option names of `convertGgufToOnnx` → the flags that set them, so an error names what the user typed. */
const FLAGS: Record<string, string> = { from: '--from', out: '--out', tokenizerOut: '--tokenizer-out', to: '--to' };

interface ConvertFlags {
  to: string;
  from: string;
  out: string;
  tokenizerOut?: string;
  externalData?: boolean;
  json: boolean;
}

export function convertCommand(): Command {
  return new Command('convert')
    .description(
      'Convert a Llama GGUF (F32, F16, Q8_0 or Q4_0 tensors, dequantized to float32) to an ONNX causal LM with a KV cache, ' +
        'computing what llama.cpp computes, plus MODEL.tokenizer.gguf (the GGUF\'s tokenizer and chat template) beside it.',
    )
    .requiredOption('--to <format>', 'the target format: onnx')
    .requiredOption('--from <file>', 'the source GGUF (Llama architecture), or a URI (hf:OWNER/REPO/FILE, https://…; fetched into SPECROUTE_CACHE_DIR)')
    .requiredOption('--out <file>', 'the ONNX file to write (ends in .onnx)')
    .option('--tokenizer-out <file>', 'where to write the tokenizer GGUF (default: OUT with .onnx replaced by .tokenizer.gguf)')
    .option('--external-data', 'store the weights in OUT.data beside the model (default: only past 1.5 GiB of weights)')
    .option('--json', 'print the result as JSON', false)
    .addHelpText(
      'after',
      `
The ONNX graph follows Hugging Face Optimum's causal-LM convention (input_ids, attention_mask, position_ids,
past_key_values.N.key/value → logits, present.N.key/value), so it loads wherever Optimum exports do. Serve it
by pointing a model path at the .onnx file; the tokenizer GGUF is found beside it.

Examples:
  $ specroute convert --to onnx --from ../shared/models/stories260K.gguf --out stories260K.onnx
  $ specroute convert --to onnx --from draft-q8.gguf --out draft-q8.onnx --json
  $ specroute generate --verifier stories260K.onnx --draft draft-q8.gguf -p "Once upon a time"`,
    )
    .action(async (flags: ConvertFlags) => {
      if (flags.to.toLowerCase() !== 'onnx') {
        throw new SpecrouteError('invalid_argument', `Cannot convert to ${JSON.stringify(flags.to)}; the only target format is onnx.`, { param: '--to' });
      }
      let result;
      try {
        const from = await localModelPath(flags.from, '--from');
        result = await convertGgufToOnnx({
          from,
          out: flags.out,
          ...(flags.tokenizerOut !== undefined ? { tokenizerOut: flags.tokenizerOut } : {}),
          externalData: flags.externalData === true ? true : 'auto',
        });
      } catch (error) {
        if (isSpecrouteError(error) && error.param !== undefined && FLAGS[error.param] !== undefined) {
          throw new SpecrouteError(error.code, error.message, { param: FLAGS[error.param], cause: error.cause });
        }
        throw error;
      }
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(result)}\n`);
        return;
      }
      const types = Object.entries(result.sourceTypes)
        .map(([type, count]) => `${count} ${type}`)
        .join(', ');
      process.stdout.write(
        `wrote ${result.outPath}: ${result.name}, ${result.layers} layers, ${result.headCount} heads / ${result.headCountKv} KV heads, ` +
          `vocabulary ${result.vocabSize}, opset ${result.opset}, ${result.bytesWritten} bytes (from ${types} tensors)\n` +
          (result.externalDataPath ? `  weights in ${result.externalDataPath}\n` : '') +
          `  tokenizer ${result.tokenizerPath}\n`,
      );
    });
}
