/**
 * Presets: the architectures build with the expected parameter counts, the
 * schedules do what they say, and a short training run of the fast preset
 * (native backend, a few thousand images) reaches a reasonable accuracy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeBackend } from '../src/engine/native.js';
import { Tensor } from '../src/engine/tensor.js';
import { loadMnist } from '../src/data/mnist.js';
import {
  buildPreset, presetCallbacks, presetFitOptions, presetNames, OneCycle, ReduceLROnPlateau, Adam, oneHot,
} from '../src/nn/index.js';

test('presets build with the expected parameter counts (trainable / non-trainable)', () => {
  assert.deepEqual(presetNames(), ['seed', 'fast', 'best']);
  const count = (name: string): [number, number] => {
    const { model } = buildPreset(name, 0);
    let tr = 0, fr = 0;
    for (const l of model.layers) for (const p of l.params()) (p.trainable ? (tr += p.value.size) : (fr += p.value.size));
    return [tr, fr];
  };
  assert.deepEqual(count('seed'), [135_114, 0]);
  // fast: conv 3x3x1x16 + BN(16) + conv 3x3x16x32 + BN(32) + dense 1568x10 + 10
  assert.deepEqual(count('fast'), [144 + 32 + 4_608 + 64 + 15_690, 32 + 64]);
  // best: 4 convs (no bias) + 4 BN + dense 3136x256 (no bias) + BN(256) + dense 256x10
  assert.deepEqual(count('best'), [288 + 9_216 + 18_432 + 36_864 + 802_816 + 2 * (32 + 32 + 64 + 64 + 256) + 2_570, 2 * (32 + 32 + 64 + 64 + 256)]);
  const { training } = buildPreset('best', 0);
  assert.deepEqual(presetFitOptions(training), { augment: { rotation: 10, zoom: 0.1, shift: 2 } });
  assert.ok(presetCallbacks(training).some((c) => c instanceof OneCycle));
});

test('OneCycle: warms up to maxLr, then anneals to maxLr / finalDivFactor', () => {
  const s = new OneCycle({ maxLr: 0.01, pctStart: 0.25 });
  const opt = new Adam({ learningRate: 1 });
  s.setModel({ stopTraining: false, namedWeights: () => [], setNamedWeights: () => undefined, optimizer: opt } as never);
  s.onTrainBegin({ epochs: 2, batchSize: 1, samples: 50, validationSamples: 0, stepsPerEpoch: 50 });
  for (let b = 0; b < 100; b++) s.onBatchEnd(b, { loss: 0, accuracy: 0, size: 1 });
  const h = s.history;
  assert.equal(h.length, 100);
  assert.ok(Math.abs(h[0]! - 0.0004) < 1e-9);
  assert.ok(Math.abs(Math.max(...h) - 0.01) < 1e-9 && h.indexOf(Math.max(...h)) === 25);
  assert.ok(Math.abs(h[99]! - 1e-6) < 1e-9);
  for (let i = 26; i < 100; i++) assert.ok(h[i]! <= h[i - 1]!);
});

test('ReduceLROnPlateau halves the rate after `patience` epochs without val_loss improvement', () => {
  const opt = new Adam({ learningRate: 0.01 });
  const r = new ReduceLROnPlateau({ factor: 0.5, patience: 2 });
  r.setModel({ stopTraining: false, namedWeights: () => [], setNamedWeights: () => undefined, optimizer: opt } as never);
  r.onTrainBegin();
  [1.0, 0.9, 0.95, 0.92, 0.91, 0.5].forEach((v, e) => r.onEpochEnd(e, { loss: 0, accuracy: 0, val_loss: v }));
  assert.deepEqual(r.reductions, [3]);
  assert.equal(opt.learningRate, 0.005);
});

test('fast preset smoke test: 3 epochs (as the preset) on 4,000 images (native, one-cycle, BatchNorm) reaches >= 93% on 1,000 test images', async (t) => {
  const nat = loadNativeBackend(2);
  assert.ok(nat.ok, nat.ok ? '' : nat.reason);
  const train = await loadMnist('train', { limit: 4000 });
  const testSet = await loadMnist('test', { limit: 1000 });
  const { model, training } = buildPreset('fast', 0);
  model.setBackend(nat.backend);
  const started = Date.now();
  const h = await model.fit(new Tensor([4000, 28, 28, 1], train.images), oneHot(train.labels!), {
    epochs: training.epochs, batchSize: training.batchSize, validationSplit: 0, seed: 0,
    callbacks: presetCallbacks(training, { validation: false }), ...presetFitOptions(training),
  });
  const r = model.evaluate(new Tensor([1000, 28, 28, 1], testSet.images), oneHot(testSet.labels!), { batchSize: 500 });
  t.diagnostic(`train loss ${h.history.loss[0]!.toFixed(3)}, test accuracy ${(r.accuracy * 100).toFixed(1)}% in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  assert.ok(r.accuracy >= 0.93, `accuracy ${r.accuracy}`);
  // the BatchNorm moving statistics moved away from their initial values
  const mm = model.namedWeights().find((w) => w.name === 'batch_normalization/moving_mean')!;
  assert.ok(mm.tensor.data.some((v) => v !== 0));
});
