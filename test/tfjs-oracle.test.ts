/**
 * TensorFlow.js as the outside oracle for whole models:
 *  (1) a seed model saved by Digits loads with tf.loadLayersModel and gives
 *      the same probabilities on 100 MNIST test images;
 *  (2) a seed model built with tf.sequential and saved by TF.js (model.json +
 *      weights.bin, as tfjs-node's file handler writes them) loads in Digits
 *      and agrees the same way;
 *  (3) the loss gradient of every weight of the seed model on a batch of 8
 *      agrees with tf.variableGrads.
 *
 * Tolerances, and why:
 *  - probabilities: max |digits - tfjs| <= 1e-5. Both compute in float32 but
 *    sum in different orders; softmax outputs are <= 1, and the seed model's
 *    longest sum (the dense layer over the flattened features) loses far less
 *    than 1e-5 to reordering.
 *  - gradients: per weight tensor, max |a - b| / max |b| <= 1e-4, where b is
 *    TF.js's gradient. Relative to the tensor's largest entry, not per entry:
 *    entries near zero are pure rounding noise in both engines.
 *  Observed on this machine: probabilities differ by ~1.5e-8, gradients by
 *  <= ~6e-7 relative, so both bounds leave a wide margin without hiding a bug
 *  (a wrong index or a missing term moves these by orders of magnitude).
 *
 * Time: (3) takes ~12 s, nearly all in TF.js's cpu Conv2DBackpropFilter,
 * which reads its buffers element by element; the rest runs in ~5 s.
 *
 * Pure @tensorflow/tfjs has no file:// handler in Node, so the test carries
 * the two small IOHandlers tfjs-node would use, reading and writing the
 * files the same way (tfjs-node/src/io/file_system.ts).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ReferenceBackend } from '../src/engine/reference.js';
import { Tensor } from '../src/engine/tensor.js';
import { loadMnist } from '../src/data/mnist.js';
import { buildPreset, oneHot, type Sequential } from '../src/nn/index.js';
import { loadModel, makeMetadata, saveModel } from '../src/io/model-files.js';
import { modelPrecision, openClassifier, predictProbabilities } from '../src/run/index.js';
import { openPredictor } from '../src/run/predictor.js';

const PROB_TOL = 1e-5;
const GRAD_REL_TOL = 1e-4;

let tmp: string;
let images: Float32Array; // 100 MNIST test images, 0..1
let labels: Uint8Array;

/** Reads model.json and its shards as tfjs-node's NodeFileSystem.load does: shards concatenated in manifest order. */
function readHandler(dir: string): tf.io.IOHandler {
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      const json = JSON.parse(await fs.readFile(path.join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: Buffer[] = [];
      for (const group of json.weightsManifest) {
        for (const p of group.paths) buffers.push(await fs.readFile(path.join(dir, p)));
        specs.push(...group.weights);
      }
      const all = Buffer.concat(buffers);
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
        ...(json.userDefinedMetadata ? { userDefinedMetadata: json.userDefinedMetadata } : {}),
      };
    },
  };
}

/** Writes model.json + weights.bin exactly as tfjs-node's NodeFileSystem.save does. */
function writeHandler(dir: string): tf.io.IOHandler {
  return {
    async save(a: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      await fs.mkdir(dir, { recursive: true });
      const modelJSON: tf.io.ModelJSON = {
        modelTopology: a.modelTopology as object,
        weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs! }],
        format: a.format,
        generatedBy: a.generatedBy,
        convertedBy: a.convertedBy,
      };
      if (a.trainingConfig != null) modelJSON.trainingConfig = a.trainingConfig;
      if (a.userDefinedMetadata != null) modelJSON.userDefinedMetadata = a.userDefinedMetadata;
      await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(modelJSON), 'utf8');
      const data = a.weightData!;
      const parts = Array.isArray(data) ? data : [data];
      await fs.writeFile(path.join(dir, 'weights.bin'), Buffer.concat(parts.map((b) => Buffer.from(b))));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    },
  };
}

function seedModel(seed: number): Sequential {
  const { model } = buildPreset('seed', seed);
  if (model.inputShape === null) model.build([28, 28, 1], seed);
  model.setBackend(new ReferenceBackend());
  return model;
}

/**
 * The seed architecture written with TF.js's own layers (see src/nn/presets.ts):
 * conv 32 valid -> pool -> conv 64 same -> pool -> conv 128 valid -> pool ->
 * flatten -> dense 64 -> dropout 0.2 -> dense 128 -> dropout 0.2 -> dense 10 softmax.
 * TF.js initialises it (Glorot-uniform kernels) with its own random numbers.
 */
function tfSeedModel(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, padding: 'valid', activation: 'relu' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 128, kernelSize: 3, padding: 'valid', activation: 'relu' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 64, activation: 'relu' }));
  m.add(tf.layers.dropout({ rate: 0.2 }));
  m.add(tf.layers.dense({ units: 128, activation: 'relu' }));
  m.add(tf.layers.dropout({ rate: 0.2 }));
  m.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function tfPredict(m: tf.LayersModel, x: Float32Array, n: number): Float32Array {
  return tf.tidy(() => (m.predict(tf.tensor4d(x, [n, 28, 28, 1])) as tf.Tensor).dataSync() as Float32Array);
}

before(async () => {
  await tf.setBackend('cpu');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-oracle-'));
  const ds = await loadMnist('test', { limit: 100 });
  assert.equal(ds.count, 100);
  images = ds.images;
  labels = ds.labels!;
});

after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

test('(1) a seed model saved by Digits loads in TF.js with the same probabilities on 100 MNIST images', async (t) => {
  const model = seedModel(7);
  const dir = path.join(tmp, 'digits-saved');
  await saveModel(model, dir, makeMetadata(model, { seed: 7, preset: 'seed' }));
  const tfModel = await tf.loadLayersModel(readHandler(dir));
  assert.equal(tfModel.countParams(), model.countParams());
  assert.deepEqual(tfModel.inputs[0]!.shape, [null, 28, 28, 1]);

  const ours = Float32Array.from(model.predict(new Tensor([100, 28, 28, 1], images)).data);
  const theirs = tfPredict(tfModel, images, 100);
  const diff = maxAbsDiff(ours, theirs);
  t.diagnostic(`max |digits - tfjs| over 100 x 10 probabilities: ${diff.toExponential(2)}`);
  assert.ok(diff <= PROB_TOL, `max |digits - tfjs| = ${diff.toExponential(3)} > ${PROB_TOL}`);
  // the Digits metadata survives TF.js's reader
  assert.equal((tfModel.getUserDefinedMetadata() as any)?.digits?.preset, 'seed');
  tfModel.dispose();
});

test('(2) a seed model built and saved by TF.js loads in Digits with the same probabilities', async (t) => {
  const reference = seedModel(11);
  const tfModel = tfSeedModel();
  assert.equal(tfModel.countParams(), reference.countParams(), 'the TF.js twin has the seed architecture');
  // compiled and saved with its optimizer, as a TF.js user may: model.json then carries trainingConfig
  // and the manifest optimizer state (group "optimizer", an int32 "iter"), which Digits skips
  tfModel.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const dir = path.join(tmp, 'tfjs-saved');
  await tfModel.save(writeHandler(dir), { includeOptimizer: true });
  const written = JSON.parse(await fs.readFile(path.join(dir, 'model.json'), 'utf8'));
  assert.ok(written.trainingConfig);
  assert.ok(written.weightsManifest[0].weights.some((w: any) => w.group === 'optimizer'));
  assert.deepEqual((await fs.readdir(dir)).sort(), ['model.json', 'weights.bin']);

  const { model, metadata } = await loadModel(dir);
  assert.equal(metadata, null);
  assert.deepEqual(model.layers.map((l) => l.className), reference.layers.map((l) => l.className));
  model.setBackend(new ReferenceBackend());
  const ours = Float32Array.from(model.predict(new Tensor([100, 28, 28, 1], images)).data);
  const theirs = tfPredict(tfModel, images, 100);
  const diff = maxAbsDiff(ours, theirs);
  t.diagnostic(`max |digits - tfjs| over 100 x 10 probabilities: ${diff.toExponential(2)}`);
  assert.ok(diff <= PROB_TOL, `max |digits - tfjs| = ${diff.toExponential(3)} > ${PROB_TOL}`);
  tfModel.dispose();
});

test('(3) loss gradients of every seed-model weight on a batch of 8 agree with tf.variableGrads', async (t) => {
  const n = 8;
  const model = seedModel(3);
  const dir = path.join(tmp, 'grads');
  // several shards (TF.js joins them in manifest order): 64 KiB each
  await saveModel(model, dir, makeMetadata(model), { shardBytes: 65_536 });
  assert.ok((await fs.readdir(dir)).includes('group1-shard9of9.bin'));
  const tfModel = await tf.loadLayersModel(readHandler(dir));

  const x = images.slice(0, n * 784);
  const y = oneHot(labels.slice(0, n), 10);
  const ours = model.lossAndGradients(new Tensor([n, 28, 28, 1], x), y, { training: false });

  // Keras categorical cross-entropy on softmax outputs, mean over the batch; dropout off (training false).
  const vars = tfModel.trainableWeights.map((w) => w.read() as tf.Variable);
  const names = new Map(tfModel.trainableWeights.map((w, i) => [vars[i]!.name, w.originalName]));
  const xs = tf.tensor4d(x, [n, 28, 28, 1]);
  const ys = tf.tensor2d(y.data, [n, 10]);
  const { value, grads } = tf.variableGrads(() => {
    const p = tfModel.apply(xs, { training: false }) as tf.Tensor;
    return tf.neg(tf.mean(tf.sum(tf.mul(ys, tf.log(p)), -1))) as tf.Scalar;
  }, vars);

  const tfLoss = value.dataSync()[0]!;
  assert.ok(Math.abs(ours.loss - tfLoss) <= 1e-5 * Math.abs(tfLoss), `loss ${ours.loss} vs tfjs ${tfLoss}`);
  assert.equal(Object.keys(grads).length, ours.grads.size, 'one gradient per weight');
  const report: string[] = [];
  for (const [varName, g] of Object.entries(grads)) {
    const name = names.get(varName)!;
    const a = ours.grads.get(name);
    assert.ok(a !== undefined, `Digits has no gradient for ${name} (has ${[...ours.grads.keys()].join(', ')})`);
    const b = g.dataSync();
    const rel = maxAbsDiff(a, b) / maxAbs(b);
    report.push(`${name}: ${rel.toExponential(2)}`);
    assert.ok(maxAbs(b) > 0, `${name}: TF.js gradient is all zeros, the comparison would be empty`);
    assert.ok(rel <= GRAD_REL_TOL, `${name}: max|digits - tfjs| / max|tfjs| = ${rel.toExponential(3)} > ${GRAD_REL_TOL}`);
  }
  t.diagnostic(`relative gradient differences: ${report.join(', ')}`);
  tf.dispose([xs, ys, value, ...Object.values(grads)]);
  tfModel.dispose();
});

test('(4) a BatchNorm model (the fast preset) saved by Digits loads in TF.js with the same probabilities; moving statistics are non-trainable weights', async (t) => {
  const { model } = buildPreset('fast', 3);
  model.setBackend(new ReferenceBackend());
  // non-default BatchNorm weights, as after training (fresh ones would hide a mix-up of mean and variance)
  let k = 1;
  for (const { name, tensor } of model.namedWeights()) {
    if (!name.startsWith('batch_normalization')) continue;
    for (let i = 0; i < tensor.size; i++, k++) {
      const u = ((k * 7919) % 1000) / 1000; // deterministic in [0, 1)
      tensor.data[i] = name.endsWith('moving_variance') || name.endsWith('gamma') ? 0.5 + u : u - 0.5;
    }
  }
  const dir = path.join(tmp, 'digits-bn');
  await saveModel(model, dir, makeMetadata(model, { seed: 3, preset: 'fast' }));
  const json = JSON.parse(await fs.readFile(path.join(dir, 'model.json'), 'utf8'));
  const names: string[] = json.weightsManifest.flatMap((g: any) => g.weights.map((w: any) => w.name));
  assert.ok(names.includes('batch_normalization/moving_mean') && names.includes('batch_normalization_1/moving_variance'), names.join(', '));

  const tfModel = await tf.loadLayersModel(readHandler(dir));
  assert.equal(tfModel.countParams(), model.countParams());
  assert.equal(tfModel.nonTrainableWeights.length, 4, 'moving_mean and moving_variance of both BatchNorm layers');
  const ours = Float32Array.from(model.predict(new Tensor([100, 28, 28, 1], images)).data);
  const theirs = tfPredict(tfModel, images, 100);
  const diff = maxAbsDiff(ours, theirs);
  t.diagnostic(`max |digits - tfjs| over 100 x 10 probabilities (BatchNorm model): ${diff.toExponential(2)}`);
  assert.ok(diff <= PROB_TOL, `max |digits - tfjs| = ${diff.toExponential(3)} > ${PROB_TOL}`);
  tfModel.dispose();

  // and back into Digits: same weights (moving statistics included), same probabilities
  const { model: again } = await loadModel(dir);
  again.setBackend(new ReferenceBackend());
  const back = Float32Array.from(again.predict(new Tensor([100, 28, 28, 1], images)).data);
  assert.equal(maxAbsDiff(back, ours), 0);
});

test('(5) exact by default: a model trained in float32 predicts as TF.js does (1e-5) under every face\'s default precision; only a model recording bf16 training runs in bf16', async (t) => {
  const model = seedModel(5);
  const fp32Dir = path.join(tmp, 'trained-fp32');
  const bf16Dir = path.join(tmp, 'trained-bf16');
  const oldDir = path.join(tmp, 'trained-unknown');
  await saveModel(model, fp32Dir, makeMetadata(model, { seed: 5, preset: 'seed', precision: 'fp32' }));
  await saveModel(model, bf16Dir, makeMetadata(model, { seed: 5, preset: 'best', precision: 'bf16' }));
  await saveModel(model, oldDir, makeMetadata(model, { seed: 5, preset: 'best' })); // written before models recorded it
  const tfModel = await tf.loadLayersModel(readHandler(fp32Dir));
  const theirs = tfPredict(tfModel, images, 100);
  tfModel.dispose();
  const x = new Tensor([100, 28, 28, 1], images);

  // the CLI's faces pass precision "auto"; the library's openPredictor leaves it unset
  for (const dir of [fp32Dir, oldDir]) {
    const loaded = await openClassifier({ model: dir, backend: 'auto', precision: 'auto' });
    assert.equal(loaded.model.backend.precision, 'fp32', `${path.basename(dir)} runs in float32`);
    const diff = maxAbsDiff(predictProbabilities(loaded.model, x, 'predicting'), theirs);
    t.diagnostic(`${path.basename(dir)}: max |digits - tfjs| = ${diff.toExponential(2)}`);
    assert.ok(diff <= PROB_TOL, `${path.basename(dir)}: max |digits - tfjs| = ${diff.toExponential(3)} > ${PROB_TOL}`);
  }
  const predictor = await openPredictor({ model: fp32Dir });
  assert.equal(predictor.describe().precision, 'fp32');
  const one = await predictor.predict(images.subarray(0, 784));
  assert.ok(maxAbsDiff(one.probabilities, theirs.subarray(0, 10)) <= PROB_TOL);

  // a model that records bf16 training runs in bf16 unless float32 is asked for
  assert.equal((await openClassifier({ model: bf16Dir, backend: 'auto', precision: 'auto' })).model.backend.precision, 'bf16');
  assert.equal((await openClassifier({ model: bf16Dir, backend: 'auto', precision: 'fp32' })).model.backend.precision, 'fp32');
  // the rule does not look at the CPU: the same answers where AMX tiles would make bf16 fast
  assert.deepEqual([modelPrecision('auto', null), modelPrecision(undefined, { precision: 'fp32' }), modelPrecision('auto', { precision: 'bf16' }),
    modelPrecision('bf16', null), modelPrecision('fp32', { precision: 'bf16' })], ['fp32', 'fp32', 'bf16', 'bf16', 'fp32']);
});
