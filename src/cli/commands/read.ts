/** `digits read`: the numbers written in images (one or more digits in a row each). */
import type { Command } from 'commander';
import { DEFAULT_MODEL_DIR } from '../../run/predict.js';
import { readRun, type ReadOptions } from '../../run/read.js';
import { backendOption, precisionOption, threadsOption } from '../options.js';
import { out, TerminalEvents } from '../terminal.js';

async function read(o: ReadOptions & { json?: boolean; noGate?: boolean }): Promise<void> {
  const terminal = new TerminalEvents();
  const { reads } = await readRun(o, terminal.onEvent);
  if (o.json) {
    out(JSON.stringify(reads.map((r) => ({ file: r.file, ...(r.number ?? { text: null, digits: [] }), ...(r.error ? { error: r.error } : {}) })), null, 2));
    return;
  }
  for (const r of reads) {
    if (r.number === null) {
      out(`${r.name}: ${r.error}`);
      continue;
    }
    const digits = r.number.digits.map((d) => `${d.isDigit ? d.label : '?'} ${(d.confidence * 100).toFixed(1)}%` +
      `${d.isDigit ? '' : ' (not a digit)'} at ${d.box.x},${d.box.y} ${d.box.width}x${d.box.height}`);
    out(`${r.name}: ${r.number.text === '' ? '(nothing read)' : r.number.text}${digits.length > 0 ? `   [${digits.join('; ')}]` : ''}`);
  }
}

/** Adds `digits read` to the program. */
export function register(program: Command): void {
  program
    .command('read')
    .description('read the number written in images: one or more digits in a row, any size, either polarity')
    .option('--model <dir>', 'model folder or ensemble folder', DEFAULT_MODEL_DIR)
    .requiredOption('--input <path>', 'a PNG or JPEG image, or a folder of them')
    .option('--json', 'print each image\'s text and digits (label, confidence, isDigit, box) as JSON')
    .option('--no-gate', 'take a mark for a digit by the model\'s confidence alone, without the digit gate')
    .option('--no-line-reader', 'choose a number\'s digits by the model and the gate alone, without the line reader')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(precisionOption())
    .addHelpText('after', '\nExamples:\n  npx digits read --model runs/seed --input number.png\n  npx digits read --input scans/ --json')
    .action((opts: ReadOptions & { json?: boolean; gate?: boolean; lineReader?: boolean }) =>
      read({ ...opts, gate: opts.gate === false ? false : undefined, lineReader: opts.lineReader === false ? false : undefined }));
}
