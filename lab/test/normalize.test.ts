/**
 * Input normalizations (src/nn/normalize.ts): width normalization stretches or squeezes a
 * digit's bounding box to the asked width, centred, rows kept; deskewing makes a slanted stroke
 * upright and centres its mass; blank images pass through; bad input is refused by name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DigitsError } from '../../src/errors.js';
import { normalizeImages, normalizationName, parseNormalization } from '../normalize.js';

const SIDE = 28;

/** columns and rows holding ink (> 0.05) */
function box(img: Float32Array): { c0: number; c1: number; r0: number; r1: number } {
  let c0 = SIDE, c1 = -1, r0 = SIDE, r1 = -1;
  for (let i = 0; i < SIDE; i++) for (let j = 0; j < SIDE; j++) {
    if (img[i * SIDE + j]! > 0.05) { c0 = Math.min(c0, j); c1 = Math.max(c1, j); r0 = Math.min(r0, i); r1 = Math.max(r1, i); }
  }
  return { c0, c1, r0, r1 };
}

/** a filled rectangle of columns [c0, c1] and rows [r0, r1] */
function rect(c0: number, c1: number, r0: number, r1: number): Float32Array {
  const img = new Float32Array(SIDE * SIDE);
  for (let i = r0; i <= r1; i++) for (let j = c0; j <= c1; j++) img[i * SIDE + j] = 1;
  return img;
}

test('width normalization: a 4-pixel bar becomes 14 pixels wide and a 20-pixel one 10, centred, its rows kept', () => {
  for (const [from, to, want] of [[5, 8, 14], [3, 22, 10]] as const) {
    const out = normalizeImages(rect(from, to, 4, 23), { name: 'width', pixels: want });
    const b = box(out);
    // width as a uniform bar's: its columns' standard deviation x sqrt(12) (the bounding box itself
    // also takes in the interpolation's blur of each edge)
    let m = 0, s1 = 0, s2 = 0;
    for (let i = 0; i < SIDE; i++) for (let j = 0; j < SIDE; j++) { const v = out[i * SIDE + j]!; m += v; s1 += v * (j + 0.5); s2 += v * (j + 0.5) ** 2; }
    const width = Math.sqrt(12 * (s2 / m - (s1 / m) ** 2));
    assert.ok(Math.abs(width - want) < 1, `width ${width}, wanted ${want}`);
    assert.ok(Math.abs(s1 / m - 14) < 0.01, `centre ${s1 / m}`);
    assert.equal(b.r0, 4);
    assert.equal(b.r1, 23);
    // ink scales with the width: a stretch adds, a squeeze removes, in proportion
    const ink = (a: Float32Array): number => a.reduce((s, v) => s + v, 0);
    assert.ok(Math.abs(ink(out) / ink(rect(from, to, 4, 23)) - want / (to - from + 1)) < 0.05);
  }
});

test('deskewing: a slanted stroke comes out upright, its centre of mass at the centre', () => {
  const img = new Float32Array(SIDE * SIDE);
  // a 2-pixel stroke leaning right as it goes up: x = 8 + 0.5 (23 - y)
  for (let i = 4; i <= 23; i++) {
    const x = Math.round(8 + 0.5 * (23 - i));
    img[i * SIDE + x] = 1; img[i * SIDE + x + 1] = 1;
  }
  const out = normalizeImages(img, { name: 'deskew' });
  const rowCentre = (a: Float32Array, i: number): number => {
    let m = 0, s = 0;
    for (let j = 0; j < SIDE; j++) { m += a[i * SIDE + j]!; s += a[i * SIDE + j]! * (j + 0.5); }
    return s / m;
  };
  const spread = (a: Float32Array): number => {
    const cs = [];
    for (let i = 0; i < SIDE; i++) if (a.subarray(i * SIDE, i * SIDE + SIDE).some((v) => v > 0.05)) cs.push(rowCentre(a, i));
    return Math.max(...cs) - Math.min(...cs);
  };
  assert.ok(spread(img) > 9, `the input leans: ${spread(img)}`);
  assert.ok(spread(out) < 1.5, `upright: row centres spread over ${spread(out)} pixels`);
  let m = 0, mx = 0, my = 0;
  for (let i = 0; i < SIDE; i++) for (let j = 0; j < SIDE; j++) { const v = out[i * SIDE + j]!; m += v; mx += v * (j + 0.5); my += v * (i + 0.5); }
  assert.ok(Math.abs(mx / m - 14) < 0.3 && Math.abs(my / m - 14) < 0.3, `centre of mass (${mx / m}, ${my / m})`);
});

test('normalizations leave blank images blank, work image by image, and refuse bad input by name', () => {
  const two = new Float32Array(2 * SIDE * SIDE);
  two.set(rect(10, 13, 5, 20), SIDE * SIDE); // the first image blank, the second a bar
  for (const n of [parseNormalization('width:12'), parseNormalization('deskew')]) {
    const out = normalizeImages(two, n);
    assert.ok(out.subarray(0, SIDE * SIDE).every((v) => v === 0));
    assert.deepEqual(out.subarray(SIDE * SIDE), normalizeImages(two.subarray(SIDE * SIDE), n));
    assert.deepEqual(parseNormalization(normalizationName(n)), n);
  }
  assert.throws(() => normalizeImages(new Float32Array(100), { name: 'deskew' }), (e: unknown) => e instanceof DigitsError && /whole 28x28 images, got 100 values/.test(e.message));
  for (const bad of ['width', 'width:2', 'width:30', 'skew', '']) {
    assert.throws(() => parseNormalization(bad), (e: unknown) => e instanceof DigitsError && e.message.includes(JSON.stringify(bad)));
  }
});
