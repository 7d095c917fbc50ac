/**
 * Model files: save/load round trips, the exact model.json layout, atomic
 * writes, the variants of model.json other writers produce, and every bad
 * input with its message.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ReferenceBackend } from '../src/engine/reference.js';
import { Tensor } from '../src/engine/tensor.js';
import { DigitsError } from '../src/errors.js';
import { loadMnist } from '../src/data/mnist.js';
import { buildPreset, type Sequential } from '../src/nn/index.js';
import { loadModel, makeMetadata, saveModel, type DigitsMetadata } from '../src/io/model-files.js';

const SEED = 1234;
let tmp: string;
let model: Sequential;
let metadata: DigitsMetadata;
let x: Tensor;
let expected: Float32Array;

function seedModel(seed: number): Sequential {
  const { model: m } = buildPreset('seed', seed);
  if (m.inputShape === null) m.build([28, 28, 1], seed);
  m.setBackend(new ReferenceBackend());
  return m;
}

function predict(m: Sequential, input: Tensor): Float32Array {
  m.setBackend(new ReferenceBackend());
  return Float32Array.from(m.predict(input).data); // copy: the model owns the returned buffer
}

let dirCount = 0;
async function freshDir(): Promise<string> {
  return path.join(tmp, `m${++dirCount}`);
}

async function savedCopy(): Promise<string> {
  const dir = await freshDir();
  await saveModel(model, dir, metadata);
  return dir;
}

async function readJson(dir: string): Promise<any> {
  return JSON.parse(await fs.readFile(path.join(dir, 'model.json'), 'utf8'));
}

async function writeJson(dir: string, json: unknown): Promise<void> {
  await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
}

/** loadModel must fail with a DigitsError whose message contains every fragment. */
async function assertLoadFails(dir: string, ...fragments: string[]): Promise<void> {
  await assert.rejects(loadModel(dir), (err: unknown) => {
    assert.ok(err instanceof DigitsError, `expected a DigitsError, got ${String(err)}`);
    for (const f of fragments) assert.ok(err.message.includes(f), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-io-'));
  model = seedModel(SEED);
  metadata = makeMetadata(model, {
    seed: SEED,
    preset: 'seed',
    history: { loss: [0.5, 0.25], accuracy: [0.9, 0.95], val_loss: [0.3, 0.2], val_accuracy: [0.91, 0.94] },
    testAccuracy: 0.9912,
    trainedAt: '2024-01-02T03:04:05.000Z',
    backend: 'reference',
  });
  const ds = await loadMnist('test', { limit: 16 });
  x = new Tensor([ds.count, 28, 28, 1], ds.images);
  expected = predict(model, x);
});

after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

test('save writes the TF.js layers-model layout', async () => {
  const dir = await freshDir();
  const result = await saveModel(model, dir, metadata);
  assert.deepEqual(result.files, ['group1-shard1of1.bin', 'model.json']);
  assert.deepEqual((await fs.readdir(dir)).sort(), ['group1-shard1of1.bin', 'model.json']);

  const json = await readJson(dir);
  assert.deepEqual(Object.keys(json), ['modelTopology', 'format', 'generatedBy', 'convertedBy', 'weightsManifest', 'userDefinedMetadata']);
  assert.equal(json.format, 'layers-model');
  assert.match(json.generatedBy, /^Digits v\d+\.\d+\.\d+/);
  assert.equal(json.convertedBy, null);
  assert.equal(json.modelTopology.class_name, 'Sequential');
  assert.equal(json.modelTopology.keras_version, 'tfjs-layers 4.22.0');
  assert.equal(json.modelTopology.backend, 'tensor_flow.js');
  assert.equal(json.modelTopology.config.name, model.name);
  const layers = json.modelTopology.config.layers;
  assert.deepEqual(layers.map((l: any) => l.class_name), model.layers.map((l) => l.className));
  assert.deepEqual(layers.map((l: any) => l.config.name), model.layers.map((l) => l.name));
  assert.deepEqual(layers[0].config.batch_input_shape, [null, 28, 28, 1]);
  assert.equal(layers[0].config.dtype, 'float32');

  assert.equal(json.weightsManifest.length, 1);
  assert.deepEqual(json.weightsManifest[0].paths, ['group1-shard1of1.bin']);
  assert.deepEqual(json.weightsManifest[0].weights,
    model.namedWeights().map((w) => ({ name: w.name, shape: [...w.tensor.shape], dtype: 'float32' })));
  const bin = await fs.readFile(path.join(dir, 'group1-shard1of1.bin'));
  assert.equal(bin.byteLength, 4 * model.countParams());
  assert.equal(result.weightBytes, bin.byteLength);

  // the metadata as given, plus the length and SHA-256 of every shard
  const digest = { bytes: bin.byteLength, sha256: createHash('sha256').update(bin).digest('hex') };
  assert.deepEqual(json.userDefinedMetadata, { digits: { ...metadata, weightFiles: { 'group1-shard1of1.bin': digest } } });
});

test('round trip: identical predictions, layers and metadata', async () => {
  const dir = await savedCopy();
  const loaded = await loadModel(dir);
  const { weightFiles, ...rest } = loaded.metadata!;
  assert.deepEqual(rest, metadata);
  assert.deepEqual(Object.keys(weightFiles!), ['group1-shard1of1.bin']);
  assert.equal(loaded.model.name, model.name);
  assert.deepEqual(loaded.model.inputShape, model.inputShape);
  assert.deepEqual(loaded.model.outputShape, model.outputShape);
  assert.equal(loaded.model.countParams(), model.countParams());
  assert.equal(loaded.model.summary(), model.summary());
  assert.deepEqual(loaded.model.layers.map((l) => l.getConfig()), model.layers.map((l) => l.getConfig()));
  assert.deepEqual(predict(loaded.model, x), expected);
  // the path of model.json itself works too
  const again = await loadModel(path.join(dir, 'model.json'));
  assert.deepEqual(predict(again.model, x), expected);
});

test('shards: split every shardBytes as the TF.js converter does, and read back', async () => {
  const dir = await freshDir();
  const shardBytes = 100_000;
  const total = 4 * model.countParams();
  const n = Math.ceil(total / shardBytes);
  const result = await saveModel(model, dir, metadata, { shardBytes });
  const names = Array.from({ length: n }, (_, i) => `group1-shard${i + 1}of${n}.bin`);
  assert.deepEqual(result.files, [...names, 'model.json']);
  for (let i = 0; i < n; i++) {
    const st = await fs.stat(path.join(dir, names[i]!));
    assert.equal(st.size, i < n - 1 ? shardBytes : total - (n - 1) * shardBytes);
  }
  assert.deepEqual((await readJson(dir)).weightsManifest[0].paths, names);
  assert.deepEqual(predict((await loadModel(dir)).model, x), expected);
});

test('saving over a model replaces it, removes its stale shards and keeps other files', async () => {
  const dir = await freshDir();
  await saveModel(model, dir, metadata, { shardBytes: 100_000 });
  await fs.writeFile(path.join(dir, 'history.json'), '{}');
  const other = seedModel(SEED + 1);
  await saveModel(other, dir, { ...metadata, seed: SEED + 1 });
  assert.deepEqual((await fs.readdir(dir)).sort(), ['group1-shard1of1.bin', 'history.json', 'model.json']);
  const loaded = await loadModel(dir);
  assert.equal(loaded.metadata?.seed, SEED + 1);
  assert.deepEqual(predict(loaded.model, x), predict(other, x));
});

test('atomic: a failed save into a new folder leaves nothing behind', async () => {
  const parent = path.join(tmp, 'atomic-new');
  await fs.mkdir(parent);
  const dir = path.join(parent, 'model');
  await assert.rejects(
    saveModel(model, dir, metadata, { beforeCommit: () => { throw new Error('disk full (simulated)'); } }),
    /disk full/,
  );
  assert.deepEqual(await fs.readdir(parent), []);
});

test('atomic: a failed save over a model leaves the old model whole', async () => {
  const dir = await freshDir();
  await saveModel(model, dir, metadata, { shardBytes: 100_000 });
  const before = (await fs.readdir(dir)).sort();
  const jsonBefore = await fs.readFile(path.join(dir, 'model.json'), 'utf8');
  await assert.rejects(
    saveModel(seedModel(SEED + 2), dir, metadata, { beforeCommit: () => { throw new Error('disk full (simulated)'); } }),
    /disk full/,
  );
  assert.deepEqual((await fs.readdir(dir)).sort(), before);
  assert.equal(await fs.readFile(path.join(dir, 'model.json'), 'utf8'), jsonBefore);
  assert.deepEqual(predict((await loadModel(dir)).model, x), expected);
});

test('save refuses bad metadata before writing anything', async () => {
  const dir = await freshDir();
  await assert.rejects(saveModel(model, dir, { ...metadata, inputScale: 0 }),
    (err: unknown) => err instanceof DigitsError && err.message.includes('inputScale') && err.message.includes('positive number'));
  await assert.rejects(fs.stat(dir));
});

test('save refuses metadata that does not describe the model', async () => {
  const dir = await freshDir();
  await assert.rejects(saveModel(model, dir, { ...metadata, inputShape: [32, 32, 3] }),
    (err: unknown) => err instanceof DigitsError && err.message.includes('inputShape: expected [28, 28, 1]'));
  await assert.rejects(saveModel(model, dir, { ...metadata, classNames: ['a', 'b'] }),
    (err: unknown) => err instanceof DigitsError && err.message.includes('classNames: expected 10 names'));
  await assert.rejects(fs.stat(dir));
});

test('save into a path that is a file says so', async () => {
  const file = path.join(tmp, 'a-file');
  await fs.writeFile(file, 'x');
  await assert.rejects(saveModel(model, file, metadata),
    (err: unknown) => err instanceof DigitsError && err.message.includes(file) && err.message.includes('it is a file'));
});

// ---- model.json as other writers lay it out ----------------------------------------------------

test('reads the converter layout: model_config wrapper, InputLayer, one group per layer, weights.bin names', async () => {
  const dir = await savedCopy();
  const json = await readJson(dir);
  const bin = await fs.readFile(path.join(dir, 'group1-shard1of1.bin'));
  const layers = json.modelTopology.config.layers;
  const shape = layers[0].config.batch_input_shape;
  delete layers[0].config.batch_input_shape;
  layers.unshift({ class_name: 'InputLayer', config: { batch_input_shape: shape, dtype: 'float32', sparse: false, name: 'input_1' } });
  json.modelTopology = {
    keras_version: '2.13.1',
    backend: 'tensorflow',
    model_config: { class_name: 'Sequential', config: json.modelTopology.config },
    training_config: { loss: 'categorical_crossentropy' },
  };
  // one group per layer that has weights, as the converter writes h5 models
  const groups: any[] = [];
  let off = 0;
  const specs = json.weightsManifest[0].weights;
  for (let i = 0; i < specs.length; i += 2) {
    const pair = specs.slice(i, i + 2);
    const bytes = pair.reduce((s: number, w: any) => s + 4 * w.shape.reduce((a: number, b: number) => a * b, 1), 0);
    const file = `group${groups.length + 1}-shard1of1.bin`;
    await fs.writeFile(path.join(dir, file), bin.subarray(off, off + bytes));
    off += bytes;
    groups.push({ paths: [file], weights: pair });
  }
  json.weightsManifest = groups;
  delete json.userDefinedMetadata;
  await writeJson(dir, json);
  const loaded = await loadModel(dir);
  assert.equal(loaded.metadata, null);
  assert.deepEqual(predict(loaded.model, x), expected);
});

test('reads the old topology whose config is the bare array of layers, and Keras 3 batch_shape', async () => {
  const dir = await savedCopy();
  const json = await readJson(dir);
  const layers = json.modelTopology.config.layers;
  layers[0].config.batch_shape = layers[0].config.batch_input_shape;
  delete layers[0].config.batch_input_shape;
  json.modelTopology.config = layers;
  await writeJson(dir, json);
  assert.deepEqual(predict((await loadModel(dir)).model, x), expected);
});

test('reads weights.bin as tfjs-node writes it, and scope-prefixed weight names', async () => {
  const dir = await savedCopy();
  const json = await readJson(dir);
  await fs.rename(path.join(dir, 'group1-shard1of1.bin'), path.join(dir, 'weights.bin'));
  json.weightsManifest[0].paths = ['weights.bin'];
  for (const w of json.weightsManifest[0].weights) w.name = `sequential_1/${w.name}`;
  await writeJson(dir, json);
  assert.deepEqual(predict((await loadModel(dir)).model, x), expected);
});

test('skips optimizer state that TF.js saves with includeOptimizer, keeping the offsets right', async () => {
  const dir = await savedCopy();
  const json = await readJson(dir);
  const specs = json.weightsManifest[0].weights;
  const file = path.join(dir, 'group1-shard1of1.bin');
  const bin = await fs.readFile(file);
  const cut = 4 * (specs[0].shape.reduce((a: number, b: number) => a * b, 1) + specs[1].shape[0]);
  // an int32 step counter (4 bytes) and an Adam slot for the bias (float32) between the weights
  specs.splice(2, 0,
    { name: 'iter', shape: [], dtype: 'int32', group: 'optimizer' },
    { name: `${specs[1].name}/m`, shape: specs[1].shape, dtype: 'float32', group: 'optimizer' });
  await fs.writeFile(file, Buffer.concat([bin.subarray(0, cut), Buffer.alloc(4 + 4 * specs[1].shape[0], 0x7f), bin.subarray(cut)]));
  json.weightsManifest[0].weights = specs;
  delete json.userDefinedMetadata.digits.weightFiles; // a file TF.js wrote: no digests of Digits'
  await writeJson(dir, json);
  assert.deepEqual(predict((await loadModel(dir)).model, x), expected);
});

// ---- bad input --------------------------------------------------------------------------------

test('bad: model.json missing', async () => {
  const dir = await freshDir();
  await fs.mkdir(dir);
  await assertLoadFails(dir, path.join(dir, 'model.json'), 'model file not found');
  await assertLoadFails(path.join(tmp, 'no-such-folder'), 'no-such-folder', 'model.json', 'not found');
});

test('bad: model.json is not JSON', async () => {
  const dir = await savedCopy();
  await fs.writeFile(path.join(dir, 'model.json'), '{"modelTopology": ');
  await assertLoadFails(dir, path.join(dir, 'model.json'), 'not valid JSON');
});

test('bad: model.json is not a layers-model', async () => {
  const dir = await savedCopy();
  const json = await readJson(dir);
  await writeJson(dir, { ...json, format: 'graph-model' });
  await assertLoadFails(dir, path.join(dir, 'model.json'), 'format: expected "layers-model"', 'got "graph-model"');
  await writeJson(dir, [1, 2]);
  await assertLoadFails(dir, 'model.json', 'expected a JSON object (a TF.js layers-model)');
  const { modelTopology: _drop, ...noTopology } = json;
  await writeJson(dir, noTopology);
  await assertLoadFails(dir, 'model.json', 'modelTopology', 'missing');
  await writeJson(dir, { ...json, modelTopology: { ...json.modelTopology, class_name: 'Functional' } });
  await assertLoadFails(dir, 'modelTopology.class_name: expected "Sequential"', 'got "Functional"');
});

test('bad: no input shape anywhere', async () => {
  const dir = await savedCopy();
  const json = await readJson(dir);
  delete json.modelTopology.config.layers[0].config.batch_input_shape;
  await writeJson(dir, json);
  await assertLoadFails(dir, 'model.json', 'batch_input_shape on the first layer or an InputLayer');
});

test('bad: a layer option the layer rejects names the file and the layer', async () => {
  const dir = await savedCopy();
  const json = await readJson(dir);
  json.modelTopology.config.layers[0].config.padding = 'causal';
  await writeJson(dir, json);
  await assertLoadFails(dir, path.join(dir, 'model.json'), `"${model.layers[0]!.name}"`, 'padding', 'causal');
});

test('bad: unknown layer class names the layer, the class and the supported ones', async () => {
  const dir = await savedCopy();
  const json = await readJson(dir);
  const layer = json.modelTopology.config.layers[1];
  layer.class_name = 'LSTM';
  await writeJson(dir, json);
  await assertLoadFails(dir, 'model.json', `layer "${layer.config.name}"`, 'class "LSTM"', 'supported: ', 'Conv2D', 'Dense', 'MaxPooling2D');
});

test('bad: a shard file missing', async () => {
  const dir = await savedCopy();
  await fs.rm(path.join(dir, 'group1-shard1of1.bin'));
  await assertLoadFails(dir, path.join(dir, 'group1-shard1of1.bin'), 'weight shard not found', 'weightsManifest');
});

test('bad: a shard of the wrong length says expected and actual bytes', async () => {
  const dir = await savedCopy();
  const bytes = 4 * model.countParams();
  const file = path.join(dir, 'group1-shard1of1.bin');
  await fs.truncate(file, bytes - 4);
  await assertLoadFails(dir, file, 'wrong length', `expected ${bytes} bytes`, `got ${bytes - 4} bytes`);
  await fs.writeFile(file, new Uint8Array(bytes + 8));
  await assertLoadFails(dir, file, `expected ${bytes} bytes`, `got ${bytes + 8} bytes`);
});

test('bad: one of several shards of the wrong length is named', async () => {
  const dir = await freshDir();
  await saveModel(model, dir, metadata, { shardBytes: 100_000 });
  const n = Math.ceil((4 * model.countParams()) / 100_000);
  const second = path.join(dir, `group1-shard2of${n}.bin`);
  await fs.truncate(second, 99_000);
  await assertLoadFails(dir, second, 'expected 100000 bytes', 'got 99000 bytes');
  await saveModel(model, dir, metadata, { shardBytes: 100_000 });
  const last = path.join(dir, `group1-shard${n}of${n}.bin`);
  const lastBytes = 4 * model.countParams() - (n - 1) * 100_000;
  await fs.truncate(last, lastBytes - 40);
  await assertLoadFails(dir, last, `expected ${lastBytes} bytes`, `got ${lastBytes - 40} bytes`);
});

test('bad: a manifest weight the model does not have', async () => {
  const dir = await savedCopy();
  const json = await readJson(dir);
  json.weightsManifest[0].weights.push({ name: 'dense_99/kernel', shape: [2], dtype: 'float32' });
  delete json.userDefinedMetadata.digits.weightFiles; // a file another tool wrote: no digests of Digits'
  await writeJson(dir, json);
  await fs.appendFile(path.join(dir, 'group1-shard1of1.bin'), new Uint8Array(8));
  await assertLoadFails(dir, 'model.json', 'weight "dense_99/kernel"', 'which the model does not have');
});

test('bad: a model weight missing from the manifest', async () => {
  const dir = await savedCopy();
  const json = await readJson(dir);
  const dropped = json.weightsManifest[0].weights.pop();
  delete json.userDefinedMetadata.digits.weightFiles; // a file another tool wrote: no digests of Digits'
  await writeJson(dir, json);
  const bytes = 4 * (model.countParams() - dropped.shape.reduce((a: number, b: number) => a * b, 1));
  await fs.truncate(path.join(dir, 'group1-shard1of1.bin'), bytes);
  await assertLoadFails(dir, 'model.json', `has no weight "${dropped.name}"`, 'which the model needs');
});

test('bad: a weight whose shape differs from the layer config', async () => {
  const dir = await savedCopy();
  const json = await readJson(dir);
  const w = json.weightsManifest[0].weights[0];
  const wrong = [...w.shape].reverse();
  w.shape = wrong;
  await writeJson(dir, json);
  await assertLoadFails(dir, 'model.json', `weight "${w.name}": shape: expected`, `got [${wrong.join(', ')}]`);
});

test('bad: a dtype other than float32', async () => {
  const dir = await savedCopy();
  const json = await readJson(dir);
  const w = json.weightsManifest[0].weights[1];
  w.dtype = 'int32';
  await writeJson(dir, json);
  await assertLoadFails(dir, 'model.json', `"${w.name}": dtype: expected "float32"`, 'got "int32"');
  w.dtype = 'float32';
  w.quantization = { dtype: 'uint8', scale: 0.1, min: 0 };
  await writeJson(dir, json);
  await assertLoadFails(dir, 'model.json', `"${w.name}": quantization: expected none`);
});

test('bad: malformed Digits metadata names the field', async () => {
  const dir = await savedCopy();
  const json = await readJson(dir);
  json.userDefinedMetadata.digits.inputShape = [28, -1];
  await writeJson(dir, json);
  await assertLoadFails(dir, 'model.json', 'userDefinedMetadata.digits.inputShape', 'positive integers');
  json.userDefinedMetadata.digits.inputShape = [28, 28, 1];
  json.userDefinedMetadata.digits.history.loss = [0.5, 'low'];
  await writeJson(dir, json);
  await assertLoadFails(dir, 'model.json', 'userDefinedMetadata.digits.history.loss: expected an array of numbers');
  json.userDefinedMetadata.digits.history.loss = [0.5, 0.25];
  json.userDefinedMetadata.digits.inputShape = [28, 28, 3];
  await writeJson(dir, json);
  await assertLoadFails(dir, 'model.json', 'userDefinedMetadata.digits.inputShape: expected [28, 28, 1]', 'got [28, 28, 3]');
});
