/** `digits predict`: labels for unlabelled images, written as a Kaggle submission. */
import * as path from 'node:path';
import type { Command } from 'commander';
import { describeLoaded, predictRun, type PredictOptions } from '../../run/index.js';
import { backendOption, noTtaOption, precisionOption, threadsOption, ttaOption } from '../options.js';
import { out, TerminalEvents } from '../terminal.js';

async function predict(o: PredictOptions): Promise<void> {
  const terminal = new TerminalEvents();
  const { loaded, data, labels } = await predictRun(o, terminal.onEvent);
  const counts = new Array<number>(10).fill(0);
  for (const l of labels) counts[l]! += 1;
  out(`predicted ${data.count.toLocaleString('en-US')} images from ${data.source} with the ${describeLoaded(loaded)}; wrote ${path.resolve(o.out)}`);
  out('labels: ' + counts.map((c, d) => `${d}:${c}`).join(' '));
}

/** Adds `digits predict` to the program. */
export function register(program: Command): void {
  program
    .command('predict')
    .description('predict labels for unlabelled images and write a Kaggle submission')
    .requiredOption('--model <dir>', 'model folder or ensemble folder (ensemble.json)')
    .requiredOption('--input <path>', 'a Kaggle test.csv (pixel0..pixel783), IDX images, or PNG/JPEG images (a file or a folder of them)')
    .option('--out <file>', 'submission file (ImageId,Label)', 'submission.csv')
    .option('--probabilities', 'add the ten class probabilities p0..p9 as columns')
    .addOption(ttaOption())
    .addOption(noTtaOption())
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(precisionOption())
    .addHelpText('after', '\nExample:\n  npx digits predict --model runs/seed --input kaggle/test.csv --out submission.csv')
    .action(predict);
}
