/**
 * The MNIST-like preprocessing (src/preprocess/image.ts) on synthetic images:
 * a digit drawn large and off-centre comes out 20 px on its longer side and
 * centred by mass; either polarity, transparency, JPEG and tiny inputs give
 * the same field; bad images fail with messages that say what was wrong.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  decodeImage, ImageError, preprocessImage, resize, sniffImageFormat, MAX_IMAGE_SIDE,
} from '../src/preprocess/image.js';
import { imageInputFiles, loadImageFiles } from '../src/preprocess/files.js';
import { HEAVY_STROKE, normaliseStrokes, strokeWidth } from '../src/preprocess/pixels.js';
import { loadMnist } from '../src/data/mnist.js';
import {
  canvas, drawFaintRing, drawRing, encodeJpeg, encodePng, fieldBox, fieldCentreOfMass, fillRect, mnistAsCanvas,
} from './serve-fixtures.js';

/** A "0" ring about 250 px tall and 160 px wide towards the top-left corner of a 480×320 image. */
function offCentreZero(dark: boolean): ReturnType<typeof canvas> {
  const c = canvas(480, 320, dark ? 255 : 0);
  drawRing(c, 100, 150, 70, 110, 20, dark ? 0 : 255);
  return c;
}

/** The box of the drawn ink in a canvas, by scanning it. */
function drawnBox(c: ReturnType<typeof canvas>, ink: (v: number) => boolean): { x0: number; y0: number; x1: number; y1: number } {
  let x0 = c.width, y0 = c.height, x1 = -1, y1 = -1;
  for (let y = 0; y < c.height; y++) {
    for (let x = 0; x < c.width; x++) {
      if (ink(c.v[y * c.width + x]!)) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  return { x0, y0, x1: x1 + 1, y1: y1 + 1 };
}

/**
 * Largest Pearson correlation of two 28×28 fields over whole-pixel shifts of
 * b by -1..1 in x and y: the placement rounds the centre of mass to a whole
 * pixel, so a 0.5 px difference in it may move the digit by one pixel.
 */
function shiftedCorrelation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let best = -1;
  for (let sy = -1; sy <= 1; sy++) {
    for (let sx = -1; sx <= 1; sx++) {
      const bb = new Float32Array(784);
      for (let y = 0; y < 28; y++) {
        for (let x = 0; x < 28; x++) {
          const yy = y - sy, xx = x - sx;
          bb[y * 28 + x] = yy >= 0 && yy < 28 && xx >= 0 && xx < 28 ? b[yy * 28 + xx]! : 0;
        }
      }
      best = Math.max(best, correlation(a, bb));
    }
  }
  return best;
}

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ma = 0, mb = 0;
  for (let j = 0; j < a.length; j++) { ma += a[j]!; mb += b[j]!; }
  ma /= a.length; mb /= b.length;
  let sab = 0, saa = 0, sbb = 0;
  for (let j = 0; j < a.length; j++) {
    sab += (a[j]! - ma) * (b[j]! - mb); saa += (a[j]! - ma) ** 2; sbb += (b[j]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('a large off-centre digit comes out 20 px tall, aspect kept, centred by mass in 28×28', () => {
  const c = offCentreZero(true);
  const drawn = drawnBox(c, (v) => v < 128);
  const pre = preprocessImage(encodePng(c), 'zero.png');
  assert.equal(pre.pixels.length, 784);
  assert.equal(pre.polarity, 'dark-on-light');
  assert.deepEqual(pre.box, drawn); // cropped to exactly the ink
  const dw = drawn.x1 - drawn.x0, dh = drawn.y1 - drawn.y0;
  assert.ok(dh > dw && dh > 200 && drawn.x0 < 80 && drawn.y0 < 80, `drawn ${JSON.stringify(drawn)}`);
  const box = fieldBox(pre.pixels);
  assert.equal(box.y1 - box.y0, 20, `height ${box.y1 - box.y0}`);
  assert.equal(box.x1 - box.x0, Math.round((dw * 20) / dh), `width ${box.x1 - box.x0}`);
  const com = fieldCentreOfMass(pre.pixels);
  // whole-pixel placement: the centre of mass is within half a pixel of MNIST's (the centre of pixel 14, 14)
  assert.ok(Math.abs(com.x - 14.5) <= 0.5 && Math.abs(com.y - 14.5) <= 0.5, `centre of mass ${com.x}, ${com.y}`);
  // white digit on black: corners are background, the strokes reach full intensity
  assert.equal(pre.pixels[0], 0);
  assert.ok(Math.max(...pre.pixels) >= 250);
  for (const v of pre.pixels) assert.ok(v >= 0 && v <= 255);
});

test('either polarity gives the same field (dark on light is inverted)', () => {
  const dark = preprocessImage(encodePng(offCentreZero(true)));
  const light = preprocessImage(encodePng(offCentreZero(false)));
  assert.equal(light.polarity, 'light-on-dark');
  assert.ok(maxAbsDiff(dark.pixels, light.pixels) < 1e-3, `max diff ${maxAbsDiff(dark.pixels, light.pixels)}`);
});

test('gray paper and gray ink are stretched to the full range', () => {
  const c = canvas(480, 320, 200);
  drawRing(c, 100, 150, 70, 110, 20, 90);
  const pre = preprocessImage(encodePng(c));
  const ref = preprocessImage(encodePng(offCentreZero(true)));
  assert.ok(maxAbsDiff(pre.pixels, ref.pixels) < 1, `max diff ${maxAbsDiff(pre.pixels, ref.pixels)}`);
});

test('a transparent background uses the alpha as ink (black or white strokes alike)', () => {
  const c = offCentreZero(true); // black ring on white, but the white will be transparent
  const alpha = (i: number): number => (c.v[i]! < 128 ? 255 : 0);
  const blackStrokes = preprocessImage(encodePng(c, alpha));
  assert.equal(blackStrokes.polarity, 'alpha');
  const white = offCentreZero(false);
  const whiteStrokes = preprocessImage(encodePng(white, (i) => (white.v[i]! > 128 ? 255 : 0)));
  const ref = preprocessImage(encodePng(offCentreZero(true)));
  assert.ok(maxAbsDiff(blackStrokes.pixels, ref.pixels) < 1e-3);
  assert.ok(maxAbsDiff(whiteStrokes.pixels, ref.pixels) < 1e-3);
});

test('JPEG decodes to nearly the same field as PNG', () => {
  const png = preprocessImage(encodePng(offCentreZero(true)));
  const jpg = preprocessImage(encodeJpeg(offCentreZero(true)), 'zero.jpg');
  const r = shiftedCorrelation(png.pixels, jpg.pixels);
  assert.ok(r > 0.97, `correlation ${r}`);
  const box = fieldBox(jpg.pixels, 32);
  assert.equal(box.y1 - box.y0, 20);
});

test('a wide digit: the longer side (width) becomes 20 px', () => {
  const c = canvas(300, 120, 255);
  fillRect(c, 200, 70, 90, 12, 0); // a dash near the bottom right: 90×12
  const pre = preprocessImage(encodePng(c));
  const box = fieldBox(pre.pixels);
  assert.equal(box.x1 - box.x0, 20);
  assert.ok(box.y1 - box.y0 >= 2 && box.y1 - box.y0 <= 4, `height ${box.y1 - box.y0}`); // 12/90*20 = 2.7
  const com = fieldCentreOfMass(pre.pixels);
  assert.ok(Math.abs(com.x - 14.5) <= 0.5 && Math.abs(com.y - 14.5) <= 0.5, `centre of mass ${com.x}, ${com.y}`);
});

test('a tiny digit is enlarged to 20 px (bilinear)', () => {
  const c = canvas(40, 30, 0);
  fillRect(c, 3, 4, 3, 15, 255); // a "1": 3×15 px
  const pre = preprocessImage(encodePng(c));
  const box = fieldBox(pre.pixels);
  assert.equal(box.y1 - box.y0, 20);
  assert.equal(box.x1 - box.x0, 4);
});

test('strokes far from MNIST\'s width come out near it: a heavy marker\'s 0 is eroded with its hole opened, a hairline\'s drawn again', () => {
  /** stroke width of a field in its 20-pixel box, and whether its centre is paper (a 0's hole) */
  const judge = (c: ReturnType<typeof canvas>): { width: number; hole: boolean } => {
    const { pixels } = preprocessImage(encodePng(c));
    const b = fieldBox(pixels, 32);
    const cx = Math.floor((b.x0 + b.x1) / 2), cy = Math.floor((b.y0 + b.y1) / 2);
    return { width: strokeWidth(pixels, 28, 28) * (20 / Math.max(b.x1 - b.x0, b.y1 - b.y0)), hole: pixels[cy * 28 + cx]! < 64 };
  };
  // a 0 200 px tall: with a 100 px marker only a slit of a hole is left; with a 1 px pen a hairline
  const heavy = canvas(300, 300, 0), hair = canvas(300, 300, 0), usual = canvas(300, 300, 0);
  drawRing(heavy, 150, 150, 62, 100, 100, 255);
  drawRing(hair, 150, 150, 62, 100, 1.5, 255);
  drawRing(usual, 150, 150, 62, 100, 28, 255);
  for (const [name, c] of [['heavy', heavy], ['hairline', hair], ['usual', usual]] as const) {
    const { width, hole } = judge(c);
    assert.ok(width >= 2 && width <= HEAVY_STROKE, `${name}: stroke ${width.toFixed(2)} in the 20-pixel box`);
    assert.ok(hole, `${name}: the 0 keeps its hole`);
  }
  // a faint line: a 0 only 14 px tall drawn with a pen under a pixel wide, its ink gray (as a hairline
  // font printed small is). Enlarged as it is, it stays a blur with the ink of a third of a digit;
  // drawn again, it has a digit's ink (MNIST's 0s: about 135 in all, each pixel 0-1)
  const faint = canvas(40, 40, 0);
  drawFaintRing(faint, 20, 20, 4.55, 7, 0.6);
  const { width, hole } = judge(faint);
  assert.ok(width >= 2 && width <= HEAVY_STROKE, `faint: stroke ${width.toFixed(2)} in the 20-pixel box`);
  assert.ok(hole, 'faint: the 0 keeps its hole');
  const drawn = preprocessImage(encodePng(faint)).pixels.reduce((a, v) => a + v / 255, 0);
  assert.ok(drawn > 80, `faint: ${drawn.toFixed(1)} of ink in the field`);
  // within MNIST's range the ink is left as it was
  const ink = new Float32Array(40 * 40);
  for (let y = 5; y < 35; y++) for (let x = 18; x < 22; x++) ink[y * 40 + x] = 255;
  const same = normaliseStrokes(ink, 40, 40);
  assert.equal(same.ink, ink);
});

test('real MNIST digits survive a round trip: upscaled, inverted, shifted, they come back close to the original', async () => {
  const mnist = await loadMnist('test', { limit: 20 });
  let total = 0;
  for (let i = 0; i < mnist.count; i++) {
    const img = mnist.images.subarray(i * 784, (i + 1) * 784);
    const big = mnistAsCanvas(img, 196, i % 2 === 0, (i * 13) % 40 - 20, (i * 7) % 30 - 15, 40);
    const pre = preprocessImage(encodePng(big));
    const r = shiftedCorrelation(img, pre.pixels);
    assert.ok(r > 0.75, `image ${i}: correlation ${r.toFixed(3)} with the original`);
    total += r;
  }
  assert.ok(total / mnist.count > 0.9, `mean correlation ${(total / mnist.count).toFixed(3)}`);
});

test('resize: area averaging keeps the mean when shrinking; identity at the same size', () => {
  const src = Float32Array.from({ length: 100 }, (_, i) => i % 7);
  const mean = (a: Float32Array): number => a.reduce((s, v) => s + v, 0) / a.length;
  const small = resize(src, 10, 10, 5, 5);
  assert.ok(Math.abs(mean(small) - mean(src)) < 1e-4);
  assert.deepEqual(Array.from(resize(src, 10, 10, 10, 10)), Array.from(src));
});

test('bad images fail with an ImageError that says what was wrong', () => {
  const where = 'upload.png';
  const check = (bytes: Uint8Array, pattern: RegExp): void => {
    assert.throws(() => preprocessImage(bytes, where), (err: unknown) => {
      assert.ok(err instanceof ImageError, String(err));
      assert.match((err as Error).message, pattern);
      assert.ok((err as Error).message.startsWith(where));
      return true;
    });
  };
  check(new Uint8Array(0), /not a PNG or JPEG image \(it starts with bytes \(none: it is empty\)\)/);
  check(Buffer.from('hello, world'), /not a PNG or JPEG image \(it starts with bytes 68 65 6c 6c/);
  const png = encodePng(offCentreZero(true));
  check(png.subarray(0, 60), /could not decode the PNG image/);
  const jpg = encodeJpeg(offCentreZero(true));
  check(jpg.subarray(0, 100), /could not decode the JPEG image/);
  // a PNG header claiming 100000×100000 pixels is refused before decoding
  const huge = Buffer.from(png.subarray(0, 33));
  huge.writeUInt32BE(100000, 16);
  huge.writeUInt32BE(100000, 20);
  check(huge, new RegExp(`100000×100000 pixels; at most ${MAX_IMAGE_SIDE} px a side`));
  check(encodePng(canvas(50, 50, 255)), /the image is blank/);
  check(encodePng(canvas(50, 50, 0)), /the image is blank/);
});

test('sniffImageFormat and decodeImage', () => {
  assert.equal(sniffImageFormat(encodePng(canvas(2, 2))), 'png');
  assert.equal(sniffImageFormat(encodeJpeg(canvas(8, 8))), 'jpeg');
  assert.equal(sniffImageFormat(Buffer.from('GIF89a')), null);
  const img = decodeImage(encodePng(canvas(3, 2, 128)));
  assert.equal(img.width, 3);
  assert.equal(img.height, 2);
  assert.equal(img.alpha, null);
  assert.ok(Math.abs(img.gray[0]! - 128) < 1e-3);
});

test('imageInputFiles: a file by its bytes, a folder in natural name order; other inputs are not images', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-pre-'));
  try {
    const zero = encodePng(offCentreZero(true));
    await fs.writeFile(path.join(dir, '10.png'), zero);
    await fs.writeFile(path.join(dir, '2.PNG'), zero);
    await fs.writeFile(path.join(dir, '1.jpg'), encodeJpeg(offCentreZero(false)));
    await fs.writeFile(path.join(dir, 'notes.txt'), 'not an image');
    const files = await imageInputFiles(dir);
    assert.deepEqual(files?.map((f) => path.basename(f)), ['1.jpg', '2.PNG', '10.png']);
    assert.deepEqual(await imageInputFiles(path.join(dir, '10.png')), [path.join(dir, '10.png')]);
    assert.equal(await imageInputFiles(path.join(dir, 'notes.txt')), null);
    assert.equal(await imageInputFiles(path.join(dir, 'missing.png')), null);
    const ds = await loadImageFiles(files!);
    assert.equal(ds.count, 3);
    assert.equal(ds.height, 28);
    assert.ok(ds.images.every((v) => v >= 0 && v <= 1));
    // a broken image in the folder names the file
    await fs.writeFile(path.join(dir, '3.png'), 'garbage');
    await assert.rejects(loadImageFiles((await imageInputFiles(dir))!), /3\.png: not a PNG or JPEG image/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
