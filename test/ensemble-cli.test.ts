/**
 * Ensembles as one model through the real `digits` command and server:
 * `train --ensemble 2` (two tiny members, a few hundred images) writes the
 * artifact, its report, the members' reports and ensemble-metrics.json;
 * predict, evaluate and serve give the members' averaged probabilities
 * (checked against the members loaded and run one by one here); TTA averages
 * the image and its four 1-pixel shifts; a broken ensemble ends with one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createBackend } from '../src/engine/index.js';
import { Tensor } from '../src/engine/tensor.js';
import { loadMnist } from '../src/data/index.js';
import { loadModel } from '../src/io/model-files.js';
import { loadClassifier } from '../src/io/ensemble.js';
import { REPORT_SECTIONS } from '../src/report/report.js';
import { startServer } from '../src/server/start.js';
import { buildPreset } from '../src/nn/presets.js';

/** a `fast` member's parameter count (the preset's architecture may change; the ensemble must add them up) */
const FAST_PARAMS = buildPreset('fast').model.countParams();
const commas = (n: number): string => n.toLocaleString('en-US');

const run = promisify(execFile);
const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const dir = mkdtempSync(path.join(tmpdir(), 'digits-ensemble-cli-'));
const ens = path.join(dir, 'ens');
const TEST_IMAGES = 100;

async function digits(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { env: { ...process.env, CI: '1' }, maxBuffer: 16 << 20 });
}

/** The command's exit code and stderr when it fails (it must). */
async function digitsFails(...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await digits(...args);
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
  assert.fail(`digits ${args.join(' ')} succeeded`);
}

/** Shift 28×28 images by (dx, dy) pixels, zeros coming in. */
function shift(images: Float32Array, n: number, dx: number, dy: number): Float32Array {
  const out = new Float32Array(images.length);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const sx = x - dx, sy = y - dy;
        if (sx >= 0 && sx < 28 && sy >= 0 && sy < 28) out[i * 784 + y * 28 + x] = images[i * 784 + sy * 28 + sx]!;
      }
    }
  }
  return out;
}

/**
 * The mean probabilities computed here, independently of Ensemble: each member folder loaded as
 * an ordinary model, run on each view, the results summed and divided.
 */
async function membersMean(images: Float32Array, n: number, views: [number, number][] = [[0, 0]]): Promise<Float64Array> {
  const backend = createBackend('auto').backend;
  const sum = new Float64Array(n * 10);
  for (const m of ['model-0', 'model-1']) {
    const { model } = await loadModel(path.join(ens, m));
    model.setBackend(backend);
    for (const [dx, dy] of views) {
      const p = model.predict(new Tensor([n, 28, 28, 1], shift(images, n, dx, dy))).data;
      for (let i = 0; i < p.length; i++) sum[i]! += p[i]! / (2 * views.length);
    }
  }
  return sum;
}

function argmax(p: ArrayLike<number>, row: number): number {
  let best = 0;
  for (let c = 1; c < 10; c++) if (p[row * 10 + c]! > p[row * 10 + best]!) best = c;
  return best;
}

/** The first n MNIST test images as an unlabelled Kaggle CSV. */
async function testCsv(file: string, n: number): Promise<void> {
  const ds = await loadMnist('test', { limit: n });
  const header = Array.from({ length: 784 }, (_, i) => `pixel${i}`).join(',');
  const rows = Array.from({ length: n }, (_, r) => Array.from(ds.images.subarray(r * 784, (r + 1) * 784), (v) => Math.round(v * 255)).join(','));
  writeFileSync(file, [header, ...rows].join('\n') + '\n');
}

function sectionText(html: string, id: string): string {
  const from = html.indexOf(`id="${id}"`);
  assert.ok(from >= 0, `section ${id} missing`);
  return html.slice(from, html.indexOf('</section>', from)).replace(/<[^>]+>/g, ' ');
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('train --ensemble 2: one artifact, its report and each member\'s, ensemble-metrics.json with wall time', async () => {
  const { stdout } = await digits('train', '--preset', 'fast', '--ensemble', '2', '--limit', '300', '--epochs', '1',
    '--test-limit', String(TEST_IMAGES), '--seed', '5', '--out', ens);
  const last = stdout.trim().split('\n').at(-1)!;
  assert.match(last, /^ensemble test accuracy [\d.]+% on 100 test images; 2 members trained in [\d.]+ s, wall time [\d.]+ s; outputs in .*\(ensemble\.json, model-0\/, model-1\/, ensemble-metrics\.json, submission\.csv, report\.html\)$/);
  assert.match(stdout, /model-0\s+5\s+[\d.]+ s\s+[\d.]+%/, 'a row per member: seed, train time, test accuracy');
  assert.match(stdout, /model-1\s+6\s+/);

  const metrics = JSON.parse(readFileSync(path.join(ens, 'ensemble-metrics.json'), 'utf8'));
  assert.deepEqual(metrics.seeds, [5, 6]);
  assert.equal(metrics.members.length, 2);
  for (const [i, m] of (metrics.members as { name: string; trainSeconds: number; testAccuracy: number }[]).entries()) {
    assert.equal(m.name, `model-${i}`);
    assert.ok(m.trainSeconds > 0);
    const own = JSON.parse(readFileSync(path.join(ens, m.name, 'metrics.json'), 'utf8'));
    assert.equal(m.testAccuracy, own.testAccuracy, 'the member\'s own test accuracy');
    assert.ok(existsSync(path.join(ens, m.name, 'report.html')), 'each member keeps its own report');
  }
  assert.ok(metrics.wallSeconds >= metrics.members[0].trainSeconds + metrics.members[1].trainSeconds);

  // the ensemble's accuracy and submission are those of the members' mean, computed here
  const test = await loadMnist('test', { limit: TEST_IMAGES });
  const mean = await membersMean(test.images, TEST_IMAGES);
  const labels = Array.from({ length: TEST_IMAGES }, (_, r) => argmax(mean, r));
  const correct = labels.filter((l, r) => l === test.labels![r]).length;
  assert.equal(metrics.testAccuracy, correct / TEST_IMAGES);
  assert.equal(JSON.parse(readFileSync(path.join(ens, 'ensemble.json'), 'utf8')).testAccuracy, correct / TEST_IMAGES);
  const sub = readFileSync(path.join(ens, 'submission.csv'), 'utf8').trim().split('\n');
  assert.deepEqual(sub.slice(1).map((l) => Number(l.split(',')[1])), labels);

  const html = readFileSync(path.join(ens, 'report.html'), 'utf8');
  for (const id of REPORT_SECTIONS) assert.match(html, new RegExp(`id="${id}"`), `section ${id} missing`);
  assert.match(sectionText(html, 'learning-curves'), /ensemble of 2 models trained separately.*model-0\/report\.html.*model-1\/report\.html/s);
  assert.match(sectionText(html, 'model-summary'), new RegExp('Ensemble of 2 models.*Test-time augmentation: none.*' +
    `model-0\\s+5\\s+${commas(FAST_PARAMS)}.*model-1\\s+6\\s+${commas(FAST_PARAMS)}.*Total\\s+${commas(2 * FAST_PARAMS)}`, 's'));
  assert.match(sectionText(html, 'settings'), /seeds\s+5, 6.*wall time/s);
  assert.match(html, /Predicted \d, Class \d/);
});

test('predict on the ensemble writes a valid submission with the members\' mean probabilities; --tta adds the 1-pixel shifts', async () => {
  const n = 30;
  const csv = path.join(dir, 'test.csv');
  await testCsv(csv, n);
  const images = (await loadMnist('test', { limit: n })).images;
  const cases: [string[], [number, number][]][] = [
    [[], [[0, 0]]],
    [['--tta'], [[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]]],
  ];
  for (const [flags, views] of cases) {
    const out = path.join(dir, `sub${flags.join('')}.csv`);
    // fp32: the members' mean below is computed in float32 (bf16 would move the 6th digit)
    const { stdout } = await digits('predict', '--model', ens, '--input', csv, '--out', out, '--probabilities', '--precision', 'fp32', ...flags);
    assert.match(stdout, new RegExp(`predicted 30 images .* with the ensemble of 2 models${flags.length ? ' with test-time augmentation \\(5 views\\)' : ''} in float32;`));
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(lines[0], 'ImageId,Label,p0,p1,p2,p3,p4,p5,p6,p7,p8,p9');
    assert.equal(lines.length, n + 1);
    const mean = await membersMean(images, n, views);
    lines.slice(1).forEach((line, r) => {
      const cells = line.split(',').map(Number);
      assert.equal(cells[0], r + 1);
      assert.equal(cells[1], argmax(mean, r));
      // the file has 6 significant digits
      for (let c = 0; c < 10; c++) assert.ok(Math.abs(cells[2 + c]! - mean[r * 10 + c]!) < 1e-5, `row ${r + 1} p${c}: ${cells[2 + c]} vs ${mean[r * 10 + c]}`);
    });
  }
  // in process, to float precision
  const loaded = await loadClassifier(ens);
  loaded.model.setBackend(createBackend('auto').backend);
  const p = loaded.model.predict(new Tensor([n, 28, 28, 1], images.slice())).data;
  const mean = await membersMean(images, n);
  for (let i = 0; i < p.length; i++) assert.ok(Math.abs(p[i]! - mean[i]!) < 1e-6);
});

test('evaluate on the ensemble writes the complete report into the ensemble folder\'s evaluation/', async () => {
  const { stdout, stderr } = await digits('evaluate', '--model', ens, '--limit', '150');
  assert.match(stderr, /report: .*evaluation\/report\.html \(and 8 PNG figures beside it\)/);
  assert.match(stdout, /^ensemble of 2 models in float32 .* on 150 images from MNIST test\naccuracy [\d.]+% \(\d+\/150\)/);
  const html = readFileSync(path.join(ens, 'evaluation', 'report.html'), 'utf8');
  for (const id of REPORT_SECTIONS) assert.match(html, new RegExp(`id="${id}"`), `section ${id} missing`);
  assert.match(sectionText(html, 'confusion-matrix'), /150 images of the test set/);
  assert.match(sectionText(html, 'per-class'), /macro avg/);
  assert.match(sectionText(html, 'correct-digits') + sectionText(html, 'incorrect-digits'), /Predicted \d, Class \d/);
  assert.match(sectionText(html, 'model-summary'), /Ensemble of 2 models/);
  assert.match(html, />members<\/div><div class="v">2</);
  assert.doesNotMatch(html, /https?:\/\//i);
});

test('serve --model <ensemble>: /api/predict answers the members\' mean, /api/model describes the members', async () => {
  const { app, url } = await startServer({ model: ens, port: 0, host: '127.0.0.1', backend: 'auto' });
  try {
    const ds = await loadMnist('test', { limit: 3 });
    const mean = await membersMean(ds.images, 3);
    for (let r = 0; r < 3; r++) {
      const pixels = Array.from(ds.images.subarray(r * 784, (r + 1) * 784), (v) => Math.round(v * 255));
      const res = await fetch(`${url}/api/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pixels, scale: 255 }) });
      assert.equal(res.status, 200);
      const body = await res.json() as { label: number; probabilities: number[] };
      // the request's pixels are rounded to 0..255 integers: the same values as the MNIST bytes
      body.probabilities.forEach((v, c) => assert.ok(Math.abs(v - mean[r * 10 + c]!) < 1e-6, `image ${r} p${c}: ${v} vs ${mean[r * 10 + c]}`));
      assert.equal(body.label, argmax(mean, r));
    }
    const m = await (await fetch(`${url}/api/model`)).json() as Record<string, unknown> & { members: Record<string, unknown>[] };
    assert.equal(m.kind, 'ensemble');
    assert.equal(m.parameters, 2 * FAST_PARAMS);
    assert.deepEqual(m.members.map((x) => [x.folder, x.seed, x.parameters]), [['model-0', 5, FAST_PARAMS], ['model-1', 6, FAST_PARAMS]]);
    assert.ok(Array.isArray(m.members[0]!.layers) && (m.members[0]!.layers as unknown[]).length > 0);
    assert.deepEqual(m.tta, { views: 0, description: 'none' });
    assert.equal(m.testAccuracy, JSON.parse(readFileSync(path.join(ens, 'ensemble.json'), 'utf8')).testAccuracy);
  } finally {
    await app.close();
  }
});

test('a broken ensemble, a missing member, ONNX export of an ensemble, train --tta alone: one line, exit 1', async () => {
  const broken = path.join(dir, 'broken');
  cpSync(ens, broken, { recursive: true });
  const oneLine = (r: { code: number; stderr: string }, pattern: RegExp): void => {
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^digits: error: /);
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  };
  writeFileSync(path.join(broken, 'ensemble.json'), '{"format": "digits-ensemble", "members": [');
  oneLine(await digitsFails('evaluate', '--model', broken), /broken\/ensemble\.json: not valid JSON/);
  writeFileSync(path.join(broken, 'ensemble.json'), '{"format": "digits-ensemble", "members": "model-0"}');
  oneLine(await digitsFails('predict', '--model', broken, '--input', path.join(dir, 'test.csv')), /ensemble\.json: expected \{"format": "digits-ensemble", "members": \["model-0", \.\.\.\]\}/);
  writeFileSync(path.join(broken, 'ensemble.json'), '{"format": "digits-ensemble", "members": ["model-0", "model-1"]}');
  rmSync(path.join(broken, 'model-1'), { recursive: true });
  oneLine(await digitsFails('evaluate', '--model', broken), /ensemble\.json: member "model-1" cannot be loaded: .*model-1\/model\.json: model file not found/);
  oneLine(await digitsFails('serve', '--model', broken, '--port', '0'), /member "model-1" cannot be loaded/);
  oneLine(await digitsFails('report', '--model', broken), /member "model-1" cannot be loaded/);
  oneLine(await digitsFails('export', '--model', ens, '--out', path.join(dir, 'e.onnx')), /an ensemble \(ensemble\.json\) cannot be exported to ONNX as one graph; export its members one by one/);
  assert.ok(!existsSync(path.join(dir, 'e.onnx')));
  oneLine(await digitsFails('train', '--tta', '--out', path.join(dir, 'x')), /--tta on train needs --ensemble N/);
});
