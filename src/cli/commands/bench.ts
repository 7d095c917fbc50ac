/** `digits bench`: training and inference throughput of the seed model. */
import type { Command } from 'commander';
import { benchThroughput, chooseBackend, type BackendOpts, type BenchOptions } from '../../run/index.js';
import { backendOption, positiveInt, precisionOption, threadsOption } from '../options.js';
import { out, warn } from '../terminal.js';

async function bench(o: BackendOpts & BenchOptions & { json?: boolean }): Promise<void> {
  const backend = chooseBackend(o, (e) => {
    if (e.type === 'warning') warn(e.message);
  });
  const result = await benchThroughput(backend, o);
  if (o.json) {
    out(JSON.stringify(result));
  } else {
    out(`seed model on the ${backend.name} backend (${backend.threads} thread${backend.threads > 1 ? 's' : ''})`);
    out(`training  ${result.trainImagesPerSec.toLocaleString('en-US')} images/s (batch ${o.batchSize}, ${o.steps} steps)`);
    out(`inference ${result.inferImagesPerSec.toLocaleString('en-US')} images/s (batch ${o.inferBatch})`);
    out(`latency   ${result.latencyMs.p50} ms median, ${result.latencyMs.p99} ms p99 (one image)`);
  }
}

/** Adds `digits bench` to the program. */
export function register(program: Command): void {
  program
    .command('bench')
    .description('training and inference throughput of the seed model (images/s), as the PyTorch peer measures it')
    .option('--batch-size <n>', 'training batch size', positiveInt('--batch-size'), 32)
    .option('--steps <n>', 'timed training steps, after 10 warm-up steps', positiveInt('--steps'), 300)
    .option('--infer-batch <n>', 'inference batch size', positiveInt('--infer-batch'), 1000)
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(precisionOption('training'))
    .option('--json', 'print one JSON object')
    .addHelpText('after', '\nExamples:\n  npx digits bench --json\n  npx digits bench --threads 1 --steps 100\n  node dist/bench/compare.js   # side by side with the PyTorch peer')
    .action(bench);
}
