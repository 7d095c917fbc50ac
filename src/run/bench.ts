/** The throughput benchmark of `digits bench`, as the PyTorch peer measures its own. */
import type { Backend } from '../engine/backend.js';
import { Tensor } from '../engine/tensor.js';
import { loadMnist } from '../data/index.js';
import { buildPreset, oneHot } from '../nn/index.js';
import { VERSION } from '../version.js';
import { modelInput } from './predict.js';

/** How to measure: the training batch, the timed steps and the inference batch. */
export interface BenchOptions {
  /** training batch size (32: the seed recipe's) */
  batchSize: number;
  /** timed training steps, after 10 warm-up steps */
  steps: number;
  /** inference batch size */
  inferBatch: number;
}

/** Throughput of the seed model: images/s in training and inference, and one image's latency. */
export interface BenchResult {
  system: string;
  model: 'seed';
  backend: string;
  batchSize: number;
  threads: number;
  trainImagesPerSec: number;
  inferImagesPerSec: number;
  latencyMs: { p50: number; p99: number };
}

/**
 * Throughput of the seed model, measured as the PyTorch peer measures it
 * (bench/compare.ts runs both): training steps (forward, backward, Adam)
 * on batches of MNIST training images after a warm-up of 10 steps, then
 * inference over the 10,000 test images in batches of --infer-batch.
 */
export async function benchThroughput(backend: Backend, o: BenchOptions): Promise<BenchResult> {
  const { model } = buildPreset('seed', 0);
  model.setBackend(backend);
  const trainSet = await loadMnist('train');
  const testSet = await loadMnist('test');
  const x = modelInput(trainSet, null, model.inputShape);
  const y = oneHot(trainSet.labels!);
  const per = x.size / x.shape[0]!;
  const perm = model.rng.permutation(trainSet.count);
  const xb = new Tensor([o.batchSize, ...x.shape.slice(1)]);
  const yb = new Tensor([o.batchSize, 10]);
  const load = (step: number): void => {
    const j = (step * o.batchSize) % (trainSet.count - o.batchSize);
    for (let r = 0; r < o.batchSize; r++) {
      const i = perm[j + r]!;
      xb.data.set(x.data.subarray(i * per, (i + 1) * per), r * per);
      yb.data.set(y.data.subarray(i * 10, (i + 1) * 10), r * 10);
    }
  };
  for (let i = 0; i < 10; i++) {
    load(i);
    model.trainOnBatch(xb, yb);
  }
  const t0 = performance.now();
  for (let i = 0; i < o.steps; i++) {
    load(i);
    model.trainOnBatch(xb, yb);
  }
  const trainImagesPerSec = (o.steps * o.batchSize) / ((performance.now() - t0) / 1000);

  const xt = modelInput(testSet, null, model.inputShape);
  model.predict(new Tensor([o.inferBatch, ...xt.shape.slice(1)], xt.data.subarray(0, o.inferBatch * per)), { batchSize: o.inferBatch });
  const t1 = performance.now();
  model.predict(xt, { batchSize: o.inferBatch });
  const inferImagesPerSec = testSet.count / ((performance.now() - t1) / 1000);

  // single-image latency, in process
  const one = new Tensor([1, ...xt.shape.slice(1)], xt.data.subarray(0, per));
  for (let i = 0; i < 20; i++) model.predict(one, { batchSize: 1 });
  const lat: number[] = [];
  for (let i = 0; i < 200; i++) {
    const s = performance.now();
    model.predict(new Tensor([1, ...xt.shape.slice(1)], xt.data.subarray(i * per, (i + 1) * per)), { batchSize: 1 });
    lat.push(performance.now() - s);
  }
  lat.sort((a, b) => a - b);

  return {
    system: `digits ${VERSION}`,
    model: 'seed',
    backend: backend.name,
    batchSize: o.batchSize,
    threads: backend.threads,
    trainImagesPerSec: Math.round(trainImagesPerSec * 10) / 10,
    inferImagesPerSec: Math.round(inferImagesPerSec * 10) / 10,
    latencyMs: { p50: +lat[100]!.toFixed(3), p99: +lat[198]!.toFixed(3) },
  };
}
