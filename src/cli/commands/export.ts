/**
 * `digits export --model DIR --format onnx --out model.onnx`: a saved model in
 * another format. ONNX is the one format so far (see src/io/onnx.ts).
 */
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { DigitsError } from '../../errors.js';
import { exportOnnx, ONNX_INPUT_NAME, ONNX_OPSET, ONNX_OUTPUT_NAME } from '../../io/onnx.js';
import { ENSEMBLE_JSON, isEnsembleDir } from '../../io/ensemble.js';

export const EXPORT_FORMATS = ['onnx'] as const;

export interface ExportOpts {
  model: string;
  format: (typeof EXPORT_FORMATS)[number];
  out?: string;
  rawPixels?: boolean;
}

export async function exportModel(o: ExportOpts): Promise<void> {
  if (o.format !== 'onnx') throw new DigitsError(`--format: expected one of ${EXPORT_FORMATS.join(', ')}, got "${o.format}"`);
  const out = o.out ?? 'model.onnx';
  if (await isEnsembleDir(o.model)) {
    // one network per ONNX file: averaging (and TTA) stay with Digits, each member exports on its own
    throw new DigitsError(`--model ${o.model}: an ensemble (${ENSEMBLE_JSON}) cannot be exported to ONNX as one graph; ` +
      `export its members one by one, e.g. --model ${path.join(o.model, 'model-0')}, and average their probabilities`);
  }
  const r = await exportOnnx(o.model, out, { rawPixels: o.rawPixels === true });
  const input = o.rawPixels ? 'raw 0..255 pixels' : `pixels x ${r.metadata.inputScale === 1 / 255 ? '1/255' : r.metadata.inputScale}`;
  process.stdout.write(
    `wrote ${path.resolve(out)} (ONNX opset ${ONNX_OPSET}, ${r.bytes.byteLength.toLocaleString('en-US')} bytes, ${r.ops.length} nodes): ` +
    `${ONNX_INPUT_NAME} float [${r.inputShape.join(', ')}] NHWC (${input}) -> ${ONNX_OUTPUT_NAME} [${r.outputShape.join(', ')}]\n`,
  );
}

/** Adds `digits export` to the program. */
export function register(program: Command): void {
  program
    .command('export')
    .description('write a saved model in another format: ONNX (opset 13, NHWC input [N, 28, 28, 1], ten probabilities out)')
    .requiredOption('--model <dir>', 'model folder (model.json + weights); an ensemble folder is refused (export its members one by one)')
    .addOption(new Option('--format <name>', 'output format').choices([...EXPORT_FORMATS]).default('onnx'))
    .option('--out <file>', 'output file', 'model.onnx')
    .option('--raw-pixels', 'bake the model\'s input scaling into the graph: the ONNX input then takes raw 0..255 pixels')
    .addHelpText('after', '\nThe ONNX input is float [N, H, W, C] (NHWC) holding raw pixels x the model\'s inputScale\n' +
      '(metadata prop digits.inputScale; 1/255 for Digits-trained models) unless --raw-pixels is given.\n\n' +
      'Example:\n  npx digits export --model runs/seed --format onnx --out seed.onnx')
    .action(exportModel);
}
