/**
 * Images built to cost memory or time (issue 28): a PNG whose second IHDR declares 20000×20000
 * pixels, an interlaced 28×28 PNG whose image data inflates to far more than 28×28 needs, an IHDR
 * of the wrong length, 16-bit RGBA of a size whose raw data is over the budget, and a JPEG over
 * the size limit. Each is refused with one clear message before the decoder allocates for it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, deflateRawSync, deflateSync } from 'node:zlib';
import { ImageError, MAX_PNG_RAW_BYTES, preprocessImage } from '../src/preprocess/image.js';
import { canvas, drawRing, encodeJpeg, encodePng } from './serve-fixtures.js';

/** A PNG chunk (its CRC left zero: these files are refused before the decoder checks CRCs). */
function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  Buffer.from(data).copy(out, 8);
  return out;
}

function ihdr(width: number, height: number, depth: number, colorType: number, interlace: number): Buffer {
  const d = Buffer.alloc(13);
  d.writeUInt32BE(width, 0);
  d.writeUInt32BE(height, 4);
  d[8] = depth;
  d[9] = colorType;
  d[12] = interlace;
  return chunk('IHDR', d);
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const png = (...chunks: Buffer[]): Buffer => Buffer.concat([SIGNATURE, ...chunks, chunk('IEND', new Uint8Array(0))]);

/**
 * A zlib stream that inflates to `mib` MiB of zeros from a few KB: one byte-aligned deflate block
 * of 1 MiB repeated (the stream's checksum is never reached: inflation stops at the cap first).
 */
function zeroBomb(mib: number): Buffer {
  const block = deflateRawSync(Buffer.alloc(1 << 20), { finishFlush: constants.Z_FULL_FLUSH });
  return Buffer.concat([Buffer.from([0x78, 0x01]), ...Array.from({ length: mib }, () => block), Buffer.from([0x03, 0x00, 0, 0, 0, 0])]);
}

function refused(bytes: Uint8Array, pattern: RegExp): number {
  const started = performance.now();
  assert.throws(() => preprocessImage(bytes, 'upload.png'), (err: unknown) => {
    assert.ok(err instanceof ImageError, `an ImageError, got ${String(err)}`);
    assert.match(err.message, pattern);
    assert.ok(err.message.length < 300, `one short line: ${err.message}`);
    return true;
  });
  return performance.now() - started;
}

test('a PNG with a second IHDR (28×28, then 20000×20000) is refused before anything is allocated for it', () => {
  const small = ihdr(28, 28, 8, 0, 0);
  const big = ihdr(20000, 20000, 8, 6, 0);
  const idat = chunk('IDAT', deflateSync(Buffer.alloc(28 * 29)));
  const rss = process.memoryUsage().rss;
  const ms = refused(png(small, big, idat), /^upload\.png: could not decode the PNG image \(a second IHDR chunk\)$/);
  assert.ok(process.memoryUsage().rss - rss < 50 * 1024 * 1024, 'no allocation for 20000×20000');
  assert.ok(ms < 1000, `${ms} ms`);
  // an IHDR after the image data, and an IHDR that is not first, likewise
  refused(png(small, idat, big), /a second IHDR chunk/);
  refused(Buffer.concat([SIGNATURE, idat, small, chunk('IEND', new Uint8Array(0))]), /the first chunk is "IDAT", expected IHDR/);
});

test('an interlaced 28×28 PNG whose data inflates to 256 MiB is refused at what 28×28 needs, fast and without the memory', () => {
  const bomb = png(ihdr(28, 28, 8, 0, 1), chunk('IDAT', zeroBomb(256)));
  assert.ok(bomb.length < 300_000, `${bomb.length} bytes on the wire`);
  const rss = process.memoryUsage().rss;
  const ms = refused(bomb, /^upload\.png: the PNG's image data inflates to more than the 8\d\d bytes its 28×28 pixels need$/);
  assert.ok(process.memoryUsage().rss - rss < 64 * 1024 * 1024, 'inflation stopped at the cap');
  assert.ok(ms < 2000, `${ms} ms`);
  // the same for a plain (non-interlaced) one and for a palette one
  refused(png(ihdr(28, 28, 8, 0, 0), chunk('IDAT', zeroBomb(16))), /inflates to more than the 812 bytes its 28×28 pixels need/);
  refused(png(ihdr(28, 28, 1, 3, 0), chunk('IDAT', zeroBomb(16))), /inflates to more than the 140 bytes/);
});

test('an IHDR of the wrong length, a bad bit depth or colour type: one line saying which', () => {
  refused(png(chunk('IHDR', new Uint8Array(0))), /the IHDR chunk has 0 bytes, expected 13/);
  refused(png(ihdr(28, 28, 16, 3, 0)), /bit depth 16 with colour type 3/);
  refused(png(ihdr(28, 28, 8, 5, 0)), /colour type 5/);
  refused(png(ihdr(28, 28, 8, 0, 2)), /interlace method 2/);
  refused(png(ihdr(28, 28, 8, 0, 0)), /no IDAT chunk/);
});

test('the size budget counts bits per pixel: 8192×2048 RGBA of 16 bits is refused, of 8 bits it is not', () => {
  refused(png(ihdr(8192, 2048, 16, 6, 0), chunk('IDAT', deflateSync(Buffer.alloc(16)))),
    new RegExp(`8192×2048 pixels of 64 bits; at most ${MAX_PNG_RAW_BYTES.toLocaleString('en-US')} bytes of image data`));
  // 8-bit RGBA of that size is within the budget: refused only for its (deliberately short) data
  assert.throws(() => preprocessImage(png(ihdr(8192, 2048, 8, 6, 0), chunk('IDAT', deflateSync(Buffer.alloc(16)))), 'upload.png'),
    (err: unknown) => err instanceof ImageError && !/bytes of image data are accepted/.test(err.message));
});

test('one size limit with our message for PNG and JPEG alike: 4096×4096 is read in both, 8193 px wide is refused in both', () => {
  const c = canvas(4096, 4096, 255);
  drawRing(c, 2048, 2048, 900, 1400, 250, 0);
  assert.equal(preprocessImage(encodePng(c), 'big.png').polarity, 'dark-on-light');
  assert.equal(preprocessImage(encodeJpeg(c, 80), 'big.jpg').polarity, 'dark-on-light');
  const wide = canvas(8193, 8, 255);
  for (const [bytes, where] of [[encodePng(wide), 'wide.png'], [encodeJpeg(wide), 'wide.jpg']] as const) {
    assert.throws(() => preprocessImage(bytes, where), (err: unknown) => err instanceof ImageError &&
      err.message === `${where}: the image is 8193×8 pixels; at most 8192 px a side and 16,777,216 pixels in all are accepted`);
  }
});
