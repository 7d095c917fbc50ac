/**
 * Read the digit in each PNG (or JPEG) file with a saved model.
 *
 *   node dist/examples/predict-png.js MODEL_DIR FILE.png [FILE.png ...]
 *
 * Each image may be any size and either polarity (dark on light or light on dark): it is made
 * MNIST-like (cropped to its ink, scaled into 20x20, centred by mass in 28x28) as `digits serve` does.
 * Prints one line per file: its name, the digit and the model's probability for it.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { DigitsError, openPredictor } from 'digits';

const [model, ...files] = process.argv.slice(2);
if (model === undefined || files.length === 0) {
  console.error('usage: node dist/examples/predict-png.js MODEL_DIR FILE.png [FILE.png ...]');
  process.exit(2);
}

try {
  const predictor = await openPredictor({ model });
  for (const file of files) {
    const { label, probabilities } = await predictor.predictImage(await readFile(file), path.basename(file));
    console.log(`${path.basename(file)}\t${label}\t${probabilities[label]!.toFixed(3)}`);
  }
} catch (err) {
  if (!(err instanceof DigitsError)) throw err;
  console.error(`error: ${err.message}`); // a bad model folder or image: one line, no stack trace
  process.exit(1);
}
