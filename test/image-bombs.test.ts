/**
 * Images built to cost memory or time (issue 28): a PNG whose second IHDR declares 20000×20000
 * pixels, an interlaced 28×28 PNG whose image data inflates to far more than 28×28 needs, an IHDR
 * of the wrong length, 16-bit RGBA of a size whose raw data is over the budget, a JPEG over
 * the size limit, and progressive JPEGs of thousands of scans. Each is refused with one clear message before the decoder allocates for it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { ImageError, MAX_JPEG_SCANS, MAX_PNG_RAW_BYTES, preprocessImage } from '../src/preprocess/image.js';
import { PNG_SIGNATURE, ihdr, manyScansJpeg, png, pngChunk as chunk, zeroBomb } from './hostile-images.js';
import { canvas, drawRing, encodeJpeg, encodePng } from './serve-fixtures.js';

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
  refused(Buffer.concat([PNG_SIGNATURE, idat, small, chunk('IEND', new Uint8Array(0))]), /the first chunk is "IDAT", expected IHDR/);
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

test('a progressive JPEG of many cheap scans is refused before decoding; one of a few scans is read', () => {
  // 100,000 scans over 4000×4000 took a decoder minutes; the scans are counted first, in milliseconds
  const bomb = manyScansJpeg(4000, 4000, 100_000);
  const ms = refused(bomb, new RegExp(`^upload\\.png: the progressive JPEG has over ${MAX_JPEG_SCANS.toLocaleString('en-US')} scans of 4000×4000 pixels, too many`));
  assert.ok(ms < 1000, `${ms} ms`);
  // fewer scans, but too many for the pixels they cover: 200 scans of 16 megapixels
  refused(manyScansJpeg(4096, 4096, 200), /has 200 scans of 4096×4096 pixels, too many to decode/);
  // a few scans of a small image decode as any JPEG does (flat grey: no ink)
  assert.throws(() => preprocessImage(manyScansJpeg(64, 64, 12), 'upload.jpg'), /no ink|blank/);
});
