/**
 * Whole-model checks of the native backend: a few training steps on it give
 * the same model as on the reference backend (within tolerance), and the same
 * seed with the same thread count gives the same loss history, run after run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeBackend } from '../src/engine/native.js';
import { ReferenceBackend } from '../src/engine/reference.js';
import type { Backend } from '../src/engine/backend.js';
import { buildPreset, oneHot } from '../src/nn/index.js';
import { loadMnist } from '../src/data/mnist.js';
import { Tensor } from '../src/engine/tensor.js';

function native(threads?: number): Backend {
  const r = loadNativeBackend(threads);
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
