/**
 * `digits import --from keras model.h5 --out DIR [--input-scale 255]`: a model
 * trained elsewhere, saved as a Digits model folder (see src/io/keras.ts).
 */
import * as path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DigitsError } from '../../errors.js';
import { importKeras } from '../../io/keras.js';
import { registeredLayerNames } from '../../nn/index.js';

export const IMPORT_FORMATS = ['keras'] as const;

export interface ImportOpts {
  from: (typeof IMPORT_FORMATS)[number];
  out: string;
  inputScale?: number;
}

export async function importModel(file: string, o: ImportOpts): Promise<void> {
  if (o.from !== 'keras') throw new DigitsError(`--from: expected one of ${IMPORT_FORMATS.join(', ')}, got "${o.from}"`);
  const r = await importKeras(file, o.out, { pixelRange: o.inputScale ?? 1 });
  for (const w of r.warnings) process.stderr.write(`digits: warning: ${w}\n`);
  const scale = r.metadata.inputScale === 1 ? 'raw 0..255 pixels' : `pixels x ${r.metadata.inputScale === 1 / 255 ? '1/255' : r.metadata.inputScale}`;
  process.stdout.write(
    `imported ${r.layers} layers (${r.params.toLocaleString('en-US')} parameters, Keras ${r.kerasVersion ?? 'version unknown'}) ` +
    `from ${file}; the model takes ${scale}; wrote ${path.resolve(o.out)}\n`,
  );
}

function pixelRange(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`--input-scale expects a positive number (1: pixels / 255, 255: raw 0..255 pixels), got "${value}".`);
  }
  return n;
}

/** Adds `digits import` to the program. */
export function register(program: Command): void {
  program
    .command('import')
    .description('import a model trained elsewhere (a Keras 2.x .h5 file) as a Digits model folder')
    .argument('<file>', 'the model file, e.g. model.h5 from Keras model.save("model.h5")')
    .addOption(new Option('--from <format>', 'format of the file').choices([...IMPORT_FORMATS]).makeOptionMandatory())
    .requiredOption('--out <dir>', 'output model folder')
    .option('--input-scale <n>', 'the pixel range the model was trained on: 1 (pixels / 255, default) or 255 (raw 0..255 pixels)', pixelRange)
    .addHelpText('after', `\nSupported layers: InputLayer, ${registeredLayerNames().join(', ')}; activations relu, softmax, linear.\n\n` +
      'Examples:\n  npx digits import --from keras model.h5 --out runs/keras\n' +
      '  npx digits import --from keras kaggle-notebook.h5 --out runs/kaggle-nb --input-scale 255   # trained on raw 0..255 pixels')
    .action(importModel);
}
