/** `digits report`: report.html (and its PNGs) for a saved model, written again. */
import * as path from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_MODEL_DIR } from '../../run/predict.js';
import { reportRun, type ReportOptions } from '../../run/index.js';
import { backendOption, noTtaOption, positiveInt, precisionOption, threadsOption, ttaOption } from '../options.js';
import { out, TerminalEvents } from '../terminal.js';

async function report(o: ReportOptions): Promise<void> {
  const terminal = new TerminalEvents();
  const { report: r, evaluation } = await reportRun(o, terminal.onEvent);
  const acc = r.metrics ? `; ${evaluation.kind} accuracy ${(r.metrics.accuracy * 100).toFixed(2)}% on ${r.metrics.total.toLocaleString('en-US')} images` : '';
  out(`wrote ${path.resolve(r.html)} and ${r.pngs.length} PNG figures beside it in ${r.seconds.toFixed(1)} s${acc}`);
}

/** Adds `digits report` to the program. */
export function register(program: Command): void {
  program
    .command('report')
    .description('write report.html (self-contained, with a PNG of each figure beside it) for a saved model')
    .option('--model <dir>', 'model folder (model.json + weights; metrics.json and history.json when Digits trained it) or ensemble folder (ensemble.json)', DEFAULT_MODEL_DIR)
    .option('--data <spec>', 'labelled evaluation data: "mnist", a folder of IDX files or a labelled CSV (default: the data the model trained on)')
    .option('--limit <n>', 'evaluate on only the first N images', positiveInt('--limit'))
    .option('--input <path>', 'also predict an unlabelled set (a Kaggle test.csv or IDX images) and show a grid of its predictions')
    .option('--out <dir>', 'output folder (default: the model folder)')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(precisionOption())
    .addOption(ttaOption())
    .addOption(noTtaOption())
    .addHelpText('after', '\nExamples:\n  npx digits report --model runs/seed\n  npx digits report --model runs/kaggle --input kaggle/test.csv --out runs/kaggle-report')
    .action(report);
}
