/** `digits score`: the accuracy of a submission against the true labels. */
import type { Command } from 'commander';
import { scoreSubmission } from '../../data/index.js';
import { out } from '../terminal.js';

async function score(submission: string, o: { labels: string }): Promise<void> {
  const r = await scoreSubmission(submission, o.labels);
  out(`accuracy ${(r.accuracy * 100).toFixed(2)}% (${r.correct}/${r.total})`);
}

/** Adds `digits score` to the program. */
export function register(program: Command): void {
  program
    .command('score')
    .description('accuracy of a submission.csv against a labels CSV (ImageId,Label)')
    .argument('<submission>', 'submission.csv to score')
    .requiredOption('--labels <file>', 'the true labels, e.g. test-labels.csv from `npx digits prepare`')
    .addHelpText('after', '\nExample:\n  npx digits score submission.csv --labels kaggle/test-labels.csv')
    .action(score);
}
