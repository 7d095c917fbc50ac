#!/usr/bin/env node
/**
 * The `digits` command: a thin face over nn, data and io. Every subcommand
 * has --help; bad input ends with one clear message and exit code 1.
 */
import { Command, CommanderError, Option } from 'commander';
import { DigitsError, Interrupted } from '../errors.js';
import { BACKEND_NAMES } from '../engine/index.js';
import { fraction, nonNegativeInt, positiveInt, precisionOption } from './options.js';
import * as commands from './commands.js';
import { VERSION } from '../version.js';
import { registerExport } from './commands/export.js';
import { registerImport } from './commands/import.js';
import { registerCombine } from './commands/combine.js';
import { registerServe } from './commands/serve.js';
import { registerReport } from './commands/report.js';
import { noTtaOption, ttaOption } from './commands/ensemble.js';

function backendOption(): Option {
  return new Option('--backend <name>', 'compute backend').choices([...BACKEND_NAMES]).default('auto');
}

function threadsOption(): Option {
  return new Option('--threads <n>', 'worker threads for the native backend (default: all cores)').argParser(
    positiveInt('--threads'),
  );
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('digits')
    .description('Handwritten-digit recognizer: train a CNN on MNIST or Kaggle CSVs, evaluate it, predict, and serve it.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: false });

  program
    .command('train')
    .description('train a model and save it with history.json and metrics.json')
    .option('--data <spec>', 'training data: "mnist" (bundled), a folder of IDX files, or a Kaggle train.csv', 'mnist')
    .option('--preset <name>', 'model and training recipe', 'seed')
    .option('--epochs <n>', 'epochs (default: the preset\'s)', positiveInt('--epochs'))
    .option('--batch-size <n>', 'batch size (default: the preset\'s)', positiveInt('--batch-size'))
    .option('--validation-split <f>', 'fraction held out for validation, seeded (default: the preset\'s)', fraction('--validation-split'))
    .option('--seed <n>', 'seed for initialisation, splits, shuffling and dropout', nonNegativeInt('--seed'), 0)
    .option('--limit <n>', 'use only the first N training images', positiveInt('--limit'))
    .option('--test-limit <n>', 'evaluate on only the first N test images (bundled MNIST)', positiveInt('--test-limit'))
    .option('--ensemble <n>', 'train N models (seeds seed..seed+N-1) saved as one ensemble folder (model-0/, ..., ensemble.json) ' +
      'that evaluate, predict, serve and report use as one model (probabilities averaged)', positiveInt('--ensemble'))
    .option('--tta', 'with --ensemble: the ensemble averages over the image and its four 1-pixel shifts whenever it is used ' +
      '(recorded in ensemble.json; --no-tta on evaluate/predict/serve/report turns it off); the test accuracy without it is reported too')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(precisionOption())
    .option('--out <dir>', 'output folder for the model and its files', 'runs/seed')
    .option('--resume <dir>', 'continue the interrupted run whose --out folder is DIR, from DIR/checkpoint (its settings come from there: give no other option)')
    .addHelpText('after', '\nExamples:\n  digits train                                  # seed recipe on the bundled MNIST\n  digits train --data kaggle/train.csv --out runs/kaggle\n  digits train --limit 5000 --epochs 2 --backend reference\n  digits train --preset fast --ensemble 3 --out runs/fast3\n  digits train --resume runs/seed               # after Ctrl-C, SIGTERM or a crash' +
      '\n\nA checkpoint (weights, optimizer, random state, position) is written to <out>/checkpoint at every epoch end.' +
      '\nCtrl-C or SIGTERM finishes the current batch, writes it and exits (130 / 143); a second Ctrl-C quits at once.' +
      '\n--resume ends with exactly the weights an uninterrupted run would have (same backend and threads).' +
      '\nThe checkpoint is removed when the run finishes.')
    .action(commands.train);

  program
    .command('evaluate')
    .description('accuracy, per-class precision/recall and the confusion matrix of a saved model')
    .requiredOption('--model <dir>', 'model folder (model.json + weights) or ensemble folder (ensemble.json)')
    .option('--data <spec>', 'labelled data: "mnist" (its 10,000 test images), a folder of IDX files, or a labelled CSV', 'mnist')
    .option('--limit <n>', 'use only the first N images', positiveInt('--limit'))
    .addOption(ttaOption())
    .addOption(noTtaOption())
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(precisionOption())
    .option('--json', 'print the metrics as JSON')
    .addHelpText('after', '\nExamples:\n  digits evaluate --model runs/seed\n  digits evaluate --model runs/fast3 --tta   # an ensemble, with test-time augmentation')
    .action(commands.evaluate);

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
    .addHelpText('after', '\nExample:\n  digits predict --model runs/seed --input kaggle/test.csv --out submission.csv')
    .action(commands.predict);

  program
    .command('prepare')
    .description('write the bundled MNIST as Kaggle-format CSVs (train.csv, test.csv, test-labels.csv)')
    .requiredOption('--kaggle <dir>', 'output folder')
    .addHelpText('after', '\nExample:\n  digits prepare --kaggle kaggle && digits train --data kaggle/train.csv')
    .action(commands.prepare);

  program
    .command('score')
    .description('accuracy of a submission.csv against a labels CSV (ImageId,Label)')
    .argument('<submission>', 'submission.csv to score')
    .requiredOption('--labels <file>', 'the true labels, e.g. test-labels.csv from `digits prepare`')
    .addHelpText('after', '\nExample:\n  digits score submission.csv --labels kaggle/test-labels.csv')
    .action(commands.score);

  program
    .command('summary')
    .description('the layer table of a saved model or a preset (an ensemble: its members, then their layers)')
    .option('--model <dir>', 'model folder or ensemble folder')
    .option('--preset <name>', 'a preset, e.g. seed')
    .addHelpText('after', '\nExamples:\n  digits summary --preset seed\n  digits summary --model runs/seed')
    .action(commands.summary);

  program
    .command('bench')
    .description('training and inference throughput of the seed model (images/s), as the PyTorch peer measures it')
    .option('--batch-size <n>', 'training batch size', positiveInt('--batch-size'), 32)
    .option('--steps <n>', 'timed training steps, after 10 warm-up steps', positiveInt('--steps'), 300)
    .option('--infer-batch <n>', 'inference batch size', positiveInt('--infer-batch'), 1000)
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(precisionOption())
    .option('--json', 'print one JSON object')
    .addHelpText('after', '\nExamples:\n  digits bench --json\n  digits bench --threads 1 --steps 100\n  node dist/bench/compare.js   # side by side with the PyTorch peer')
    .action(commands.bench);

  registerServe(program); // digits serve: src/cli/commands/serve.ts

  registerExport(program); // digits export: src/cli/commands/export.ts
  registerImport(program); // digits import: src/cli/commands/import.ts
  registerCombine(program); // digits ensemble: src/cli/commands/combine.ts

  registerReport(program); // digits report: src/cli/commands/report.ts

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already printed its message (or the help / version)
      return err.exitCode === 0 ? 0 : 1;
    }
    if (err instanceof Interrupted) {
      process.stderr.write(`digits: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof DigitsError) {
      process.stderr.write(`digits: error: ${err.message}\n`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    if (e && typeof e.code === 'string' && e.path) {
      const what = e.code === 'ENOENT' ? 'no such file or folder' : e.code === 'EACCES' ? 'permission denied' : e.code;
      process.stderr.write(`digits: error: ${e.path}: ${what}\n`);
      return 1;
    }
    process.stderr.write(`digits: internal error (please report): ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}

// A reader that stops early (`digits summary | head`) closes the pipe: stop quietly, as Unix tools do,
// rather than die with an EPIPE stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv).then((code) => {
  process.exitCode = code;
});
