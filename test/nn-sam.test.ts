/**
 * Sharpness-aware minimization (fit's `sam`): one step of fit equals the step
 * computed here by hand from lossAndGradients: the gradient g at w, the point
 * w + rho * g / |g| (|g| over every trainable weight), the gradient there, and
 * plain SGD from w with it. BatchNorm's moving statistics come out as a plain
 * step leaves them (the second pass does not move them); the reported loss is
 * the batch's at w; bad values are refused by name. On every backend (test/backends.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DigitsError } from '../src/errors.js';
import { Rng } from '../src/engine/rng.js';
import { Tensor } from '../src/engine/tensor.js';
import { Activation, BatchNormalization, Dense, Flatten, SGD, Sequential, oneHot } from '../src/nn/index.js';
import { weightsOf } from './model-helpers.js';
import type { Backend } from '../src/engine/backend.js';
import { ReferenceBackend } from '../src/engine/reference.js';
import { onEveryBackend } from './backends.js';

/** the backend of the suite running now (onEveryBackend) */
let backend: Backend = new ReferenceBackend();

const rng = new Rng(11);
const N = 24;
const X = new Tensor([N, 3, 3, 1]);
for (let i = 0; i < X.size; i++) X.data[i] = rng.uniform();
const Y = oneHot(Array.from({ length: N }, () => rng.int(3)), 3);
const LR = 0.5;
const RHO = 0.3;

function model(): Sequential {
  const m = new Sequential({
    layers: [
      new Flatten({ inputShape: [3, 3, 1] }),
      new Dense({ units: 6, activation: 'linear', useBias: false }),
      new BatchNormalization({ momentum: 0.5 }),
      new Activation({ activation: 'relu' }),
      new Dense({ units: 3, activation: 'softmax' }),
    ],
  });
  m.build([3, 3, 1], 4);
  m.setBackend(backend);
  m.compile({ optimizer: new SGD({ learningRate: LR }) });
  return m;
}

const isMoving = (name: string): boolean => name.includes('moving_');

onEveryBackend((b) => {
  backend = b;
}, () => {
  test('one SAM step is SGD with the gradient taken at w + rho g/|g|', async () => {
    const w0 = weightsOf(model());
    // by hand: g at w, the moved point, the gradient there
    const probe = model();
    const g = probe.lossAndGradients(X, Y).grads;
    let sq = 0;
    for (const [name, v] of g) if (!isMoving(name)) for (const e of v) sq += e * e;
    const scale = RHO / Math.sqrt(sq);
    const moved = new Map([...w0].map(([name, v]) => [name, isMoving(name) ? v : v.map((e, i) => e + scale * g.get(name)![i]!)]));
    probe.setNamedWeights(moved);
    const gSam = probe.lossAndGradients(X, Y).grads;

    const sam = model();
    const h = await sam.fit(X, Y, { epochs: 1, batchSize: N, shuffle: false, sam: RHO });
    const plain = model();
    const hp = await plain.fit(X, Y, { epochs: 1, batchSize: N, shuffle: false });
    const after = weightsOf(sam);
    const afterPlain = weightsOf(plain);
    let moves = 0;
    for (const [name, v] of w0) {
      const got = after.get(name)!;
      if (isMoving(name)) {
        // the statistics of the one pass at w, as the plain step leaves them
        assert.deepEqual(got, afterPlain.get(name), name);
        continue;
      }
      for (let i = 0; i < v.length; i++) {
        const want = v[i]! - LR * gSam.get(name)![i]!;
        assert.ok(Math.abs(got[i]! - want) < 1e-5, `${name}[${i}]: ${got[i]} vs ${want}`);
        if (Math.abs(got[i]! - afterPlain.get(name)![i]!) > 1e-4) moves++;
      }
    }
    assert.ok(moves > 10, `SAM's step differs from the plain one in only ${moves} weights`);
    // the loss reported is the batch's at w, the same as the plain step's
    assert.equal(h.history.loss[0], hp.history.loss[0]);
  });

  test('sam 0 is the plain step, bit for bit', async () => {
    const a = model();
    await a.fit(X, Y, { epochs: 2, batchSize: 8, sam: 0, seed: 1 });
    const b = model();
    await b.fit(X, Y, { epochs: 2, batchSize: 8, seed: 1 });
    assert.deepEqual(weightsOf(a), weightsOf(b));
  });

  test('a bad sam radius is refused by name', async () => {
    for (const bad of [-0.1, Number.NaN, 'big']) {
      await assert.rejects(model().fit(X, Y, { epochs: 1, sam: bad as number }),
        (e: unknown) => e instanceof DigitsError && /sam/.test(e.message));
    }
  });
});
