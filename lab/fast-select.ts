/**
 * Recipe selection for the `fast` preset, on validation only: trains one
 * candidate on the 60,000 MNIST training images with the preset's seeded
 * validation split held out, and prints one JSON line with its settings, the
 * validation accuracy after every epoch, the training seconds (fit, with its
 * per-epoch validation, as `digits train` counts them), img/s and the
 * machine's load. The MNIST test images are never loaded.
 *
 *   node dist/lab/fast-select.js --seed 0 [--c1 16] [--c2 32] [--order bn-pool|pool-bn] [--batch 128]
 *        [--epochs 3] [--max-lr 0.01] [--pct-start 0.25] [--split 0.1] [--hidden 0] [--threads N]
 *        [--k1 3] [--pad same|valid] [--beta1 0.9] [--beta2 0.999] [--smoothing 0] [--precision fp32|bf16]
 *
 * --order bn-pool: conv, BatchNorm, ReLU, pool; pool-bn: conv, pool, BatchNorm, ReLU. --hidden N adds a
 * dense N ReLU layer before the softmax. --k1: conv 1's kernel size; --pad: both convs' padding
 * (valid with --k1 5 is tuomaso's 28 -> 24 -> 12 -> 10 -> 5).
 */
import os from 'node:os';
import { benchProgram, intArg, numberArg, oneOfArg } from '../bench/options.js';
import { loadNativeBackend } from '../src/engine/native.js';
import { loadMnist } from '../src/data/mnist.js';
import {
  Activation, Adam, BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D, OneCycle, Sequential, datasetToTensors, type Layer,
} from '../src/nn/index.js';

interface Candidate {
  c1: number; c2: number; order: 'bn-pool' | 'pool-bn'; batch: number; epochs: number;
  maxLr: number; pctStart: number; split: number; seed: number; hidden: number; threads?: number;
  k1: number; pad: 'same' | 'valid'; beta1: number; beta2: number; smoothing: number; precision: 'fp32' | 'bf16';
}

function parse(): Candidate {
  return benchProgram('fast-select', 'train one fast-preset candidate; prints its validation accuracy per epoch (the test set is never loaded)')
    .option('--c1 <n>', 'filters of conv 1', intArg(1), 16)
    .option('--c2 <n>', 'filters of conv 2', intArg(1), 32)
    .option('--order <order>', 'bn-pool: conv, BN, ReLU, pool; pool-bn: conv, pool, BN, ReLU', oneOfArg('bn-pool', 'pool-bn'), 'bn-pool')
    .option('--batch <n>', 'batch size', intArg(1), 128)
    .option('--epochs <n>', 'epochs', intArg(1), 3)
    .option('--max-lr <lr>', 'one-cycle maximum rate', numberArg(1e-6, 10), 0.01)
    .option('--pct-start <f>', 'one-cycle warm-up fraction', numberArg(0, 1), 0.25)
    .option('--split <f>', 'validation split', numberArg(0.01, 0.5), 0.1)
    .option('--seed <n>', 'seed', intArg(0), 0)
    .option('--hidden <n>', 'units of a dense ReLU layer before the softmax (0: none)', intArg(0), 0)
    .option('--threads <n>', 'engine threads', intArg(1))
    .option('--k1 <n>', 'kernel size of conv 1', intArg(1), 3)
    .option('--pad <padding>', 'padding of both convs', oneOfArg('same', 'valid'), 'same')
    .option('--beta1 <b>', 'Adam beta1', numberArg(0, 1), 0.9)
    .option('--beta2 <b>', 'Adam beta2', numberArg(0, 1), 0.999)
    .option('--smoothing <f>', 'label smoothing', numberArg(0, 0.5), 0)
    .option('--precision <p>', 'conv precision', oneOfArg('fp32', 'bf16'), 'fp32')
    .parse()
    .opts<Candidate>();
}

/** conv 3x3 same (no bias) with BatchNorm, ReLU and a 2x2 max pool, in the candidate's order */
function block(filters: number, order: Candidate['order'], kernelSize: number, padding: Candidate['pad'], inputShape?: number[]): Layer[] {
  const conv = new Conv2D({ filters, kernelSize, padding, activation: 'linear', useBias: false, ...(inputShape ? { inputShape } : {}) });
  const bnRelu = [new BatchNormalization({ momentum: 0.9 }), new Activation({ activation: 'relu' })];
  const pool = new MaxPooling2D({ poolSize: 2 });
  return order === 'bn-pool' ? [conv, ...bnRelu, pool] : [conv, pool, ...bnRelu];
}

async function main(): Promise<void> {
  const c = parse();
  const nat = loadNativeBackend(c.threads, c.precision);
  if (!nat.ok) throw new Error(`native backend: ${nat.reason}`);
  const model = new Sequential({
    layers: [...block(c.c1, c.order, c.k1, c.pad, [28, 28, 1]), ...block(c.c2, c.order, 3, c.pad), new Flatten(),
      ...(c.hidden > 0 ? [new Dense({ units: c.hidden, activation: 'relu' })] : []), new Dense({ units: 10, activation: 'softmax' })],
  });
  model.build([28, 28, 1], c.seed);
  model.compile({ optimizer: new Adam({ learningRate: c.maxLr, beta1: c.beta1, beta2: c.beta2 }) });
  model.setBackend(nat.backend);
  const train = await loadMnist('train');
  const { x, y } = datasetToTensors(train);
  const loadBefore = os.loadavg()[0]!;
  const t0 = Date.now();
  const h = await model.fit(x, y!, {
    epochs: c.epochs, batchSize: c.batch, validationSplit: c.split, seed: c.seed, shuffle: true, labelSmoothing: c.smoothing,
    callbacks: [new OneCycle({ maxLr: c.maxLr, pctStart: c.pctStart })],
  });
  const trainSeconds = (Date.now() - t0) / 1000;
  const nTrain = Math.floor(train.count * (1 - c.split));
  console.log(JSON.stringify({
    ...c, params: model.countParams(),
    valAccuracy: h.history.val_accuracy, trainSeconds,
    imagesPerSec: Math.round((c.epochs * nTrain) / trainSeconds),
    load1: [Number(loadBefore.toFixed(2)), Number(os.loadavg()[0]!.toFixed(2))],
  }));
}

await main();
