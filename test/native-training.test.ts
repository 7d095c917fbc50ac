/**
 * Whole-model checks of the native backend: a few training steps on it give
 * the same model as on the reference backend (within tolerance), and the same
 * seed with the same thread count gives the same loss history, run after run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeBackend } from '../src/engine/native.js';
import { ReferenceBackend } from '../src/engine/reference.js';
import type { Backend, Precision } from '../src/engine/backend.js';
import { buildPreset, oneHot } from '../src/nn/index.js';
import { loadMnist } from '../src/data/mnist.js';
import { Tensor } from '../src/engine/tensor.js';

function native(threads?: number, precision: Precision = 'fp32'): Backend {
  const r = loadNativeBackend(threads, precision);
  if (!r.ok) assert.fail(`the native addon must load for these tests: ${r.reason}`);
  return r.backend;
}

async function batchData(n: number): Promise<{ x: Tensor; y: Tensor }> {
  const ds = await loadMnist('train', { limit: n });
  return { x: new Tensor([n, 28, 28, 1], ds.images), y: oneHot(ds.labels!) };
}

/** Train the seed model for `steps` batches of 32 with dropout's mask stream seeded identically. */
function trainSteps(backend: Backend, x: Tensor, y: Tensor, steps: number): { losses: number[]; weights: Map<string, Float32Array> } {
  const { model } = buildPreset('seed', 3);
  model.setBackend(backend);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const xb = new Tensor([32, 28, 28, 1], x.data.subarray(s * 32 * 784, (s + 1) * 32 * 784));
    const yb = new Tensor([32, 10], y.data.subarray(s * 320, (s + 1) * 320));
    losses.push(model.trainOnBatch(xb, yb).loss);
  }
  return { losses, weights: new Map(model.namedWeights().map((w) => [w.name, w.tensor.data.slice()])) };
}

test('native and reference backends train the same seed model over 5 Adam steps (batch 32)', async () => {
  const { x, y } = await batchData(160);
  const ref = trainSteps(new ReferenceBackend(), x, y, 5);
  const nat = trainSteps(native(2), x, y, 5);
  // Losses: float32 sums in different orders drift by ~1e-6 relative per step.
  for (let i = 0; i < 5; i++) {
    assert.ok(Math.abs(ref.losses[i]! - nat.losses[i]!) <= 1e-4 * Math.max(1, Math.abs(ref.losses[i]!)),
      `loss of step ${i + 1}: reference ${ref.losses[i]} vs native ${nat.losses[i]}`);
  }
  // Weights: Adam normalises each step to about lr = 1e-3 per weight, so summation-order differences in the
  // gradients can at most flip tiny updates; after 5 steps weights agree to well within 1e-4 absolute
  // (the weights themselves are O(0.1)). Report the largest difference per tensor on failure.
  const worst: string[] = [];
  for (const [name, r] of ref.weights) {
    const n = nat.weights.get(name)!;
    let max = 0;
    for (let i = 0; i < r.length; i++) max = Math.max(max, Math.abs(r[i]! - n[i]!));
    if (max > 1e-4) worst.push(`${name}: max |ref - native| = ${max.toExponential(2)}`);
  }
  assert.deepEqual(worst, [], worst.join('\n'));
});

test('same seed and thread count give the same loss history, run after run (native, 2 threads)', async () => {
  const { x, y } = await batchData(600);
  const run = async (): Promise<number[][]> => {
    const { model, training } = buildPreset('seed', 11);
    model.setBackend(native(2));
    const h = await model.fit(x, y, { epochs: 2, batchSize: training.batchSize, validationSplit: 0.2, seed: 11 });
    return [h.history.loss, h.history.accuracy, h.history.val_loss!, h.history.val_accuracy!];
  };
  const a = await run();
  const b = await run();
  assert.deepEqual(a, b, 'two runs with seed 11 and 2 threads must give identical histories');
  const c = await (async () => {
    const { model, training } = buildPreset('seed', 12);
    model.setBackend(native(2));
    const h = await model.fit(x, y, { epochs: 2, batchSize: training.batchSize, validationSplit: 0.2, seed: 12 });
    return h.history.loss;
  })();
  assert.notDeepEqual(c, a[0], 'a different seed must give a different history');
});

test('bf16: native and reference backends in bf16 train the same seed model over 5 Adam steps, unlike fp32', async () => {
  const { x, y } = await batchData(160);
  const ref = trainSteps(new ReferenceBackend('bf16'), x, y, 5);
  const nat = trainSteps(native(2, 'bf16'), x, y, 5);
  const fp32 = trainSteps(new ReferenceBackend(), x, y, 5);
  // The same tolerances as in float32 (above): both round the same operands, only the order of the sums differs.
  for (let i = 0; i < 5; i++) {
    assert.ok(Math.abs(ref.losses[i]! - nat.losses[i]!) <= 1e-4 * Math.max(1, Math.abs(ref.losses[i]!)),
      `loss of step ${i + 1}: reference bf16 ${ref.losses[i]} vs native bf16 ${nat.losses[i]}`);
  }
  // Weights: unlike float32, a sum that lands near a bfloat16 rounding boundary can round one way on one backend
  // and the other way on the other, when it is the operand of the next conv; then a tiny gradient may change
  // sign and Adam moves that weight by up to lr = 1e-3 the other way. So a few weights (~0.1%) may differ by a
  // few steps' worth (at most 5 steps: 5e-3), while the mean difference per tensor stays at float32's level,
  // far below the mean difference between bf16 and fp32 training.
  const worst: string[] = [];
  for (const [name, r] of ref.weights) {
    const n = nat.weights.get(name)!;
    const f = fp32.weights.get(name)!;
    let max = 0;
    let sumNat = 0;
    let sumFp32 = 0;
    for (let i = 0; i < r.length; i++) {
      const d = Math.abs(r[i]! - n[i]!);
      max = Math.max(max, d);
      sumNat += d;
      sumFp32 += Math.abs(r[i]! - f[i]!);
    }
    const meanNat = sumNat / r.length;
    const meanFp32 = sumFp32 / r.length;
    if (max > 5e-3 || meanNat > 2e-5 || meanFp32 < 10 * meanNat) {
      worst.push(`${name}: native bf16 vs reference bf16 max ${max.toExponential(2)}, mean ${meanNat.toExponential(2)}; ` +
        `fp32 vs bf16 mean ${meanFp32.toExponential(2)}`);
    }
  }
  assert.deepEqual(worst, [], worst.join('\n'));
});

test('bf16 and fp32 train the seed model to the same accuracy (native, 4,000 images, 2 epochs)', async () => {
  const train = await loadMnist('train', { limit: 4000 });
  const test_ = await loadMnist('test', { limit: 2000 });
  const x = new Tensor([4000, 28, 28, 1], train.images);
  const y = oneHot(train.labels!);
  const xt = new Tensor([2000, 28, 28, 1], test_.images);
  const accuracy = async (precision: Precision): Promise<number> => {
    const { model, training } = buildPreset('seed', 5);
    model.setBackend(native(2, precision));
    await model.fit(x, y, { epochs: 2, batchSize: training.batchSize, seed: 5 });
    const p = model.predict(xt);
    let right = 0;
    for (let i = 0; i < 2000; i++) {
      let best = 0;
      for (let k = 1; k < 10; k++) if (p.data[i * 10 + k]! > p.data[i * 10 + best]!) best = k;
      if (best === test_.labels![i]) right++;
    }
    return right / 2000;
  };
  const a32 = await accuracy('fp32');
  const a16 = await accuracy('bf16');
  // Both learn (the seed model reaches ~95% here); bf16's rounding moves the result by noise only:
  // a difference of 1.5% (30 images) would be over three standard errors of a 2,000-image score.
  assert.ok(a32 > 0.9 && a16 > 0.9, `accuracies fp32 ${a32}, bf16 ${a16}: both should be over 90%`);
  assert.ok(Math.abs(a32 - a16) <= 0.015, `accuracies fp32 ${a32} and bf16 ${a16} differ by more than 1.5%`);
});
