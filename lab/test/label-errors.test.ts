/** lab/mnist-label-errors.ts: the rejected-label table indexes the bundled MNIST test set, and the split counts right. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadMnist } from '../../src/data/mnist.js';
import { REJECTED_TEST_LABELS, splitByRejectedLabels } from '../mnist-label-errors.js';

describe('MNIST test images with rejected labels', () => {
  test('each id holds its given label in the bundled t10k order, and the reviewers outvoted it', async () => {
    const { labels } = await loadMnist('test');
    assert.equal(REJECTED_TEST_LABELS.length, 15);
    assert.equal(new Set(REJECTED_TEST_LABELS.map((r) => r.id)).size, 15);
    for (const r of REJECTED_TEST_LABELS) {
      assert.equal(labels![r.id], r.label, `test image ${r.id}`);
      assert.notEqual(r.alternative, r.label);
      assert.equal(r.votes[0] + r.votes[1] + r.votes[2], 5);
      assert.ok(r.votes[0] < 3, `image ${r.id}: the given label kept a majority`);
    }
  });

  test('errors are split into the rejected-label images and the rest', async () => {
    const { labels } = await loadMnist('test');
    const predicted = Uint8Array.from(labels!);
    const rejected = REJECTED_TEST_LABELS[2]!;
    predicted[rejected.id] = rejected.alternative; // read as the reviewers did
    predicted[0] = (labels![0]! + 1) % 10; // image 0 is not among them
    predicted[1] = (labels![1]! + 1) % 10;
    const s = splitByRejectedLabels(labels!, predicted);
    assert.equal(s.errors, 3);
    assert.deepEqual(s.onRejected, [[rejected.id, rejected.label, rejected.alternative]]);
    assert.deepEqual(s.elsewhere.map((e) => e[0]), [0, 1]);
    assert.equal(s.keptAccuracy, (9985 - 2) / 9985);
    assert.deepEqual(splitByRejectedLabels(labels!, labels!), { errors: 0, onRejected: [], elsewhere: [], keptAccuracy: 1 });
    assert.throws(() => splitByRejectedLabels(labels!, predicted.subarray(1)), /as many predictions as labels/);
  });
});
