/**
 * Confidence that means what it says (src/nn/calibration.ts, src/report/calibration.ts): temperature
 * scaling recovers a known temperature, never changes a prediction, and brings the expected
 * calibration error down; the not-a-digit threshold accepts what it was chosen to; the ECE, the
 * reliability bins and the rejection curve are right on cases worked by hand; a model saves and loads
 * its calibration, and one saved without it reads with the defaults.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ACCEPT_MISS, DEFAULT_CALIBRATION, acceptanceThreshold, applyTemperature, fitCalibration, fitTemperature, readProbabilities,
  temperatureNll, topProbabilities,
} from '../src/nn/calibration.js';
import { calibrationFigures, rejectionCurve } from '../src/report/calibration.js';
import { Rng } from '../src/engine/rng.js';
import { buildPreset } from '../src/nn/index.js';
import { calibrationOf, loadModel, makeMetadata, parseMetadata, saveModel } from '../src/io/model-files.js';

/**
 * n samples of a 10-class problem whose true probabilities are softmax(z) for random logits z, labels
 * drawn from them; the "network" reports softmax(z * over): over-confident when over > 1. The right
 * temperature is then `over`.
 */
function synthetic(n: number, over: number, seed = 1): { probs: Float32Array; labels: Uint8Array } {
  const rng = new Rng(seed);
  const probs = new Float32Array(n * 10);
  const labels = new Uint8Array(n);
  for (let r = 0; r < n; r++) {
    const z = Array.from({ length: 10 }, () => rng.normal() * 2.5);
    const soft = (s: number): number[] => {
      const m = Math.max(...z.map((v) => v * s));
      const e = z.map((v) => Math.exp(v * s - m));
      const t = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / t);
    };
    const truth = soft(1);
    let u = rng.uniform(), c = 0;
    while (c < 9 && u >= truth[c]!) u -= truth[c++]!;
    labels[r] = c;
    probs.set(soft(over), r * 10);
  }
  return { probs, labels };
}

test('temperature scaling recovers the temperature of an over- and an under-confident network', () => {
  for (const over of [2, 0.5]) {
    const { probs, labels } = synthetic(6000, over);
    const t = fitTemperature(probs, labels);
    assert.ok(Math.abs(t - over) / over < 0.08, `fitted ${t}, expected about ${over}`);
    // the fitted temperature is a minimum of the NLL
    const nll = temperatureNll(probs, labels, 10, t);
    assert.ok(nll <= temperatureNll(probs, labels, 10, t * 1.1) && nll <= temperatureNll(probs, labels, 10, t / 1.1));
  }
});

test('calibration never changes a prediction, and brings the expected calibration error down', () => {
  const { probs, labels } = synthetic(6000, 2.5, 2);
  const cal = fitCalibration(probs, labels);
  const readings = readProbabilities(probs, 10, cal);
  const calibrated = applyTemperature(probs, 10, cal.temperature);
  for (let r = 0; r < labels.length; r++) {
    const raw = Array.from(probs.subarray(r * 10, r * 10 + 10));
    assert.equal(readings[r]!.label, raw.indexOf(Math.max(...raw)));
    assert.equal(readings[r]!.confidence, readings[r]!.probabilities[readings[r]!.label]);
    assert.ok(Math.abs(readings[r]!.confidence - calibrated[r * 10 + readings[r]!.label]!) < 1e-6);
  }
  const before = calibrationFigures(probs, labels).ece;
  const after = calibrationFigures(calibrated, labels).ece;
  assert.ok(before > 0.08, `an over-confident network is miscalibrated: ECE ${before}`);
  assert.ok(after < 0.03, `ECE after calibration ${after} (before ${before})`);
});

test('the threshold accepts all but ACCEPT_MISS of the validation digits, and isDigit follows it', () => {
  const { probs, labels } = synthetic(4000, 1, 3);
  const cal = fitCalibration(probs, labels);
  const readings = readProbabilities(probs, 10, cal);
  const accepted = readings.filter((r) => r.isDigit).length / readings.length;
  assert.ok(accepted >= 1 - ACCEPT_MISS - 1e-9 && accepted <= 1 - ACCEPT_MISS + 2 / readings.length, `accepted ${accepted}`);
  for (const r of readings) assert.equal(r.isDigit, r.confidence >= cal.threshold);
  assert.equal(acceptanceThreshold(Float32Array.of(0.9, 0.2, 0.5, 0.7), 0.25), 0.5);
  assert.equal(cal.images, 4000);
});

test('the defaults read a uniform answer as not a digit and a clear one as a digit', () => {
  const flat = new Float32Array(10).fill(0.1);
  const sure = Float32Array.from({ length: 10 }, (_, c) => (c === 3 ? 0.91 : 0.01));
  const [a, b] = readProbabilities(Float32Array.of(...flat, ...sure), 10);
  assert.equal(a!.isDigit, false);
  assert.equal(b!.isDigit, true);
  assert.equal(b!.label, 3);
  assert.ok(Math.abs(b!.confidence - 0.91) < 1e-6);
  assert.deepEqual(topProbabilities(sure), Float32Array.of(Math.fround(0.91)));
});

test('ECE, reliability bins and the rejection curve on a case worked by hand', () => {
  // four images: two at confidence 0.95 (one right), two at 0.55 (both right)
  const row = (c: number, label: number): number[] => Array.from({ length: 10 }, (_, k) => (k === label ? c : (1 - c) / 9));
  const probs = Float32Array.from([...row(0.95, 1), ...row(0.95, 2), ...row(0.55, 3), ...row(0.55, 4)]);
  const labels = Uint8Array.of(1, 7, 3, 4);
  const f = calibrationFigures(probs, labels, 10, 10);
  // bin 9: confidence 0.95, accuracy 0.5 -> gap 0.45; bin 5: 0.55 vs 1 -> 0.45; each holds half
  assert.ok(Math.abs(f.ece - 0.45) < 1e-6, `ECE ${f.ece}`);
  assert.ok(Math.abs(f.mce - 0.45) < 1e-6);
  assert.equal(f.bins[9]!.count, 2);
  assert.equal(f.bins[5]!.count, 2);
  assert.ok(Number.isNaN(f.bins[0]!.accuracy));
  const curve = rejectionCurve(probs, labels, 10, [0, 0.5, 1]);
  assert.deepEqual(curve.map((p) => p.refused), [0, 0.5, 1]);
  assert.equal(curve[0]!.accuracy, 0.75);
  assert.equal(curve[1]!.accuracy, 0.5, 'refusing the two least sure keeps the 0.95s, one of which is wrong');
  assert.equal(curve[2]!.accuracy, 1);
});

test('a model saves and loads its calibration; a bad one is refused by field; one without it reads with the defaults', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-calibration-'));
  try {
    const { model } = buildPreset('fast', 0);
    if (model.inputShape === null) model.build([28, 28, 1], 0);
    const calibration = { temperature: 1.7, threshold: 0.62, images: 1200 };
    await saveModel(model, dir, makeMetadata(model, { calibration }));
    const loaded = await loadModel(dir);
    assert.deepEqual(loaded.metadata!.calibration, calibration);
    assert.deepEqual(calibrationOf(loaded.metadata), calibration);
    const older = makeMetadata(model);
    assert.equal(older.calibration, undefined);
    assert.deepEqual(calibrationOf(parseMetadata(JSON.parse(JSON.stringify(older)), 'metadata')), DEFAULT_CALIBRATION);
    assert.throws(() => parseMetadata({ ...older, calibration: { temperature: -1, threshold: 0.5, images: 3 } }, 'model.json: digits'),
      /model\.json: digits\.calibration\.temperature: expected a positive number, got -1/);
    assert.throws(() => parseMetadata({ ...older, calibration: { temperature: 1, threshold: 2, images: 3 } }, 'm'),
      /m\.calibration\.threshold: expected a number from 0 to 1/);
    assert.throws(() => parseMetadata({ ...older, calibration: 'hot' }, 'm'), /m\.calibration: expected an object/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
