/**
 * The report end to end through the `digits` command: `train` writes
 * report.html and prints the compact summary, `report --model` writes it
 * again (with the unlabelled predictions of --input), `evaluate` rewrites it,
 * and a run on a Kaggle CSV (no test set) reports on its validation split.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { loadMnist } from '../src/data/index.js';
import { REPORT_SECTIONS } from '../src/report/report.js';

const run = promisify(execFile);
const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const dir = mkdtempSync(path.join(tmpdir(), 'digits-report-cli-'));
const model = path.join(dir, 'model');

async function digits(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { env: { ...process.env, CI: '1' }, maxBuffer: 16 << 20 });
}

/** The first `n` MNIST test images as a Kaggle CSV (labelled: "label,pixel0,..."; else "pixel0,..."). */
async function kaggleCsv(file: string, n: number, labelled: boolean, split: 'train' | 'test' = 'test'): Promise<void> {
  const ds = await loadMnist(split, { limit: n });
  const header = [...(labelled ? ['label'] : []), ...Array.from({ length: 784 }, (_, i) => `pixel${i}`)].join(',');
  const rows = Array.from({ length: n }, (_, r) => {
    const px = Array.from(ds.images.subarray(r * 784, (r + 1) * 784), (v) => Math.round(v * 255));
    return [...(labelled ? [ds.labels![r]!] : []), ...px].join(',');
  });
  writeFileSync(file, [header, ...rows].join('\n') + '\n');
}

function checkReport(file: string): string {
  assert.ok(existsSync(file), `${file} was not written`);
  const html = readFileSync(file, 'utf8');
  for (const id of REPORT_SECTIONS) assert.match(html, new RegExp(`id="${id}"`), `section ${id} missing`);
  assert.doesNotMatch(html, /https?:\/\//i);
  return html;
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('train writes report.html with its PNGs and prints the compact summary', async () => {
  const { stdout } = await digits('train', '--limit', '600', '--epochs', '2', '--test-limit', '200', '--out', model);
  assert.match(stdout, /epoch\s+loss\s+accuracy\s+val_loss\s+val_accuracy/, 'epoch table');
  assert.match(stdout, /final accuracy \(weights of epoch \d\): training [\d.]+%, validation [\d.]+%, test [\d.]+%/);
  assert.match(stdout, /confusion matrix, test set \(200 images\):\nactual \\ predicted/);
  assert.match(stdout, /report: .*report\.html \(and 10 PNG figures beside it, [\d.]+ s\)/);
  assert.match(stdout.trim().split('\n').at(-1)!, /^test accuracy .* report\.html\)$/, 'the last line still gives accuracy and outputs');
  const html = checkReport(path.join(model, 'report.html'));
  assert.match(html, /Predicted \d, Class \d/);
  const png = PNG.sync.read(readFileSync(path.join(model, 'confusion-matrix.png')));
  assert.ok(png.width > 500 && png.height > 500);
  const metrics = JSON.parse(readFileSync(path.join(model, 'metrics.json'), 'utf8'));
  assert.equal(metrics.batchSize, 32);
  assert.equal(metrics.dataSpec, 'mnist');
});

test('digits report --model writes the report again, with predictions on --input', async () => {
  const csv = path.join(dir, 'test.csv');
  await kaggleCsv(csv, 12, false);
  const out = path.join(dir, 'again');
  const { stdout } = await digits('report', '--model', model, '--input', csv, '--out', out);
  assert.match(stdout, /wrote .*report\.html and 11 PNG figures beside it in [\d.]+ s; test accuracy [\d.]+% on 200 images/);
  const html = checkReport(path.join(out, 'report.html'));
  assert.match(html, /12 images from .*test\.csv/);
  assert.equal((html.match(/>Predicted \d</g) ?? []).length, 12, 'a tile per unlabelled image');
  assert.ok(existsSync(path.join(out, 'unlabelled-predictions.png')));
});

test('evaluate writes its report beside the training\'s, in the model folder\'s evaluation/, and leaves the training\'s alone', async () => {
  const training = readFileSync(path.join(model, 'report.html'), 'utf8');
  const { stderr } = await digits('evaluate', '--model', model, '--limit', '150');
  assert.match(stderr, /report: .*evaluation\/report\.html/);
  const html = checkReport(path.join(model, 'evaluation', 'report.html'));
  assert.match(html, /Written by digits evaluate/);
  assert.match(html, /150 images of the test set/);
  assert.match(html, /<td>scored in<\/td><td>float32<\/td>/);
  assert.equal(readFileSync(path.join(model, 'report.html'), 'utf8'), training, 'the training report is untouched');
});

test('a run on a Kaggle CSV reports on its validation split', async () => {
  const csv = path.join(dir, 'train.csv');
  await kaggleCsv(csv, 300, true, 'train');
  const out = path.join(dir, 'kaggle');
  const { stdout } = await digits('train', '--data', csv, '--epochs', '1', '--out', out);
  assert.match(stdout, /confusion matrix, validation set \(60 images\)/);
  const html = checkReport(path.join(out, 'report.html'));
  assert.match(html, /60 images of the validation set/);
  // the report command finds the same split again
  const again = await digits('report', '--model', out, '--out', path.join(dir, 'kaggle-again'));
  assert.match(again.stdout, /validation accuracy [\d.]+% on 60 images/);
});

test('digits report --help documents the command', async () => {
  const { stdout } = await digits('report', '--help');
  assert.match(stdout, /--model <dir>/);
  assert.match(stdout, /--input <path>/);
});
