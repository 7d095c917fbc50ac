/**
 * One side of a fold of best-select's k-fold partition (lab/folds.ts) as a Kaggle train.csv, so that
 * `digits train --data FILE` can train a candidate on a fold's training rows. That command checkpoints every
 * epoch and continues with --resume, so a run longer than a session can still be decided on its fold; the
 * saved model is then scored on the held-out rows by val-pairs (--folds K --fold I).
 *
 *   node dist/lab/fold-csv.js --folds 5 --fold 0 --out runs/fold0-train.csv            # the rows trained on
 *   node dist/lab/fold-csv.js --folds 5 --fold 0 --held-out --out runs/fold0-held.csv  # the rows held out
 *
 * Rows keep their order in MNIST train. Pixels are written as MNIST's bytes, so the images read back exactly.
 * Prints one JSON object (the file and its row count); the MNIST test images are never loaded.
 */
import { benchProgram, intArg } from '../bench/options.js';
import { foldOptionsError, foldRows } from './folds.js';
import { loadMnist } from '../src/data/mnist.js';
import { subset } from '../src/data/split.js';
import { writeKaggleCsv } from '../src/data/kaggle.js';
import { DigitsError } from '../src/errors.js';

const program = benchProgram('fold-csv', 'a fold\'s training (or held-out) rows of MNIST train as a Kaggle train.csv')
  .requiredOption('--folds <k>', 'folds in the partition', intArg(2))
  .requiredOption('--fold <i>', 'the 0-based fold', intArg(0))
  .option('--held-out', 'write the fold\'s held-out rows instead of the rows trained on')
  .requiredOption('--out <file>', 'the CSV to write');
program.parse();
const { folds, fold, heldOut, out } = program.opts<{ folds: number; fold: number; heldOut?: boolean; out: string }>();
const foldError = foldOptionsError(folds, fold);
if (foldError !== null) program.error(foldError);

const train = await loadMnist('train');
const parts = foldRows(train.count, folds, fold);
const rows = heldOut === true ? parts.validation : parts.train;
const side = heldOut === true ? 'held out' : 'trained on';
try {
  await writeKaggleCsv(out, subset(train, rows, `MNIST train, fold ${fold} of ${folds} (${side})`), { labelled: true });
} catch (e) {
  if (e instanceof DigitsError) program.error(`error: ${e.message}`); // a bad --out: one line, no stack trace
  throw e;
}
console.log(JSON.stringify({ folds, fold, side, rows: rows.length, out }));
