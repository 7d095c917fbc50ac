/**
 * WeightAveraging: the exponential moving average and the epoch-end mean it
 * keeps equal the same averages computed here, in float64, from the weights
 * recorded after every batch and epoch; BatchNorm's moving statistics are
 * averaged too; the average replaces the weights at the end (or not, when
 * asked); bad options are refused by name. Resuming a run that averages is
 * covered by test/checkpoint.test.ts. The statistics pass that gives averaged
 * weights their own BatchNorm statistics (Sequential.recomputeBatchNormStatistics)
 * matches the plain mean of the batch statistics computed here in float64.
 * On every backend (test/backends.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DigitsError } from '../src/errors.js';
import { Rng } from '../src/engine/rng.js';
import { Tensor } from '../src/engine/tensor.js';
import {
  Activation, Adam, BatchNormalization, Dense, Dropout, Flatten, Sequential, WeightAveraging, oneHot, takeRows, type Callback, type CallbackModel,
} from '../src/nn/index.js';
import { weightsOf } from './model-helpers.js';
import type { Backend } from '../src/engine/backend.js';
import { ReferenceBackend } from '../src/engine/reference.js';
import { onEveryBackend } from './backends.js';

/** the backend of the suite running now (onEveryBackend) */
let backend: Backend = new ReferenceBackend();

const rng = new Rng(3);
const N = 40;
const X = new Tensor([N, 4, 4, 1]);
for (let i = 0; i < X.size; i++) X.data[i] = rng.uniform();
const Y = oneHot(Array.from({ length: N }, () => rng.int(3)), 3);

function model(): Sequential {
  const m = new Sequential({
    layers: [
      new Flatten({ inputShape: [4, 4, 1] }),
      new Dense({ units: 8, activation: 'linear', useBias: false }),
      new BatchNormalization({ momentum: 0.8 }),
      new Activation({ activation: 'relu' }),
      new Dense({ units: 3, activation: 'softmax' }),
    ],
  });
  m.build([4, 4, 1], 5);
  m.setBackend(backend);
  m.compile({ optimizer: new Adam({ learningRate: 0.02 }) });
  return m;
}

/** Records every weight (as float64) after each batch and at each epoch's end. */
class Recorder implements Callback {
  model: CallbackModel | null = null;
  batches: Map<string, Float64Array>[] = [];
  epochEnds: Map<string, Float64Array>[] = [];
  setModel(m: CallbackModel): void {
    this.model = m;
  }
  private snap(): Map<string, Float64Array> {
    return new Map(this.model!.namedWeights().map(({ name, tensor }) => [name, Float64Array.from(tensor.data)]));
  }
  onBatchEnd(): void {
    this.batches.push(this.snap());
  }
  onEpochEnd(): void {
    this.epochEnds.push(this.snap());
  }
}

function maxDiff(a: Map<string, Float32Array>, b: Map<string, Float64Array>): number {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  let d = 0;
  for (const [k, v] of a) v.forEach((x, i) => (d = Math.max(d, Math.abs(x - b.get(k)![i]!))));
  return d;
}

/** The EMA of the recorded weights in float64: the first copied, then d(n)·avg + (1 − d(n))·w for the n-th. */
function emaOf(used: Map<string, Float64Array>[], d: (n: number) => number): Map<string, Float64Array> {
  const want = new Map([...used[0]!].map(([k, v]) => [k, Float64Array.from(v)]));
  used.slice(1).forEach((w, j) => {
    const keep = d(j + 1);
    for (const [k, a] of want) a.forEach((x, i) => (a[i] = keep * x + (1 - keep) * w.get(k)![i]!));
  });
  return want;
}

onEveryBackend((b) => {
  backend = b;
}, () => {
  test('ema with warmup (the default): the n-th update keeps min(decay, (1 + n) / (10 + n)) of the average', async () => {
    const m = model();
    const rec = new Recorder();
    const ema = new WeightAveraging({ decay: 0.6, applyOnTrainEnd: false });
    await m.fit(X, Y, { epochs: 2, batchSize: 8, seed: 1, callbacks: [rec, ema] });
    assert.equal(ema.count, rec.batches.length);
    const want = emaOf(rec.batches, (n) => Math.min(0.6, (1 + n) / (10 + n)));
    const got = ema.averagedWeights()!;
    assert.ok(maxDiff(got, want) < 1e-5, `ema differs from the float64 average by ${maxDiff(got, want)}`);
    // the warm-up matters here: without it the average is another one
    assert.ok(maxDiff(got, emaOf(rec.batches, () => 0.6)) > 1e-3);
  });

  test('ema without warmup: the average after every batch is decay·avg + (1 − decay)·w, from the first averaged batch on; BatchNorm statistics included', async () => {
    const m = model();
    const rec = new Recorder();
    const ema = new WeightAveraging({ decay: 0.9, warmup: false, startEpoch: 1, applyOnTrainEnd: false });
    await m.fit(X, Y, { epochs: 3, batchSize: 8, seed: 1, callbacks: [rec, ema] });
    const perEpoch = N / 8;
    const used = rec.batches.slice(perEpoch);  // epoch 0 is before startEpoch
    assert.equal(ema.count, used.length);
    const want = emaOf(used, () => 0.9);
    const got = ema.averagedWeights()!;
    assert.ok(got.has('batch_normalization/moving_mean') && got.has('batch_normalization/moving_variance'), [...got.keys()].join(', '));
    assert.ok(maxDiff(got, want) < 1e-5, `ema differs from the float64 average by ${maxDiff(got, want)}`);
    // the average is not the last weights (they moved), and applyOnTrainEnd: false left the model as trained
    assert.ok(maxDiff(got, rec.batches.at(-1)!) > 1e-3);
    assert.equal(maxDiff(weightsOf(m), rec.batches.at(-1)!), 0);
    // the copy handed out is the caller's: changing it does not change the average
    got.get('dense/kernel')!.fill(0);
    assert.notEqual(ema.averagedWeights()!.get('dense/kernel')![0], 0);
  });

  test('swa: the plain mean of the weights at the ends of epochs startEpoch.., and it replaces the weights when training ends', async () => {
    const m = model();
    const rec = new Recorder();
    const swa = new WeightAveraging({ mode: 'swa', startEpoch: 2 });
    await m.fit(X, Y, { epochs: 5, batchSize: 8, seed: 2, callbacks: [rec, swa] });
    const ends = rec.epochEnds.slice(2);
    assert.equal(swa.count, 3);
    const want = new Map([...ends[0]!.keys()].map((k) => [k, ends[0]!.get(k)!.map((_, i) => ends.reduce((s, e) => s + e.get(k)![i]!, 0) / ends.length)]));
    assert.ok(maxDiff(weightsOf(m), want) < 1e-6, `swa differs from the mean of epochs 3-5 by ${maxDiff(weightsOf(m), want)}`);
    assert.ok(maxDiff(weightsOf(m), rec.epochEnds.at(-1)!) > 1e-4, 'the model now holds the average, not the last epoch');
    // a model that holds the average still predicts probabilities
    const p = m.predict(X);
    for (let r = 0; r < N; r++) assert.ok(Math.abs(p.data[r * 3]! + p.data[r * 3 + 1]! + p.data[r * 3 + 2]! - 1) < 1e-5);
  });

  test('a run shorter than startEpoch averages nothing and leaves the weights alone', async () => {
    const m = model();
    const rec = new Recorder();
    const ema = new WeightAveraging({ startEpoch: 5 });
    await m.fit(X, Y, { epochs: 2, batchSize: 8, seed: 1, callbacks: [rec, ema] });
    assert.equal(ema.count, 0);
    assert.equal(ema.averagedWeights(), null);
    assert.equal(maxDiff(weightsOf(m), rec.batches.at(-1)!), 0);
  });

  test('bad options and states are refused, naming the field', () => {
    assert.throws(() => new WeightAveraging({ decay: 1 }), (e: Error) => e instanceof DigitsError && /WeightAveraging\.decay/.test(e.message));
    assert.throws(() => new WeightAveraging({ decay: 0 }), /WeightAveraging\.decay: expected a number between 0 and 1 \(exclusive\), got 0/);
    assert.throws(() => new WeightAveraging({ mode: 'swa', decay: 0.9 }), /WeightAveraging\.decay: only for mode "ema"/);
    assert.throws(() => new WeightAveraging({ mode: 'swa', warmup: false }), /WeightAveraging\.warmup: only for mode "ema"/);
    assert.throws(() => new WeightAveraging({ mode: 'mean' as never }), /WeightAveraging\.mode/);
    assert.throws(() => new WeightAveraging({ startEpoch: -1 }), /WeightAveraging\.startEpoch/);
    assert.throws(() => new WeightAveraging({ every: 2 } as never), /WeightAveraging options/);
    assert.throws(() => new WeightAveraging().setState({ count: 1, avg: [{ name: 'x', data: [1] }] }), /WeightAveraging\.setState: avg: expected null or \[\{name, data: Float32Array\}\]/);
    assert.throws(() => new WeightAveraging().onBatchEnd(), /WeightAveraging: not attached to a model/);
  });

  /** Per-column mean and biased variance of rows × cols values (float64). */
  function colStats(v: Float64Array, rows: number, cols: number): { mean: Float64Array; variance: Float64Array } {
    const mean = new Float64Array(cols);
    const variance = new Float64Array(cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) mean[c]! += v[r * cols + c]! / rows;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) variance[c]! += (v[r * cols + c]! - mean[c]!) ** 2 / rows;
    return { mean, variance };
  }

  test('recomputeBatchNormStatistics: each BatchNorm\'s moving statistics become the plain mean of its batches\' statistics, upstream BatchNorms normalizing with the batch\'s, dropout off', () => {
    const m = new Sequential({
      layers: [
        new Flatten({ inputShape: [4, 4, 1] }),
        new BatchNormalization({ momentum: 0.8, name: 'bn0' }),
        new Dense({ units: 8, activation: 'linear', useBias: false, name: 'd0' }),
        new Dropout({ rate: 0.5 }),
        new BatchNormalization({ momentum: 0.8, name: 'bn1' }),
        new Activation({ activation: 'relu' }),
        new Dense({ units: 3, activation: 'softmax' }),
      ],
    });
    m.build([4, 4, 1], 5);
    m.setBackend(backend);
    const w = weightsOf(m);
    // statistics that have nothing to do with X, and gamma/beta away from 1/0, so that neither can hide in the result
    const set = (k: string, f: (i: number) => number): void => void w.get(k)!.forEach((_, i, a) => (a[i] = f(i)));
    set('bn0/moving_mean', () => 5);
    set('bn0/moving_variance', () => 9);
    set('bn0/gamma', (i) => 0.5 + 0.1 * i);
    set('bn0/beta', (i) => 0.05 * i - 0.3);
    m.setNamedWeights(w);

    const batches = m.recomputeBatchNormStatistics(X, { batchSize: 16 });
    assert.equal(batches, 3);  // 16 + 16 + 8 rows

    const eps = 1e-3;
    const kernel = w.get('d0/kernel')!;  // [16, 8]
    const want = { m0: new Float64Array(16), v0: new Float64Array(16), m1: new Float64Array(8), v1: new Float64Array(8) };
    for (let from = 0; from < N; from += 16) {
      const rows = Math.min(16, N - from);
      const x = Float64Array.from(X.data.subarray(from * 16, (from + rows) * 16));
      const s0 = colStats(x, rows, 16);
      const h = new Float64Array(rows * 8);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < 16; c++) {
          const n = (x[r * 16 + c]! - s0.mean[c]!) / Math.sqrt(s0.variance[c]! + eps) * w.get('bn0/gamma')![c]! + w.get('bn0/beta')![c]!;
          for (let o = 0; o < 8; o++) h[r * 8 + o]! += n * kernel[c * 8 + o]!;
        }
      }
      const s1 = colStats(h, rows, 8);
      s0.mean.forEach((v, c) => { want.m0[c]! += v / 3; want.v0[c]! += s0.variance[c]! / 3; });
      s1.mean.forEach((v, c) => { want.m1[c]! += v / 3; want.v1[c]! += s1.variance[c]! / 3; });
    }
    const got = weightsOf(m);
    const close = (k: string, e: Float64Array): void => e.forEach((v, i) => {
      const g = got.get(k)![i]!;
      assert.ok(Math.abs(g - v) <= 1e-5 * (1 + Math.abs(v)), `${k}[${i}]: ${g}, expected ${v}`);
    });
    close('bn0/moving_mean', want.m0);
    close('bn0/moving_variance', want.v0);
    close('bn1/moving_mean', want.m1);
    close('bn1/moving_variance', want.v1);
    // nothing but the moving statistics changed, and the pass is repeatable (no dropout draws)
    for (const [k, v] of w) if (!k.includes('moving')) assert.deepEqual(got.get(k), v, k);
    m.recomputeBatchNormStatistics(X, { batchSize: 16 });
    assert.deepEqual(weightsOf(m), got);
    // after the pass the model is back in inference mode: predictions use the new moving statistics
    const p1 = m.predict(X);
    m.setNamedWeights(w);
    assert.notDeepEqual(m.predict(X).data, p1.data);
  });

  test('recomputeBatchNormStatistics refuses a model without BatchNormalization, by name', () => {
    const m = new Sequential({ name: 'plain', layers: [new Flatten({ inputShape: [4, 4, 1] }), new Dense({ units: 3, activation: 'softmax' })] });
    m.build([4, 4, 1], 1);
    assert.throws(() => m.recomputeBatchNormStatistics(X), /Sequential\.recomputeBatchNormStatistics: model "plain" has no BatchNormalization layer/);
    assert.throws(() => model().recomputeBatchNormStatistics(new Tensor([2, 3, 3, 1])), /Sequential\.recomputeBatchNormStatistics/);
  });

  test('recomputeBatchNormStatistics over `rows`: the same statistics as a pass over those rows copied out, in that order; bad rows are refused by index', () => {
    const rows = Int32Array.from([37, 2, 19, 5, 30, 11, 24, 0, 8, 33, 14, 27, 21]);
    const a = model();
    a.recomputeBatchNormStatistics(X, { batchSize: 5, rows });
    const b = model();
    b.recomputeBatchNormStatistics(takeRows(X, rows), { batchSize: 5 });
    assert.deepEqual(weightsOf(a), weightsOf(b));
    // and not those of all rows (the option is not ignored)
    const c = model();
    c.recomputeBatchNormStatistics(X, { batchSize: 5 });
    assert.notDeepEqual(weightsOf(c), weightsOf(a));
    assert.throws(() => a.recomputeBatchNormStatistics(X, { rows: Int32Array.from([0, 40]) }), /rows\[1\] = 40 is not a row of x \(expected 0\.\.39\)/);
    assert.throws(() => a.recomputeBatchNormStatistics(X, { rows: new Int32Array(0) }), /rows is empty/);
  });
});
