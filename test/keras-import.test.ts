/**
 * Keras import: .h5 files written here with h5wasm in the layout Keras 2.x
 * `model.save("model.h5")` writes (fixed-length string attributes as h5py
 * stores them, model_config JSON with Keras 2.x's keys), imported with
 * `digits import` and checked against the same weights set in Digits directly.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import h5wasm from 'h5wasm/node';
import { Tensor } from '../src/engine/tensor.js';
import { loadMnist } from '../src/data/mnist.js';
import { Sequential } from '../src/nn/index.js';
import { loadModel } from '../src/io/model-files.js';
import { importKeras } from '../src/io/keras.js';
import { openClassifier, predictProbabilities } from '../src/run/index.js';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
let tmp: string;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-keras-'));
  await h5wasm.ready;
});

after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

// ------------------------------------------------------------------------------------------------
// a Keras 2.x model file

const glorot = { module: 'keras.initializers', class_name: 'GlorotUniform', config: { seed: null }, registered_name: null };
const zeros = { module: 'keras.initializers', class_name: 'Zeros', config: {}, registered_name: null };
const convCommon = {
  trainable: true, dtype: 'float32', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, use_bias: true,
  kernel_initializer: glorot, bias_initializer: zeros, kernel_regularizer: null, bias_regularizer: null,
  activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
};
const denseCommon = {
  trainable: true, dtype: 'float32', use_bias: true, kernel_initializer: glorot, bias_initializer: zeros,
  kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
};
const entry = (class_name: string, config: Record<string, unknown>): Record<string, unknown> =>
  ({ module: 'keras.layers', class_name, config, registered_name: null });

/** Keras 2.x layer configs of a small CNN with every layer type Digits has. */
function kerasLayers(): Record<string, unknown>[] {
  return [
    entry('InputLayer', { batch_input_shape: [null, 28, 28, 1], dtype: 'float32', sparse: false, ragged: false, name: 'conv2d_input' }),
    entry('Conv2D', { name: 'conv2d', batch_input_shape: [null, 28, 28, 1], filters: 6, kernel_size: [3, 3], strides: [2, 2], padding: 'same', activation: 'relu', ...convCommon }),
    entry('MaxPooling2D', { name: 'max_pooling2d', trainable: true, dtype: 'float32', pool_size: [2, 2], padding: 'valid', strides: [2, 2], data_format: 'channels_last' }),
    entry('Conv2D', { name: 'conv2d_1', filters: 8, kernel_size: [3, 3], strides: [1, 1], padding: 'valid', activation: 'linear', ...convCommon }),
    entry('Activation', { name: 'activation', trainable: true, dtype: 'float32', activation: 'relu' }),
    entry('Flatten', { name: 'flatten', trainable: true, dtype: 'float32', data_format: 'channels_last' }),
    entry('Dense', { name: 'dense', units: 16, activation: 'relu', ...denseCommon }),
    entry('Dropout', { name: 'dropout', trainable: true, dtype: 'float32', rate: 0.25, noise_shape: null, seed: null }),
    entry('Dense', { name: 'dense_1', units: 10, activation: 'softmax', ...denseCommon }),
  ];
}

/** Deterministic "known" weights: a small LCG, values in [-0.5, 0.5) * scale. */
function knownValues(n: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * scale;
  }
  return out;
}

/** Weights of kerasLayers(), Keras shapes, by layer: [[weight name, shape, values], ...]. */
function kerasWeights(firstKernelScale = 1): Map<string, [string, number[], Float32Array][]> {
  const w = new Map<string, [string, number[], Float32Array][]>();
  const add = (layer: string, kernel: number[], seed: number, scale: number): void => {
    const kn = kernel.reduce((a, b) => a * b, 1);
    const units = kernel[kernel.length - 1]!;
    w.set(layer, [
      [`${layer}/kernel:0`, kernel, knownValues(kn, seed, scale)],
      [`${layer}/bias:0`, [units], knownValues(units, seed + 1, 0.1)],
    ]);
  };
  add('conv2d', [3, 3, 1, 6], 1, 1.2);
  add('conv2d_1', [3, 3, 6, 8], 3, 0.6);
  add('dense', [5 * 5 * 8, 16], 5, 0.3); // 28 -s2 same-> 14 -pool-> 7 -3x3 valid-> 5
  add('dense_1', [16, 10], 7, 1.5);
  if (firstKernelScale !== 1) {
    const k = w.get('conv2d')![0]!;
    k[2] = k[2].map((v) => v * firstKernelScale);
  }
  return w;
}

/** Fixed-length string attribute(s), as h5py stores numpy bytes. */
function strAttr(obj: InstanceType<typeof h5wasm.Group>, name: string, value: string | string[]): void {
  const list = Array.isArray(value) ? value : [value];
  const size = Math.max(1, ...list.map((s) => Buffer.byteLength(s)));
  if (Array.isArray(value)) obj.create_attribute(name, value, [value.length], `S${size}`);
  else obj.create_attribute(name, value, null, `S${size}`);
}

function writeKerasH5(file: string, layers: Record<string, unknown>[], weights: Map<string, [string, number[], Float32Array][]>): void {
  const f = new h5wasm.File(file, 'w');
  try {
    const config = { class_name: 'Sequential', config: { name: 'sequential', layers } };
    strAttr(f, 'backend', 'tensorflow');
    strAttr(f, 'keras_version', '2.13.1');
    strAttr(f, 'model_config', JSON.stringify(config));
    strAttr(f, 'training_config', JSON.stringify({ loss: 'categorical_crossentropy', metrics: [['accuracy']] }));
    const mw = f.create_group('model_weights');
    const names = layers.filter((l) => l.class_name !== 'InputLayer').map((l) => (l.config as { name: string }).name);
    strAttr(mw, 'backend', 'tensorflow');
    strAttr(mw, 'keras_version', '2.13.1');
    strAttr(mw, 'layer_names', names);
    for (const name of names) {
      const g = mw.create_group(name);
      const ws = weights.get(name) ?? [];
      // h5py writes Keras' empty list of weight names as an empty float64 array
      if (ws.length === 0) g.create_attribute('weight_names', new Float64Array(0), [0], '<d');
      else strAttr(g, 'weight_names', ws.map(([n]) => n));
      for (const [wname, shape, values] of ws) {
        const [sub, leaf] = wname.split('/') as [string, string];
        const sg = (g.get(sub) as InstanceType<typeof h5wasm.Group> | null) ?? g.create_group(sub);
        sg.create_dataset({ name: leaf, data: values, shape, dtype: '<f' });
      }
    }
  } finally {
    f.close();
  }
}

/** The same model built in Digits, weights set directly. */
function digitsTwin(weights: Map<string, [string, number[], Float32Array][]>): Sequential {
  const model = Sequential.fromConfig({ name: 'twin', layers: kerasLayers() });
  const map = new Map<string, Float32Array>();
  for (const [layer, ws] of weights) {
    for (const [wname, , values] of ws) map.set(`${layer}/${wname.split('/')[1]!.replace(':0', '')}`, values);
  }
  model.setNamedWeights(map);
  return model;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

// ------------------------------------------------------------------------------------------------

test('a Keras 2.x .h5 imports and predicts what the same weights give in Digits', async () => {
  const file = path.join(tmp, 'cnn.h5');
  const weights = kerasWeights();
  writeKerasH5(file, kerasLayers(), weights);
  const out = path.join(tmp, 'imported');
  const r = await importKeras(file, out);
  assert.equal(r.kerasVersion, '2.13.1');
  assert.deepEqual(r.warnings, []);
  assert.equal(r.metadata.inputScale, 1 / 255);

  const { model, metadata } = await loadModel(out); // saved as any Digits model
  assert.equal(metadata?.inputScale, 1 / 255);
  assert.deepEqual(model.layers.map((l) => `${l.name}:${l.className}`), [
    'conv2d:Conv2D', 'max_pooling2d:MaxPooling2D', 'conv2d_1:Conv2D', 'activation:Activation', 'flatten:Flatten',
    'dense:Dense', 'dropout:Dropout', 'dense_1:Dense',
  ]);
  const test = await loadMnist('test', { limit: 200 });
  const x = new Tensor([200, 28, 28, 1], test.images);
  const got = model.predict(x, { batchSize: 100 }).data;
  const want = digitsTwin(weights).predict(x, { batchSize: 100 }).data;
  assert.equal(maxAbsDiff(got, want), 0, 'same weights, same backend: the same numbers');
  // the weights are really the file's: a model with fresh weights disagrees
  const fresh = Sequential.fromConfig({ layers: kerasLayers() }, 9).predict(x, { batchSize: 100 }).data;
  assert.ok(maxAbsDiff(fresh, want) > 1e-3);
  // an imported model records no bf16 training: every face runs it in float32 by default, as Keras does
  assert.equal(metadata?.precision, undefined);
  const opened = await openClassifier({ model: out, backend: 'auto', precision: 'auto' });
  assert.equal(opened.model.backend.precision, 'fp32');
  assert.ok(maxAbsDiff(predictProbabilities(opened.model, x, 'predicting'), want) <= 1e-5);
});

test('an unsupported layer is refused with its name and type', async () => {
  const layers = kerasLayers();
  layers.splice(2, 0, entry('SeparableConv2D', { name: 'separable_conv2d', filters: 4, kernel_size: [3, 3] }));
  layers.splice(7, 0, entry('LSTM', { name: 'lstm', units: 8 }));
  const file = path.join(tmp, 'bad.h5');
  writeKerasH5(file, layers, kerasWeights());
  await assert.rejects(importKeras(file, path.join(tmp, 'bad-out')), (err: Error) => {
    assert.match(err.message, /bad\.h5: cannot import: layers "separable_conv2d" \(type SeparableConv2D\), "lstm" \(type LSTM\) are not supported by Digits/);
    assert.match(err.message, /supported layers: .*Conv2D.*InputLayer/);
    return true;
  });
  await assert.rejects(fs.stat(path.join(tmp, 'bad-out')), 'nothing written');

  // an option Digits does not implement names the layer too
  const tanh = kerasLayers();
  (tanh[6]!.config as Record<string, unknown>).activation = 'tanh';
  const file2 = path.join(tmp, 'tanh.h5');
  writeKerasH5(file2, tanh, kerasWeights());
  const r = spawnSync(process.execPath, [CLI, 'import', '--from', 'keras', file2, '--out', path.join(tmp, 'tanh-out')], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^digits: error: .*tanh\.h5: layer "dense" \(Dense\): .*activation.*"tanh"/);
});

test('files that are not Keras models, or whose weights do not fit, are refused clearly', async () => {
  const notH5 = path.join(tmp, 'model.h5');
  await fs.writeFile(notH5, 'PK\u0003\u0004 not hdf5');
  await assert.rejects(importKeras(notH5, path.join(tmp, 'x')), /model\.h5: not an HDF5 file/);

  const wrong = kerasWeights();
  wrong.get('dense')![0]![1] = [10, 16]; // a kernel of the wrong shape
  wrong.get('dense')![0]![2] = new Float32Array(160);
  const file = path.join(tmp, 'wrong.h5');
  writeKerasH5(file, kerasLayers(), wrong);
  await assert.rejects(importKeras(file, path.join(tmp, 'y')),
    /wrong\.h5: model_weights\/dense\/dense\/kernel:0: shape: expected \[200, 16\] .*got \[10, 16\]/);

  const weightsOnly = path.join(tmp, 'weights-only.h5');
  const f = new h5wasm.File(weightsOnly, 'w');
  f.create_group('conv2d');
  f.close();
  await assert.rejects(importKeras(weightsOnly, path.join(tmp, 'z')), /no model_config attribute/);
});

test('--input-scale 255: evaluate and predict feed raw pixels, matching the /255 twin', async () => {
  // twin A: trained on pixels / 255. twin B: the same network with the first kernel / 255, trained on raw 0..255 pixels.
  const a = path.join(tmp, 'scaled.h5');
  const b = path.join(tmp, 'raw.h5');
  writeKerasH5(a, kerasLayers(), kerasWeights());
  writeKerasH5(b, kerasLayers(), kerasWeights(1 / 255));
  const dirA = path.join(tmp, 'scaled');
  const dirB = path.join(tmp, 'raw');
  const run = (...args: string[]): string => {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, `digits ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  run('import', '--from', 'keras', a, '--out', dirA);
  assert.match(run('import', '--from', 'keras', b, '--out', dirB, '--input-scale', '255'), /takes raw 0\.\.255 pixels/);
  assert.equal((await loadModel(dirB)).metadata?.inputScale, 1);

  // fp32: in bf16 the twins' first convs round different operands (pixels / 255 vs raw pixels, kernels x 255 vs not)
  const evalA = JSON.parse(run('evaluate', '--model', dirA, '--limit', '300', '--json', '--precision', 'fp32'));
  const evalB = JSON.parse(run('evaluate', '--model', dirB, '--limit', '300', '--json', '--precision', 'fp32'));
  assert.ok(Array.isArray(evalA.confusion) && evalA.confusion.length === 10, 'evaluate --json has the confusion matrix');
  assert.deepEqual(evalB.confusion, evalA.confusion);
  assert.equal(evalB.accuracy, evalA.accuracy);

  // predict on a Kaggle-style CSV of raw pixels
  const test = await loadMnist('test', { limit: 50 });
  const rows = [Array.from({ length: 784 }, (_, i) => `pixel${i}`).join(',')];
  for (let i = 0; i < 50; i++) rows.push(Array.from(test.images.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255)).join(','));
  const csv = path.join(tmp, 'test.csv');
  await fs.writeFile(csv, rows.join('\n') + '\n');
  const subA = path.join(tmp, 'a.csv');
  const subB = path.join(tmp, 'b.csv');
  run('predict', '--model', dirA, '--input', csv, '--out', subA, '--probabilities', '--precision', 'fp32');
  run('predict', '--model', dirB, '--input', csv, '--out', subB, '--probabilities', '--precision', 'fp32');
  const parse = async (p: string): Promise<number[][]> =>
    (await fs.readFile(p, 'utf8')).trim().split('\n').slice(1).map((l) => l.split(',').map(Number));
  const pa = await parse(subA);
  const pb = await parse(subB);
  assert.equal(pa.length, 50);
  for (let i = 0; i < 50; i++) {
    assert.equal(pb[i]![1], pa[i]![1], `image ${i + 1}: label`);
    for (let j = 2; j < pa[i]!.length; j++) assert.ok(Math.abs(pb[i]![j]! - pa[i]![j]!) <= 1e-5, `image ${i + 1}: p${j - 2}`);
  }
});

test('BatchNormalization (Keras 2.x config and weight names) imports with its moving statistics', async () => {
  const layers = kerasLayers();
  const bn = entry('BatchNormalization', {
    name: 'batch_normalization', trainable: true, dtype: 'float32', axis: [3], momentum: 0.99, epsilon: 0.001, center: true,
    scale: true, beta_initializer: zeros, gamma_initializer: { class_name: 'Ones', config: {} },
    moving_mean_initializer: zeros, moving_variance_initializer: { class_name: 'Ones', config: {} },
    beta_regularizer: null, gamma_regularizer: null, beta_constraint: null, gamma_constraint: null,
  });
  layers.splice(2, 0, bn); // after the first conv: [14, 14, 6]
  const weights = kerasWeights();
  const c = 6;
  weights.set('batch_normalization', [
    ['batch_normalization/gamma:0', [c], knownValues(c, 11, 1).map((v) => 1 + v)],
    ['batch_normalization/beta:0', [c], knownValues(c, 12, 1)],
    ['batch_normalization/moving_mean:0', [c], knownValues(c, 13, 1)],
    ['batch_normalization/moving_variance:0', [c], knownValues(c, 14, 1).map((v) => 0.5 + v * v)],
  ]);
  const file = path.join(tmp, 'bn.h5');
  writeKerasH5(file, layers, weights);
  await importKeras(file, path.join(tmp, 'bn'));
  const { model } = await loadModel(path.join(tmp, 'bn'));
  assert.equal(model.layers[1]!.className, 'BatchNormalization');

  const twin = Sequential.fromConfig({ layers });
  const map = new Map<string, Float32Array>();
  for (const [layer, ws] of weights) for (const [wname, , values] of ws) map.set(`${layer}/${wname.split('/')[1]!.replace(':0', '')}`, values);
  twin.setNamedWeights(map);
  const test = await loadMnist('test', { limit: 100 });
  const x = new Tensor([100, 28, 28, 1], test.images);
  assert.equal(maxAbsDiff(model.predict(x, { batchSize: 100 }).data, twin.predict(x, { batchSize: 100 }).data), 0);
});

test('a Dense of a million units in a small .h5 is refused while building, from the weights the file holds, before it allocates', async () => {
  const layers = kerasLayers();
  (layers[6]!.config as { units: number }).units = 1_000_000; // "dense": 200 inputs → 200 M weights
  const file = path.join(tmp, 'huge-dense.h5');
  writeKerasH5(file, layers, kerasWeights());
  const rss = process.memoryUsage().rss;
  const started = performance.now();
  await assert.rejects(importKeras(file, path.join(tmp, 'huge-out')),
    /huge-dense\.h5: layer "dense" \(Dense\) needs a weight "kernel" of shape \[200, 1000000\] \(200,000,000 values\), more than the weights file declares/);
  assert.ok(process.memoryUsage().rss - rss < 200 * 1024 * 1024, 'nothing near 800 MB was allocated');
  assert.ok(performance.now() - started < 10_000);
});
