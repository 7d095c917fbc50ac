/** Kaggle CSV reader: happy paths (LF, CRLF, no final newline, chunking) and every bad input. */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { KaggleCsvParser, kaggleHeader, readKaggleCsv } from '../src/data/csv.js';
import { DigitsError } from '../src/errors.js';
import { loadTrainingData } from '../src/data/index.js';

let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-csv-test-'));
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Row i's pixels: a recognisable pattern with 0, 255 and 1..3-digit values. */
function pixels(i: number): number[] {
  return Array.from({ length: 784 }, (_, k) => (k * 7 + i * 31) % 256);
}

function csvText(rows: number, opts: { labelled?: boolean; eol?: string; finalEol?: boolean } = {}): string {
  const labelled = opts.labelled ?? true;
  const eol = opts.eol ?? '\n';
  const lines = [kaggleHeader(labelled).join(',')];
  for (let i = 0; i < rows; i++) lines.push((labelled ? `${i % 10},` : '') + pixels(i).join(','));
  return lines.join(eol) + (opts.finalEol ?? true ? eol : '');
}

async function writeCsv(name: string, text: string | Uint8Array): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, text);
  return file;
}

/** A labelled file whose data row `row` (0-based) has cell `col` (0 = label) replaced. */
function withCell(rows: number, row: number, col: number, value: string): string {
  const lines = csvText(rows).split('\n');
  const cells = lines[row + 1]!.split(',');
  cells[col] = value;
  lines[row + 1] = cells.join(',');
  return lines.join('\n');
}

async function rejects(file: string, pattern: RegExp[], opts = {}): Promise<void> {
  await assert.rejects(readKaggleCsv(file, opts), (err: unknown) => {
    assert.ok(err instanceof DigitsError, `expected a DigitsError, got ${err}`);
    assert.ok(err.message.includes(path.basename(file)), `message names the file: ${err.message}`);
    for (const p of pattern) assert.match(err.message, p);
    return true;
  });
}

function checkRows(ds: Awaited<ReturnType<typeof readKaggleCsv>>, rows: number, labelled: boolean): void {
  assert.equal(ds.count, rows);
  assert.equal(ds.height, 28);
  assert.equal(ds.width, 28);
  assert.equal(ds.channels, 1);
  assert.equal(ds.images.length, rows * 784);
  for (let i = 0; i < rows; i++) {
    const px = pixels(i);
    for (let k = 0; k < 784; k++) {
      if (ds.images[i * 784 + k] !== Math.fround(px[k]! / 255)) {
        assert.fail(`row ${i} pixel ${k}: ${ds.images[i * 784 + k]} != ${px[k]}/255`);
      }
    }
  }
  if (labelled) assert.deepEqual([...ds.labels!], Array.from({ length: rows }, (_, i) => i % 10));
  else assert.equal(ds.labels, null);
}

describe('readKaggleCsv: happy paths', () => {
  test('LF with a final newline', async () => {
    checkRows(await readKaggleCsv(await writeCsv('lf.csv', csvText(12))), 12, true);
  });
  test('CRLF', async () => {
    checkRows(await readKaggleCsv(await writeCsv('crlf.csv', csvText(12, { eol: '\r\n' }))), 12, true);
  });
  test('no final newline (LF and CRLF)', async () => {
    checkRows(await readKaggleCsv(await writeCsv('nofinal.csv', csvText(5, { finalEol: false }))), 5, true);
    const crlf = csvText(5, { eol: '\r\n', finalEol: false });
    checkRows(await readKaggleCsv(await writeCsv('nofinal-crlf.csv', crlf)), 5, true);
  });
  test('unlabelled test.csv: labels null (auto and labelled: false)', async () => {
    const file = await writeCsv('test.csv', csvText(4, { labelled: false }));
    checkRows(await readKaggleCsv(file), 4, false);
    checkRows(await readKaggleCsv(file, { labelled: false }), 4, false);
  });
  test('pixels scale to 0..1: 0 -> 0, 255 -> 1', async () => {
    const ds = await readKaggleCsv(await writeCsv('scale.csv', withCell(1, 0, 1, '255')));
    assert.equal(ds.images[0], 1);
    let min = Infinity;
    let max = -Infinity;
    for (const v of ds.images) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    assert.equal(min, 0);
    assert.equal(max, 1);
  });
  test('integral cells in other spellings are accepted ("7.0", " 7", "007", "\\"7\\"")', async () => {
    for (const cell of ['7.0', ' 7', '007', '"7"', '7 ']) {
      const ds = await readKaggleCsv(await writeCsv('spell.csv', withCell(2, 1, 3, cell)));
      assert.equal(ds.images[784 + 2], Math.fround(7 / 255), `cell ${JSON.stringify(cell)}`);
    }
  });
  test('blank lines are skipped; a BOM before the header is ignored', async () => {
    const text = '\ufeff' + csvText(3).replace(/\n/g, '\n\n');
    checkRows(await readKaggleCsv(await writeCsv('blank.csv', text)), 3, true);
  });
  test('any chunking gives the same result (1..7 bytes and 4 KB chunks)', async () => {
    const bytes = Buffer.from(csvText(6, { eol: '\r\n' }));
    for (const size of [1, 3, 7, 4096]) {
      const parser = new KaggleCsvParser('chunks.csv');
      for (let i = 0; i < bytes.length; i += size) parser.push(bytes.subarray(i, i + size));
      checkRows(parser.finish(), 6, true);
    }
  });
  test('limit keeps the first rows; onProgress reports rows', async () => {
    const file = await writeCsv('limit.csv', csvText(20));
    const seen: number[] = [];
    const ds = await readKaggleCsv(file, { limit: 7, onProgress: (n) => seen.push(n) });
    checkRows(ds, 7, true);
    assert.equal(seen.at(-1), 7);
  });
  test('a gzip-compressed CSV is read (detected by its bytes)', async () => {
    const file = await writeCsv('train.csv.gz', gzipSync(csvText(9)));
    checkRows(await readKaggleCsv(file), 9, true);
  });
  test('a bigger file (3,000 rows, several 1 MB chunks) keeps every row', async () => {
    const file = await writeCsv('big.csv', csvText(3000));
    const ds = await readKaggleCsv(file);
    assert.equal(ds.count, 3000);
    assert.equal(ds.images.length, 3000 * 784);
    assert.equal(ds.labels![2999], 2999 % 10);
    assert.equal(ds.images[2999 * 784 + 5], Math.fround(pixels(2999)[5]! / 255));
  });
});

describe('readKaggleCsv: bad input names file, line, column and expectation', () => {
  test('empty file', async () => {
    await rejects(await writeCsv('empty.csv', ''), [/the file is empty/, /expected a header line/]);
  });
  test('header only: no data rows', async () => {
    await rejects(await writeCsv('header-only.csv', kaggleHeader(true).join(',') + '\n'), [/no data rows after the header/]);
  });
  test('wrong header names the first wrong column', async () => {
    const cols = kaggleHeader(true);
    cols[2] = 'pixel2';
    await rejects(await writeCsv('bad-header.csv', cols.join(',') + '\n' + csvText(1).split('\n')[1]), [
      /line 1, column 3/,
      /expected header "pixel1", got "pixel2"/,
    ]);
  });
  test('header with a missing column', async () => {
    const cols = kaggleHeader(true).slice(0, 700);
    await rejects(await writeCsv('short-header.csv', cols.join(',') + '\n'), [
      /line 1/,
      /expected 785 header columns/,
      /got 700/,
      /first missing column "pixel699"/,
    ]);
  });
  test('header that is neither train.csv nor test.csv', async () => {
    await rejects(await writeCsv('other.csv', 'a,b,c\n1,2,3\n'), [/line 1, column 1/, /expected header "label" \(train.csv\) or "pixel0"/]);
  });
  test('a test.csv where labelled data is required', async () => {
    await rejects(await writeCsv('need-labels.csv', csvText(2, { labelled: false })), [/line 1, column 1/, /expected header "label", got "pixel0"/, /unlabelled/], {
      labelled: true,
    });
  });
  test('wrong column count on a row (too few and too many)', async () => {
    const lines = csvText(3).split('\n');
    lines[2] = lines[2]!.split(',').slice(0, 784).join(',');
    await rejects(await writeCsv('few.csv', lines.join('\n')), [/line 3: expected 785 columns/, /got 784/]);
    const more = csvText(3).split('\n');
    more[3] = more[3] + ',0,0';
    await rejects(await writeCsv('many.csv', more.join('\n')), [/line 4: expected 785 columns/, /got 787/]);
  });
  test('non-numeric cell', async () => {
    await rejects(await writeCsv('nan.csv', withCell(3, 1, 4, 'abc')), [/line 3, column 5 \(pixel3\)/, /expected an integer pixel value 0-255/, /"abc" \(not a number\)/]);
  });
  test('empty cell', async () => {
    await rejects(await writeCsv('emptycell.csv', withCell(3, 0, 10, '')), [/line 2, column 11 \(pixel9\)/, /got an empty cell/]);
  });
  test('pixel 256', async () => {
    await rejects(await writeCsv('p256.csv', withCell(3, 2, 784, '256')), [/line 4, column 785 \(pixel783\)/, /expected an integer pixel value 0-255, got 256 \(out of range\)/]);
  });
  test('pixel -1', async () => {
    await rejects(await writeCsv('pminus.csv', withCell(3, 0, 1, '-1')), [/line 2, column 2 \(pixel0\)/, /got -1 \(out of range\)/]);
  });
  test('pixel 1.5', async () => {
    await rejects(await writeCsv('pfrac.csv', withCell(3, 1, 99, '1.5')), [/line 3, column 100 \(pixel98\)/, /got 1.5 \(not an integer\)/]);
  });
  test('label 10', async () => {
    await rejects(await writeCsv('label10.csv', withCell(3, 1, 0, '10')), [/line 3, column 1 \(label\)/, /expected an integer label 0-9, got 10 \(out of range\)/]);
  });
  test('errors in a CRLF file report the same line numbers', async () => {
    const text = withCell(3, 2, 0, 'x').replace(/\n/g, '\r\n');
    await rejects(await writeCsv('crlf-bad.csv', text), [/line 4, column 1 \(label\)/, /"x" \(not a number\)/]);
  });
  test('a corrupt gzip CSV', async () => {
    const gz = gzipSync(csvText(50));
    await rejects(await writeCsv('cut.csv.gz', gz.subarray(0, gz.length - 20)), [/gzip data does not decompress/]);
  });
  test('missing file and a directory', async () => {
    await rejects(path.join(dir, 'nope.csv'), [/no such file/]);
    await assert.rejects(readKaggleCsv(dir), /is a directory/);
  });
});

test('CSVs saved by other tools get a hint: a pandas index column, semicolons or tabs, a Kaggle folder named instead of its CSV', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-csv-hints-'));
  try {
    const pixels = Array.from({ length: 784 }, (_, i) => `pixel${i}`);
    const row = ['3', ...Array.from({ length: 784 }, () => '0')];
    const indexed = path.join(dir, 'indexed.csv');
    await fs.writeFile(indexed, [['', 'label', ...pixels].join(','), ['0', ...row].join(',')].join('\n'));
    await assert.rejects(readKaggleCsv(indexed, { labelled: true }), /indexed\.csv line 1, column 1: an unnamed first column before "label" is a pandas index; save the file without it/);
    const semi = path.join(dir, 'semi.csv');
    await fs.writeFile(semi, [['label', ...pixels].join(';'), row.join(';')].join('\n'));
    await assert.rejects(readKaggleCsv(semi, { labelled: true }), /semi\.csv line 1: the columns are separated by semicolons, not commas; save it with commas/);
    const kaggle = path.join(dir, 'kaggle');
    await fs.mkdir(kaggle);
    await fs.writeFile(path.join(kaggle, 'train.csv'), [['label', ...pixels].join(','), row.join(',')].join('\n'));
    await assert.rejects(loadTrainingData(kaggle), /kaggle: no train-images-idx3-ubyte.*; it holds train\.csv: pass the file, --data .*kaggle\/train\.csv/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
