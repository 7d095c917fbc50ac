/** The bundled MNIST: shapes, first labels, pixel scaling, limit. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { loadMnist, mnistDataDir } from '../src/data/mnist.js';

function range(a: Float32Array): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

describe('bundled MNIST', () => {
  test('mnistDataDir holds the four IDX files', () => {
    for (const f of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) {
      assert.ok(existsSync(path.join(mnistDataDir(), f)), f);
    }
  });
  test('train: 60,000 x 28 x 28 x 1, labels start 5,0,4,1,9, pixels 0..1', async () => {
    const ds = await loadMnist('train');
    assert.equal(ds.count, 60000);
    assert.equal(ds.height, 28);
    assert.equal(ds.width, 28);
    assert.equal(ds.channels, 1);
    assert.equal(ds.images.length, 60000 * 784);
    assert.equal(ds.labels!.length, 60000);
    assert.deepEqual([...ds.labels!.subarray(0, 5)], [5, 0, 4, 1, 9]);
    assert.deepEqual(range(ds.images), [0, 1]);
    assert.equal(ds.source, 'MNIST train');
    const counts = new Array(10).fill(0);
    for (const l of ds.labels!) counts[l]++;
    assert.deepEqual(counts, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
  });
  test('test: 10,000 images, labels start 7,2,1,0,4', async () => {
    const ds = await loadMnist('test');
    assert.equal(ds.count, 10000);
    assert.equal(ds.images.length, 10000 * 784);
    assert.deepEqual([...ds.labels!.subarray(0, 5)], [7, 2, 1, 0, 4]);
    assert.deepEqual(range(ds.images), [0, 1]);
    const limited = await loadMnist('test', { limit: 100 });
    assert.equal(limited.count, 100);
    assert.deepEqual([...limited.images], [...ds.images.subarray(0, 100 * 784)]);
    assert.deepEqual([...limited.labels!], [...ds.labels!.subarray(0, 100)]);
  });
  test('pixel values are byte / 255 (the first train image, row 6)', async () => {
    const ds = await loadMnist('train', { limit: 1 });
    // Row 6 (index 5) of MNIST train[0], the 5, holds bytes 3, 18, 18, 18, 126 at columns 12..16.
    const row = Array.from(ds.images.subarray(5 * 28 + 12, 5 * 28 + 17), (v) => Math.round(v * 255));
    assert.deepEqual(row, [3, 18, 18, 18, 126]);
    for (const v of ds.images) assert.equal(v, Math.fround(Math.round(v * 255) / 255));
  });
});
