/**
 * Property-based fuzz tests of the IDX reader (src/data/idx.ts): files built
 * from random headers (magic, dimension count, sizes) and data that is exact,
 * short, long or cut anywhere, plain or gzip (the gzip stream corrupted too),
 * read with and without a limit, and random bytes: the data as written or a
 * DigitsError naming the file; never another exception, never a hang.
 * Seeded (see fuzz-helpers.ts); the case counts are printed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, parseIdx, readIdx, readIdxImages, readIdxLabels } from '../src/data/idx.js';
import { DigitsError } from '../src/errors.js';
import { fuzz, mutated, position, reportCases } from './fuzz-helpers.js';

let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-fuzz-idx-'));
});
after(async () => {
  reportCases('idx');
  await fs.rm(dir, { recursive: true, force: true });
});

function header(magic: number, dims: number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic >>> 0);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d >>> 0));
  return out;
}

/** A file as a writer might botch it: magic, sizes, data too short or long. */
const fileArb = fc.record({
  magic: fc.oneof(
    fc.constantFrom(IDX_LABELS_MAGIC, IDX_IMAGES_MAGIC, 0x00000802, 0x00000804, 0x00000800, 0x00000d03, 0x01000803),
    fc.integer({ min: 0, max: 0xffffffff }),
  ),
  dims: fc.array(fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constantFrom(0xffffffff, 0x80000000, 65536, 1 << 20)), { maxLength: 5 }),
  /** bytes of data beyond (>0) or short of (<0) what the sizes need */
  delta: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: -8, max: 8 })),
  /** the data: labels 0..9 mostly, sometimes any byte */
  anyByte: fc.boolean(),
  seed: fc.nat(),
  cut: fc.option(position, { nil: undefined }),
});

type IdxCase = typeof fileArb extends fc.Arbitrary<infer T> ? T : never;

function build(c: IdxCase): { bytes: Uint8Array; exact: boolean; data: Uint8Array } {
  const head = header((c.magic & ~0xff) | (c.dims.length & 0xff), c.dims);
  const need = c.dims.reduce((a, b) => a * b, 1);
  // data only when the sizes are small enough to write; otherwise a few bytes (which cannot match)
  const length = Math.max(0, (need <= 4096 ? need : 16) + c.delta);
  const data = Uint8Array.from({ length }, (_, i) => ((i * 31 + c.seed) % (c.anyByte ? 256 : 10)));
  let bytes: Uint8Array = Buffer.concat([head, data]);
  if (c.cut !== undefined) bytes = bytes.subarray(0, Math.floor(c.cut * bytes.length));
  const exact = need <= 4096 && c.delta === 0 && c.cut === undefined && c.dims.length > 0;
  return { bytes, exact, data };
}

function checkRead(r: { dims: number[]; total: number; data: Uint8Array }, limit: number | undefined): void {
  assert.ok(r.dims.length >= 1);
  assert.equal(r.data.length, r.dims.reduce((a, b) => a * b, 1));
  assert.ok(r.dims[0]! <= r.total);
  if (limit !== undefined) assert.ok(r.dims[0]! <= limit);
}

function checkError(err: unknown, file: string): void {
  if (!(err instanceof DigitsError)) throw err;
  assert.ok(err.message.startsWith(file), `message does not name the file: ${err.message}`);
  assert.ok(!/NaN|undefined/.test(err.message), err.message);
}

test('parseIdx on random headers and data: the data as written, or a DigitsError naming the file', async (t) => {
  const arb = fc.record({ file: fileArb, expect: fc.constantFrom(undefined, IDX_LABELS_MAGIC, IDX_IMAGES_MAGIC),
    limit: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }) });
  await fuzz(t, arb, 2000, ({ file, expect, limit }) => {
    const { bytes, exact, data } = build(file);
    try {
      const r = parseIdx('f.idx', bytes, { expectMagic: expect, limit });
      checkRead(r, limit);
      if (exact) {
        assert.deepEqual(r.dims.slice(1), file.dims.slice(1));
        assert.deepEqual(Buffer.from(r.data), Buffer.from(data.subarray(0, r.data.length)));
      }
    } catch (err) {
      checkError(err, 'f.idx');
      // a well-formed unsigned-byte file of the expected kind is never refused
      const kindOk = expect === undefined || ((file.magic & ~0xff) | file.dims.length) === expect;
      if (exact && (file.magic & 0xffffff00) === 0x00000800 && kindOk) assert.fail(`refused a valid file: ${(err as Error).message}`);
    }
  });
});

test('parseIdx on random bytes and mutated valid files: a result that holds together or a DigitsError', async (t) => {
  const labels = Buffer.concat([header(IDX_LABELS_MAGIC, [5]), Uint8Array.from([1, 2, 3, 4, 5])]);
  const images = Buffer.concat([header(IDX_IMAGES_MAGIC, [2, 3, 3]), Uint8Array.from({ length: 18 }, (_, i) => i * 14)]);
  const arb = fc.record({
    bytes: fc.oneof(fc.uint8Array({ maxLength: 64 }), mutated(labels), mutated(images)),
    limit: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
  });
  await fuzz(t, arb, 2000, ({ bytes, limit }) => {
    try {
      checkRead(parseIdx('m.idx', bytes, { limit }), limit);
    } catch (err) {
      checkError(err, 'm.idx');
    }
  });
});

test('readIdx / readIdxImages / readIdxLabels on files, plain or gzip (corrupted too), with and without a limit', async (t) => {
  const arb = fc.record({
    file: fileArb,
    wrap: fc.constantFrom('plain', 'plain', 'gzip', 'corrupt gzip', 'gzip cut'),
    reader: fc.constantFrom('readIdx', 'images', 'labels'),
    limit: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
    flip: fc.nat(),
  });
  let n = 0;
  await fuzz(t, arb, 400, async ({ file, wrap, reader, limit, flip }) => {
    const { bytes, exact, data } = build(file);
    let onDisk: Uint8Array = bytes;
    if (wrap !== 'plain') onDisk = Uint8Array.from(gzipSync(bytes));
    if (wrap === 'corrupt gzip') onDisk[10 + (flip % Math.max(1, onDisk.length - 10))]! ^= 0x5a;
    if (wrap === 'gzip cut') onDisk = onDisk.subarray(0, 2 + (flip % (onDisk.length - 2)));
    const p = path.join(dir, `f${n++}.idx${wrap === 'plain' ? '' : '.gz'}`);
    await fs.writeFile(p, onDisk);
    try {
      if (reader === 'readIdx') {
        const r = await readIdx(p, { limit });
        checkRead(r, limit);
        if (exact && wrap !== 'corrupt gzip' && wrap !== 'gzip cut') {
          assert.deepEqual(Buffer.from(r.data), Buffer.from(data.subarray(0, r.data.length)));
        }
      } else if (reader === 'images') {
        const ds = await readIdxImages(p, { limit });
        assert.equal(ds.images.length, ds.count * ds.height * ds.width);
        assert.ok(ds.images.every((v) => v >= 0 && v <= 1));
      } else {
        const l = await readIdxLabels(p, { limit });
        assert.ok(l.every((v) => v <= 9));
      }
    } catch (err) {
      checkError(err, p);
    } finally {
      await fs.rm(p, { force: true });
    }
  });
});
