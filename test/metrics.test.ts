import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  argmaxRows, classificationReport, confusionMatrix, formatConfusionMatrix, mostConfusedPairs, perClassMetrics,
} from '../src/report/metrics.js';

// Hand-computed case with 3 classes:
// actual    0 0 0 1 1 2 2 2 2
// predicted 0 1 0 1 2 2 2 1 2
// confusion rows=actual: [2,1,0] [0,1,1] [0,1,3]
const actual = [0, 0, 0, 1, 1, 2, 2, 2, 2];
const predicted = [0, 1, 0, 1, 2, 2, 2, 1, 2];

test('confusion matrix counts actual x predicted', () => {
  assert.deepEqual(confusionMatrix(actual, predicted, 3), [[2, 1, 0], [0, 1, 1], [0, 1, 3]]);
});

test('precision, recall and F1 per class match hand computation', () => {
  const m = perClassMetrics(confusionMatrix(actual, predicted, 3));
  // class 0: tp 2, predicted 2, support 3 -> p 1, r 2/3, f1 0.8
  assert.equal(m[0]!.precision, 1);
  assert.ok(Math.abs(m[0]!.recall - 2 / 3) < 1e-12);
  assert.ok(Math.abs(m[0]!.f1 - 0.8) < 1e-12);
  // class 1: tp 1, predicted 3, support 2 -> p 1/3, r 1/2, f1 0.4
  assert.ok(Math.abs(m[1]!.precision - 1 / 3) < 1e-12);
  assert.equal(m[1]!.recall, 0.5);
  assert.ok(Math.abs(m[1]!.f1 - 0.4) < 1e-12);
  // class 2: tp 3, predicted 4, support 4 -> p 0.75, r 0.75, f1 0.75
  assert.equal(m[2]!.precision, 0.75);
  assert.equal(m[2]!.recall, 0.75);
  assert.equal(m[2]!.support, 4);
});

test('a class never predicted has precision 0, not NaN', () => {
  const m = perClassMetrics(confusionMatrix([0, 1], [0, 0], 2));
  assert.equal(m[1]!.precision, 0);
  assert.equal(m[1]!.f1, 0);
});

test('most confused pairs are the largest off-diagonal cells', () => {
  const c = [[50, 0, 7], [3, 40, 0], [7, 1, 30]];
  assert.deepEqual(mostConfusedPairs(c, 3), [
    { actual: 0, predicted: 2, count: 7 },
    { actual: 2, predicted: 0, count: 7 },
    { actual: 1, predicted: 0, count: 3 },
  ]);
});

test('classification report totals and accuracy', () => {
  const r = classificationReport(actual, predicted, 3);
  assert.equal(r.total, 9);
  assert.equal(r.correct, 6);
  assert.ok(Math.abs(r.accuracy - 6 / 9) < 1e-12);
  assert.ok(Math.abs(r.macroF1 - (0.8 + 0.4 + 0.75) / 3) < 1e-12);
});

test('argmax per row, first maximum on ties', () => {
  const p = new Float32Array([0.1, 0.7, 0.2, 0.5, 0.5, 0, 0, 0, 1]);
  assert.deepEqual([...argmaxRows(p, 3)], [1, 0, 2]);
});

test('confusion matrix text has a row per class', () => {
  const text = formatConfusionMatrix([[5, 1], [0, 12]]);
  const lines = text.split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[2]!, /^\s+0\s+5\s+1$/);
  assert.match(lines[3]!, /^\s+1\s+0\s+12$/);
});
