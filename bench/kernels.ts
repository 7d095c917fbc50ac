/**
 * Per-kernel timings for the seed model's shapes (batch 32 by default), both
 * backends: each labelled group of kernel calls of a training step (see
 * SeedNet in seed-step.ts), timed over many steps. Prints one JSON object;
 * nothing is asserted.
 *
 *   node dist/bench/kernels.js [--threads N] [--steps N] [--ref-steps N] [--batch-size N] [--no-reference]
 *
 * Per kernel: the minimum and median time per step in microseconds (the
 * minimum is the figure to compare on a shared, noisy machine), the
 * reference backend's median, and the speed-up. `sumOfMinUs` adds the
 * minimums: what a step costs when nothing else runs.
 */
import { SeedNet, makeBackend, type CallHook } from './seed-step.js';
import { benchProgram, intArg } from './options.js';

interface Args { threads?: number; steps: number; refSteps: number; batchSize: number; reference: boolean }

function parse(): Args {
  const o = benchProgram('kernels', 'per-kernel timings for the seed model\'s shapes, both backends; prints one JSON object')
    .option('--threads <n>', 'engine threads', intArg(1))
    .option('--steps <n>', 'native steps', intArg(1), 200)
    .option('--ref-steps <n>', 'reference steps', intArg(1), 2)
    .option('--batch-size <n>', 'batch size', intArg(1), 32)
    .option('--no-reference', 'skip the reference backend')
    .parse()
    .opts<Args>();
  return o;
}

function timeSteps(net: SeedNet, steps: number): Map<string, number[]> {
  const times = new Map<string, number[]>();
  let current = new Map<string, number>();
  const hook: CallHook = (label, fn) => {
    const t = performance.now();
    fn();
    current.set(label, (current.get(label) ?? 0) + (performance.now() - t) * 1000);
  };
  for (let s = 0; s < steps; s++) {
    current = new Map();
    net.trainStep(hook);
    for (const [l, us] of current) {
      const arr = times.get(l) ?? [];
      arr.push(us);
      times.set(l, arr);
    }
  }
  return times;
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
}

function main(): void {
  const args = parse();
  const nb = makeBackend('native', args.threads);
  const net = new SeedNet(nb, args.batchSize);
  for (let i = 0; i < 20; i++) net.trainStep();
  const nat = timeSteps(net, args.steps);
  let ref: Map<string, number[]> | undefined;
  if (args.reference) {
    const rnet = new SeedNet(makeBackend('reference'), args.batchSize);
    ref = timeSteps(rnet, args.refSteps);
  }
  const rows = [...nat.entries()].map(([kernel, us]) => {
    const row: Record<string, unknown> = {
      kernel,
      nativeMinUs: Math.round(Math.min(...us)),
      nativeMedianUs: Math.round(median(us)),
    };
    const r = ref?.get(kernel);
    if (r !== undefined) {
      row.referenceMedianUs = Math.round(median(r));
      row.speedup = Math.round((median(r) / Math.max(1e-3, Math.min(...us))) * 10) / 10;
    }
    return row;
  });
  rows.sort((a, b) => (b.nativeMinUs as number) - (a.nativeMinUs as number));
  const sumMin = rows.reduce((s, r) => s + (r.nativeMinUs as number), 0);
  const sumMedian = rows.reduce((s, r) => s + (r.nativeMedianUs as number), 0);
  console.log(JSON.stringify({
    model: 'seed',
    batchSize: args.batchSize,
    threads: nb.threads,
    steps: args.steps,
    sumOfMinUs: sumMin,
    sumOfMedianUs: sumMedian,
    imagesPerSecAtSumOfMin: Math.round(args.batchSize / (sumMin / 1e6)),
    kernels: rows,
  }, null, 1));
}

main();
