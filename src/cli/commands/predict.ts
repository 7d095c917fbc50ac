/** `digits predict`: labels for unlabelled images, written as a Kaggle submission. */
import * as path from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_MODEL_DIR } from '../../run/predict.js';
import { describeLoaded, predictRun, type PredictOptions } from '../../run/index.js';
import { backendOption, noTtaOption, precisionOption, threadsOption, ttaOption } from '../options.js';
import { out, TerminalEvents } from '../terminal.js';
import { calibrationOf } from '../../io/model-files.js';

/** The file predict writes when --out is not given. */
const DEFAULT_OUT = 'submission.csv';

async function predict(opts: Omit<PredictOptions, 'out'> & { out?: string; force?: boolean }): Promise<void> {
  // a file the user named is theirs to replace; the default one is not replaced without a word
  const o: PredictOptions = { ...opts, out: opts.out ?? DEFAULT_OUT, replace: opts.out !== undefined || opts.force === true };
  const terminal = new TerminalEvents();
  const { loaded, data, labels, readings } = await predictRun(o, terminal.onEvent);
  const counts = new Array<number>(10).fill(0);
  for (const l of labels) counts[l]! += 1;
  out(`predicted ${data.count.toLocaleString('en-US')} images from ${data.source} with the ${describeLoaded(loaded)}; wrote ${path.resolve(o.out)}`);
  out('labels: ' + counts.map((c, d) => `${d}:${c}`).join(' '));
  const notDigits = readings.filter((r) => !r.isDigit).length;
  if (notDigits > 0) {
    out(`${notDigits.toLocaleString('en-US')} of them ${notDigits === 1 ? 'does' : 'do'} not look like a digit ` +
      `(confidence under ${(calibrationOf(loaded.metadata).threshold * 100).toFixed(1)}%)${o.confidence ? ': IsDigit false' : '; --confidence marks which'}`);
  }
}

/** Adds `digits predict` to the program. */
export function register(program: Command): void {
  program
    .command('predict')
    .description('predict labels for unlabelled images and write a Kaggle submission')
    .option('--model <dir>', 'model folder or ensemble folder (ensemble.json)', DEFAULT_MODEL_DIR)
    .requiredOption('--input <path>', 'a Kaggle test.csv (pixel0..pixel783), IDX images, or PNG/JPEG images (a file or a folder of them)')
    .option('--out <file>', `submission file (ImageId,Label); default ${DEFAULT_OUT}, which is not replaced unless named here or with --force`)
    .option('--force', `replace ${DEFAULT_OUT} when --out is not given`)
    .option('--confidence', 'add columns Confidence (the calibrated probability of the label) and IsDigit (false: it does not look like a digit)')
    .option('--probabilities', 'add the ten class probabilities p0..p9 (calibrated) as columns')
    .addOption(ttaOption())
    .addOption(noTtaOption())
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(precisionOption())
    .addHelpText('after', '\nExample:\n  npx digits predict --model runs/seed --input kaggle/test.csv --out submission.csv')
    .action(predict);
}
