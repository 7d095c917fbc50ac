/**
 * Input normalizations of 28x28 digit images (values 0-1, row-major, one image after another).
 *
 * MNIST's digits are already scaled to fit a 20x20 box (aspect kept) and centred by their centre of
 * mass. These re-normalize them differently, so that models trained on each see the digits
 * differently and make different mistakes (Ciresan et al. 2012, "Multi-column deep neural networks
 * for image classification": columns trained on digits of several normalized widths).
 *
 * - width W: the digit's bounding box is stretched or squeezed horizontally to W pixels, its height
 *   kept, and centred.
 * - deskew: the shear that makes the digit's principal axis vertical is undone (image moments), and
 *   the centre of mass moved to the centre.
 */
import { DigitsError } from '../src/errors.js';

const SIDE = 28;
const PIXELS = SIDE * SIDE;
/** a pixel at or below this is background when finding the bounding box */
const INK = 0.05;

export type Normalization = { name: 'width'; pixels: number } | { name: 'deskew' };

/** `width:14` or `deskew`, as given on a command line or in a model's metadata */
export function parseNormalization(text: string): Normalization {
  if (text === 'deskew') return { name: 'deskew' };
  const m = /^width:(\d+(?:\.\d+)?)$/.exec(text);
  if (m !== null) {
    const pixels = Number(m[1]);
    if (pixels >= 4 && pixels <= 26) return { name: 'width', pixels };
  }
  throw new DigitsError(`normalization: expected "deskew" or "width:W" with W from 4 to 26 pixels, got ${JSON.stringify(text)}`);
}

export function normalizationName(n: Normalization): string {
  return n.name === 'deskew' ? 'deskew' : `width:${n.pixels}`;
}

/** The images normalized, as a new array (n images of 28x28). */
export function normalizeImages(images: Float32Array, n: Normalization): Float32Array {
  if (images.length % PIXELS !== 0) throw new DigitsError(`normalization: expected whole 28x28 images, got ${images.length} values`);
  const out = new Float32Array(images.length);
  for (let o = 0; o < images.length; o += PIXELS) {
    const src = images.subarray(o, o + PIXELS);
    const dst = out.subarray(o, o + PIXELS);
    if (n.name === 'width') widthNormalize(src, dst, n.pixels);
    else deskew(src, dst);
  }
  return out;
}

/**
 * One row resampled: dst[j] is the source row read at x = centre + (j + 0.5 - 14) / scale with a
 * tent filter of radius max(1, 1/scale) (linear interpolation when stretching, an area-like average
 * when squeezing, so thin strokes do not vanish).
 */
function resampleRow(src: Float32Array, so: number, dst: Float32Array, d0: number, centre: number, scale: number): void {
  const r = Math.max(1, 1 / scale);
  for (let j = 0; j < SIDE; j++) {
    const x = centre + (j + 0.5 - SIDE / 2) / scale;
    const k0 = Math.max(0, Math.ceil(x - r - 0.5));
    const k1 = Math.min(SIDE - 1, Math.floor(x + r - 0.5));
    let acc = 0;
    for (let k = k0; k <= k1; k++) {
      const w = 1 - Math.abs(k + 0.5 - x) / r;
      if (w > 0) acc += w * src[so + k]!;
    }
    dst[d0 + j] = acc / r; // the tent's weights sum to r on the unbounded grid: off-image pixels are 0
  }
}

function widthNormalize(src: Float32Array, dst: Float32Array, width: number): void {
  let c0 = SIDE;
  let c1 = -1;
  for (let i = 0; i < SIDE; i++) {
    for (let j = 0; j < SIDE; j++) {
      if (src[i * SIDE + j]! > INK) {
        if (j < c0) c0 = j;
        if (j > c1) c1 = j;
      }
    }
  }
  if (c1 < 0) { dst.set(src); return; } // blank: nothing to normalize
  const scale = width / (c1 - c0 + 1);
  const centre = (c0 + c1 + 1) / 2;
  for (let i = 0; i < SIDE; i++) resampleRow(src, i * SIDE, dst, i * SIDE, centre, scale);
}

function deskew(src: Float32Array, dst: Float32Array): void {
  let m = 0;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < SIDE; i++) {
    for (let j = 0; j < SIDE; j++) {
      const v = src[i * SIDE + j]!;
      m += v; mx += v * (j + 0.5); my += v * (i + 0.5);
    }
  }
  if (m <= 0) { dst.set(src); return; }
  mx /= m; my /= m;
  let vyy = 0;
  let vxy = 0;
  for (let i = 0; i < SIDE; i++) {
    for (let j = 0; j < SIDE; j++) {
      const v = src[i * SIDE + j]!;
      const dy = i + 0.5 - my;
      vyy += v * dy * dy; vxy += v * dy * (j + 0.5 - mx);
    }
  }
  const alpha = vyy > 0 ? vxy / vyy : 0; // x drifts by alpha per row down the digit
  const at = (y: number, x: number): number => (y < 0 || y >= SIDE || x < 0 || x >= SIDE ? 0 : src[y * SIDE + x]!);
  // output (u, v) reads the source at y = v - 14 + my, x = u - 14 + mx + alpha (v - 14), bilinearly
  for (let i = 0; i < SIDE; i++) {
    const v = i + 0.5;
    const ys = v - SIDE / 2 + my - 0.5; // in pixel-index units
    const y0 = Math.floor(ys);
    const fy = ys - y0;
    for (let j = 0; j < SIDE; j++) {
      const xs = j + 0.5 - SIDE / 2 + mx + alpha * (v - SIDE / 2) - 0.5;
      const x0 = Math.floor(xs);
      const fx = xs - x0;
      dst[i * SIDE + j] = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
    }
  }
}
