/** `digits train`: one training run (or an ensemble of them) on the terminal, resumable after Ctrl-C. */
import * as path from 'node:path';
import type { Command } from 'commander';
import { DigitsError } from '../../errors.js';
import {
  MAX_ENSEMBLE, resumeOptions, trainEnsemble, trainRun, withPresetPrecision, type EnsembleResult, type RunOptions, type TrainHooks, type TrainResult,
} from '../../run/index.js';
import { formatConfusionMatrix } from '../../report/metrics.js';
import { presetNames } from '../../nn/index.js';
import { formatEpochTable, formatSeconds } from '../../report/text.js';
import { catchInterrupts } from '../interrupts.js';
import { backendOption, fraction, intInRange, nonNegativeInt, positiveInt, precisionOption, threadsOption } from '../options.js';
import { info, out, TerminalEvents } from '../terminal.js';

interface TrainOpts extends RunOptions {
  /** train N members (seeds seed..seed+N-1) into out/model-i and write out/ensemble.json */
  ensemble?: number;
  /** with --ensemble: the ensemble averages over test-time augmentation views by default (recorded in ensemble.json) */
  tta?: boolean;
  /** continue the interrupted run whose --out folder this is (its settings come from the checkpoint) */
  resume?: string;
  /** replace a model or ensemble the --out folder already holds */
  force?: boolean;
}

async function train(o: TrainOpts, cmd: Command): Promise<void> {
  if (o.resume !== undefined) {
    const fromUser = (k: string): boolean => ['cli', 'env'].includes(cmd.getOptionValueSource(k) ?? '');
    const { opts, checkpoint } = await resumeOptions(o.resume, { ...o }, fromUser);
    printRun(await onTerminal((hooks) => trainRun(opts, { ...hooks, resume: checkpoint })));
    return;
  }
  // --precision auto: the preset's own precision where it has one (fast: fp32); the checkpoint records the
  // precision chosen, so that --resume keeps it
  o = withPresetPrecision(o, o.preset);
  const { ensemble, tta, resume: _resume, force, ...run } = o;
  if (ensemble !== undefined && ensemble > 1) {
    printEnsemble(await onTerminal((hooks) => trainEnsemble({ ...run, ensemble, tta }, { ...hooks, replace: force })));
    return;
  }
  if (tta) throw new DigitsError('--tta on train needs --ensemble N (N >= 2): it is recorded in ensemble.json; for one model, use --tta on evaluate, predict or serve');
  printRun(await onTerminal((hooks) => trainRun(run, { ...hooks, replace: force })));
}

/**
 * A run with its progress on the terminal, and Ctrl-C or SIGTERM while it trains turned into "finish
 * the batch, write a checkpoint" (the run then rejects with Interrupted, whose exit code main uses).
 */
async function onTerminal<T>(run: (hooks: TrainHooks) => Promise<T>): Promise<T> {
  const terminal = new TerminalEvents();
  const interrupts = catchInterrupts((sig) => {
    terminal.stop();
    info(`\ndigits: ${sig === 'SIGINT' ? 'Ctrl-C' : sig}: finishing the current batch, then writing a checkpoint ` +
      '(Ctrl-C again quits at once; the last checkpoint stays)');
  });
  try {
    return await run({
      signal: interrupts.signal,
      onEvent: (e) => {
        terminal.onEvent(e);
        // between fits (evaluation, saving, the next ensemble member's data) there is no checkpoint to
        // write: Ctrl-C ends the process as usual
        if (e.type === 'trained') interrupts.arm(false);
        else if (e.type === 'training' && e.progress.type === 'trainBegin') interrupts.arm(true);
      },
    });
  } finally {
    terminal.stop();
    interrupts.dispose();
  }
}

const pct = (v: number): string => `${(v * 100).toFixed(2)}%`;

/** The compact summary: epochs, final accuracies, the confusion matrix, where the report is. */
function printRun(r: TrainResult): void {
  const { history, metrics, testReport, modelDescription, report } = r;
  out('');
  out(formatEpochTable(history.history, history.bestEpoch));
  out('');
  if (modelDescription === null) {
    out(`final accuracy (weights of epoch ${metrics.bestEpoch}): ` + [
      metrics.accuracy !== undefined ? `training ${pct(metrics.accuracy)}` : '',
      metrics.valAccuracy !== undefined ? `validation ${pct(metrics.valAccuracy)}` : '',
      testReport ? `test ${pct(testReport.accuracy)}` : '',
    ].filter(Boolean).join(', '));
  } else {
    const v = metrics.modelValAccuracy;
    const scores = [v !== undefined ? `validation ${pct(v)}` : '', testReport ? `test ${pct(testReport.accuracy)}` : ''].filter(Boolean);
    out(`final model (${modelDescription})${scores.length > 0 ? `: ${scores.join(', ')}` : ''}`);
  }
  const shown = testReport ?? report?.metrics;
  if (shown) {
    out(`confusion matrix, ${testReport ? 'test' : 'validation'} set (${shown.total.toLocaleString('en-US')} images):`);
    out(formatConfusionMatrix(shown.confusion));
  }
  if (report) out(`report: ${path.resolve(report.html)} (and ${report.pngs.length} PNG figures beside it, ${report.seconds.toFixed(1)} s)`);
  out('');
  const where = path.resolve(r.out);
  const written = r.files.join(', ');
  if (testReport !== null) {
    out(`test accuracy ${(testReport.accuracy * 100).toFixed(2)}% on ${testReport.total.toLocaleString('en-US')} test images ` +
      `in ${formatSeconds(metrics.wallSeconds)}; outputs in ${where} (${written})`);
  } else {
    out(`trained in ${formatSeconds(metrics.wallSeconds)}; outputs in ${where} (${written})`);
  }
}

/** One row per member, then the ensemble. */
function printEnsemble(r: EnsembleResult): void {
  const { members, tta, metrics: result, evaluation, report } = r;
  out('');
  out(`ensemble of ${members.length} (class probabilities averaged${tta.length > 0 ? `, test-time augmentation: ${tta.length} views` : ''}):`);
  out(['member', 'seed', 'train time', 'test accuracy', 'val accuracy'].map((h) => h.padEnd(15)).join('').trimEnd());
  for (const m of members) {
    out([m.name, String(m.seed), m.trainSeconds !== undefined ? formatSeconds(m.trainSeconds) : '-',
      m.testAccuracy !== undefined ? pct(m.testAccuracy) : '-', m.valAccuracy !== undefined ? pct(m.valAccuracy) : '-']
      .map((c) => c.padEnd(15)).join('').trimEnd());
  }
  if (result) {
    const set = evaluation!.kind === 'test' ? 'test set' : 'validation rows held out by every member';
    out(`confusion matrix of the ensemble, ${set} (${result.total.toLocaleString('en-US')} images):`);
    out(formatConfusionMatrix(result.confusion));
  }
  if (report) out(`report: ${path.resolve(report.html)} (and ${report.pngs.length} PNG figures beside it; each member's own in its folder)`);
  out('');
  const acc = !result ? 'no labelled test set'
    : evaluation!.kind === 'test'
      ? `ensemble test accuracy ${pct(result.accuracy)}` + (r.accuracyWithoutTta !== undefined ? ` (without TTA ${pct(r.accuracyWithoutTta)})` : '') +
        ` on ${result.total.toLocaleString('en-US')} test images`
      : `ensemble validation accuracy ${pct(result.accuracy)} on ${result.total.toLocaleString('en-US')} rows no member trained on`;
  out(`${acc}; ${members.length} members trained in ${formatSeconds(r.trainSeconds)}, wall time ${formatSeconds(r.wallSeconds)}; ` +
    `outputs in ${path.resolve(r.out)} (${r.files.join(', ')})`);
}

/** Adds `digits train` to the program. */
export function register(program: Command): void {
  program
    .command('train')
    .description('train a model and save it with history.json and metrics.json')
    .option('--data <spec>', 'training data: "mnist" (bundled), a folder of IDX files, or a Kaggle train.csv', 'mnist')
    .option('--preset <name>', `model and training recipe: ${presetNames().join(', ')}`, 'seed')
    .option('--epochs <n>', 'epochs (default: the preset\'s)', positiveInt('--epochs'))
    .option('--batch-size <n>', 'batch size (default: the preset\'s)', positiveInt('--batch-size'))
    .option('--validation-split <f>', 'fraction held out for validation, seeded (default: the preset\'s)', fraction('--validation-split'))
    .option('--seed <n>', 'seed for initialisation, splits, shuffling and dropout', nonNegativeInt('--seed'), 0)
    .option('--limit <n>', 'use only the first N training images', positiveInt('--limit'))
    .option('--test-limit <n>', 'evaluate on only the first N test images (bundled MNIST)', positiveInt('--test-limit'))
    .option('--ensemble <n>', 'train N models (seeds seed..seed+N-1) saved as one ensemble folder (model-0/, ..., ensemble.json) ' +
      'that evaluate, predict, serve and report use as one model (probabilities averaged)', intInRange('--ensemble', 1, MAX_ENSEMBLE))
    .option('--tta', 'with --ensemble: the ensemble averages over the image and its four 1-pixel shifts whenever it is used ' +
      '(recorded in ensemble.json; --no-tta on evaluate/predict/serve/report turns it off); the test accuracy without it is reported too')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(precisionOption('training'))
    .option('--out <dir>', 'output folder for the model and its files', 'runs/seed')
    .option('--resume <dir>', 'continue the interrupted run whose --out folder is DIR, from DIR/checkpoint (its settings come from there: give no other option)')
    .option('--force', 'replace the model or ensemble the --out folder already holds (without it, such a folder is refused)')
    .addHelpText('after', '\nExamples:\n  npx digits train                                  # seed recipe on the bundled MNIST\n  npx digits train --data kaggle/train.csv --out runs/kaggle\n  npx digits train --limit 5000 --epochs 2 --backend reference\n  npx digits train --preset fast --ensemble 3 --out runs/fast3\n  npx digits train --resume runs/seed               # after Ctrl-C, SIGTERM or a crash' +
      '\n\nA checkpoint (weights, optimizer, random state, position) is written to <out>/checkpoint at every epoch end.' +
      '\nCtrl-C or SIGTERM finishes the current batch, writes it and exits (130 / 143); a second Ctrl-C quits at once.' +
      '\n--resume ends with exactly the weights an uninterrupted run would have (same backend and threads).' +
      '\nThe checkpoint is removed when the run finishes.')
    .action(train);
}
