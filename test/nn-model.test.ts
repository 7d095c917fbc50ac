/**
 * The model engine end to end on small problems, on every backend (test/backends.ts): the seed
 * preset's summary, reproducibility, early stopping, configs through the
 * layer registry (and against what TF.js writes), option errors, optimizer
 * arithmetic, and the fit/evaluate/predict plumbing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DigitsError } from '../src/errors.js';
import { Rng } from '../src/engine/rng.js';
import type { Backend } from '../src/engine/backend.js';
import { ReferenceBackend } from '../src/engine/reference.js';
import { Tensor } from '../src/engine/tensor.js';
import { layerFactory } from '../src/nn/layer.js';
import {
  Activation, Adam, Conv2D, Dense, Dropout, EarlyStopping, Flatten, MaxPooling2D, PRESETS, ProgressCallback, SGD, Sequential,
  buildPreset, datasetToTensors, layerFromConfig, oneHot, type Callback, type ProgressEvent,
} from '../src/nn/index.js';
import { weightsOf } from './model-helpers.js';
import { onEveryBackend } from './backends.js';

/** the backend of the suite running now (onEveryBackend) */
let backend: Backend = new ReferenceBackend();

function randomTensor(shape: readonly number[], rng: Rng, lo = -1, hi = 1): Tensor {
  const t = new Tensor(shape);
  for (let i = 0; i < t.size; i++) t.data[i] = rng.range(lo, hi);
  return t;
}

function randomLabels(n: number, classes: number, rng: Rng): Uint8Array {
  return new Uint8Array(n).map(() => rng.int(classes));
}

function throwsDigits(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DigitsError, `expected a DigitsError, got ${String(err)}`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

async function rejectsDigits(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof DigitsError, `expected a DigitsError, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

/** A small CNN with dropout: every random part of training (init, split, shuffle, dropout) is in play. */
function smallCnn(): Sequential {
  return onSuiteBackend(new Sequential({
    layers: [
      new Conv2D({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 1] }),
      new MaxPooling2D(),
      new Flatten(),
      new Dense({ units: 16, activation: 'relu' }),
      new Dropout({ rate: 0.3 }),
      new Dense({ units: 3, activation: 'softmax' }),
    ],
  }));
}

/** The model on the backend of the suite running now. */
function onSuiteBackend(m: Sequential): Sequential {
  m.setBackend(backend);
  return m;
}

onEveryBackend((b) => {
  backend = b;
}, () => {
  // ---------------------------------------------------------------------------------------------
  // seed preset

  test('seed preset: summary shows 135,114 parameters and the Keras output shapes', () => {
    const { model, training } = buildPreset('seed', 0);
    assert.equal(model.countParams(), 135114);
    const s = model.summary();
    assert.match(s, /Total params: 135,114/);
    assert.match(s, /Trainable params: 135,114/);
    assert.match(s, /Non-trainable params: 0/);
    const expected: [string, string, string][] = [
      ['conv2d (Conv2D)', '(None, 26, 26, 32)', '320'],
      ['max_pooling2d (MaxPooling2D)', '(None, 13, 13, 32)', '0'],
      ['conv2d_1 (Conv2D)', '(None, 13, 13, 64)', '18,496'],
      ['max_pooling2d_1 (MaxPooling2D)', '(None, 6, 6, 64)', '0'],
      ['conv2d_2 (Conv2D)', '(None, 4, 4, 128)', '73,856'],
      ['max_pooling2d_2 (MaxPooling2D)', '(None, 2, 2, 128)', '0'],
      ['flatten (Flatten)', '(None, 512)', '0'],
      ['dense (Dense)', '(None, 64)', '32,832'],
      ['dropout (Dropout)', '(None, 64)', '0'],
      ['dense_1 (Dense)', '(None, 128)', '8,320'],
      ['dropout_1 (Dropout)', '(None, 128)', '0'],
      ['dense_2 (Dense)', '(None, 10)', '1,290'],
    ];
    const rows = s.split('\n').filter((l) => /\(\w+\)\s+\(None/.test(l));
    assert.equal(rows.length, expected.length);
    rows.forEach((row, i) => assert.deepEqual(row.split(/\s{2,}/).map((c) => c.trim()), expected[i]));
    assert.deepEqual(model.inputShape, [28, 28, 1]);
    assert.deepEqual(model.outputShape, [10]);
    assert.deepEqual(training, {
      optimizer: { name: 'adam', learningRate: 0.001 },
      loss: 'categoricalCrossentropy',
      metrics: ['accuracy'],
      batchSize: 32,
      epochs: 8,
      validationSplit: 0.2,
      earlyStopping: { monitor: 'val_loss', patience: 3, restoreBestWeights: true },
    });
    assert.equal(model.optimizer?.className, 'Adam');
    assert.equal(model.optimizer?.learningRate, 0.001);
  });

  test('seed preset: weight names in TF.js manifest order; Glorot-uniform kernels within their limit, zero biases', () => {
    const { model } = buildPreset('seed', 5);
    const named = model.namedWeights();
    assert.deepEqual(named.map((w) => w.name), [
      'conv2d/kernel', 'conv2d/bias', 'conv2d_1/kernel', 'conv2d_1/bias', 'conv2d_2/kernel', 'conv2d_2/bias',
      'dense/kernel', 'dense/bias', 'dense_1/kernel', 'dense_1/bias', 'dense_2/kernel', 'dense_2/bias',
    ]);
    assert.deepEqual(named[2]!.tensor.shape, [3, 3, 32, 64]);
    assert.deepEqual(named[6]!.tensor.shape, [512, 64]);
    for (const { name, tensor } of named) {
      if (name.endsWith('bias')) {
        assert.ok(tensor.data.every((v) => v === 0), `${name} not zero`);
        continue;
      }
      const s = tensor.shape;
      const [fanIn, fanOut] = s.length === 4 ? [s[0]! * s[1]! * s[2]!, s[0]! * s[1]! * s[3]!] : [s[0]!, s[1]!];
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      let max = 0;
      let sumSq = 0;
      for (const v of tensor.data) {
        max = Math.max(max, Math.abs(v));
        sumSq += v * v;
      }
      assert.ok(max <= limit, `${name}: |w| ${max} above the Glorot limit ${limit}`);
      assert.ok(max > 0.9 * limit, `${name}: |w| at most ${max}, expected values up to ${limit}`);
      // U(-l, l) has variance l^2 / 3
      const variance = sumSq / tensor.size;
      assert.ok(Math.abs(variance / (limit * limit / 3) - 1) < 0.2, `${name}: variance ${variance} vs ${limit * limit / 3}`);
    }
  });

  test('seed preset: unknown name lists the known ones', () => {
    throwsDigits(() => buildPreset('big', 0), 'preset: expected one of "seed", "fast", "best", "best-elastic", "best-strong", got "big"');
    assert.deepEqual(Object.keys(PRESETS), ['seed', 'fast', 'best', 'best-elastic', 'best-strong']);
  });

  // ---------------------------------------------------------------------------------------------
  // reproducibility

  test('same seed gives identical weights; another seed different ones', () => {
    const a = buildPreset('seed', 42).model.namedWeights();
    const b = buildPreset('seed', 42).model.namedWeights();
    const c = buildPreset('seed', 43).model.namedWeights();
    a.forEach((w, i) => assert.deepEqual(w.tensor.data, b[i]!.tensor.data, w.name));
    assert.notDeepEqual(a[0]!.tensor.data, c[0]!.tensor.data);
  });

  test('same seed gives an identical loss history (split, shuffle, dropout all seeded); another seed a different one', async () => {
    const rng = new Rng(3);
    const x = randomTensor([40, 8, 8, 1], rng, 0, 1);
    const y = oneHot(randomLabels(40, 3, rng), 3);
    const run = async (seed: number): Promise<{ history: unknown; weights: Float32Array[] }> => {
      const m = smallCnn();
      m.build(undefined, seed);
      m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
      const h = await m.fit(x, y, { epochs: 3, batchSize: 8, validationSplit: 0.25, seed });
      return { history: h.history, weights: m.namedWeights().map((w) => new Float32Array(w.tensor.data)) };
    };
    const a = await run(1);
    const b = await run(1);
    const c = await run(2);
    assert.deepEqual(a.history, b.history);
    assert.deepEqual(a.weights, b.weights);
    assert.notDeepEqual(a.history, c.history);
  });

  // ---------------------------------------------------------------------------------------------
  // early stopping

  /**
   * Class = argmax of the first 3 of 8 features. Training labels are 60% noise,
   * so a wide Dense net first learns the rule (validation loss falls), then
   * memorises the noise (validation loss rises).
   */
  function overfittingProblem(seed: number): { x: Tensor; y: Tensor; vx: Tensor; vy: Tensor } {
    const rng = new Rng(seed);
    const make = (n: number, noise: number): [Tensor, Tensor] => {
      const x = randomTensor([n, 8], rng);
      const labels = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        let best = 0;
        for (let j = 1; j < 3; j++) if (x.data[i * 8 + j]! > x.data[i * 8 + best]!) best = j;
        labels[i] = rng.uniform() < noise ? rng.int(3) : best;
      }
      return [x, oneHot(labels, 3)];
    };
    const [x, y] = make(48, 0.6);
    const [vx, vy] = make(64, 0);
    return { x, y, vx, vy };
  }

  function overfittingModel(): Sequential {
    const m = onSuiteBackend(new Sequential({ layers: [new Dense({ units: 64, activation: 'relu', inputShape: [8] }), new Dense({ units: 3, activation: 'softmax' })] }));
    m.build(undefined, 1);
    m.compile({ optimizer: new Adam({ learningRate: 0.02 }), metrics: ['accuracy'] });
    return m;
  }

  /** Copies of the weights at the end of every epoch. */
  class Snapshots implements Callback {
    readonly byEpoch: Map<string, Float32Array>[] = [];
    constructor(private readonly model: Sequential) {}
    onEpochEnd(): void {
      this.byEpoch.push(new Map(this.model.namedWeights().map((w) => [w.name, new Float32Array(w.tensor.data)])));
    }
  }

  test('EarlyStopping stops when val_loss rises for `patience` epochs and restores the best epoch\'s weights', async () => {
    const { x, y, vx, vy } = overfittingProblem(2);
    const model = overfittingModel();
    const snaps = new Snapshots(model);
    const es = new EarlyStopping({ monitor: 'val_loss', patience: 3, restoreBestWeights: true });
    const h = await model.fit(x, y, { epochs: 60, batchSize: 8, validationData: [vx, vy], callbacks: [snaps, es], seed: 1 });
    const val = h.history.val_loss!;
    const best = val.indexOf(Math.min(...val));
    assert.ok(best > 0, `validation loss should fall first: ${val.join(', ')}`);
    assert.equal(h.bestEpoch, best);
    assert.equal(h.stoppedEpoch, best + 3, `stopped at ${h.stoppedEpoch}, best ${best}`);
    assert.equal(h.epoch.length, best + 4);
    assert.ok(val[val.length - 1]! > val[best]!);
    assert.equal(es.restored, true);
    for (const w of model.namedWeights()) assert.deepEqual(w.tensor.data, snaps.byEpoch[best]!.get(w.name), w.name);
    assert.ok(Math.abs(model.evaluate(vx, vy).loss - val[best]!) < 1e-9);
  });

  test('EarlyStopping restores the best weights also when the epochs run out first (tf-keras#693 behaviour)', async () => {
    const { x, y, vx, vy } = overfittingProblem(2);
    const model = overfittingModel();
    const snaps = new Snapshots(model);
    const es = new EarlyStopping({ patience: 50, restoreBestWeights: true });
    const h = await model.fit(x, y, { epochs: 6, batchSize: 8, validationData: [vx, vy], callbacks: [snaps, es], seed: 1 });
    assert.equal(h.stoppedEpoch, undefined);
    assert.equal(h.epoch.length, 6);
    const val = h.history.val_loss!;
    const best = val.indexOf(Math.min(...val));
    assert.ok(best < 5, 'the last epoch should not be the best here');
    assert.equal(h.bestEpoch, best);
    for (const w of model.namedWeights()) assert.deepEqual(w.tensor.data, snaps.byEpoch[best]!.get(w.name), w.name);
  });

  test('EarlyStopping without restoreBestWeights keeps the last weights; monitoring a missing metric is a clear error', async () => {
    const { x, y, vx, vy } = overfittingProblem(2);
    const model = overfittingModel();
    const snaps = new Snapshots(model);
    const h = await model.fit(x, y, { epochs: 60, batchSize: 8, validationData: [vx, vy], callbacks: [snaps, new EarlyStopping({ patience: 1 })], seed: 1 });
    const last = snaps.byEpoch[h.epoch.length - 1]!;
    for (const w of model.namedWeights()) assert.deepEqual(w.tensor.data, last.get(w.name));
    assert.equal(h.stoppedEpoch, h.bestEpoch! + 1);

    await rejectsDigits(overfittingModel().fit(x, y, { epochs: 2, callbacks: [new EarlyStopping()] }),
      /^EarlyStopping.monitor: "val_loss" is not among the epoch's metrics \(loss, accuracy\); give fit a validationSplit or validationData$/);
  });

  test('EarlyStopping mode auto: accuracy is maximised', () => {
    assert.equal(new EarlyStopping({ monitor: 'val_accuracy' }).mode, 'max');
    assert.equal(new EarlyStopping({ monitor: 'val_loss' }).mode, 'min');
    assert.equal(new EarlyStopping({ monitor: 'accuracy', mode: 'min' }).mode, 'min');
  });

  // ---------------------------------------------------------------------------------------------
  // configs

  test('layer configs round-trip through the registry', () => {
    const layers = [
      new Conv2D({ filters: 5, kernelSize: [3, 2], strides: [2, 1], padding: 'same', activation: 'relu', useBias: false, inputShape: [9, 9, 2], name: 'c' }),
      new Conv2D({ filters: 1, kernelSize: 1 }),
      new MaxPooling2D({ poolSize: [3, 2], strides: [1, 2], name: 'pool' }),
      new Flatten({ name: 'f' }),
      new Dense({ units: 7, activation: 'softmax', useBias: false, trainable: false }),
      new Dropout({ rate: 0.3, seed: 9 }),
      new Activation({ activation: 'relu', name: 'act' }),
    ];
    for (const layer of layers) {
      const config = layer.getConfig();
      const back = layerFactory(layer.className)!(JSON.parse(JSON.stringify(config)) as Record<string, unknown>);
      assert.equal(back.className, layer.className);
      assert.deepEqual(back.getConfig(), config, layer.className);
    }
  });

  test('model config round-trips through Sequential.fromConfig: same config, same predictions', () => {
    const model = smallCnn();
    model.build(undefined, 4);
    const config = JSON.parse(JSON.stringify(model.getConfig())) as unknown;
    const copy = onSuiteBackend(Sequential.fromConfig(config, 99));
    assert.deepEqual(copy.getConfig(), model.getConfig());
    assert.deepEqual(copy.inputShape, [8, 8, 1]);
    copy.setNamedWeights(new Map(model.namedWeights().map((w) => [w.name, w.tensor.data])));
    const x = randomTensor([5, 8, 8, 1], new Rng(1), 0, 1);
    assert.deepEqual(copy.predict(x).data, model.predict(x).data);
    // an InputLayer in front (as Keras writes it) gives the input shape too
    const withInput = { name: 'm', layers: [
      { class_name: 'InputLayer', config: { batch_input_shape: [null, 4], dtype: 'float32', sparse: false, name: 'input_1' } },
      { class_name: 'Dense', config: { units: 2, activation: 'softmax', name: 'out' } },
    ] };
    const m2 = Sequential.fromConfig(withInput);
    assert.deepEqual(m2.inputShape, [4]);
    assert.equal(m2.name, 'm');
    assert.equal(m2.layers[0]!.name, 'out');
  });

  test('seed model config is exactly what TF.js writes for the same model', async () => {
    // TF.js prints a hint about tfjs-node on first use; keep the test output clean
    const log = console.log;
    const warn = console.warn;
    console.log = (): void => undefined;
    console.warn = (): void => undefined;
    try {
      const tf = await import('@tensorflow/tfjs');
      const m = tf.sequential({ name: 'sequential' });
      const init = 'glorotUniform';
      m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, activation: 'relu', kernelInitializer: init, name: 'conv2d' }));
      m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'max_pooling2d' }));
      m.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init, name: 'conv2d_1' }));
      m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'max_pooling2d_1' }));
      m.add(tf.layers.conv2d({ filters: 128, kernelSize: 3, activation: 'relu', kernelInitializer: init, name: 'conv2d_2' }));
      m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'max_pooling2d_2' }));
      m.add(tf.layers.flatten({ name: 'flatten' }));
      m.add(tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init, name: 'dense' }));
      m.add(tf.layers.dropout({ rate: 0.2, name: 'dropout' }));
      m.add(tf.layers.dense({ units: 128, activation: 'relu', kernelInitializer: init, name: 'dense_1' }));
      m.add(tf.layers.dropout({ rate: 0.2, name: 'dropout_1' }));
      m.add(tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init, name: 'dense_2' }));
      m.add(tf.layers.activation({ activation: 'linear', name: 'activation' }));
      const tfjs = m.toJSON(null, false) as { config: { name: string; layers: unknown[] } };

      const { model } = buildPreset('seed', 0);
      model.add(new Activation({ activation: 'linear' }));
      const ours = model.getConfig();
      assert.equal(ours.name, tfjs.config.name);
      assert.equal(ours.layers.length, tfjs.config.layers.length);
      // key order too: JSON.stringify compares it
      ours.layers.forEach((l, i) => assert.equal(JSON.stringify(l), JSON.stringify(tfjs.config.layers[i]), `layer ${i}`));
      // and the weight names are the manifest's
      assert.deepEqual(model.namedWeights().map((w) => w.name), m.weights.map((w) => w.originalName));
      m.dispose();
    } finally {
      console.log = log;
      console.warn = warn;
    }
  });

  test('configs with unsupported values are rejected naming the layer and field', () => {
    const conv = { filters: 4, kernel_size: [3, 3], name: 'c1' };
    throwsDigits(() => layerFromConfig('Conv2D', { ...conv, padding: 'causal' }),
      'Conv2D "c1" config.padding: expected "valid" or "same", got "causal"');
    throwsDigits(() => layerFromConfig('Conv2D', { ...conv, data_format: 'channels_first' }),
      'Conv2D "c1" config.data_format: expected "channels_last" (Digits is NHWC only), got "channels_first"');
    throwsDigits(() => layerFromConfig('Conv2D', { ...conv, dilation_rate: [2, 2] }),
      'Conv2D "c1" config.dilation_rate: expected [1,1] (dilated convolutions are not supported), got [2,2]');
    throwsDigits(() => layerFromConfig('Conv2D', { ...conv, activation: 'tanh' }),
      'Conv2D "c1" config.activation: expected "linear" or "relu" or "softmax", got "tanh"');
    throwsDigits(() => layerFromConfig('Conv2D', { ...conv, kernel_regularizer: { class_name: 'L2', config: { l2: 0.01 } } }),
      /^Conv2D "c1" config.kernel_regularizer: expected null \(Digits does not implement kernel regularizers\)/);
    throwsDigits(() => layerFromConfig('Conv2D', { ...conv, kernel_size: [3] }),
      'Conv2D "c1" config.kernel_size: expected a positive integer or a pair [h, w] of them, got [3]');
    throwsDigits(() => layerFromConfig('Conv2D', { ...conv, kernel_initializer: { class_name: 'Orthogonal', config: {} } }),
      /^Conv2D "c1" config.kernel_initializer.class_name: expected one of VarianceScaling, .*got "Orthogonal"$/);
    throwsDigits(() => layerFromConfig('Conv2D', { ...conv, frobnicate: 1 }),
      /^Conv2D "c1" config: unknown field "frobnicate" \(known: /);
    throwsDigits(() => layerFromConfig('Dense', { units: 3, activation: 'gelu', name: 'd' }),
      'Dense "d" config.activation: expected "linear" or "relu" or "softmax", got "gelu"');
    throwsDigits(() => layerFromConfig('Dense', { units: 0 }), 'Dense config.units: expected a positive integer, got 0');
    throwsDigits(() => layerFromConfig('Dense', { units: 3, dtype: 'float16' }),
      'Dense config.dtype: expected "float32" (Digits computes in float32), got "float16"');
    throwsDigits(() => layerFromConfig('MaxPooling2D', { pool_size: [2, 2], padding: 'same', name: 'p' }),
      'MaxPooling2D "p" config.padding: expected "valid", got "same"');
    throwsDigits(() => layerFromConfig('Dropout', { rate: 0.5, noise_shape: [1, 1] }),
      'Dropout config.noise_shape: expected null (Digits drops values independently), got [1,1]');
    throwsDigits(() => layerFromConfig('LSTM', { units: 3 }),
      'layer: unknown layer class "LSTM" (supported: Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D)');
  });

  // ---------------------------------------------------------------------------------------------
  // option errors

  test('bad layer options give DigitsErrors naming the option, the expectation and the value', () => {
    throwsDigits(() => new Conv2D({ filters: -3, kernelSize: 3 }), 'Conv2D.filters: expected a positive integer, got -3');
    throwsDigits(() => new Conv2D({ filters: 2.5, kernelSize: 3 }), 'Conv2D.filters: expected a positive integer, got 2.5');
    throwsDigits(() => new Conv2D({ filters: 3, kernelSize: 0 }), 'Conv2D.kernelSize: expected a positive integer or a pair [h, w] of them, got 0');
    throwsDigits(() => new Conv2D({ filters: 3, kernelSize: 3, padding: 'full' as 'same' }), 'Conv2D.padding: expected "valid" or "same", got "full"');
    throwsDigits(() => new Conv2D({ filters: 3, kernelSize: 3, activation: 'sigmoid' as 'relu' }),
      'Conv2D.activation: expected "linear" or "relu" or "softmax", got "sigmoid"');
    throwsDigits(() => new Conv2D({ filters: 3, kernelSize: 3, strides: [1, 0] }),
      'Conv2D.strides: expected a positive integer or a pair [h, w] of them, got [1,0]');
    throwsDigits(() => new Conv2D({ filters: 3, kernelSize: 3, inputShape: [28, -28, 1] }),
      'Conv2D.inputShape: expected a shape without the batch dimension (positive integers, e.g. [28, 28, 1]), got [28,-28,1]');
    throwsDigits(() => new Conv2D({ filters: 3, kernelSize: 3, kernel: 3 } as never), /^Conv2D options: unknown field "kernel"/);
    throwsDigits(() => new Dense({ units: 0 }), 'Dense.units: expected a positive integer, got 0');
    throwsDigits(() => new Dense({ units: 4, name: 'a/b' }), 'Dense.name: expected a non-empty string without "/", got "a/b"');
    throwsDigits(() => new Dropout({ rate: 1 }), 'Dropout.rate: expected a number from 0 to 1 (exclusive), got 1');
    throwsDigits(() => new MaxPooling2D({ padding: 'same' as 'valid' }), 'MaxPooling2D.padding: expected "valid", got "same"');
    throwsDigits(() => new Activation({ activation: 'tanh' as 'relu' }), 'Activation.activation: expected "linear" or "relu" or "softmax", got "tanh"');
    throwsDigits(() => new Adam({ learningRate: -1 }), 'Adam.learningRate: expected a positive number, got -1');
    throwsDigits(() => new SGD({ momentum: 1.5 }), 'SGD.momentum: expected a number from 0 to 1 (exclusive), got 1.5');
    throwsDigits(() => new EarlyStopping({ patience: -1 }), 'EarlyStopping.patience: expected a non-negative integer, got -1');
    throwsDigits(() => new EarlyStopping({ monitor: 'val_acc' as 'val_accuracy' }),
      'EarlyStopping.monitor: expected "loss" or "accuracy" or "val_loss" or "val_accuracy", got "val_acc"');
  });

  test('bad model use gives DigitsErrors', async () => {
    const rng = new Rng(1);
    const x = randomTensor([6, 8, 8, 1], rng, 0, 1);
    const y = oneHot(randomLabels(6, 3, rng), 3);
    const m = smallCnn();
    await rejectsDigits(m.fit(x, y), /^Sequential.fit: model "sequential" is not compiled/);
    m.compile({ optimizer: 'sgd' });
    await rejectsDigits(m.fit(randomTensor([6, 8, 7, 1], rng), y), /^Sequential.fit: x: expected shape \[N, 8, 8, 1\], got \[6, 8, 7, 1\]$/);
    await rejectsDigits(m.fit(x, oneHot(randomLabels(6, 10, rng))), /^Sequential.fit: y: expected one-hot targets of shape \[6, 3\] .* got \[6, 10\]$/);
    await rejectsDigits(m.fit(x, y, { batchSize: 0 }), /^Sequential.fit: batchSize: expected a positive integer, got 0$/);
    await rejectsDigits(m.fit(x, y, { validationSplit: 1 }), /^Sequential.fit: validationSplit: expected a number from 0 to 1 \(exclusive\), got 1$/);
    throwsDigits(() => m.compile({ optimizer: 'rmsprop' as 'adam' }), /^Sequential.compile: optimizer: expected "adam", "sgd" or an Optimizer/);
    throwsDigits(() => m.compile({ loss: 'mse' as 'categoricalCrossentropy' }), 'Sequential.compile: loss: expected "categoricalCrossentropy", got "mse"');
    const named = new Map(m.namedWeights().map((w) => [w.name, w.tensor.data]));
    named.delete('dense/bias');
    throwsDigits(() => m.setNamedWeights(named), 'Sequential.setNamedWeights: missing weight "dense/bias" (shape [16])');
    named.set('dense/bias', new Float32Array(15));
    throwsDigits(() => m.setNamedWeights(named), 'Sequential.setNamedWeights: weight "dense/bias": expected 16 float32 values (shape [16]), got 15 values');
    named.set('dense/bias', new Float32Array(16));
    named.set('dense/gamma', new Float32Array(16));
    throwsDigits(() => m.setNamedWeights(named), /^Sequential.setNamedWeights: model "sequential" has no weight "dense\/gamma"/);
    throwsDigits(() => new Sequential({ layers: [new Dense({ units: 2, name: 'a' }), new Dense({ units: 2, name: 'a' })] }),
      'Sequential.add: model "sequential" already has a layer named "a" (layer names must be unique)');
    throwsDigits(() => new Sequential({ layers: [new Dense({ units: 2 })] }).build(), /^Sequential.build: no input shape/);
    throwsDigits(() => new Sequential({ layers: [new Dense({ units: 2 })] }).summary(), /^Sequential.summary: model "sequential" is not built yet/);
    throwsDigits(() => new Sequential({ layers: [new Conv2D({ filters: 2, kernelSize: 5 })] }).build([3, 3, 1]),
      'Conv2D "conv2d": kernel 5x5 with \'valid\' padding does not fit the 3x3 input');
  });

  // ---------------------------------------------------------------------------------------------
  // optimizers

  test('Adam: two steps match hand-computed Keras numbers', () => {
    // p -= lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps), m and v starting at 0 (Keras defaults).
    // Step 1, g = 0.5: m = 0.05, v = 0.00025, step size 0.001 * sqrt(0.001)/0.1 = 3.16227766e-4,
    //   update = 3.16227766e-4 * 0.05 / (0.0158113883 + 1e-7) = 9.99993675e-4  ->  p = 0.9990000063
    // (evaluated in float64 and written out below; g = 0 leaves its weight alone)
    const p = new Float32Array([1, -2, 0.5]);
    const g = new Float32Array([0.5, -1, 0]);
    const adam = new Adam();
    assert.deepEqual([adam.learningRate, adam.beta1, adam.beta2, adam.epsilon], [0.001, 0.9, 0.999, 1e-7]);
    adam.step([{ name: 'w', value: p, grad: g }], backend);
    const step1 = [0.9990000063, -1.9990000032, 0.5];
    step1.forEach((v, i) => assert.ok(Math.abs(p[i]! - v) < 1e-7, `step 1 p[${i}] = ${p[i]}, expected ${v}`));
    adam.step([{ name: 'w', value: p, grad: g }], backend);
    const step2 = [0.9980000108, -1.9980000054, 0.5];
    step2.forEach((v, i) => assert.ok(Math.abs(p[i]! - v) < 1e-7, `step 2 p[${i}] = ${p[i]}, expected ${v}`));
    assert.equal(adam.iterations, 2);
    const state = adam.getState();
    assert.deepEqual(state.slots.map((s) => s.name), ['w/m', 'w/v']);
    // m after two steps: 0.9 * 0.05 + 0.1 * 0.5 = 0.095
    assert.ok(Math.abs(state.slots[0]!.data[0]! - 0.095) < 1e-8);
  });

  test('SGD: plain, momentum and Nesterov steps match hand-computed numbers', () => {
    const one = (opts: ConstructorParameters<typeof SGD>[0], steps: number): number => {
      const p = new Float32Array([1]);
      const sgd = new SGD(opts);
      for (let i = 0; i < steps; i++) sgd.step([{ name: 'w', value: p, grad: new Float32Array([0.5]) }], backend);
      return p[0]!;
    };
    // lr 0.01 (Keras default): 1 - 0.01 * 0.5
    assert.ok(Math.abs(one({}, 1) - 0.995) < 1e-7);
    // momentum 0.9: vel1 = -0.005 -> 0.995; vel2 = 0.9 * -0.005 - 0.005 = -0.0095 -> 0.9855
    assert.ok(Math.abs(one({ momentum: 0.9 }, 2) - 0.9855) < 1e-7);
    // Nesterov: p += momentum * vel - lr * g = 0.9 * -0.005 - 0.005 = -0.0095 -> 0.9905
    assert.ok(Math.abs(one({ momentum: 0.9, nesterov: true }, 1) - 0.9905) < 1e-7);
  });

  test('optimizer state restores: a restored Adam continues exactly like the original', () => {
    const rng = new Rng(2);
    const p1 = randomTensor([10], rng).data;
    const p2 = new Float32Array(p1);
    const grads = [randomTensor([10], rng).data, randomTensor([10], rng).data];
    const a = new Adam({ learningRate: 0.01 });
    a.step([{ name: 'w', value: p1, grad: grads[0]! }], backend);
    const b = new Adam({ learningRate: 0.01 });
    b.step([{ name: 'w', value: p2, grad: grads[0]! }], backend);
    const c = new Adam({ learningRate: 0.01 });
    c.setState(b.getState());
    assert.equal(c.iterations, 1);
    a.step([{ name: 'w', value: p1, grad: grads[1]! }], backend);
    c.step([{ name: 'w', value: p2, grad: grads[1]! }], backend);
    assert.deepEqual(p2, p1);
    const bad = new Adam();
    bad.setState({ iterations: 1, slots: [{ name: 'w/m', data: new Float32Array(3) }] });
    throwsDigits(() => bad.step([{ name: 'w', value: new Float32Array(10), grad: new Float32Array(10) }], backend),
      'Adam state: slot "w/m" has 3 values but the weight has 10');
  });

  test('fit with SGD changes each weight by -lr * its gradient (one batch, no dropout)', async () => {
    const rng = new Rng(5);
    const m = onSuiteBackend(new Sequential({ layers: [new Dense({ units: 6, activation: 'relu', inputShape: [4] }), new Dense({ units: 3, activation: 'softmax' })] }));
    m.build(undefined, 3);
    m.compile({ optimizer: new SGD({ learningRate: 0.1 }) });
    const x = randomTensor([8, 4], rng);
    const y = oneHot(randomLabels(8, 3, rng), 3);
    const before = weightsOf(m);
    const { loss, grads } = m.lossAndGradients(x, y, { training: false });
    // lossAndGradients leaves the weights alone
    for (const w of m.namedWeights()) assert.deepEqual(w.tensor.data, before.get(w.name));
    const h = await m.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false });
    assert.ok(Math.abs(h.history.loss[0]! - loss) < 1e-6);
    for (const w of m.namedWeights()) {
      const b = before.get(w.name)!;
      const g = grads.get(w.name)!;
      for (let i = 0; i < b.length; i++) assert.ok(Math.abs(w.tensor.data[i]! - (b[i]! - 0.1 * g[i]!)) < 1e-6, `${w.name}[${i}]`);
    }
  });

  // ---------------------------------------------------------------------------------------------
  // fit / evaluate / predict plumbing

  test('validationSplit holds out a seeded random sample, not the last fraction (Keras would)', async () => {
    // the first 80 rows are class 0, the last 20 class 1: a last-fraction split would train on class 0 only
    const n = 100;
    const x = new Tensor([n, 2]);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i < 80 ? 0 : 1;
      x.data[2 * i] = labels[i] === 0 ? 1 : -1;
      x.data[2 * i + 1] = (i % 7) / 7;
    }
    const m = onSuiteBackend(new Sequential({ layers: [new Dense({ units: 2, activation: 'softmax', inputShape: [2] })] }));
    m.build(undefined, 0);
    m.compile({ optimizer: new Adam({ learningRate: 0.1 }) });
    const events: ProgressEvent[] = [];
    const h = await m.fit(x, oneHot(labels, 2), { epochs: 10, batchSize: 10, validationSplit: 0.2, seed: 7, callbacks: [new ProgressCallback((e) => events.push(e))] });
    const begin = events[0]!;
    assert.equal(begin.type, 'trainBegin');
    if (begin.type === 'trainBegin') assert.deepEqual([begin.info.samples, begin.info.validationSamples], [80, 20]);
    assert.equal(h.history.val_accuracy![9], 1);
  });

  test('ProgressCallback reports every batch (short last one included) and every epoch with images/s', async () => {
    const rng = new Rng(1);
    const x = randomTensor([21, 8, 8, 1], rng, 0, 1);
    const y = oneHot(randomLabels(21, 3, rng), 3);
    const m = smallCnn();
    m.build(undefined, 0);
    m.compile({});
    const events: ProgressEvent[] = [];
    const sizes: number[] = [];
    const sizeSpy: Callback = { onBatchEnd: (_b, logs) => void sizes.push(logs.size) };
    const h = await m.fit(x, y, { epochs: 2, batchSize: 8, callbacks: [new ProgressCallback((e) => events.push(e)), sizeSpy] });
    assert.deepEqual(sizes, [8, 8, 5, 8, 8, 5]);
    assert.deepEqual(events.map((e) => e.type), ['trainBegin', 'batch', 'batch', 'batch', 'epoch', 'batch', 'batch', 'batch', 'epoch', 'trainEnd']);
    const lastBatch = events[3]!;
    assert.equal(lastBatch.type, 'batch');
    if (lastBatch.type === 'batch') {
      assert.deepEqual([lastBatch.batch, lastBatch.batches, lastBatch.seen, lastBatch.samples], [3, 3, 21, 21]);
      assert.ok(lastBatch.imagesPerSecond > 0);
    }
    const epoch = events[4]!;
    assert.equal(epoch.type, 'epoch');
    if (epoch.type === 'epoch') {
      assert.ok(epoch.imagesPerSecond > 0);
      assert.ok(Math.abs(epoch.logs.loss - h.history.loss[0]!) < 1e-12);
      // epoch loss = the batch losses averaged by sample count
      if (lastBatch.type === 'batch') assert.ok(Math.abs(lastBatch.loss - epoch.logs.loss) < 1e-12);
    }
  });

  test('a callback setting stopTraining ends fit after the current batch', async () => {
    const rng = new Rng(1);
    const x = randomTensor([32, 8, 8, 1], rng, 0, 1);
    const y = oneHot(randomLabels(32, 3, rng), 3);
    const m = smallCnn();
    m.compile({});
    let batches = 0;
    const stopper: Callback = { onBatchEnd: () => { if (++batches === 2) m.stopTraining = true; } };
    const h = await m.fit(x, y, { epochs: 5, batchSize: 4, callbacks: [stopper] });
    assert.equal(batches, 2);
    assert.equal(h.epoch.length, 1);
  });

  test('predict gives probability rows, deterministic (dropout off), matching evaluate', () => {
    const rng = new Rng(2);
    const m = smallCnn();
    m.build(undefined, 1);
    const x = randomTensor([13, 8, 8, 1], rng, 0, 1);
    const labels = randomLabels(13, 3, rng);
    const p = m.predict(x, { batchSize: 5 });
    assert.deepEqual(p.shape, [13, 3]);
    for (let r = 0; r < 13; r++) {
      const s = p.data[3 * r]! + p.data[3 * r + 1]! + p.data[3 * r + 2]!;
      assert.ok(Math.abs(s - 1) < 1e-6);
    }
    assert.deepEqual(m.predict(x, { batchSize: 13 }).data, p.data);
    let correct = 0;
    let loss = 0;
    for (let r = 0; r < 13; r++) {
      const row = Array.from(p.data.subarray(3 * r, 3 * r + 3));
      if (row.indexOf(Math.max(...row)) === labels[r]) correct++;
      loss -= Math.log(row[labels[r]!]!);
    }
    const ev = m.evaluate(x, oneHot(labels, 3), { batchSize: 4 });
    assert.ok(Math.abs(ev.accuracy - correct / 13) < 1e-12);
    assert.ok(Math.abs(ev.loss - loss / 13) < 1e-5);
  });

  test('layers reuse their buffers: same batch size, same tensor; smaller batch, same memory', () => {
    const layer = new Dense({ units: 4, activation: 'relu' });
    layer.build([3], new Rng(0));
    const ctx = { backend, rng: new Rng(0), training: false };
    const a = layer.forward(new Tensor([8, 3]), ctx);
    const b = layer.forward(new Tensor([8, 3]), ctx);
    assert.equal(a, b);
    const c = layer.forward(new Tensor([5, 3]), ctx);
    assert.deepEqual(c.shape, [5, 4]);
    assert.equal(c.data.buffer, a.data.buffer);
  });

  test('Keras default names are unique within a model; explicit names are kept', () => {
    const m = new Sequential({ layers: [
      new Dense({ units: 2, inputShape: [3], name: 'dense' }), new Dense({ units: 2 }), new Dense({ units: 2 }), new Dropout({ rate: 0.1 }), new Dense({ units: 2, name: 'out' }),
    ] });
    assert.deepEqual(m.layers.map((l) => l.name), ['dense', 'dense_1', 'dense_2', 'dropout', 'out']);
  });

  test('oneHot and datasetToTensors', () => {
    const t = oneHot(new Uint8Array([2, 0]), 3);
    assert.deepEqual(Array.from(t.data), [0, 0, 1, 1, 0, 0]);
    throwsDigits(() => oneHot(new Uint8Array([10])), 'oneHot: labels[0]: expected an integer from 0 to 9, got 10');
    const images = new Float32Array(2 * 4 * 4);
    const { x, y } = datasetToTensors({ images, labels: new Uint8Array([1, 9]), count: 2, height: 4, width: 4, channels: 1, source: 'test' });
    assert.deepEqual(x.shape, [2, 4, 4, 1]);
    assert.equal(x.data, images);
    assert.deepEqual(y!.shape, [2, 10]);
    assert.equal(y!.data[19], 1);
    assert.equal(datasetToTensors({ images, labels: null, count: 2, height: 4, width: 4, channels: 1, source: 'test' }).y, null);
  });
});
