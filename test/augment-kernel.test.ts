/**
 * Augmentation: the affine parameters (TypeScript, seeded) and the
 * affineResample kernel (both backends; parity is in parity.test.ts):
 * identity, shift moves the centre of mass as asked, determinism per seed,
 * and fit augments training batches only; the elastic displacement field
 * (its size follows alpha and sigma, it is smooth, and it moves the ink as
 * asked).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReferenceBackend } from '../src/engine/reference.js';
import { loadNativeBackend } from '../src/engine/native.js';
import { Rng } from '../src/engine/rng.js';
import { Tensor } from '../src/engine/tensor.js';
import { loadMnist } from '../src/data/mnist.js';
import type { Backend } from '../src/engine/backend.js';
import { affineParams, randomAffineParams, randomElasticNoise, parseAugment, Sequential, Conv2D, Flatten, Dense, oneHot } from '../src/nn/index.js';

const nat = loadNativeBackend(2);
const backends: Backend[] = [new ReferenceBackend(), ...(nat.ok ? [nat.backend] : [])];
test('native backend loads (the augmentation kernel runs on both backends)', () => assert.ok(nat.ok, nat.ok ? '' : nat.reason));

function centreOfMass(img: Float32Array, h: number, w: number): [number, number] {
  let s = 0, sx = 0, sy = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = img[y * w + x]!;
    s += v; sx += v * x; sy += v * y;
  }
  return [sx / s, sy / s];
}

for (const b of backends) {
  test(`affineResample (${b.name}): rotation 0, zoom 1, shift 0 is the identity`, async () => {
    const ds = await loadMnist('test', { limit: 4 });
    const p = new Float32Array(24);
    for (let i = 0; i < 4; i++) affineParams(28, 28, 0, 1, 0, 0, p, i * 6);
    const y = new Float32Array(ds.images.length);
    b.affineResample(ds.images, p, y, 4, 28, 28, 1);
    assert.deepEqual(y, ds.images);
  });

  test(`affineResample (${b.name}): a shift of (+3, -2) px moves the centre of mass by (+3, -2); rotating 90 deg four times returns the image`, async () => {
    const ds = await loadMnist('test', { limit: 1 });
    const x = ds.images;
    const p = new Float32Array(6);
    affineParams(28, 28, 0, 1, 3, -2, p);
    const y = new Float32Array(784);
    b.affineResample(x, p, y, 1, 28, 28, 1);
    const [cx0, cy0] = centreOfMass(x, 28, 28);
    const [cx1, cy1] = centreOfMass(y, 28, 28);
    assert.ok(Math.abs(cx1 - cx0 - 3) < 1e-3 && Math.abs(cy1 - cy0 + 2) < 1e-3, `moved by (${cx1 - cx0}, ${cy1 - cy0})`);
    // integer shifts and 90-degree rotations sample exactly on the grid: lossless
    let cur = new Float32Array(x);
    affineParams(28, 28, 90, 1, 0, 0, p);
    for (let i = 0; i < 4; i++) {
      const next = new Float32Array(784);
      b.affineResample(cur, p, next, 1, 28, 28, 1);
      cur = next;
    }
    let worst = 0;
    for (let i = 0; i < 784; i++) worst = Math.max(worst, Math.abs(cur[i]! - x[i]!));
    assert.ok(worst < 1e-5, `four quarter turns differ by ${worst}`);
    // a zoom out (0.5) keeps the centre of mass and shrinks the ink's spread
    affineParams(28, 28, 0, 0.5, 0, 0, p);
    b.affineResample(x, p, y, 1, 28, 28, 1);
    const [cx2, cy2] = centreOfMass(y, 28, 28);
    assert.ok(Math.abs(cx2 - 13.5 - (cx0 - 13.5) * 0.5) < 0.05 && Math.abs(cy2 - 13.5 - (cy0 - 13.5) * 0.5) < 0.05);
  });
}

test('randomAffineParams: same seed, same parameters; within the asked ranges', () => {
  const a = parseAugment('augment', { rotation: 10, zoom: 0.1, shift: 2 });
  const p1 = new Float32Array(6 * 50), p2 = new Float32Array(6 * 50), p3 = new Float32Array(6 * 50);
  randomAffineParams(new Rng(5), 50, 28, 28, a, p1);
  randomAffineParams(new Rng(5), 50, 28, 28, a, p2);
  randomAffineParams(new Rng(6), 50, 28, 28, a, p3);
  assert.deepEqual(p1, p2);
  assert.notDeepEqual(p1, p3);
  for (let i = 0; i < 50; i++) {
    const [c, s] = [p1[i * 6]!, p1[i * 6 + 1]!];
    const scale = 1 / Math.hypot(c, s);
    const deg = (Math.atan2(s, c) * 180) / Math.PI;
    assert.ok(scale >= 0.9 - 1e-6 && scale <= 1.1 + 1e-6, `scale ${scale}`);
    assert.ok(Math.abs(deg) <= 10 + 1e-4, `rotation ${deg}`);
  }
  assert.throws(() => parseAugment('augment', { rotate: 3 }), /rotate/);
});

test('fit with augment: same seed, same weights (both backends agree on the transforms); validation data untouched', async () => {
  const ds = await loadMnist('train', { limit: 256 });
  const x = new Tensor([256, 28, 28, 1], ds.images);
  const y = oneHot(ds.labels!);
  const copy = new Float32Array(ds.images);
  const run = async (b: Backend, augment: boolean): Promise<Float32Array> => {
    const m = new Sequential({ layers: [new Conv2D({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }), new Flatten(), new Dense({ units: 10, activation: 'softmax' })] });
    m.build(undefined, 1);
    m.setBackend(b);
    m.compile({ optimizer: 'adam' });
    await m.fit(x, y, { epochs: 1, batchSize: 64, seed: 2, validationSplit: 0.25, ...(augment ? { augment: { rotation: 15, zoom: 0.1, shift: 2 } } : {}) });
    return Float32Array.from(m.namedWeights().flatMap((w) => Array.from(w.tensor.data)));
  };
  const a1 = await run(backends[0]!, true);
  const a2 = await run(backends[0]!, true);
  const plain = await run(backends[0]!, false);
  assert.deepEqual(a1, a2);
  assert.notDeepEqual(a1, plain);
  assert.deepEqual(ds.images, copy, 'the training data itself is not modified');
  if (backends.length > 1) {
    const an = await run(backends[1]!, true);
    let worst = 0;
    for (let i = 0; i < an.length; i++) worst = Math.max(worst, Math.abs(an[i]! - a1[i]!));
    assert.ok(worst < 1e-3, `native vs reference weights after an augmented epoch differ by ${worst}`);
  }
});

for (const b of backends) {
  test(`elasticField (${b.name}): displacement std is alpha * sqrt(1/(12 pi)) / sigma inside the image; smooth; alpha 0 gives 0`, () => {
    const n = 40, h = 28, w = 28;
    const noise = new Float32Array(n * h * w * 2);
    randomElasticNoise(new Rng(9), n, h, w, noise);
    for (const [sigma, alpha] of [[4, 34], [6, 36]] as const) {
      const f = new Float32Array(noise.length);
      b.elasticField(noise, f, n, h, w, sigma, alpha);
      let ss = 0, cnt = 0, diff = 0;
      for (let i = 0; i < n; i++) for (let y = 10; y < 18; y++) for (let x = 10; x < 18; x++) for (let p = 0; p < 2; p++) {
        const at = ((i * h + y) * w + x) * 2 + p;
        ss += f[at]! ** 2;
        diff += (f[at + 2]! - f[at]!) ** 2;  // the right-hand neighbour
        cnt++;
      }
      const std = Math.sqrt(ss / cnt);
      const expected = (alpha * Math.sqrt(1 / (12 * Math.PI))) / sigma;
      assert.ok(Math.abs(std / expected - 1) < 0.15, `sigma ${sigma} alpha ${alpha}: std ${std}, expected ~${expected}`);
      assert.ok(Math.sqrt(diff / cnt) < 0.3 * std, `neighbouring displacements should be close: ${Math.sqrt(diff / cnt)} vs std ${std}`);
    }
    const zero = new Float32Array(noise.length).fill(7);
    b.elasticField(noise, zero, n, h, w, 4, 0);
    assert.ok(zero.every((v) => v === 0));
  });

  test(`affineResample (${b.name}) with a displacement field: zero field is the plain transform; a constant (+3, -2) field moves the ink by (-3, +2)`, async () => {
    const ds = await loadMnist('train', { limit: 1 });
    const x = ds.images;
    const p = new Float32Array(6);
    affineParams(28, 28, 0, 1, 0, 0, p);
    const plain = new Float32Array(784), zeroField = new Float32Array(784);
    b.affineResample(x, p, plain, 1, 28, 28, 1);
    b.affineResample(x, p, zeroField, 1, 28, 28, 1, new Float32Array(784 * 2));
    assert.deepEqual(zeroField, plain);
    const d = new Float32Array(784 * 2);
    for (let i = 0; i < 784; i++) { d[2 * i] = 3; d[2 * i + 1] = -2; }
    const moved = new Float32Array(784);
    b.affineResample(x, p, moved, 1, 28, 28, 1, d);
    const [cx0, cy0] = centreOfMass(x, 28, 28);
    const [cx1, cy1] = centreOfMass(moved, 28, 28);
    assert.ok(Math.abs(cx1 - cx0 + 3) < 0.05 && Math.abs(cy1 - cy0 - 2) < 0.05, `moved by (${cx1 - cx0}, ${cy1 - cy0})`);
  });
}

test('parseAugment: elastic {alpha, sigma} is read and checked; alpha 0 means none', () => {
  assert.deepEqual(parseAugment('augment', { rotation: 5, elastic: { alpha: 34, sigma: 5 } }),
    { rotation: 5, zoom: 0, shift: 0, elastic: { alpha: 34, sigma: 5 } });
  assert.deepEqual(parseAugment('augment', { elastic: { alpha: 0, sigma: 5 } }), { rotation: 0, zoom: 0, shift: 0 });
  assert.deepEqual(parseAugment('augment', { elastic: null }), { rotation: 0, zoom: 0, shift: 0 });
  assert.throws(() => parseAugment('augment', { elastic: { alpha: 34, sigma: 0 } }), /augment\.elastic\.sigma/);
  assert.throws(() => parseAugment('augment', { elastic: { alpha: -1, sigma: 4 } }), /augment\.elastic\.alpha/);
  assert.throws(() => parseAugment('augment', { elastic: { alpha: 34, sigma: 4, beta: 1 } }), /beta/);
  assert.throws(() => parseAugment('augment', { elastic: 34 }), /expected \{alpha, sigma\}/);
});

test('randomElasticNoise: uniform in (-1, 1), same seed same noise', () => {
  const a = new Float32Array(2 * 28 * 28 * 2), c = new Float32Array(a.length), d = new Float32Array(a.length);
  randomElasticNoise(new Rng(3), 2, 28, 28, a);
  randomElasticNoise(new Rng(3), 2, 28, 28, c);
  randomElasticNoise(new Rng(4), 2, 28, 28, d);
  assert.deepEqual(a, c);
  assert.notDeepEqual(a, d);
  assert.ok(a.every((v) => v > -1 && v < 1));
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  assert.ok(Math.abs(mean) < 0.05, `mean ${mean}`);
});

test('fit with elastic augmentation: seeded, differs from affine only, and both backends train the same weights', async () => {
  const ds = await loadMnist('train', { limit: 128 });
  const x = new Tensor([128, 28, 28, 1], ds.images);
  const y = oneHot(ds.labels!);
  const run = async (b: Backend, elastic: boolean): Promise<Float32Array> => {
    const m = new Sequential({ layers: [new Conv2D({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }), new Flatten(), new Dense({ units: 10, activation: 'softmax' })] });
    m.build(undefined, 1);
    m.setBackend(b);
    m.compile({ optimizer: 'adam' });
    await m.fit(x, y, { epochs: 1, batchSize: 32, seed: 2, augment: { rotation: 5, ...(elastic ? { elastic: { alpha: 34, sigma: 5 } } : {}) } });
    return Float32Array.from(m.namedWeights().flatMap((w) => Array.from(w.tensor.data)));
  };
  const e1 = await run(backends[0]!, true);
  assert.deepEqual(e1, await run(backends[0]!, true));
  assert.notDeepEqual(e1, await run(backends[0]!, false));
  if (backends.length > 1) {
    const en = await run(backends[1]!, true);
    let worst = 0;
    for (let i = 0; i < en.length; i++) worst = Math.max(worst, Math.abs(en[i]! - e1[i]!));
    assert.ok(worst < 1e-3, `native vs reference weights after an elastic epoch differ by ${worst}`);
  }
});
