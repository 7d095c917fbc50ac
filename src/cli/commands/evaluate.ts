/** `digits evaluate`: accuracy, per-class figures and the confusion matrix of a saved model. */
import * as path from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_MODEL_DIR } from '../../run/predict.js';
import { describeLoaded, evaluateRun, type EvaluateOptions } from '../../run/index.js';
import { formatConfusionMatrix, formatPerClass, mostConfusedPairs } from '../../report/metrics.js';
import { backendOption, noTtaOption, positiveInt, precisionOption, threadsOption, ttaOption } from '../options.js';
import { info, out, TerminalEvents } from '../terminal.js';

async function evaluate(o: EvaluateOptions & { json?: boolean }): Promise<void> {
  const terminal = new TerminalEvents();
  const { loaded, data, metrics: report, report: written, calibration, rejection, acceptedAsDigits } = await evaluateRun(o, terminal.onEvent);
  if (written) info(`report: ${path.resolve(written.html)} (and ${written.pngs.length} PNG figures beside it)`);
  if (o.json) {
    out(JSON.stringify({
      data: data.source, kind: loaded.kind, members: loaded.members.length, tta: loaded.tta.length,
      backend: loaded.model.backend.name, precision: loaded.model.backend.precision,
      ...report, mostConfused: mostConfusedPairs(report.confusion),
      calibration: {
        temperature: calibration.temperature, eceBefore: calibration.before.ece, eceAfter: calibration.after.ece,
        mceAfter: calibration.after.mce, reliability: calibration.after.bins.filter((b) => b.count > 0),
      },
      rejection, acceptedAsDigits,
    }, null, 2));
    return;
  }
  out(`${describeLoaded(loaded)} ${path.resolve(o.model)} on ${data.count.toLocaleString('en-US')} images from ${data.source}`);
  out(`accuracy ${(report.accuracy * 100).toFixed(2)}% (${report.correct}/${report.total}), macro F1 ${report.macroF1.toFixed(4)}`);
  out('');
  out(formatPerClass(report.perClass));
  out('');
  out(formatConfusionMatrix(report.confusion));
  const pairs = mostConfusedPairs(report.confusion);
  if (pairs.length > 0) {
    out('');
    out('most confused: ' + pairs.map((p) => `${p.actual}→${p.predicted} (${p.count})`).join(', '));
  }
  out('');
  const pct = (v: number, d = 2): string => `${(v * 100).toFixed(d)}%`;
  out(`calibration: expected calibration error ${pct(calibration.before.ece)} as the network says, ` +
    `${pct(calibration.after.ece)} calibrated (temperature ${calibration.temperature.toFixed(3)})`);
  out(`taken for digits: ${pct(acceptedAsDigits)} of the images (the rest read as "not a digit")`);
  out('refusing the least sure: ' + rejection.filter((p) => p.refused > 0)
    .map((p) => `${pct(p.refused, 1)} refused → ${pct(p.accuracy)}`).join(', '));
}

/** Adds `digits evaluate` to the program. */
export function register(program: Command): void {
  program
    .command('evaluate')
    .description('accuracy, per-class precision/recall and the confusion matrix of a saved model')
    .option('--model <dir>', 'model folder (model.json + weights) or ensemble folder (ensemble.json)', DEFAULT_MODEL_DIR)
    .option('--data <spec>', 'labelled data: "mnist" (its 10,000 test images), a folder of IDX files, or a labelled CSV', 'mnist')
    .option('--limit <n>', 'use only the first N images', positiveInt('--limit'))
    .addOption(ttaOption())
    .addOption(noTtaOption())
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(precisionOption())
    .option('--json', 'print the metrics as JSON')
    .addHelpText('after', '\nExamples:\n  npx digits evaluate --model runs/seed\n  npx digits evaluate --model runs/fast3 --tta   # an ensemble, with test-time augmentation')
    .action(evaluate);
}
