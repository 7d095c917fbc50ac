/**
 * The server's image decoder (src/server/image-decoder.ts): uploads are decoded and
 * preprocessed on worker threads, with the same result and the same error messages as
 * preprocessImage on the main thread, and the event loop keeps turning while they run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImageError, preprocessImage } from '../src/preprocess/image.js';
import { ImageDecoder } from '../src/server/image-decoder.js';
import { DigitsError } from '../src/errors.js';
import { canvas, drawRing, encodeJpeg, encodePng, fillRect } from './serve-fixtures.js';

test('worker decoding gives what preprocessImage gives, for PNG and JPEG, on the pool', async (t) => {
  const decoder = new ImageDecoder(1);
  t.after(() => decoder.close());
  const c = canvas(300, 200, 255);
  drawRing(c, 120, 90, 50, 70, 14, 0);
  for (const [bytes, where] of [[encodePng(c), 'ring.png'], [encodeJpeg(c), 'ring.jpg']] as const) {
    const ref = preprocessImage(bytes, where);
    const before = decoder.completed;
    const got = await decoder.decode(bytes, where);
    assert.equal(decoder.completed, before + 1, 'decoded by a worker of the pool');
    assert.equal(got.polarity, ref.polarity);
    assert.equal(got.polarity, 'dark-on-light');
    assert.deepEqual(Array.from(got.pixels), Array.from(ref.pixels));
  }
});

test('bad images reject with the ImageError preprocessImage would throw, and the pool stays usable', async (t) => {
  const decoder = new ImageDecoder(1);
  t.after(() => decoder.close());
  const blank = encodePng(canvas(40, 40, 255));
  const notImage = Buffer.from('hello, not an image');
  for (const bytes of [notImage, blank, encodePng(canvas(40, 40, 0)).subarray(0, 60)]) {
    let expected = '';
    try {
      preprocessImage(bytes, 'request body');
    } catch (err) {
      assert.ok(err instanceof ImageError);
      expected = err.message;
    }
    assert.notEqual(expected, '', 'the main-thread decode fails too');
    await assert.rejects(decoder.decode(bytes, 'request body'), (err: unknown) => err instanceof ImageError && err.message === expected);
  }
  const c = canvas(64, 64, 0);
  fillRect(c, 28, 10, 8, 44, 255);
  assert.equal((await decoder.decode(encodePng(c), 'one.png')).polarity, 'light-on-dark');
});

test('the event loop keeps turning while a 16-megapixel image decodes', async (t) => {
  const decoder = new ImageDecoder(1);
  t.after(() => decoder.close());
  const c = canvas(4096, 4096, 255);
  fillRect(c, 1800, 1000, 400, 2000, 0);
  const bytes = encodePng(c); // a few tens of KB that take the main thread a second or more to decode
  const input = Buffer.from(bytes);
  let turns = 0;
  let done = false;
  const spin = (): void => {
    if (done) return;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  const got = await decoder.decode(bytes, 'big.png');
  done = true;
  // decoded inline, the call would return before a single setImmediate ran
  assert.ok(turns >= 20, `the event loop turned ${turns} times during the decode`);
  assert.equal(got.polarity, 'dark-on-light');
  assert.ok(got.pixels.some((v) => v > 200), 'the bar is in the field');
  assert.deepEqual(bytes, input, 'the caller\'s bytes are left as they were (a copy moves to the worker)');
});

test('thread counts below 1 are refused with a clear error', () => {
  assert.throws(() => new ImageDecoder(0), (err: unknown) => err instanceof DigitsError && /imageThreads: expected a whole number >= 1, got 0/.test(err.message));
});
