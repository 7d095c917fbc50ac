/**
 * The report writer on a known case: every PNG decodes to the size of the
 * figure it was drawn from and is not blank; report.html has every section
 * and reaches for nothing on the network.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { loadMnist } from '../src/data/index.js';
import { buildPreset } from '../src/nn/index.js';
import { PNG_SCALE, REPORT_SECTIONS, writeReport, type ReportResult } from '../src/report/report.js';
import { formatEpochTable } from '../src/report/text.js';
import { samplePick } from '../src/report/digits.js';
import { validationRows } from '../src/run/artifacts.js';

/** Probabilities that get every 7th image wrong (as the next class), with confidence 0.9. */
function fakeProbs(labels: Uint8Array): Float32Array {
  const probs = new Float32Array(labels.length * 10).fill(0.1 / 9);
  labels.forEach((l, i) => (probs[i * 10 + (i % 7 === 0 ? (l + 1) % 10 : l)] = 0.9));
  return probs;
}

/** Pixels of a decoded RGBA PNG: how many distinct grey/colour values and how many are not (near) white. */
function inkStats(png: PNG): { distinct: number; inked: number } {
  const seen = new Set<number>();
  let inked = 0;
  for (let i = 0; i < png.data.length; i += 4) {
    const [r, g, b] = [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
    seen.add((r << 16) | (g << 8) | b);
    if (r < 230 || g < 230 || b < 230) inked++;
  }
  return { distinct: seen.size, inked };
}

const dir = mkdtempSync(path.join(tmpdir(), 'digits-report-'));
let result: ReportResult;
let html: string;

test.before(async () => {
  const train = await loadMnist('train', { limit: 500 });
  const testSet = await loadMnist('test', { limit: 300 });
  const { model } = buildPreset('seed', 0);
  result = await writeReport(dir, {
    modelDir: dir, model, metadata: null,
    history: { history: { loss: [0.5, 0.2, 0.15], accuracy: [0.85, 0.94, 0.96], val_loss: [0.3, 0.18, 0.19], val_accuracy: [0.9, 0.95, 0.95] }, bestEpoch: 1 },
    training: train,
    evaluation: { kind: 'test', source: testSet.source, dataset: testSet, labels: testSet.labels!, probs: fakeProbs(testSet.labels!) },
    unlabelled: { dataset: { ...testSet, labels: null }, probs: fakeProbs(testSet.labels!) },
    settings: [['seed', '0'], ['epochs', '3'], ['batch size', '32'], ['backend', 'native'], ['wall time', '1.0 s']],
    seed: 0, generator: 'the report test',
  });
  html = readFileSync(result.html, 'utf8');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('every figure is a PNG beside report.html', () => {
  const names = result.pngs.map((p) => path.basename(p)).sort();
  assert.deepEqual(names, [
    'confusion-matrix.png', 'correct-digits.png', 'incorrect-digits.png', 'label-distribution.png', 'learning-curves-accuracy.png',
    'learning-curves-loss.png', 'per-class.png', 'rejection.png', 'reliability.png', 'training-digits.png', 'unlabelled-predictions.png',
  ]);
  for (const p of result.pngs) assert.equal(path.dirname(p), dir);
});

test('each PNG decodes to twice its figure\'s size and is not blank', () => {
  for (const f of result.figures) {
    const png = PNG.sync.read(readFileSync(f.file));
    const name = path.basename(f.file);
    assert.ok(f.width > 200 && f.height > 150, `${name}: figure ${f.width}x${f.height} is too small`);
    assert.equal(png.width, Math.round(f.width * PNG_SCALE), `${name}: width`);
    assert.equal(png.height, Math.round(f.height * PNG_SCALE), `${name}: height`);
    const { distinct, inked } = inkStats(png);
    assert.ok(distinct > 20, `${name}: only ${distinct} distinct pixel values`);
    assert.ok(inked > png.width * png.height * 0.02, `${name}: only ${inked} of ${png.width * png.height} pixels are not white`);
  }
});

test('the confusion matrix PNG is square-ish and the digit grids are wider than tall', () => {
  const size = (name: string): { width: number; height: number } => result.figures.find((f) => path.basename(f.file) === name)!;
  const cm = size('confusion-matrix.png');
  assert.ok(cm.width / cm.height > 0.8 && cm.width / cm.height < 1.4, `confusion matrix ${cm.width}x${cm.height}`);
  const grid = size('training-digits.png');
  assert.ok(grid.width > grid.height, `training digits ${grid.width}x${grid.height}`);
});

test('report.html has every section', () => {
  for (const id of REPORT_SECTIONS) assert.match(html, new RegExp(`id="${id}"`), `section ${id} missing`);
  assert.match(html, /Predicted \d, Class \d/);
  assert.match(html, /confidence \d+\.\d%/);
  assert.match(html, /<svg/);
  assert.match(html, /name="viewport"/, 'a viewport meta tag, for phones');
  assert.match(html, /@media \(max-width/, 'responsive CSS');
  // figures are inline: the learning curve of epoch 2 (0-based 1) is marked
  assert.match(html, /kept: epoch 2/);
});

test('report.html references no network resource', () => {
  assert.doesNotMatch(html, /\b(?:src|href|xlink:href)\s*=\s*["']?\s*(?:https?:)?\/\//i, 'src/href to the network');
  assert.doesNotMatch(html, /@import/i, 'CSS @import');
  assert.doesNotMatch(html, /url\(\s*["']?\s*(?:https?:)?\/\//i, 'CSS url() to the network');
  assert.doesNotMatch(html, /<script\b[^>]*\bsrc=/i, 'external script');
  assert.doesNotMatch(html, /<link\b[^>]*\bhref=/i, 'external stylesheet or font');
  assert.doesNotMatch(html, /https?:\/\//i, 'no URL at all');
  // every image is embedded
  for (const m of html.matchAll(/<img\b[^>]*\bsrc="([^"]*)"/g)) assert.match(m[1]!, /^data:image\/png;base64,/);
});

test('ids of the inline SVGs are unique on the page', () => {
  const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]!);
  assert.equal(new Set(ids).size, ids.length);
});

test('a report without history, training data or evaluation still has every section, saying why each is empty', async () => {
  const bare = mkdtempSync(path.join(tmpdir(), 'digits-report-bare-'));
  try {
    const { model } = buildPreset('seed', 0);
    const r = await writeReport(bare, { modelDir: bare, model, metadata: null, settings: [], generator: 'test' });
    const page = readFileSync(r.html, 'utf8');
    for (const id of REPORT_SECTIONS) assert.match(page, new RegExp(`id="${id}"`), `section ${id} missing`);
    assert.equal(r.pngs.length, 0);
    assert.match(page, /No labelled evaluation data was given/);
  } finally {
    rmSync(bare, { recursive: true, force: true });
  }
});

test('the epoch table marks the kept epoch', () => {
  const t = formatEpochTable({ loss: [0.5, 0.25], accuracy: [0.8, 0.9], val_loss: [0.3, 0.35], val_accuracy: [0.88, 0.87] }, 0);
  const lines = t.split('\n');
  assert.match(lines[0]!, /epoch\s+loss\s+accuracy\s+val_loss\s+val_accuracy/);
  assert.match(lines[1]!, /^\s+1\s+0\.5000\s+0\.8000\s+0\.3000\s+0\.8800 \*$/);
  assert.match(lines[2]!, /^\s+2\s+0\.2500\s+0\.9000\s+0\.3500\s+0\.8700$/);
});

test('sample picks are seeded, distinct and sorted', () => {
  const a = samplePick(1000, 30, 7);
  assert.deepEqual(a, samplePick(1000, 30, 7));
  assert.equal(new Set(a).size, 30);
  assert.deepEqual([...a].sort((x, y) => x - y), a);
  assert.deepEqual(samplePick([5, 9, 11], 30, 0), [5, 9, 11]);
});

test('validation rows: the held-out share of a seeded permutation, as fit holds it out', () => {
  const rows = validationRows(1000, 0.2, 3);
  assert.equal(rows.length, 200);
  assert.equal(new Set(rows).size, 200);
  assert.deepEqual(rows, validationRows(1000, 0.2, 3));
  assert.notDeepEqual(rows, validationRows(1000, 0.2, 4));
});
