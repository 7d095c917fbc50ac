/** Data specs: 'mnist', an IDX folder, a CSV file, an IDX file, and paths that do not exist. */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  encodeIdx,
  encodeIdxFile,
  kaggleHeader,
  loadTestData,
  loadTrainingData,
  loadUnlabelled,
  resolveDataSpec,
} from '../src/data/index.js';
import { DigitsError } from '../src/errors.js';

let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-data-index-test-'));
  const imgs = Uint8Array.from({ length: 3 * 784 }, (_, i) => i % 256);
  await fs.mkdir(path.join(dir, 'idx'));
  await fs.writeFile(path.join(dir, 'idx', 'train-images-idx3-ubyte.gz'), await encodeIdxFile([3, 28, 28], imgs, true));
  await fs.writeFile(path.join(dir, 'idx', 'train-labels-idx1-ubyte.gz'), await encodeIdxFile([3], Uint8Array.of(4, 5, 6), true));
  await fs.writeFile(path.join(dir, 'idx', 't10k-images-idx3-ubyte'), encodeIdx([2, 28, 28], imgs.subarray(0, 2 * 784)));
  await fs.writeFile(path.join(dir, 'idx', 't10k-labels-idx1-ubyte'), encodeIdx([2], Uint8Array.of(8, 9)));
  const row = (label: string) => label + Array.from({ length: 784 }, (_, k) => k % 256).join(',');
  await fs.writeFile(path.join(dir, 'train.csv'), [kaggleHeader(true).join(','), row('3,'), row('1,')].join('\n'));
  await fs.writeFile(path.join(dir, 'test.csv'), [kaggleHeader(false).join(','), row(''), row(''), row('')].join('\r\n'));
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('data specs', () => {
  test("'mnist' and nothing mean the bundled set", async () => {
    const train = await loadTrainingData(undefined, { limit: 5 });
    assert.equal(train.source, 'MNIST train');
    assert.deepEqual([...train.labels!], [5, 0, 4, 1, 9]);
    const t = await loadTestData('mnist', { limit: 5 });
    assert.deepEqual([...t.labels!], [7, 2, 1, 0, 4]);
    const u = await loadUnlabelled('mnist', { limit: 5 });
    assert.equal(u.labels, null);
    assert.equal(u.count, 5);
  });
  test('an IDX folder: train-* for training, t10k-* for testing and predicting', async () => {
    const idx = path.join(dir, 'idx');
    assert.deepEqual([...(await loadTrainingData(idx)).labels!], [4, 5, 6]);
    assert.deepEqual([...(await loadTestData(idx)).labels!], [8, 9]);
    const u = await loadUnlabelled(idx);
    assert.equal(u.count, 2);
    assert.equal(u.labels, null);
  });
  test('an IDX images file for predict; not for training', async () => {
    const file = path.join(dir, 'idx', 't10k-images-idx3-ubyte');
    assert.equal((await resolveDataSpec(file)).kind, 'idx-file');
    assert.equal((await loadUnlabelled(file)).count, 2);
    await assert.rejects(loadTrainingData(file), /a single IDX file holds images or labels, not both; pass the folder/);
  });
  test('CSV files: train.csv for training/testing, test.csv (or train.csv) for predict', async () => {
    const train = await loadTrainingData(path.join(dir, 'train.csv'));
    assert.deepEqual([...train.labels!], [3, 1]);
    assert.equal((await loadTestData(path.join(dir, 'train.csv'))).count, 2);
    const u = await loadUnlabelled(path.join(dir, 'test.csv'));
    assert.equal(u.count, 3);
    assert.equal(u.labels, null);
    assert.equal((await loadUnlabelled(path.join(dir, 'train.csv'))).labels, null);
    await assert.rejects(loadTrainingData(path.join(dir, 'test.csv')), /column 1: expected header "label", got "pixel0"/);
  });
  test('a path that does not exist is named', async () => {
    const missing = path.join(dir, 'no-such-train.csv');
    for (const load of [loadTrainingData, loadTestData, loadUnlabelled]) {
      await assert.rejects(load(missing), (err: unknown) => {
        assert.ok(err instanceof DigitsError);
        assert.match(err.message, /no-such-train\.csv: no such file or directory \(expected 'mnist', a folder of IDX files or a Kaggle \.csv file\)/);
        return true;
      });
    }
  });
});

describe('class names', () => {
  test('a class-names.txt beside IDX files names the classes; a wrong one is refused with its file and line', async () => {
    const named = path.join(dir, 'named');
    await fs.cp(path.join(dir, 'idx'), named, { recursive: true });
    const fashion = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
    await fs.writeFile(path.join(named, 'class-names.txt'), fashion.join('\n') + '\n');
    assert.deepEqual((await loadTrainingData(named)).classNames, fashion);
    assert.deepEqual((await loadTestData(named)).classNames, fashion);
    assert.equal((await loadTrainingData(path.join(dir, 'idx'))).classNames, undefined, 'no file: the digits');

    await fs.writeFile(path.join(named, 'class-names.txt'), fashion.slice(0, 9).join('\n'));
    await assert.rejects(loadTrainingData(named), (e: unknown) => e instanceof DigitsError &&
      /class-names\.txt: expected 10 class names, one per line \(class 0 first\), got 9$/.test(e.message));
    await fs.writeFile(path.join(named, 'class-names.txt'), [...fashion.slice(0, 9), 'Trouser'].join('\n'));
    await assert.rejects(loadTrainingData(named), /class-names\.txt line 10: "Trouser" names two classes/);
  });
});
