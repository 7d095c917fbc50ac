/** Kaggle writers and readers: submission format, prepare round trip, score, atomic writes. */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readKaggleCsv } from '../src/data/csv.js';
import type { Dataset } from '../src/data/dataset.js';
import {
  formatProbability,
  readLabelsCsv,
  readSubmission,
  scoreSubmission,
  writeKaggleCsv,
  writeLabelsCsv,
  writeSubmission,
} from '../src/data/kaggle.js';
import { loadMnist } from '../src/data/mnist.js';
import { DigitsError } from '../src/errors.js';

let root: string;
let n = 0;
before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-kaggle-test-'));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  const d = path.join(root, `case${n++}`);
  await fs.mkdir(d);
  return d;
}

async function rejectsWith(p: Promise<unknown>, patterns: RegExp[]): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof DigitsError, `expected a DigitsError, got ${err}`);
    for (const re of patterns) assert.match(err.message, re);
    return true;
  });
}

describe('submission.csv', () => {
  test('ImageId,Label with ids from 1', async () => {
    const file = path.join(await freshDir(), 'submission.csv');
    await writeSubmission(file, Uint8Array.of(3, 0, 9));
    assert.equal(await fs.readFile(file, 'utf8'), 'ImageId,Label\n1,3\n2,0\n3,9\n');
  });
  test('with probabilities: p0..p9 columns, 6 significant digits', async () => {
    const file = path.join(await freshDir(), 'submission.csv');
    const probs = new Float32Array(20);
    probs[3] = 0.9;
    probs[5] = 0.1;
    probs[10] = 1;
    probs[11] = 1.234567e-7;
    await writeSubmission(file, [3, 0], { probabilities: probs });
    const lines = (await fs.readFile(file, 'utf8')).split('\n');
    assert.equal(lines[0], 'ImageId,Label,p0,p1,p2,p3,p4,p5,p6,p7,p8,p9');
    assert.equal(lines[1], '1,3,0,0,0,0.9,0,0.1,0,0,0,0');
    assert.equal(lines[2], '2,0,1,1.23457e-7,0,0,0,0,0,0,0,0');
    assert.equal(lines[3], '');
    const back = await readSubmission(file);
    assert.deepEqual([...back.ids], [1, 2]);
    assert.deepEqual([...back.labels], [3, 0]);
    assert.equal(back.probabilities!.length, 20);
    for (let i = 0; i < 20; i++) assert.ok(Math.abs(back.probabilities![i]! - probs[i]!) <= 1e-6 * Math.abs(probs[i]!) + 1e-12);
  });
  test('formatProbability keeps 6 significant digits', () => {
    assert.equal(formatProbability(0.123456789), '0.123457');
    assert.equal(formatProbability(0.5), '0.5');
    assert.equal(formatProbability(0), '0');
  });
  test('a bad label or a wrong-length probability array writes nothing', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'submission.csv');
    await rejectsWith(writeSubmission(file, [1, 10]), [/labels\[1\]: expected an integer 0-9, got 10/]);
    await rejectsWith(writeSubmission(file, [1, 2], { probabilities: new Float32Array(19) }), [/probabilities: expected 2 x 10 = 20 values/, /got 19/]);
    assert.deepEqual(await fs.readdir(dir), []);
  });
  test('a missing output folder is a DigitsError', async () => {
    await rejectsWith(writeSubmission(path.join(root, 'no-such-dir', 's.csv'), [1]), [/cannot write/, /does not exist/]);
  });
});

describe('prepare: Kaggle CSVs from MNIST', () => {
  test('100 images written as train.csv and test.csv read back identical', async () => {
    const dir = await freshDir();
    const ds = await loadMnist('train', { limit: 100 });
    const train = path.join(dir, 'train.csv');
    await writeKaggleCsv(train, ds, { labelled: true });
    const back = await readKaggleCsv(train);
    assert.equal(back.count, 100);
    assert.deepEqual([...back.labels!], [...ds.labels!]);
    assert.deepEqual(back.images, ds.images);
    const text = await fs.readFile(train, 'utf8');
    assert.ok(text.startsWith('label,pixel0,pixel1,'));
    assert.equal(text.split('\n')[1]!.split(',').length, 785);
    assert.ok(text.split('\n')[1]!.startsWith('5,0,0,'));

    const test_ = path.join(dir, 'test.csv');
    await writeKaggleCsv(test_, ds, { labelled: false });
    const t = await readKaggleCsv(test_);
    assert.equal(t.labels, null);
    assert.deepEqual(t.images, ds.images);
    assert.ok((await fs.readFile(test_, 'utf8')).startsWith('pixel0,pixel1,'));
  });
  test('a pixel outside 0..1 fails part-way and leaves no file behind', async () => {
    const dir = await freshDir();
    const ds = await loadMnist('test', { limit: 2000 });
    const images = ds.images.slice();
    images[1500 * 784 + 3] = 2;
    const bad: Dataset = { ...ds, images };
    await rejectsWith(writeKaggleCsv(path.join(dir, 'train.csv'), bad, { labelled: true }), [/image 1501, pixel3: expected a value 0..1, got 2/]);
    assert.deepEqual(await fs.readdir(dir), []);
  });
  test('a failing write does not replace an existing file', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'test.csv');
    await fs.writeFile(file, 'old contents');
    const ds = await loadMnist('test', { limit: 3 });
    const bad: Dataset = { ...ds, images: ds.images.map((v, i) => (i === 2000 ? Number.NaN : v)) };
    await rejectsWith(writeKaggleCsv(file, bad, { labelled: false }), [/image 3, pixel/, /expected a value 0..1, got NaN/]);
    assert.equal(await fs.readFile(file, 'utf8'), 'old contents');
    assert.deepEqual(await fs.readdir(dir), ['test.csv']);
  });
  test('labelled output needs labels; images must be 28 x 28 x 1', async () => {
    const ds = await loadMnist('test', { limit: 2 });
    const dir = await freshDir();
    await rejectsWith(writeKaggleCsv(path.join(dir, 'a.csv'), { ...ds, labels: null }, { labelled: true }), [/has no labels/]);
    await rejectsWith(writeKaggleCsv(path.join(dir, 'b.csv'), { ...ds, height: 14, width: 56 }, { labelled: false }), [/28 x 28 x 1/, /got "14 x 56 x 1"/]);
    assert.deepEqual(await fs.readdir(dir), []);
  });
});

describe('score', () => {
  async function files(sub: string, labels: string): Promise<[string, string]> {
    const dir = await freshDir();
    const s = path.join(dir, 'submission.csv');
    const l = path.join(dir, 'test-labels.csv');
    await fs.writeFile(s, sub);
    await fs.writeFile(l, labels);
    return [s, l];
  }
  test('accuracy, correct, total (ids matched, not positions)', async () => {
    const dir = await freshDir();
    const l = path.join(dir, 'test-labels.csv');
    await writeLabelsCsv(l, [7, 2, 1, 0, 4]);
    assert.deepEqual([...(await readLabelsCsv(l)).labels], [7, 2, 1, 0, 4]);
    const s = path.join(dir, 'submission.csv');
    await writeSubmission(s, [7, 2, 1, 0, 9]);
    assert.deepEqual(await scoreSubmission(s, l), { accuracy: 0.8, correct: 4, total: 5 });
    // Rows in another order, CRLF: still matched by ImageId.
    await fs.writeFile(s, 'ImageId,Label\r\n5,4\r\n1,7\r\n2,2\r\n3,1\r\n4,0');
    assert.deepEqual(await scoreSubmission(s, l), { accuracy: 1, correct: 5, total: 5 });
  });
  test('a submission with probabilities scores the same', async () => {
    const dir = await freshDir();
    const l = path.join(dir, 'test-labels.csv');
    await writeLabelsCsv(l, [1, 2]);
    const s = path.join(dir, 'submission.csv');
    await writeSubmission(s, [1, 3], { probabilities: new Float32Array(20).fill(0.1) });
    assert.deepEqual(await scoreSubmission(s, l), { accuracy: 0.5, correct: 1, total: 2 });
  });
  test('missing rows name the first missing ImageId', async () => {
    const [s, l] = await files('ImageId,Label\n1,7\n3,1\n', 'ImageId,Label\n1,7\n2,2\n3,1\n');
    await rejectsWith(scoreSubmission(s, l), [/submission.csv: 2 rows but .*test-labels.csv has 3 answers/, /ImageId 2 is missing/]);
  });
  test('an ImageId not in the answers', async () => {
    const [s, l] = await files('ImageId,Label\n1,7\n4,1\n', 'ImageId,Label\n1,7\n2,2\n');
    await rejectsWith(scoreSubmission(s, l), [/submission.csv line 3: ImageId 4 is not in .*test-labels.csv/]);
  });
  test('a duplicate ImageId', async () => {
    const [s, l] = await files('ImageId,Label\n1,7\n1,2\n', 'ImageId,Label\n1,7\n2,2\n');
    await rejectsWith(scoreSubmission(s, l), [/submission.csv line 3, column 1 \(ImageId\): ImageId 1 appears again \(first on line 2\)/]);
  });
  test('bad rows: a label 10, a non-numeric id, a wrong column count, a wrong header', async () => {
    const labels = 'ImageId,Label\n1,7\n2,2\n';
    let [s, l] = await files('ImageId,Label\n1,7\n2,10\n', labels);
    await rejectsWith(scoreSubmission(s, l), [/submission.csv line 3, column 2 \(Label\): expected a label, an integer 0-9, got "10"/]);
    [s, l] = await files('ImageId,Label\nx,7\n2,1\n', labels);
    await rejectsWith(scoreSubmission(s, l), [/line 2, column 1 \(ImageId\): expected an ImageId, a whole number from 1, got "x"/]);
    [s, l] = await files('ImageId,Label\n1,7,3\n2,1\n', labels);
    await rejectsWith(scoreSubmission(s, l), [/line 2: expected 2 columns \(ImageId,Label\), got 3/]);
    [s, l] = await files('Id,Label\n1,7\n2,1\n', labels);
    await rejectsWith(scoreSubmission(s, l), [/submission.csv line 1, column 1: expected header "ImageId", got "Id"/]);
    [s, l] = await files('ImageId,Label\n1,7\n2,2\n', 'ImageId,Label,p0,p1,p2,p3,p4,p5,p6,p7,p8,p9\n');
    await rejectsWith(scoreSubmission(s, l), [/test-labels.csv line 1: expected 2 header columns \(ImageId,Label\), got 12/]);
  });
  test('an empty or header-only file', async () => {
    let [s, l] = await files('', 'ImageId,Label\n1,7\n');
    await rejectsWith(scoreSubmission(s, l), [/submission.csv: the file is empty/]);
    [s, l] = await files('ImageId,Label\n1,7\n', 'ImageId,Label\n');
    await rejectsWith(scoreSubmission(s, l), [/test-labels.csv: no data rows after the header/]);
  });
});
