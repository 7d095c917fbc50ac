/**
 * Data-parallel training (FitOptions.shard, nn/shard.ts), on every backend: replicas of one fit, each
 * computing its share of every batch and joined at every step, keep equal weights bit for bit; without
 * BatchNorm they train what one fit over the whole batches trains (up to the order of the sums), and
 * the options it cannot honour are refused. The replicas run in one thread here, joined by promises;
 * the pages run them in workers joined through shared memory (src/web/shards.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../src/engine/backend.js';
import { ReferenceBackend } from '../src/engine/reference.js';
import { Rng } from '../src/engine/rng.js';
import { Tensor } from '../src/engine/tensor.js';
import {
  Adam, BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D, Sequential, combineShards, oneHot,
  type FitShard, type ShardStep, type ShardTotals,
} from '../src/nn/index.js';
import { onEveryBackend } from './backends.js';
import { weightsOf } from './model-helpers.js';

let backend: Backend = new ReferenceBackend();

function model(batchNorm: boolean): Sequential {
  const m = new Sequential({
    layers: [
      new Conv2D({ filters: 4, kernelSize: 3, activation: batchNorm ? 'linear' : 'relu', inputShape: [8, 8, 1] }),
      ...(batchNorm ? [new BatchNormalization(), new MaxPooling2D()] : [new MaxPooling2D()]),
      new Flatten(),
      new Dense({ units: 3, activation: 'softmax' }),
    ],
  });
  m.build([8, 8, 1], 7);
  m.compile({ optimizer: new Adam({ learningRate: 0.01 }), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  m.setBackend(backend);
  return m;
}

function data(n: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(3);
  const x = new Tensor([n, 8, 8, 1]);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = rng.int(3);
    // a class is a bright row, column or diagonal, with noise
    for (let p = 0; p < 64; p++) {
      const r = p >> 3, c = p & 7;
      const on = labels[i] === 0 ? r === 3 : labels[i] === 1 ? c === 4 : r === c;
      x.data[i * 64 + p] = (on ? 1 : 0) + rng.range(-0.3, 0.3);
    }
  }
  return { x, y: oneHot(labels, 3) };
}

/** `count` replicas in one thread: each reduce waits for the others, then all get combineShards' values. */
function inMemoryShards(count: number): FitShard[] {
  let waiting: { index: number; step: ShardStep; resolve: (t: ShardTotals) => void }[] = [];
  return Array.from({ length: count }, (_, index) => ({
    index,
    count,
    reduce: (step: ShardStep) => new Promise<ShardTotals>((resolve) => {
      waiting.push({ index, step, resolve });
      if (waiting.length < count) return;
      const parts = waiting.sort((a, b) => a.index - b.index);
      waiting = [];
      // combined once into copies, then handed to each (a replica's own arrays are also its part)
      const out = { grads: parts[0]!.step.grads.map((g) => new Float32Array(g.length)), state: parts[0]!.step.state.map((s) => new Float32Array(s.length)) };
      const totals = combineShards(parts.map((p) => p.step), out);
      for (const p of parts) {
        p.step.grads.forEach((g, k) => g.set(out.grads[k]!));
        p.step.state.forEach((s, k) => s.set(out.state[k]!));
        p.resolve(totals);
      }
    }),
  }));
}

const fitOpts = { epochs: 3, batchSize: 16, validationSplit: 0.2, seed: 5, labelSmoothing: 0.1 };

onEveryBackend((b) => { backend = b; }, () => {
  test('replicas of a fit joined at every step keep equal weights, moving statistics too, and report the whole batches', async () => {
    const { x, y } = data(90); // 72 training rows: 4 batches of 16 and one of 8
    for (const count of [2, 3]) {
      const replicas = Array.from({ length: count }, () => model(true));
      const shards = inMemoryShards(count);
      const histories = await Promise.all(replicas.map((m, i) => m.fit(x, y, { ...fitOpts, shard: shards[i]! })));
      const first = weightsOf(replicas[0]!);
      assert.ok([...first.keys()].some((k) => k.includes('moving_mean')));
      for (const m of replicas.slice(1)) {
        for (const [name, w] of weightsOf(m)) assert.deepEqual(w, first.get(name), `${count} replicas: ${name}`);
      }
      for (const h of histories.slice(1)) assert.deepEqual(h.history, histories[0]!.history);
      const losses = histories[0]!.history.loss;
      assert.ok(losses[2]! < losses[0]!, `the loss falls: ${losses.join(', ')}`);
      assert.ok(histories[0]!.history.accuracy.every((a) => a >= 0 && a <= 1));
    }
  });

  test('without BatchNorm, two replicas train what one fit over the whole batches trains, up to the order of the sums', async () => {
    const { x, y } = data(90);
    const single = model(false);
    const h1 = await single.fit(x, y, fitOpts);
    const replicas = [model(false), model(false)];
    const shards = inMemoryShards(2);
    const [h2] = await Promise.all(replicas.map((m, i) => m.fit(x, y, { ...fitOpts, shard: shards[i]! })));
    const want = weightsOf(single);
    for (const [name, w] of weightsOf(replicas[0]!)) {
      const ref = want.get(name)!;
      let diff = 0;
      for (let i = 0; i < w.length; i++) diff = Math.max(diff, Math.abs(w[i]! - ref[i]!));
      assert.ok(diff < 1e-4, `${name}: differs from the single fit by ${diff}`);
    }
    h1.history.loss.forEach((l, e) => assert.ok(Math.abs(l - h2!.history.loss[e]!) < 1e-4, `epoch ${e}: ${l} against ${h2!.history.loss[e]}`));
    assert.deepEqual(h2!.history.val_accuracy, h1.history.val_accuracy);
  });

  test('a shard is refused with sam or augmentation, and out of range', async () => {
    const { x, y } = data(20);
    const [shard] = inMemoryShards(1);
    await assert.rejects(model(false).fit(x, y, { shard: shard!, sam: 0.05 }), /shard: not with sam or augment/);
    await assert.rejects(model(false).fit(x, y, { shard: { ...shard!, index: 1 } }), /shard: expected \{index, count, reduce\} with 0 <= index < count/);
  });
});
