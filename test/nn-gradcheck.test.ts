/**
 * Finite-difference gradient checks of every layer (input gradient and each
 * parameter gradient) and of the loss, on every backend (test/backends.ts).
 *
 * Method: for a layer f and a fixed random weighting r, the scalar
 * L(x, params) = sum_i r_i * f(x)_i is summed in float64 from the float32
 * outputs. backward(r) must give dL/dx and dL/dparam; each checked coordinate
 * is compared with the central difference (L(v + h) - L(v - h)) / 2h.
 *
 * Why the tolerance is what it is (h = 3e-3, inputs and weights O(1)):
 *  - Conv2D, Dense, MaxPool, Flatten, Dropout, linear/relu are linear in any
 *    single coordinate between kinks, so the central difference has no
 *    truncation error; its error is the float32 rounding of the few outputs
 *    the coordinate touches (~1e-7 relative each, a handful of terms), divided
 *    by 2h: a few 1e-5 absolute. (The step is taken as stored in float32.)
 *  - softmax is smooth: truncation error h^2/6 * |f'''| stays below ~2e-6 for
 *    O(1) logits.
 * So |numeric - analytic| <= 2e-4 + 2e-3 * |analytic| holds with a wide
 * margin (measured: the worst case uses under a tenth of it), while a real
 * bug (a wrong index, a missing term, a transposed kernel) shows up as an
 * O(1e-1) difference.
 *
 * Kinks: a perturbation of +-h may push a relu input across 0 or change a
 * pool window's maximum, and then the difference quotient is meaningless. In
 * the piecewise-linear cases (no softmax) the two one-sided differences agree
 * to rounding away from a kink, so a coordinate where they disagree is
 * skipped and counted; at most a quarter of the coordinates may be skipped (in
 * practice a few percent), so the check cannot pass by skipping everything.
 * Cases with a softmax are smooth (one-sided differences differ by h * f''),
 * nothing is skipped there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../src/engine/backend.js';
import { ReferenceBackend } from '../src/engine/reference.js';
import { Rng } from '../src/engine/rng.js';
import { Tensor } from '../src/engine/tensor.js';
import type { Layer, RunContext } from '../src/nn/layer.js';
import {
  Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, Sequential, crossEntropyOnProbs, type ActivationName,
} from '../src/nn/index.js';
import { onEveryBackend } from './backends.js';

const H = 3e-3;
const ATOL = 2e-4;
const RTOL = 2e-3;
/** coordinates checked per tensor at most (a deterministic sample when there are more) */
const MAX_COORDS = 120;

/** the backend of the suite running now (onEveryBackend) */
let backend: Backend = new ReferenceBackend();

function randomTensor(shape: readonly number[], rng: Rng, scale = 1): Tensor {
  const t = new Tensor(shape);
  for (let i = 0; i < t.size; i++) t.data[i] = rng.range(-scale, scale);
  return t;
}

function dot64(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function sampleCoords(size: number, rng: Rng): number[] {
  if (size <= MAX_COORDS) return Array.from({ length: size }, (_, i) => i);
  const p = rng.permutation(size);
  return Array.from(p.subarray(0, MAX_COORDS));
}

interface Mismatch { what: string; index: number; numeric: number; analytic: number }

/** One evaluation: the scalar L, and (piecewise-linear cases) the values whose kinks matter. */
interface Probe {
  loss: number;
  /** output of the piecewise-linear part (layer output, model logits); absent for smooth cases */
  linear?: Float32Array;
}

/** Largest second difference |a - 2b + c| relative to max(1, |b|): zero to rounding unless a kink lies in between. */
function secondDifference(a: Float32Array, b: Float32Array, c: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - 2 * b[i]! + c[i]!) / Math.max(1, Math.abs(b[i]!)));
  return worst;
}

/** float32 rounding of values O(1) through a few layers stays below this in a second difference */
const KINK_THRESHOLD = 2e-6;

/**
 * Compare analytic gradient `grad` of L with respect to the values `v` (mutated
 * and restored) against central differences of `run().loss`.
 */
function compare(what: string, v: Float32Array, grad: Float32Array, run: () => Probe, rng: Rng):
  { checked: number; skipped: number; bad: Mismatch[] } {
  const coords = sampleCoords(v.length, rng);
  let skipped = 0;
  const bad: Mismatch[] = [];
  for (const i of coords) {
    const orig = v[i]!;
    const p0 = run();
    const mid = p0.linear && new Float32Array(p0.linear);
    v[i] = orig + H;
    const up = v[i]!; // the step actually taken, after float32 rounding
    const pp = run();
    const plus = pp.linear && new Float32Array(pp.linear);
    v[i] = orig - H;
    const down = v[i]!;
    const pm = run();
    const minus = pm.linear && new Float32Array(pm.linear); // copied: the probe may alias v
    v[i] = orig;
    if (mid && plus && minus && secondDifference(plus, mid, minus) > KINK_THRESHOLD) {
      skipped++; // a relu or pool kink between v - h and v + h
      continue;
    }
    const numeric = (pp.loss - pm.loss) / (up - down);
    const analytic = grad[i]!;
    if (Math.abs(numeric - analytic) > ATOL + RTOL * Math.abs(analytic)) bad.push({ what, index: i, numeric, analytic });
  }
  return { checked: coords.length, skipped, bad };
}

function assertClean(name: string, results: ReturnType<typeof compare>[]): void {
  const bad = results.flatMap((r) => r.bad);
  const checked = results.reduce((s, r) => s + r.checked, 0);
  const skipped = results.reduce((s, r) => s + r.skipped, 0);
  assert.ok(checked > 0, `${name}: nothing checked`);
  assert.ok(skipped <= checked / 4, `${name}: ${skipped} of ${checked} coordinates skipped as kinks (more than a quarter)`);
  assert.equal(bad.length, 0, `${name}: ${bad.length} gradient mismatches, first: ` +
    bad.slice(0, 5).map((b) => `${b.what}[${b.index}] numeric ${b.numeric.toExponential(4)} analytic ${b.analytic.toExponential(4)}`).join('; '));
}

interface LayerCase {
  name: string;
  make: () => Layer;
  input: readonly number[]; // with the batch dimension
  /** context per forward call (Dropout: a fresh Rng with the same seed, i.e. a fixed mask) */
  ctx?: () => RunContext;
  /** distinct, well-separated input values (pooling: no near-ties) */
  distinct?: boolean;
  /** no kinks (softmax without relu): nothing may be skipped */
  smooth?: boolean;
}

function gradcheckLayer(c: LayerCase): void {
  const rng = new Rng(12345);
  const layer = c.make();
  layer.build(c.input.slice(1), rng);
  const ctx = c.ctx ?? (() => ({ backend, rng: new Rng(1), training: true }));
  let x = randomTensor(c.input, rng);
  if (c.distinct) {
    // a shuffled grid with step 4h: no two values within 2h of each other
    const p = rng.permutation(x.size);
    x = new Tensor(c.input);
    for (let i = 0; i < x.size; i++) x.data[i] = (p[i]! - x.size / 2) * 4 * H;
  }
  const y0 = layer.forward(x, ctx());
  const r = randomTensor(y0.shape, rng);
  // Without a softmax the layer is piecewise linear: its output is the kink probe.
  const smooth = c.smooth ?? false;
  const run = (): Probe => {
    const y = layer.forward(x, ctx());
    return smooth ? { loss: dot64(y.data, r.data) } : { loss: dot64(y.data, r.data), linear: y.data };
  };
  layer.forward(x, ctx());
  const dx = new Float32Array(layer.backward(r, ctx()).data);
  const pgrads = layer.params().map((p) => new Float32Array(p.grad.data));

  const results = [compare('dx', x.data, dx, run, rng)];
  // non-trainable weights (BatchNorm's moving statistics) get no gradient: nothing to check
  layer.params().forEach((p, k) => { if (p.trainable) results.push(compare(p.name, p.value.data, pgrads[k]!, run, rng)); });
  assertClean(c.name, results);
  // the gradients are not trivially zero
  assert.ok(dx.some((v) => v !== 0), `${c.name}: dx is all zeros`);
  // (non-trainable weights, BatchNorm's moving statistics, have no gradient)
  pgrads.forEach((g, k) => assert.ok(!layer.params()[k]!.trainable || g.some((v) => v !== 0), `${c.name}: ${layer.params()[k]!.name} gradient is all zeros`));
}

const cases: LayerCase[] = [
  { name: 'Conv2D x=[2,7,5,3] k=[3,3,3,4] s=1 p=valid linear', input: [2, 7, 5, 3], make: () => new Conv2D({ filters: 4, kernelSize: 3 }) },
  { name: 'Conv2D x=[2,7,5,3] k=[3,3,3,4] s=1 p=same relu', input: [2, 7, 5, 3], make: () => new Conv2D({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }) },
  { name: 'Conv2D x=[2,7,6,2] k=[3,3,2,3] s=2 p=valid relu', input: [2, 7, 6, 2], make: () => new Conv2D({ filters: 3, kernelSize: 3, strides: 2, activation: 'relu' }) },
  { name: 'Conv2D x=[2,7,6,2] k=[2,4,2,3] s=2 p=same (asymmetric pad)', input: [2, 7, 6, 2], make: () => new Conv2D({ filters: 3, kernelSize: [2, 4], strides: 2, padding: 'same' }) },
  { name: 'Conv2D x=[1,5,5,2] k=[3,3,2,3] s=[2,1] p=same useBias=false', input: [1, 5, 5, 2], make: () => new Conv2D({ filters: 3, kernelSize: 3, strides: [2, 1], padding: 'same', useBias: false }) },
  { name: 'Conv2D x=[2,3,3,2] k=[1,1,2,5] s=1 p=valid softmax', input: [2, 3, 3, 2], make: () => new Conv2D({ filters: 5, kernelSize: 1, activation: 'softmax' }), smooth: true },
  { name: 'MaxPooling2D x=[2,5,7,3] pool=2 s=2 (odd sizes)', input: [2, 5, 7, 3], make: () => new MaxPooling2D({ poolSize: 2 }), distinct: true },
  { name: 'MaxPooling2D x=[1,7,7,2] pool=3 s=2 (overlapping windows)', input: [1, 7, 7, 2], make: () => new MaxPooling2D({ poolSize: 3, strides: 2 }), distinct: true },
  { name: 'Flatten x=[2,3,4,5]', input: [2, 3, 4, 5], make: () => new Flatten() },
  ...(['linear', 'relu', 'softmax'] as ActivationName[]).map((a) => ({
    name: `Dense x=[3,7] units=5 ${a}`, input: [3, 7], make: () => new Dense({ units: 5, activation: a }), smooth: a === 'softmax',
  })),
  { name: 'Dense x=[2,3,6] (rank 3) units=4 relu', input: [2, 3, 6], make: () => new Dense({ units: 4, activation: 'relu' }) },
  {
    name: 'Dropout x=[4,9] rate=0.4 fixed mask', input: [4, 9], make: () => new Dropout({ rate: 0.4 }),
    ctx: () => ({ backend, rng: new Rng(99), training: true }),
  },
  ...(['linear', 'relu', 'softmax'] as ActivationName[]).map((a) => ({
    name: `Activation x=[3,6] ${a}`, input: [3, 6], make: () => new Activation({ activation: a }), smooth: a === 'softmax',
  })),
  // BatchNorm is smooth; gamma/beta are randomised so that their gradients are not the trivial ones.
  {
    name: 'BatchNormalization x=[3,4,3,5] training (batch statistics)', input: [3, 4, 3, 5], smooth: true,
    make: () => randomisedBatchNorm(),
  },
  {
    name: 'BatchNormalization x=[4,6] training (dense features)', input: [4, 6], smooth: true,
    make: () => randomisedBatchNorm(),
  },
  {
    name: 'BatchNormalization x=[2,3,3,4] inference (moving statistics)', input: [2, 3, 3, 4], smooth: true,
    make: () => randomisedBatchNorm(), ctx: () => ({ backend, rng: new Rng(1), training: false }),
  },
];

/** A BatchNormalization whose gamma, beta and moving statistics are set to non-default values at build. */
function randomisedBatchNorm(): Layer {
  const layer = new BatchNormalization({ momentum: 0.9 });
  const build = layer.build.bind(layer);
  layer.build = (shape, rng) => {
    build(shape, rng);
    for (const p of layer.params()) {
      for (let i = 0; i < p.value.size; i++) {
        p.value.data[i] = p.name === 'moving_variance' || p.name === 'gamma' ? 0.5 + rng.uniform() : rng.range(-0.5, 0.5);
      }
    }
  };
  return layer;
}

onEveryBackend((b) => {
  backend = b;
}, () => {
  for (const c of cases) test(`gradcheck ${c.name}`, () => gradcheckLayer(c));

  // A Conv2D followed by a non-overlapping MaxPooling2D runs fused in a Sequential (Conv2D.forwardPooled /
  // backwardPooled): the pair's gradients, checked like a layer's, and equal to the two layers run one by one.
  const fusedConvPoolCases: { name: string; input: number[]; conv: () => Conv2D; pool: number }[] = [
    { name: 'x=[2,6,7,1] k=[3,3,1,5] p=same linear no bias, pool 2 (the direct native shape)', input: [2, 6, 7, 1],
      conv: () => new Conv2D({ filters: 5, kernelSize: 3, padding: 'same', useBias: false }), pool: 2 },
    { name: 'x=[2,7,6,3] k=[2,3,3,4] p=valid relu, pool 2 (odd conv output)', input: [2, 7, 6, 3],
      conv: () => new Conv2D({ filters: 4, kernelSize: [2, 3], activation: 'relu' }), pool: 2 },
    { name: 'x=[1,7,7,2] k=[3,3,2,3] p=same relu, pool 3', input: [1, 7, 7, 2],
      conv: () => new Conv2D({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }), pool: 3 },
  ];

  for (const c of fusedConvPoolCases) {
    test(`gradcheck fused Conv2D + MaxPooling2D ${c.name}`, () => {
      const rng = new Rng(777);
      const conv = c.conv();
      conv.build(c.input.slice(1), rng);
      const pool = new MaxPooling2D({ poolSize: c.pool });
      pool.build(conv.outputShape!, rng);
      assert.ok(conv.canFusePool(pool));
      const ctx = (): RunContext => ({ backend, rng: new Rng(1), training: true });
      const x = randomTensor(c.input, rng);
      const y0 = new Float32Array(conv.forwardPooled(x, pool, ctx()).data);
      const r = randomTensor([c.input[0]!, ...pool.outputShape!], rng);
      const dx = new Float32Array(conv.backwardPooled(r, ctx()).data);
      const grads = conv.params().map((p) => new Float32Array(p.grad.data));
      // the same as the two layers one after the other
      const yu = pool.forward(conv.forward(x, ctx()), ctx());
      assert.deepEqual(Array.from(yu.data), Array.from(y0));
      const dxu = conv.backward(pool.backward(r, ctx()), ctx());
      dxu.data.forEach((v, i) => assert.ok(Math.abs(v - dx[i]!) <= 1e-6 * Math.max(1, Math.abs(v)), `dx[${i}] ${v} vs ${dx[i]}`));
      conv.params().forEach((p, k) => p.grad.data.forEach((v, i) =>
        assert.ok(Math.abs(v - grads[k]![i]!) <= 1e-6 * Math.max(1, Math.abs(v)), `${p.name}[${i}] ${v} vs ${grads[k]![i]}`)));
      const run = (): Probe => {
        const y = conv.forwardPooled(x, pool, ctx());
        return { loss: dot64(y.data, r.data), linear: y.data };
      };
      const results = [compare('dx', x.data, dx, run, rng)];
      conv.params().forEach((p, k) => results.push(compare(p.name, p.value.data, grads[k]!, run, rng)));
      assertClean(c.name, results);
      assert.ok(dx.some((v) => v !== 0), `${c.name}: dx is all zeros`);
      grads.forEach((g, k) => assert.ok(g.some((v) => v !== 0), `${c.name}: ${conv.params()[k]!.name} gradient is all zeros`));
    });
  }

  // A BatchNormalization followed by a ReLU Activation runs fused in a Sequential (forwardRelu / backwardRelu).
  for (const training of [true, false]) {
    test(`gradcheck fused BatchNormalization + ReLU x=[3,4,3,5] ${training ? 'training (batch statistics)' : 'inference (moving statistics)'}`, () => {
      const rng = new Rng(4242);
      const bn = randomisedBatchNorm() as BatchNormalization;
      bn.build([4, 3, 5], rng);
      // random gamma, beta and moving statistics, so that the ReLU clips part of the output
      for (const p of bn.params()) for (let i = 0; i < p.value.size; i++) {
        p.value.data[i] = p.name === 'moving_variance' ? rng.range(0.5, 2) : rng.range(-1, 1);
      }
      const act = new Activation({ activation: 'relu' });
      act.build([4, 3, 5], rng);
      const ctx = (): RunContext => ({ backend, rng: new Rng(1), training });
      const x = randomTensor([3, 4, 3, 5], rng);
      const y0 = new Float32Array(bn.forwardRelu(x, ctx()).data);
      assert.ok(y0.some((v) => v === 0) && y0.some((v) => v > 0), 'the ReLU clips some values and keeps others');
      const r = randomTensor([3, 4, 3, 5], rng);
      const dx = new Float32Array(bn.backwardRelu(r, ctx()).data);
      const grads = bn.params().map((p) => new Float32Array(p.grad.data));
      // the same as the two layers one after the other
      const yu = act.forward(bn.forward(x, ctx()), ctx());
      yu.data.forEach((v, i) => assert.ok(Math.abs(v - y0[i]!) <= 1e-6 * Math.max(1, Math.abs(v)), `y[${i}] ${v} vs ${y0[i]}`));
      const dxu = bn.backward(act.backward(r, ctx()), ctx());
      dxu.data.forEach((v, i) => assert.ok(Math.abs(v - dx[i]!) <= 1e-5 * Math.max(1, Math.abs(v)), `dx[${i}] ${v} vs ${dx[i]}`));
      bn.params().forEach((p, k) => p.grad.data.forEach((v, i) =>
        assert.ok(Math.abs(v - grads[k]![i]!) <= 1e-5 * Math.max(1, Math.abs(v)), `${p.name}[${i}] ${v} vs ${grads[k]![i]}`)));
      // BatchNorm in training mode is smooth but not linear: the kink probe is which ReLUs are open
      const run = (): Probe => {
        const y = bn.forwardRelu(x, ctx());
        return { loss: dot64(y.data, r.data), linear: Float32Array.from(y.data, (v) => (v > 0 ? 1 : 0)) };
      };
      const results = [compare('dx', x.data, dx, run, rng)];
      bn.params().forEach((p, k) => { if (p.trainable) results.push(compare(p.name, p.value.data, grads[k]!, run, rng)); });
      assertClean(`BatchNormalization + ReLU ${training}`, results);
    });
  }

  test('gradcheck Dropout is the identity when not training (and its gradient too)', () => {
    const layer = new Dropout({ rate: 0.5 });
    layer.build([6], new Rng(0));
    const x = randomTensor([2, 6], new Rng(3));
    const ctx = { backend, rng: new Rng(0), training: false };
    assert.equal(layer.forward(x, ctx), x);
    const dy = randomTensor([2, 6], new Rng(4));
    assert.equal(layer.backward(dy, ctx), dy);
  });

  test('gradcheck Dropout mask: kept values scaled by 1/(1-rate), about rate of them dropped', () => {
    const layer = new Dropout({ rate: 0.25 });
    layer.build([1000], new Rng(0));
    const x = new Tensor([4, 1000]);
    x.data.fill(1);
    const y = layer.forward(x, { backend, rng: new Rng(5), training: true });
    let dropped = 0;
    for (const v of y.data) {
      if (v === 0) dropped++;
      else assert.ok(Math.abs(v - 1 / 0.75) < 1e-6, `kept value ${v}, expected ${1 / 0.75}`);
    }
    const frac = dropped / y.size;
    assert.ok(Math.abs(frac - 0.25) < 0.03, `dropped fraction ${frac}, expected about 0.25`);
  });

  test('gradcheck fused softmax cross-entropy: dlogits = (softmax - targets) / rows', () => {
    const rng = new Rng(7);
    const rows = 4;
    const cols = 6;
    const logits = randomTensor([rows, cols], rng, 3);
    const targets = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      // one-hot rows and one smoothed row
      if (r === 3) for (let j = 0; j < cols; j++) targets[r * cols + j] = j === 2 ? 0.5 : 0.1;
      else targets[r * cols + rng.int(cols)] = 1;
    }
    const probs = new Float32Array(rows * cols);
    const dlogits = new Float32Array(rows * cols);
    const scratch = new Float32Array(rows * cols);
    backend.softmaxCrossEntropy(logits.data, targets, probs, dlogits, rows, cols);
    const run = (): Probe => ({ loss: backend.softmaxCrossEntropy(logits.data, targets, new Float32Array(rows * cols), scratch, rows, cols) });
    assertClean('softmaxCrossEntropy', [compare('logits', logits.data, dlogits, run, rng)]);
    // stable for huge logits: no NaN/Infinity
    const big = new Float32Array([1000, -1000, 0, 500, 1000, 999]);
    const t = new Float32Array([0, 1, 0, 0, 0, 0]);
    const l = backend.softmaxCrossEntropy(big, t, new Float32Array(6), new Float32Array(6), 1, 6);
    // lse = 1000 + log(e^0 + e^0 + e^-1 + ...): two logits at 1000, one at 999, the rest negligible
    const expected = 2000 + Math.log(2 + Math.exp(-1));
    assert.ok(Number.isFinite(l) && Math.abs(l - expected) < 1e-3, `loss ${l}, expected ${expected}`);
  });

  test('gradcheck cross-entropy on probabilities (non-fused path, Keras normalisation)', () => {
    const rng = new Rng(8);
    const rows = 3;
    const cols = 5;
    const probs = new Float32Array(rows * cols);
    // values in [0.5, 2): rows need not sum to 1 (Keras normalises them); after normalising each
    // value is >= 0.05, where the truncation error h^2/6 * (third derivative of log) stays inside the tolerance
    for (let i = 0; i < probs.length; i++) probs[i] = rng.range(0.5, 2);
    const targets = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) targets[r * cols + rng.int(cols)] = 1;
    const d = new Float32Array(rows * cols);
    crossEntropyOnProbs(probs, targets, d, rows, cols);
    const run = (): Probe => ({ loss: crossEntropyOnProbs(probs, targets, null, rows, cols) });
    assertClean('crossEntropyOnProbs', [compare('probs', probs, d, run, rng)]);
    // clipped rows: a zero probability on the target gives -log(1e-7), not Infinity
    const l = crossEntropyOnProbs(new Float32Array([0, 1]), new Float32Array([1, 0]), null, 1, 2);
    assert.ok(Math.abs(l + Math.log(1e-7)) < 1e-6, `clipped loss ${l}`);
  });

  test('gradcheck whole model: conv-pool-flatten-dense-softmax, fused loss, every weight', () => {
    const model = new Sequential({
      layers: [
        new Conv2D({ filters: 3, kernelSize: 3, activation: 'relu', inputShape: [6, 6, 2] }),
        new MaxPooling2D({ poolSize: 2 }),
        new Flatten(),
        new Dense({ units: 5, activation: 'relu' }),
        new Dense({ units: 4, activation: 'softmax' }),
      ],
    });
    model.build(undefined, 3);
    model.setBackend(backend);
    const rng = new Rng(11);
    const x = randomTensor([3, 6, 6, 2], rng);
    const y = new Tensor([3, 4]);
    for (let r = 0; r < 3; r++) y.data[r * 4 + rng.int(4)] = 1;
    const { grads } = model.lossAndGradients(x, y, { training: false });
    // Up to the logits the model is piecewise linear: the last layer's logits are the kink probe.
    const last = model.layers[model.layers.length - 1] as Dense;
    const run = (): Probe => ({ loss: model.evaluate(x, y, { batchSize: 3 }).loss, linear: last.logits().data });
    const results = model.namedWeights().map((w) => compare(w.name, w.tensor.data, grads.get(w.name)!, run, rng));
    assertClean('model', results);
  });

  test('gradcheck whole model: softmax inside, linear Activation last (non-fused loss path) agrees with the fused one', () => {
    const layers = (): Layer[] => [new Dense({ units: 4, activation: 'softmax', inputShape: [5] }), new Activation({ activation: 'linear' })];
    const nonFused = new Sequential({ layers: layers() });
    nonFused.build(undefined, 4);
    nonFused.setBackend(backend);
    const fused = new Sequential({ layers: [new Dense({ units: 4, activation: 'softmax', inputShape: [5] })] });
    fused.build(undefined, 4);
    fused.setBackend(backend);
    const rng = new Rng(12);
    const x = randomTensor([3, 5], rng);
    const y = new Tensor([3, 4]);
    for (let r = 0; r < 3; r++) y.data[r * 4 + rng.int(4)] = 1;
    const a = nonFused.lossAndGradients(x, y);
    const b = fused.lossAndGradients(x, y);
    assert.ok(Math.abs(a.loss - b.loss) < 1e-5, `loss ${a.loss} vs ${b.loss}`);
    for (const [k, g] of b.grads) {
      const g2 = a.grads.get(k)!;
      for (let i = 0; i < g.length; i++) assert.ok(Math.abs(g[i]! - g2[i]!) < 1e-5, `${k}[${i}]: ${g2[i]} vs ${g[i]}`);
    }
    const run = (): Probe => ({ loss: nonFused.evaluate(x, y).loss });
    assertClean('non-fused model', nonFused.namedWeights().map((w) => compare(w.name, w.tensor.data, a.grads.get(w.name)!, run, rng)));
  });
});
