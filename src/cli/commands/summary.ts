/** `digits summary`: the layer table of a preset or a saved model. */
import type { Command } from 'commander';
import { DigitsError } from '../../errors.js';
import { buildPreset } from '../../nn/index.js';
import { loadClassifier } from '../../io/ensemble.js';
import { out } from '../terminal.js';

async function summary(o: { model?: string; preset?: string }): Promise<void> {
  if ((o.model === undefined) === (o.preset === undefined)) {
    throw new DigitsError('summary: give exactly one of --model DIR or --preset NAME');
  }
  if (o.preset !== undefined) {
    out(buildPreset(o.preset, 0).model.summary());
    return;
  }
  const { model, metadata } = await loadClassifier(o.model!);
  out(model.summary());
  if (metadata?.testAccuracy !== undefined) out(`test accuracy ${(metadata.testAccuracy * 100).toFixed(2)}%`);
}

/** Adds `digits summary` to the program. */
export function register(program: Command): void {
  program
    .command('summary')
    .description('the layer table of a saved model or a preset (an ensemble: its members, then their layers)')
    .option('--model <dir>', 'model folder or ensemble folder')
    .option('--preset <name>', 'a preset, e.g. seed')
    .addHelpText('after', '\nExamples:\n  npx digits summary --preset seed\n  npx digits summary --model runs/seed')
    .action(summary);
}
