/**
 * Presets: the architectures build with the expected parameter counts, the
 * schedules do what they say, and a short training run of the fast preset's
 * recipe (native backend, a few thousand images) reaches a reasonable accuracy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeBackend } from '../src/engine/native.js';
import { Tensor } from '../src/engine/tensor.js';
import { loadMnist } from '../src/data/mnist.js';
import {
  buildPreset, presetCallbacks, presetFitOptions, presetNames, OneCycle, ReduceLROnPlateau, Adam, WeightAveraging, oneHot,
} from '../src/nn/index.js';

test('presets build with the expected parameter counts (trainable / non-trainable)', () => {
  assert.deepEqual(presetNames(), ['seed', 'fast', 'best', 'best-elastic', 'best-strong']);
  const count = (name: string): [number, number] => {
    const { model } = buildPreset(name, 0);
    let tr = 0, fr = 0;
    for (const l of model.layers) for (const p of l.params()) (p.trainable ? (tr += p.value.size) : (fr += p.value.size));
    return [tr, fr];
  };
  assert.deepEqual(count('seed'), [135_114, 0]);
  // fast: conv 3x3x1x12 + BN(12) + conv 3x3x12x24 + BN(24) + dense 600x192 + 192 + dense 192x10 + 10
  assert.deepEqual(count('fast'), [108 + 24 + 2_592 + 48 + 115_392 + 1_930, 24 + 48]);
  // best (M5): 5x5 convs 1->32->64->96->128->160 (no bias) + 5 BN + dense 10240x10 (no bias) + BN(10)
  const bn = 32 + 64 + 96 + 128 + 160 + 10;
  assert.deepEqual(count('best'), [25 * (32 + 32 * 64 + 64 * 96 + 96 * 128 + 128 * 160) + 8 * 8 * 160 * 10 + 2 * bn, 2 * bn]);
  assert.equal(count('best')[0] + count('best')[1], 1_129_160);
  const { training } = buildPreset('best', 0);
  assert.deepEqual(presetFitOptions(training), { augment: { rotation: 10, zoom: 0.1, shift: 2 } });
  const bestCallbacks = presetCallbacks(training);
  assert.deepEqual(bestCallbacks.map((c) => c.constructor.name), ['OneCycle', 'WeightAveraging']);
  assert.equal((bestCallbacks[1] as WeightAveraging).decay, 0.999);
  // nothing in best's recipe watches validation data, so the final model trains on every image
  assert.equal(training.validationSplit, 0);
  assert.equal(training.earlyStopping, null);
  // best-elastic: best's model and recipe, with elastic distortion added to the augmentation
  assert.deepEqual(count('best-elastic'), count('best'));
  const elastic = buildPreset('best-elastic', 0).training;
  assert.deepEqual(presetFitOptions(elastic), { augment: { rotation: 10, zoom: 0.1, shift: 2, elastic: { alpha: 20, sigma: 5 } } });
  assert.deepEqual({ ...elastic, augment: null }, { ...training, augment: null });
  // presets hand out copies: changing one run's settings changes no other preset
  elastic.augment!.rotation = 45;
  assert.equal(buildPreset('best', 0).training.augment!.rotation, 10);
  assert.equal(buildPreset('best-elastic', 0).training.augment!.rotation, 10);
  // best-strong: best's model and recipe with rotation 20 and shift 5, trained 48 epochs (the one-cycle stretched)
  assert.deepEqual(count('best-strong'), count('best'));
  const strong = buildPreset('best-strong', 0).training;
  assert.deepEqual(presetFitOptions(strong), { augment: { rotation: 20, zoom: 0.1, shift: 5 } });
  assert.equal(strong.epochs, 48);
  assert.deepEqual({ ...strong, augment: null, epochs: 18 }, { ...training, augment: null });
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

test('fast preset smoke test: its recipe (epochs, batch, one-cycle, validation split, label smoothing) on 12,000 images (native) reaches >= 95% on validation and on 1,000 test images', async (t) => {
  const nat = loadNativeBackend(2);
  assert.ok(nat.ok, nat.ok ? '' : nat.reason);
  const train = await loadMnist('train', { limit: 12000 });
  const testSet = await loadMnist('test', { limit: 1000 });
  const { model, training } = buildPreset('fast', 0);
  model.setBackend(nat.backend);
  const started = Date.now();
  const h = await model.fit(new Tensor([12000, 28, 28, 1], train.images), oneHot(train.labels!), {
    epochs: training.epochs, batchSize: training.batchSize, validationSplit: training.validationSplit, seed: 0,
    callbacks: presetCallbacks(training), ...presetFitOptions(training),
  });
  const r = model.evaluate(new Tensor([1000, 28, 28, 1], testSet.images), oneHot(testSet.labels!), { batchSize: 500 });
  const val = h.history.val_accuracy!;
  t.diagnostic(`train loss ${h.history.loss.at(-1)!.toFixed(3)}, validation accuracy ${(val.at(-1)! * 100).toFixed(1)}% ` +
    `(${Math.round(12000 * training.validationSplit)} images), test accuracy ${(r.accuracy * 100).toFixed(1)}% in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  assert.equal(val.length, training.epochs);
  assert.ok(val.at(-1)! >= 0.95, `validation accuracy ${val.at(-1)}`);
  assert.ok(r.accuracy >= 0.95, `test accuracy ${r.accuracy}`);
  // the BatchNorm moving statistics moved away from their initial values
  const mm = model.namedWeights().find((w) => w.name === 'batch_normalization/moving_mean')!;
  assert.ok(mm.tensor.data.some((v) => v !== 0));
});

test('fast preset: each conv block pools before BatchNorm and ReLU; the recipe holds out a validation split and never stops on it', () => {
  const { model, training } = buildPreset('fast', 0);
  assert.deepEqual(model.layers.map((l) => l.className), [
    'Conv2D', 'MaxPooling2D', 'BatchNormalization', 'Activation',
    'Conv2D', 'MaxPooling2D', 'BatchNormalization', 'Activation',
    'Flatten', 'Dense', 'Dense',
  ]);
  assert.ok(training.validationSplit > 0);
  assert.equal(training.earlyStopping, null);
  const cbs = presetCallbacks(training);
  assert.equal(cbs.length, 1);
  assert.ok(cbs[0] instanceof OneCycle);
});

test('a recipe with weight averaging gets a WeightAveraging callback, last, so that its average is the model fit leaves', () => {
  const { training } = buildPreset('seed', 0);
  training.averaging = { mode: 'ema', decay: 0.99, startEpoch: 2 };
  const cbs = presetCallbacks(training);
  assert.deepEqual(cbs.map((c) => c.constructor.name), ['EarlyStopping', 'WeightAveraging']);
  const avg = cbs[1] as WeightAveraging;
  assert.deepEqual([avg.mode, avg.decay, avg.startEpoch, avg.applyOnTrainEnd], ['ema', 0.99, 2, true]);
  training.averaging = { mode: 'swa', startEpoch: 5 };
  const swa = presetCallbacks(training, { validation: false });
  assert.deepEqual(swa.map((c) => c.constructor.name), ['WeightAveraging']);
  assert.equal((swa[0] as WeightAveraging).mode, 'swa');
});
