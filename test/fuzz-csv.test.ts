/**
 * Property-based fuzz tests of the Kaggle CSV reader (src/data/csv.ts): valid
 * files of random values and layout parse exactly, however the bytes are
 * chunked; random and mutated bytes end in a Dataset that holds together or a
 * DigitsError naming the file (and the line, for a bad row); never another
 * exception, never a hang. Seeded (see fuzz-helpers.ts); the case counts are printed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { KaggleCsvParser, kaggleHeader, readKaggleCsv } from '../src/data/csv.js';
import type { Dataset } from '../src/data/dataset.js';
import { DigitsError } from '../src/errors.js';
import { chunked, cutsArb, fuzz, mutated, reportCases } from './fuzz-helpers.js';

let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-fuzz-csv-'));
});
after(async () => {
  reportCases('csv');
  await fs.rm(dir, { recursive: true, force: true });
});

const NAME = 'fuzz.csv';

/** A parse's outcome: the data, or the DigitsError's message. Any other exception escapes (and fails the property). */
type Outcome = { ds: Dataset } | { error: string };

function outcome(run: () => Dataset): Outcome {
  try {
    return { ds: run() };
  } catch (err) {
    if (!(err instanceof DigitsError)) throw err;
    return { error: err.message };
  }
}

function parse(bytes: Uint8Array, cuts: number[], opts: { labelled?: boolean | 'auto'; limit?: number } = {}): Outcome {
  return outcome(() => {
    const p = new KaggleCsvParser(NAME, opts);
    for (const c of chunked(bytes, cuts)) p.push(c);
    return p.finish();
  });
}

/** A Dataset that holds together: shapes, pixel values k/255 for an integer k in 0..255, labels 0..9. */
function checkDataset(ds: Dataset): void {
  assert.ok(ds.count >= 1);
  assert.equal(ds.images.length, ds.count * 784);
  assert.deepEqual([ds.height, ds.width, ds.channels], [28, 28, 1]);
  for (const v of ds.images) {
    const k = Math.round(v * 255);
    assert.ok(k >= 0 && k <= 255 && Math.abs(v - Math.fround(k / 255)) < 1e-7, `pixel ${v}`);
  }
  if (ds.labels !== null) {
    assert.equal(ds.labels.length, ds.count);
    for (const l of ds.labels) assert.ok(l <= 9, `label ${l}`);
  }
}

/** A DigitsError names the file; one about a row or a header cell also names the line. */
function checkError(message: string, file: string): void {
  assert.ok(message.startsWith(file), `message does not name the file: ${message}`);
  if (/column \d+/.test(message)) assert.match(message, /line \d+/);
  assert.ok(message.length < 1000, `message of ${message.length} characters`);
}

function checkOutcome(o: Outcome, file = NAME): void {
  if ('ds' in o) checkDataset(o.ds);
  else checkError(o.error, file);
}

function sameOutcome(a: Outcome, b: Outcome): void {
  if ('error' in a || 'error' in b) {
    assert.deepEqual('error' in a ? a.error : 'parsed', 'error' in b ? b.error : 'parsed');
    return;
  }
  assert.equal(a.ds.count, b.ds.count);
  assert.deepEqual(a.ds.images, b.ds.images);
  assert.deepEqual(a.ds.labels, b.ds.labels);
}

function rowsText(rows: number[][], labels: number[] | null): string {
  const lines = [kaggleHeader(labels !== null).join(',')];
  rows.forEach((r, i) => lines.push((labels ? `${labels[i]},` : '') + r.join(',')));
  return lines.join('\n') + '\n';
}

const pixelRow = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 784, maxLength: 784 });
/** Ways of writing the integer v that the reader accepts (the slow path). */
const STYLES: ((v: number) => string)[] = [
  (v) => String(v), (v) => `00${v}`, (v) => `+${v}`, (v) => ` ${v} `, (v) => `"${v}"`, (v) => `${v}.0`, (v) => `${v}e0`, (v) => `${v}.`,
];

const layoutArb = fc.record({
  labelled: fc.boolean(),
  rows: fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), pixelRow), { minLength: 1, maxLength: 3 }),
  styled: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: STYLES.length - 1 })), { maxLength: 6 }),
  eol: fc.constantFrom('\n', '\r\n'),
  finalEol: fc.boolean(),
  blankAfter: fc.array(fc.nat(), { maxLength: 2 }),
  bom: fc.boolean(),
  quotedHeader: fc.boolean(),
  cuts: cutsArb,
});

test('valid files of random values, cell styles, line ends, blank lines and chunking parse exactly', async (t) => {
  await fuzz(t, layoutArb, 300, (c) => {
    const header = kaggleHeader(c.labelled).map((h) => (c.quotedHeader ? `"${h}"` : h)).join(',');
    const values = c.rows.map(([label, px]) => [...(c.labelled ? [label] : []), ...px]);
    const cells = values.map((row) => row.map(String));
    for (const [at, style] of c.styled) {
      const r = at % cells.length;
      const k = Math.floor(at / cells.length) % cells[r]!.length;
      cells[r]![k] = STYLES[style]!(values[r]![k]!); // a cell styled twice keeps the last style
    }
    const lines = [header];
    cells.forEach((row, i) => {
      lines.push(row.join(','));
      if (c.blankAfter.includes(i)) lines.push('');
    });
    const text = (c.bom ? '\uFEFF' : '') + lines.join(c.eol) + (c.finalEol ? c.eol : '');
    const o = parse(Buffer.from(text, 'utf8'), c.cuts);
    if ('error' in o) assert.fail(`a valid file was refused: ${o.error}`);
    assert.equal(o.ds.count, c.rows.length);
    const want = new Float32Array(c.rows.flatMap(([, px]) => px.map((v) => v / 255)));
    assert.deepEqual(o.ds.images, want);
    assert.deepEqual(o.ds.labels, c.labelled ? Uint8Array.from(c.rows.map(([l]) => l)) : null);
  });
});

// Two small valid files to mutate, and the bytes CSV trouble is made of.
const TRAIN = Buffer.from(rowsText([Array.from({ length: 784 }, (_, i) => (i * 7) % 256), new Array(784).fill(0)], [3, 9]));
const TEST = Buffer.from(rowsText([Array.from({ length: 784 }, (_, i) => (i * 13) % 256)], null));
const TOKENS = [',', '\n', '\r\n', '\r', '"', ' ', '-1', '256', '1.5', '1e3', '-0', 'NaN', 'Infinity', '0x10', '\uFEFF', '\0',
  'label', 'pixel0', 'pixel784,', ',,', '\n\n', 'PK\u0003\u0004', '\u00ff\u00fe', '9,', '10,', '1'.repeat(400)];

test('mutated train.csv/test.csv: a Dataset that holds together or a DigitsError naming file and line; chunking changes nothing', async (t) => {
  const arb = fc.record({
    bytes: fc.oneof(mutated(TRAIN, TOKENS), mutated(TEST, TOKENS)),
    cuts: cutsArb,
    labelled: fc.constantFrom<boolean | 'auto'>('auto', 'auto', true, false),
    limit: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
  });
  await fuzz(t, arb, 1500, ({ bytes, cuts, labelled, limit }) => {
    const whole = parse(bytes, [], { labelled, limit });
    checkOutcome(whole);
    sameOutcome(whole, parse(bytes, cuts, { labelled, limit }));
  });
});

test('random bytes: a DigitsError naming the file (or, rarely, data)', async (t) => {
  const arb = fc.record({
    bytes: fc.oneof(
      fc.uint8Array({ maxLength: 512 }),
      fc.string({ unit: fc.constantFrom(...'0123456789,\r\n "-.e'), maxLength: 4000 }).map((s) => Buffer.from(s)),
      fc.string({ maxLength: 300 }).map((s) => Buffer.from(`${kaggleHeader(true).join(',')}\n${s}`)),
    ),
    cuts: cutsArb,
  });
  await fuzz(t, arb, 1000, ({ bytes, cuts }) => {
    const whole = parse(bytes, []);
    checkOutcome(whole);
    sameOutcome(whole, parse(bytes, cuts));
  });
});

test('readKaggleCsv on mutated files, plain and gzip (the gzip stream mutated too): a Dataset or a DigitsError', async (t) => {
  const arb = fc.record({
    bytes: fc.oneof(mutated(TRAIN, TOKENS), mutated(TEST, TOKENS)),
    wrap: fc.constantFrom('plain', 'gzip', 'mutated gzip'),
    limit: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    seed: fc.nat(),
  });
  let n = 0;
  await fuzz(t, arb, 250, async ({ bytes, wrap, limit, seed }) => {
    let data: Uint8Array = bytes;
    if (wrap !== 'plain') data = gzipSync(bytes);
    if (wrap === 'mutated gzip') {
      // flip a few bytes of the compressed stream (past the 1f 8b magic, so it is still taken for gzip)
      data = Uint8Array.from(data);
      for (let i = 0; i < 1 + (seed % 3); i++) data[2 + ((seed >> (i * 4)) % Math.max(1, data.length - 2))]! ^= 1 << (i + (seed % 5));
    }
    const file = path.join(dir, `f${n++}.csv`);
    await fs.writeFile(file, data);
    try {
      const ds = await readKaggleCsv(file, { limit });
      checkDataset(ds);
      if (limit !== undefined) assert.ok(ds.count <= limit);
    } catch (err) {
      if (!(err instanceof DigitsError)) throw err;
      checkError(err.message, file);
    } finally {
      await fs.rm(file, { force: true });
    }
  });
});
