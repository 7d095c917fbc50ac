/**
 * `digits export --model DIR --format onnx --out model.onnx`: a saved model in
 * another format (src/io/onnx.ts); `--format web --out SITE`: a static site that
 * reads drawings and trains in the page (src/run/site.ts).
 */
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { DigitsError } from '../../errors.js';
import { exportOnnx, ONNX_INPUT_NAME, ONNX_OPSET, ONNX_OUTPUT_NAME } from '../../io/onnx.js';
import { ENSEMBLE_JSON, isEnsembleDir } from '../../io/ensemble.js';
import { exportSite } from '../../run/site.js';

export const EXPORT_FORMATS = ['onnx', 'web'] as const;

export interface ExportOpts {
  model: string;
  format: (typeof EXPORT_FORMATS)[number];
  out?: string;
  rawPixels?: boolean;
  /** web: carry MNIST for the training page (commander's --no-data sets false) */
  data?: boolean;
}

export async function exportModel(o: ExportOpts): Promise<void> {
  if (!EXPORT_FORMATS.includes(o.format)) throw new DigitsError(`--format: expected one of ${EXPORT_FORMATS.join(', ')}, got "${o.format}"`);
  if (o.format === 'web') {
    if (o.rawPixels) throw new DigitsError('--raw-pixels: only for --format onnx');
    const r = await exportSite({ model: o.model, out: o.out ?? 'site', data: o.data !== false }, () => undefined);
    const total = r.files.reduce((s, f) => s + f.bytes, 0);
    process.stdout.write(`wrote ${r.out} (${r.files.length} files, ${(total / 1e6).toFixed(1)} MB; the pages' JavaScript and ` +
      `WebAssembly ${(r.codeGzipBytes / 1024).toFixed(0)} KB gzipped): index.html reads drawings in the page` +
      `${o.data !== false ? ', train.html trains on MNIST in the page' : ''}; serve the folder with any static file server\n`);
    return;
  }
  if (o.data === false) throw new DigitsError('--no-data: only for --format web');
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
    .description('write a saved model in another format: ONNX (opset 13, NHWC input [N, 28, 28, 1], ten probabilities out), ' +
      'or a static web site that reads drawings, and trains, in the page')
    .requiredOption('--model <dir>', 'model folder (model.json + weights); an ensemble folder is refused (export its members one by one)')
    .addOption(new Option('--format <name>', 'output format').choices([...EXPORT_FORMATS]).default('onnx'))
    .option('--out <path>', 'output file (onnx; default model.onnx) or folder (web; default site)')
    .option('--raw-pixels', 'onnx: bake the model\'s input scaling into the graph: the ONNX input then takes raw 0..255 pixels')
    .option('--no-data', 'web: leave MNIST out (about 11 MB gzipped); train.html then cannot train')
    .addHelpText('after', '\nThe ONNX input is float [N, H, W, C] (NHWC) holding raw pixels x the model\'s inputScale\n' +
      '(metadata prop digits.inputScale; 1/255 for Digits-trained models) unless --raw-pixels is given.\n\n' +
      'The web site is one folder that works offline from any static host: index.html (draw a digit; the model\n' +
      'runs in the page on the WebAssembly kernels) and train.html (trains the fast preset on MNIST in the page).\n\n' +
      'Examples:\n  npx digits export --model runs/seed --format onnx --out seed.onnx\n' +
      '  npx digits export --model runs/seed --format web --out site && python3 -m http.server -d site')
    .action(exportModel);
}
