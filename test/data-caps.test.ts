/**
 * Readers whose memory follows the data actually used (issue 28): a gzipped IDX file read with a
 * limit decompresses only the header and those items, and a gzipped CSV that decompresses past its
 * cap is refused with one line, through the real command too, instead of filling memory.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants, deflateRawSync, gzipSync } from 'node:zlib';
import { CSV_MAX_DECOMPRESSED_BYTES, readKaggleCsv } from '../src/data/csv.js';
import { readIdxImages } from '../src/data/idx.js';
import { DigitsError } from '../src/errors.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
let tmp = '';
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-caps-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/**
 * Gzip data whose inflated text is `head` then `block` repeated `times` times, built from one
 * deflate block (cheap to make however large the text): its trailer is not the text's CRC, which a
 * reader that stops at its cap never reaches.
 */
function repeatedGzip(head: string, block: string, times: number): Buffer {
  const first = deflateRawSync(Buffer.from(head), { finishFlush: constants.Z_FULL_FLUSH });
  const body = deflateRawSync(Buffer.from(block), { finishFlush: constants.Z_FULL_FLUSH });
  const gzHeader = Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff]);
  return Buffer.concat([gzHeader, first, ...Array.from({ length: times }, () => body), Buffer.from([0x03, 0x00]), Buffer.alloc(8)]);
}

test('a gzipped IDX of 300,000 images read with --limit 100 decompresses only those: little memory, little time', async () => {
  const n = 300_000;
  const header = Buffer.alloc(16);
  header.writeUInt32BE(0x00000803, 0);
  header.writeUInt32BE(n, 4);
  header.writeUInt32BE(28, 8);
  header.writeUInt32BE(28, 12);
  const file = path.join(tmp, 'big-images-idx3-ubyte.gz');
  await fs.writeFile(file, gzipSync(Buffer.concat([header, Buffer.alloc(n * 784, 7)]), { level: 1 }));
  const rss = process.memoryUsage().rss;
  const started = performance.now();
  const ds = await readIdxImages(file, { limit: 100 });
  const ms = performance.now() - started;
  assert.equal(ds.count, 100);
  assert.equal(ds.images.length, 100 * 784);
  assert.ok(Math.abs(ds.images[0]! - 7 / 255) < 1e-7);
  assert.ok(process.memoryUsage().rss - rss < 100 * 1024 * 1024, 'the other 299,900 images (235 MB) were not inflated');
  assert.ok(ms < 1000, `${ms.toFixed(0)} ms`);
});

test('a gzipped CSV that decompresses past its cap (512 MiB) is refused with one line naming the cap and --limit', async () => {
  const header = ['label', ...Array.from({ length: 784 }, (_, i) => `pixel${i}`)].join(',') + '\n';
  const row = ['3', ...new Array<string>(784).fill('0')].join(',') + '\n'; // 1,570 bytes
  const rows = Array.from({ length: 600 }, () => row).join(''); // ~0.9 MiB a block
  const times = Math.ceil(CSV_MAX_DECOMPRESSED_BYTES / rows.length) + 2;
  const file = path.join(tmp, 'bomb.csv.gz');
  await fs.writeFile(file, repeatedGzip(header, rows, times));
  assert.ok((await fs.stat(file)).size < 3 * 1024 * 1024);
  // the cap, met early in-process (a smaller one), and the rows a limit asks for read without reaching it
  await assert.rejects(readKaggleCsv(file, { labelled: true, maxDecompressedBytes: 8 << 20 }), (err: unknown) => err instanceof DigitsError &&
    /bomb\.csv\.gz: decompresses to more than 8,388,608 bytes, more than a CSV of digits should hold/.test(err.message));
  const few = await readKaggleCsv(file, { labelled: true, limit: 50, maxDecompressedBytes: 8 << 20 });
  assert.equal(few.count, 50);
  // and the real command, with the real cap, says it in one line
  const r = spawnSync(process.execPath, [cli, 'train', '--data', file, '--epochs', '1', '--out', path.join(tmp, 'out')],
    { encoding: 'utf8', env: { ...process.env, CI: '1' } });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^digits: error: .*bomb\.csv\.gz: decompresses to more than 536,870,912 bytes/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('a UTF-16 CSV, and a .csv of NUL bytes, get one line saying to save it as UTF-8 (not an IDX magic-number error)', async () => {
  const text = 'label,pixel0\n1,0\n';
  const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
  const nul = Buffer.alloc(4096);
  for (const [name, bytes, pattern] of [
    ['utf16.csv', utf16, /utf16\.csv: the file is UTF-16 text, not a UTF-8 CSV; save it as UTF-8/],
    ['utf16-nobom.csv', Buffer.from(text, 'utf16le'), /utf16-nobom\.csv: the file is UTF-16 text, not a UTF-8 CSV/],
    ['zeros.csv', nul, /zeros\.csv: the file starts with NUL bytes, not a UTF-8 CSV; save it as UTF-8/],
  ] as const) {
    const file = path.join(tmp, name);
    await fs.writeFile(file, bytes);
    const r = spawnSync(process.execPath, [cli, 'train', '--data', file, '--out', path.join(tmp, `out-${name}`)],
      { encoding: 'utf8', env: { ...process.env, CI: '1' } });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /magic number/);
  }
});
