/**
 * BatchNormalization semantics beyond the gradient check: batch statistics in
 * training, the Keras moving-average update, inference with the moving
 * statistics, non-trainable weights, config round trip. On every backend (test/backends.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../src/engine/backend.js';
import { ReferenceBackend } from '../src/engine/reference.js';
import { Rng } from '../src/engine/rng.js';
import { Tensor } from '../src/engine/tensor.js';
import { BatchNormalization, layerFromConfig } from '../src/nn/index.js';
import { onEveryBackend } from './backends.js';

/** the backend of the suite running now (onEveryBackend) */
let backend: Backend = new ReferenceBackend();

function batch(rng: Rng): Tensor {
  const x = new Tensor([4, 3, 3, 2]);
  for (let i = 0; i < x.size; i++) x.data[i] = (i % 2 === 0 ? 5 : -1) + (i % 2 === 0 ? 2 : 0.5) * rng.range(-1, 1);
  return x;
}

onEveryBackend((b) => {
  backend = b;
}, () => {
  test('BatchNormalization: training output has zero mean / unit variance per channel; moving stats follow Keras momentum', () => {
    const rng = new Rng(3);
    const bn = new BatchNormalization();
    bn.build([3, 3, 2], rng);
    const x = batch(rng);
    const y = bn.forward(x, { backend, rng, training: true });
    for (let c = 0; c < 2; c++) {
      let s = 0, s2 = 0, xs = 0, xs2 = 0;
      for (let r = 0; r < 36; r++) {
        const v = y.data[r * 2 + c]!;
        const u = x.data[r * 2 + c]!;
        s += v; s2 += v * v; xs += u; xs2 += u * u;
      }
      const varX = xs2 / 36 - (xs / 36) ** 2;
      assert.ok(Math.abs(s / 36) < 1e-5);
      assert.ok(Math.abs(s2 / 36 - varX / (varX + 1e-3)) < 1e-4);
      const [mm, mv] = [bn.params()[2]!, bn.params()[3]!];
      assert.ok(Math.abs(mm.value.data[c]! - 0.01 * (xs / 36)) < 1e-5, 'moving_mean = 0.99 * 0 + 0.01 * mean');
      assert.ok(Math.abs(mv.value.data[c]! - (0.99 + 0.01 * varX)) < 1e-5, 'moving_variance = 0.99 * 1 + 0.01 * var');
    }
    assert.deepEqual(bn.params().map((p) => [p.name, p.trainable]), [['gamma', true], ['beta', true], ['moving_mean', false], ['moving_variance', false]]);
  });

  test('BatchNormalization: with momentum 0 the moving stats are the last batch\'s, and inference then equals training on it', () => {
    const rng = new Rng(4);
    const bn = new BatchNormalization({ momentum: 0 });
    bn.build([3, 3, 2], rng);
    const x = batch(rng);
    const yt = new Float32Array(bn.forward(x, { backend, rng, training: true }).data);
    const yi = bn.forward(x, { backend, rng, training: false }).data;
    for (let i = 0; i < yt.length; i++) assert.ok(Math.abs(yt[i]! - yi[i]!) < 1e-5);
  });

  test('BatchNormalization config round trip (TF.js keys) and unsupported settings named', () => {
    const bn = new BatchNormalization({ momentum: 0.9, epsilon: 1e-5, name: 'bn' });
    const cfg = bn.getConfig();
    assert.equal(cfg.axis, -1);
    assert.equal(cfg.momentum, 0.9);
    const again = layerFromConfig('BatchNormalization', cfg) as BatchNormalization;
    assert.equal(again.momentum, 0.9);
    assert.equal(again.epsilon, 1e-5);
    assert.throws(() => layerFromConfig('BatchNormalization', { ...cfg, center: false }), /center: expected true/);
    const axis1 = layerFromConfig('BatchNormalization', { ...cfg, axis: 1 });
    assert.throws(() => axis1.build([3, 3, 2], new Rng(0)), /axis: expected -1 or 3/);
    layerFromConfig('BatchNormalization', { ...cfg, axis: [3] }).build([3, 3, 2], new Rng(0));
  });
});
