/** `digits ensemble`: models trained apart, combined into one ensemble folder. */
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { combineModels, type CombineOptions } from '../../run/index.js';
import { out } from '../terminal.js';

async function ensemble(dirs: string[], o: CombineOptions): Promise<void> {
  const members = await combineModels(dirs, o);
  out(`wrote an ensemble of ${members.length} models to ${path.resolve(o.out)}${o.tta ? ' (with test-time augmentation)' : ''}:\n` +
    members.map((m) => `  ${m.name}  <- ${m.from}\n`).join('') +
    `evaluate it with: npx digits evaluate --model ${o.out}`);
}

/** Adds `digits ensemble` to the program. */
export function register(program: Command): void {
  program
    .command('ensemble')
    .description('combine models trained apart (other recipes, seeds or machines) into one ensemble folder that ' +
      'evaluate, predict, serve and report use as one model (probabilities averaged)')
    .argument('<models...>', 'model folders or ensemble folders (an ensemble\'s members all join)')
    .requiredOption('--out <dir>', 'the new ensemble folder')
    .addOption(new Option('--tta', 'record test-time augmentation (the image and its four 1-pixel shifts) in ensemble.json'))
    .addHelpText('after', '\nExamples:\n  npx digits ensemble --out runs/mix runs/best runs/best-s1 runs/fast3\n  npx digits evaluate --model runs/mix')
    .action(ensemble);
}
