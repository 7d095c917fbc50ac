/** Seeded train/validation split, subset and limit. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Dataset } from '../src/data/dataset.js';
import { limit, splitDataset, splitIndices, subset } from '../src/data/split.js';
import { DigitsError } from '../src/errors.js';

/** n 2 x 2 images whose pixels all equal i / n, labels i % 10 (or skewed). */
function toy(n: number, label = (i: number) => i % 10): Dataset {
  const images = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) images.fill(i / n, i * 4, i * 4 + 4);
  const labels = Uint8Array.from({ length: n }, (_, i) => label(i));
  return { images, labels, count: n, height: 2, width: 2, channels: 1, source: 'toy' };
}

describe('splitDataset', () => {
  test('same seed gives the same split; another seed another split', () => {
    const ds = toy(1000);
    for (const stratify of [true, false]) {
      const a = splitIndices(ds, 0.2, 42, { stratify });
      const b = splitIndices(ds, 0.2, 42, { stratify });
      const c = splitIndices(ds, 0.2, 43, { stratify });
      assert.deepEqual(a.validation, b.validation);
      assert.deepEqual(a.train, b.train);
      assert.notDeepEqual(a.validation, c.validation);
    }
  });
  test('sizes: round(count * fraction) in validation; the parts cover the set once', () => {
    const ds = toy(1001);
    const { train, validation } = splitDataset(ds, 0.1, 1);
    assert.equal(validation.count, 100);
    assert.equal(train.count, 901);
    assert.equal(train.images.length, 901 * 4);
    assert.equal(validation.labels!.length, 100);
    const seen = new Set<number>();
    for (const part of [train, validation]) {
      for (let i = 0; i < part.count; i++) {
        const id = Math.round(part.images[i * 4]! * 1001);
        assert.ok(!seen.has(id), `image ${id} in both parts`);
        seen.add(id);
        assert.equal(part.labels![i], id % 10, 'label stays with its image');
      }
    }
    assert.equal(seen.size, 1001);
  });
  test('stratified (default with labels): each digit keeps its share', () => {
    // Skewed: 70% zeros, the rest spread over 1..9.
    const ds = toy(2000, (i) => (i % 10 < 7 ? 0 : 1 + (i % 9)));
    const counts = (labels: Uint8Array): number[] => {
      const c = new Array(10).fill(0);
      for (const l of labels) c[l]++;
      return c;
    };
    const all = counts(ds.labels!);
    const { validation } = splitDataset(ds, 0.25, 7);
    const val = counts(validation.labels!);
    assert.equal(validation.count, 500);
    for (let d = 0; d < 10; d++) assert.ok(Math.abs(val[d]! - all[d]! * 0.25) <= 1, `digit ${d}: ${val[d]} of ${all[d]}`);
  });
  test('unlabelled sets split without stratifying', () => {
    const ds = { ...toy(50), labels: null };
    const { train, validation } = splitDataset(ds, 0.5, 3);
    assert.equal(train.count + validation.count, 50);
    assert.equal(validation.labels, null);
  });
  test('bad fractions', () => {
    const ds = toy(10);
    for (const f of [0, 1, -0.1, 1.5, Number.NaN, 0.01]) {
      assert.throws(() => splitDataset(ds, f, 0), DigitsError, `fraction ${f}`);
    }
    assert.throws(() => splitDataset(ds, 0.01, 0), /validation fraction: expected a fraction leaving at least one image on each side of 10/);
  });
});

describe('subset and limit', () => {
  test('subset copies the chosen images in order', () => {
    const ds = toy(10);
    const s = subset(ds, [7, 2, 2]);
    assert.equal(s.count, 3);
    assert.deepEqual([...s.labels!], [7, 2, 2]);
    assert.deepEqual([...s.images.subarray(0, 4)], [...ds.images.subarray(28, 32)]);
    assert.throws(() => subset(ds, [10]), /indices\[0\]: expected an image index 0..9, got 10/);
  });
  test('limit keeps the first n (a copy), or the set itself when n >= count', () => {
    const ds = toy(10);
    const l = limit(ds, 4);
    assert.equal(l.count, 4);
    assert.equal(l.images.length, 16);
    assert.deepEqual([...l.labels!], [0, 1, 2, 3]);
    assert.notEqual(l.images.buffer, ds.images.buffer);
    assert.equal(limit(ds, 10), ds);
    assert.equal(limit(ds, undefined), ds);
    assert.throws(() => limit(ds, 0), /limit: expected a whole number >= 1, got 0/);
  });
});
