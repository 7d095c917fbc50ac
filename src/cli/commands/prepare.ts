/** `digits prepare`: the bundled MNIST as Kaggle CSVs, for the Kaggle workflow offline. */
import type { Command } from 'commander';
import { prepareKaggle } from '../../data/index.js';
import { checkOutputFolder } from '../../util/disk.js';
import { out } from '../terminal.js';

async function prepare(o: { kaggle: string }): Promise<void> {
  await checkOutputFolder(o.kaggle, `--kaggle ${o.kaggle}`);
  const r = await prepareKaggle(o.kaggle);
  out(`wrote ${r.train} (${r.trainRows.toLocaleString('en-US')} rows), ${r.test} (${r.testRows.toLocaleString('en-US')} rows) and ${r.testLabels}`);
}

/** Adds `digits prepare` to the program. */
export function register(program: Command): void {
  program
    .command('prepare')
    .description('write the bundled MNIST as Kaggle-format CSVs (train.csv, test.csv, test-labels.csv)')
    .requiredOption('--kaggle <dir>', 'output folder')
    .addHelpText('after', '\nExample:\n  npx digits prepare --kaggle kaggle && npx digits train --data kaggle/train.csv')
    .action(prepare);
}
