/**
 * Property-based fuzz tests of image uploads (src/preprocess/image.ts and
 * POST /api/predict): PNG and JPEG bytes mutated at random, PNGs rebuilt with
 * random header fields and pixel data under valid checksums (so the decoder
 * gets past its CRC checks), some with a chunk written twice, progressive
 * JPEGs of many scans, and random bytes: a 28×28 field of values
 * 0..255 or an ImageError naming the input; through the API a 2xx or a 4xx
 * JSON answer, never a 500. Seeded (see fuzz-helpers.ts); the case counts are printed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { ImageError, MAX_JPEG_SCANS, preprocessImage } from '../src/preprocess/image.js';
import { buildServer } from '../src/server/app.js';
import { canvas, drawRing, encodeJpeg, encodePng, fillRect, untrainedPredictor } from './serve-fixtures.js';
import { fuzz, mutated, reportCases } from './fuzz-helpers.js';
import { manyScansJpeg, pngChunk as chunk } from './hostile-images.js';

let app: FastifyInstance;
before(async () => {
  app = buildServer({ predictor: untrainedPredictor() });
  await app.ready();
});
after(async () => {
  reportCases('image');
  await app?.close();
});

function digitCanvas(size: number, invert: boolean): ReturnType<typeof canvas> {
  const c = canvas(size, size, invert ? 255 : 0);
  drawRing(c, size / 2, size / 2, size / 4, size / 3, Math.max(1, size / 10), invert ? 0 : 255);
  fillRect(c, Math.floor(size / 2), 1, 1, Math.max(1, Math.floor(size / 4)), invert ? 0 : 255);
  return c;
}

function transparentPng(size: number): Buffer {
  const c = digitCanvas(size, false);
  return encodePng(c, (i) => (c.v[i]! > 0 ? 255 : 0));
}

const BASES = [
  encodePng(digitCanvas(12, false)),
  encodePng(digitCanvas(20, true)),
  transparentPng(16), // ink in the alpha channel
  encodeJpeg(digitCanvas(16, false)),
  encodeJpeg(digitCanvas(24, true), 50),
];
const PNG_TOKENS = ['IHDR', 'IDAT', 'IEND', 'PLTE', 'tRNS', '\0\0\0\0', '\xff\xff\xff\xff', '\x7f\xff\xff\xff', '\0\0\x40\0'];
const JPEG_TOKENS = ['\xff\xd8', '\xff\xd9', '\xff\xc0', '\xff\xc2', '\xff\xc4', '\xff\xda', '\xff\xdb', '\xff\xdd', '\xff\xff',
  '\0\0', '\xff\xff\xff\xff', '\x40\0\x40\0'];

/** A PNG whose header fields and pixel data are random but whose chunks are well formed. */
const structuredPng = fc.record({
  width: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 40 }) }, fc.constantFrom(0x7fffffff, 0xffffffff, 9000, 4097)),
  height: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 40 }) }, fc.constantFrom(0x7fffffff, 0xffffffff, 9000, 4097)),
  /** [colour type, bit depth]: the valid pairs mostly, some invalid ones */
  format: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom([0, 1], [0, 2], [0, 4], [0, 8], [0, 16], [2, 8], [2, 16], [3, 1], [3, 2], [3, 4], [3, 8],
      [4, 8], [4, 16], [6, 8], [6, 16]) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 255), fc.constantFrom(0, 1, 3, 8, 16, 255)) },
  ),
  interlace: fc.constantFrom(0, 1, 0, 2),
  /** scanline bytes: exactly as many as a non-interlaced image needs, or any number */
  exact: fc.boolean(),
  rows: fc.uint8Array({ maxLength: 6000 }),
  palette: fc.option(fc.uint8Array({ minLength: 0, maxLength: 80 }), { nil: undefined }),
  trns: fc.option(fc.uint8Array({ maxLength: 20 }), { nil: undefined }),
  splitIdat: fc.boolean(),
  noIend: fc.boolean(),
  /** a chunk written twice (a second IHDR declaring another size, a second PLTE, tRNS or IDAT), and where */
  duplicate: fc.option(fc.record({ type: fc.constantFrom('IHDR', 'PLTE', 'tRNS', 'IDAT'), last: fc.boolean(),
    width: fc.constantFrom(28, 20000, 0x7fffffff) }), { nil: undefined }),
}).map((c) => {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(c.width >>> 0, 0);
  ihdr.writeUInt32BE(c.height >>> 0, 4);
  const [colorType, depth] = c.format as [number, number];
  ihdr[8] = depth; ihdr[9] = colorType; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = c.interlace;
  let rows = c.rows;
  const channels = [1, 0, 3, 1, 2, 0, 4][colorType] ?? 1;
  const stride = 1 + Math.ceil((c.width * channels * depth) / 8);
  if (c.exact && c.width <= 64 && c.height <= 64) {
    // random pixels, each scanline led by a valid filter byte (0..4)
    rows = Uint8Array.from({ length: stride * c.height }, (_, i) => {
      const v = c.rows.length > 0 ? c.rows[i % c.rows.length]! : i;
      return i % stride === 0 ? v % 5 : v;
    });
  }
  const idat = deflateSync(rows);
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (c.palette) parts.push(chunk('PLTE', c.palette));
  if (c.trns) parts.push(chunk('tRNS', c.trns));
  if (c.splitIdat && idat.length > 2) {
    parts.push(chunk('IDAT', idat.subarray(0, idat.length >> 1)), chunk('IDAT', idat.subarray(idat.length >> 1)));
  } else {
    parts.push(chunk('IDAT', idat));
  }
  if (c.duplicate) {
    const { type, last, width } = c.duplicate;
    const again = type === 'IHDR' ? chunk('IHDR', Buffer.concat([Buffer.from([width >>> 24, (width >>> 16) & 255, (width >>> 8) & 255, width & 255]), ihdr.subarray(4)]))
      : type === 'IDAT' ? chunk('IDAT', idat) : chunk(type, (type === 'PLTE' ? c.palette : c.trns) ?? new Uint8Array(3));
    parts.splice(last ? parts.length : 2, 0, again);
  }
  if (!c.noIend) parts.push(chunk('IEND', new Uint8Array(0)));
  return new Uint8Array(Buffer.concat(parts));
});

/** Progressive JPEGs of many cheap scans (test/hostile-images.ts): mostly small, some as large or as many as the limits allow, some past them. */
const manyScans = fc.record({
  width: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 300 }) }, fc.constantFrom(4096, 8192)),
  height: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 300 }) }, fc.constantFrom(2048, 8193)),
  scans: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 40 }) }, fc.constantFrom(99, 100, 101, MAX_JPEG_SCANS, MAX_JPEG_SCANS + 1, 20_000)),
}).map(({ width, height, scans }) => new Uint8Array(manyScansJpeg(width, height, scans)));

const imageBytes = fc.oneof(
  { weight: 3, arbitrary: fc.oneof(...BASES.slice(0, 3).map((b) => mutated(b, PNG_TOKENS))) },
  { weight: 3, arbitrary: fc.oneof(...BASES.slice(3).map((b) => mutated(b, JPEG_TOKENS))) },
  { weight: 3, arbitrary: structuredPng },
  { weight: 1, arbitrary: manyScans },
  { weight: 1, arbitrary: mutated(manyScansJpeg(24, 24, 6), JPEG_TOKENS) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }) },
);

/** ImageError messages seen, digits and the input's leading bytes blanked: what the cases ran into. */
const refusals = new Map<string, number>();

function checkPreprocess(bytes: Uint8Array): 'ok' | 'error' {
  try {
    const r = preprocessImage(bytes, 'upload.png');
    assert.equal(r.pixels.length, 28 * 28);
    for (const v of r.pixels) assert.ok(v >= 0 && v <= 255, `pixel ${v}`);
    assert.ok(r.box.x1 > r.box.x0 && r.box.y1 > r.box.y0);
    return 'ok';
  } catch (err) {
    if (!(err instanceof ImageError)) throw err;
    assert.ok(err.message.startsWith('upload.png: '), err.message);
    const kind = err.message.replace(/bytes [0-9a-f ]+\)/, 'bytes …)').replace(/\d+/g, 'N').slice(0, 100);
    refusals.set(kind, (refusals.get(kind) ?? 0) + 1);
    return 'error';
  }
}

test('the unmutated bases are read (so the mutations start from valid images)', () => {
  for (const b of BASES) assert.equal(checkPreprocess(b), 'ok');
});

test('preprocessImage on mutated PNG/JPEG, structured PNGs and random bytes: a 28×28 field or an ImageError', async (t) => {
  const seen = { ok: 0, error: 0 };
  await fuzz(t, imageBytes, 1500, (bytes) => {
    seen[checkPreprocess(bytes)]++;
  });
  t.diagnostic(`read: ${seen.ok}, refused with an ImageError: ${seen.error}; most common refusals:`);
  for (const [kind, n] of [...refusals].sort((a, b) => b[1] - a[1]).slice(0, 8)) t.diagnostic(`  ${n} × ${kind}`);
  assert.ok(seen.ok > 0 && seen.error > 0, JSON.stringify(seen)); // the cases reach both outcomes
});

test('POST /api/predict with the same kinds of bytes and any image content type: 200 or 4xx JSON, never 500', async (t) => {
  const arb = fc.record({ bytes: imageBytes, type: fc.constantFrom('image/png', 'image/jpeg', 'image/png; charset=binary', 'IMAGE/PNG') });
  await fuzz(t, arb, 400, async ({ bytes, type }) => {
    const res = await app.inject({ method: 'POST', url: '/api/predict', headers: { 'content-type': type }, payload: Buffer.from(bytes) });
    assert.ok([200, 400, 415, 422].includes(res.statusCode), `${res.statusCode}: ${res.body.slice(0, 300)}`);
    const body = res.json();
    if (res.statusCode === 200) {
      assert.equal(body.preprocessed.pixels.length, 784);
      assert.equal(body.probabilities.length, 10);
    } else {
      assert.equal(body.statusCode, res.statusCode);
      assert.equal(typeof body.message, 'string');
    }
  });
  assert.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
});
