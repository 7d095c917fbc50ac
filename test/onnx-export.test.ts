/**
 * ONNX export: ONNX Runtime (onnxruntime-web: its WebAssembly build, run in Node) runs
 * the exported graph and must give what Digits gives.
 *
 * Tolerance 1e-4 (max abs difference): both sides compute in float32, but
 * ORT's convolutions and matmuls sum in another order than Digits' kernels,
 * which moves results by a few float32 ulps per layer (measured ~1e-6 on the
 * seed model); a layout or padding mistake moves them by 1e-2 or more.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-web';
import { createBackend } from '../src/engine/index.js';
import { Tensor } from '../src/engine/tensor.js';
import { loadMnist } from '../src/data/mnist.js';
import {
  Activation, BatchNormalization, buildPreset, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, Sequential,
} from '../src/nn/index.js';
import { makeMetadata, saveModel } from '../src/io/model-files.js';
import { decodeOnnx, toOnnx, ONNX_OPSET } from '../src/io/onnx.js';
import { tfPads } from '../src/nn/conv2d.js';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const TOLERANCE = 1e-4;
const N = 1000;
let tmp: string;
let images: Float32Array; // N test images, 0..1 (raw / 255)

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-onnx-'));
  images = (await loadMnist('test', { limit: N })).images;
});

after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; at: number } {
  assert.equal(a.length, b.length, 'output lengths differ');
  let max = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= max)) {
      max = d;
      at = i;
    }
  }
  return { max, at };
}

async function runOrt(model: Uint8Array | string, x: Float32Array, shape: number[]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model) : await ort.InferenceSession.create(model);
  const out = await session.run({ input: new ort.Tensor('float32', x, shape) });
  const p = out.probabilities!;
  return { data: p.data as Float32Array, dims: p.dims };
}

test(`seed model: digits export, then ONNX Runtime matches Digits on ${N} MNIST test images within ${TOLERANCE}`, async () => {
  // A briefly trained seed model: peaked, realistic probabilities (random weights give ~0.1 everywhere).
  const { model } = buildPreset('seed', 0);
  model.setBackend(createBackend('auto').backend);
  const train = await loadMnist('train', { limit: 2048 });
  const y = new Tensor([train.count, 10]);
  for (let i = 0; i < train.count; i++) y.data[i * 10 + train.labels![i]!] = 1;
  await model.fit(new Tensor([train.count, 28, 28, 1], train.images), y, { epochs: 1, batchSize: 32, shuffle: true, seed: 0 });
  const dir = path.join(tmp, 'seed');
  await saveModel(model, dir, makeMetadata(model, { preset: 'seed', seed: 0 }));

  const onnxFile = path.join(tmp, 'seed.onnx');
  const r = spawnSync(process.execPath, [CLI, 'export', '--model', dir, '--format', 'onnx', '--out', onnxFile], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /ONNX opset 13/);

  const expected = model.predict(new Tensor([N, 28, 28, 1], images), { batchSize: 500 }).data;
  const got = await runOrt(onnxFile, images, [N, 28, 28, 1]);
  assert.deepEqual([...got.dims], [N, 10]);
  const { max, at } = maxAbsDiff(got.data, expected);
  assert.ok(max <= TOLERANCE, `max |onnx - digits| = ${max} at image ${Math.floor(at / 10)}, class ${at % 10} ` +
    `(onnx ${got.data[at]}, digits ${expected[at]})`);
  // the probabilities are not trivially uniform: the model learned something
  let confident = 0;
  for (let i = 0; i < N; i++) if (Math.max(...expected.subarray(i * 10, i * 10 + 10)) > 0.5) confident++;
  assert.ok(confident > N / 2, `only ${confident} confident predictions: the comparison would be weak`);

  // the file is a standard ONNX model: decodes with the official schema, opset 13, dynamic batch
  const proto = decodeOnnx(await fs.readFile(onnxFile));
  assert.equal(Number(proto.irVersion), 7);
  assert.deepEqual(proto.opsetImport.map((o) => [o.domain, Number(o.version)]), [['', ONNX_OPSET]]);
  const dims = proto.graph?.input?.[0]?.type?.tensorType?.shape?.dim ?? [];
  assert.deepEqual(dims.map((d) => d.dimParam || Number(d.dimValue)), ['N', 28, 28, 1]);
  const ops = (proto.graph?.node ?? []).map((n) => n.opType);
  assert.ok(!ops.includes('Dropout'), 'dropout is left out at inference');
  assert.deepEqual(ops.filter((o) => o === 'Transpose').length, 2, `one transpose in, one before Flatten: ${ops.join(' ')}`);
  const props = Object.fromEntries(proto.metadataProps.map((p) => [p.key, p.value]));
  assert.equal(Number(props['digits.inputScale']), 1 / 255);
});

/** Give every BatchNormalization non-trivial statistics and affine weights (a fresh one is nearly the identity). */
function perturbBatchNorms(model: Sequential): void {
  let k = 1;
  for (const layer of model.layers) {
    if (!(layer instanceof BatchNormalization)) continue;
    for (const p of layer.params()) {
      const d = p.value.data;
      for (let i = 0; i < d.length; i++) {
        const u = Math.sin(++k * 12.9898) * 0.5; // -0.5..0.5, deterministic
        d[i] = p.name === 'moving_variance' ? 0.5 + u * u * 4 : p.name === 'gamma' ? 1 + u : u;
      }
    }
  }
}

test('strided "same" convolutions (uneven padding), batch norms, softmax over channels and Dense on NHWC maps match ONNX Runtime', async () => {
  // 28x28 -conv 3x3 s2 same-> 14x14 (pads 0 top, 1 bottom) -conv [4,2] s[2,1] same-> 7x14 -> pool 3 s2 -> 3x6
  const model = new Sequential({
    layers: [
      new Conv2D({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', inputShape: [28, 28, 1] }),
      new BatchNormalization({ epsilon: 0.01 }), // on NCHW maps
      new Conv2D({ filters: 6, kernelSize: [4, 2], strides: [2, 1], padding: 'same' }),
      new Activation({ activation: 'relu' }),
      new MaxPooling2D({ poolSize: 3, strides: 2 }),
      new Conv2D({ filters: 5, kernelSize: 1, activation: 'softmax' }),
      new Dense({ units: 7, activation: 'relu' }),
      new Dropout({ rate: 0.5 }),
      new Flatten(),
      new BatchNormalization(), // on [N, C] rows
      new Dense({ units: 10 }), // logits: every layout mistake shows
    ],
  });
  model.build([28, 28, 1], 3);
  perturbBatchNorms(model);
  assert.deepEqual(tfPads('same', 28, 28, [3, 3], [2, 2]), [0, 0, 1, 1]);
  assert.deepEqual(tfPads('same', 14, 14, [4, 2], [2, 1]), [1, 0, 1, 1]);
  const n = 200;
  const x = images.subarray(0, n * 784);
  const expected = model.predict(new Tensor([n, 28, 28, 1], x), { batchSize: 100 }).data;
  const { bytes } = toOnnx(model, makeMetadata(model));
  const got = await runOrt(bytes, new Float32Array(x), [n, 28, 28, 1]);
  const { max, at } = maxAbsDiff(got.data, expected);
  assert.ok(max <= TOLERANCE, `max |onnx - digits| = ${max} at ${at} (onnx ${got.data[at]}, digits ${expected[at]})`);
});

test('BatchNormalization on a rank-3 value (Mul + Add per channel) matches ONNX Runtime', async () => {
  // input [28, 28] (no channel axis): Dense acts on the last axis, giving [N, 28, 12]
  const model = new Sequential({
    layers: [
      new Dense({ units: 12, activation: 'relu', inputShape: [28, 28] }),
      new BatchNormalization({ epsilon: 0.002 }),
      new Flatten(),
      new Dense({ units: 10, activation: 'softmax' }),
    ],
  });
  model.build([28, 28], 4);
  perturbBatchNorms(model);
  const n = 100;
  const x = images.subarray(0, n * 784);
  const expected = model.predict(new Tensor([n, 28, 28], x), { batchSize: 100 }).data;
  const { bytes, ops } = toOnnx(model, makeMetadata(model));
  assert.ok(!ops.includes('BatchNormalization') && ops.includes('Mul'), ops.join(' '));
  const got = await runOrt(bytes, new Float32Array(x), [n, 28, 28]);
  const { max } = maxAbsDiff(got.data, expected);
  assert.ok(max <= TOLERANCE, `max |onnx - digits| = ${max}`);
});

test('--raw-pixels puts the input scaling in the graph: raw 0..255 pixels give the probabilities of the scaled input', async () => {
  const { model } = buildPreset('seed', 5);
  const n = 100;
  const x = images.subarray(0, n * 784);
  const raw = Float32Array.from(x, (v) => Math.round(v * 255));
  const expected = model.predict(new Tensor([n, 28, 28, 1], x), { batchSize: 100 }).data;
  const { bytes, ops } = toOnnx(model, makeMetadata(model), { rawPixels: true });
  assert.equal(ops[0], 'Mul');
  const props = Object.fromEntries(decodeOnnx(bytes).metadataProps.map((p) => [p.key, p.value]));
  assert.equal(props['digits.inputScale'], '1');
  const got = await runOrt(bytes, raw, [n, 28, 28, 1]);
  const { max } = maxAbsDiff(got.data, expected);
  assert.ok(max <= TOLERANCE, `max |onnx(raw) - digits(raw/255)| = ${max}`);
});

test('export refuses a folder as --out and a missing model with a clear message', async () => {
  const r = spawnSync(process.execPath, [CLI, 'export', '--model', path.join(tmp, 'nope'), '--out', path.join(tmp, 'x.onnx')], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /digits: error: .*nope.*model file not found/);
  const dir = path.join(tmp, 'small');
  const { model } = buildPreset('seed', 1);
  await saveModel(model, dir, makeMetadata(model));
  const r2 = spawnSync(process.execPath, [CLI, 'export', '--model', dir, '--out', tmp], { encoding: 'utf8' });
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /digits: error: --out .*: expected a file name \(model\.onnx\), but it is a folder/);
});
