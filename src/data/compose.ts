/**
 * Numbers written with real handwriting: digits of a dataset (MNIST) set side by side into one
 * image, as people write them: of varied size, at varied heights, some apart, some touching or
 * overlapping by a few pixels. What `digits read` is measured and tested on (bench/read.ts).
 *
 * Each digit is cropped to its ink, scaled by a random factor, and placed after the previous one at a
 * random gap (negative: the digits overlap); where two digits meet, the stronger ink wins. The image
 * is dark ink on white paper, as a scan or a photo would be, with a margin around the ink.
 */
import { DigitsError } from '../errors.js';
import { Rng } from '../engine/rng.js';
import { resize } from '../preprocess/pixels.js';
import type { GrayImage } from '../preprocess/pixels.js';
import type { Dataset } from './dataset.js';

/** How digits are set into a number (lengths in pixels of a 28-pixel MNIST field). */
export interface ComposeOptions {
  /** [min, max] pixels between one digit's ink and the next one's; negative overlaps (default [-2, 6]) */
  gap?: [number, number];
  /** [min, max] factor each digit is scaled by (default [0.8, 1.25]) */
  scale?: [number, number];
  /** most pixels a digit is moved up or down (default 3) */
  jitter?: number;
  /** white paper around the ink (default 8) */
  margin?: number;
}

/** A composed number: the image, its text, and where each digit's ink is (left to right). */
export interface ComposedNumber {
  image: GrayImage;
  text: string;
  boxes: { x: number; y: number; width: number; height: number }[];
  /** per pixel of the image, the digit (0..digits-1) whose ink is strongest there; -1 where there is none */
  owner: Int8Array;
}

/** The digits at `rows` of `ds` (28×28, values 0..1, light on dark) written as one number, randomised by `rng`. */
export function composeNumber(ds: Dataset, rows: readonly number[], rng: Rng, o: ComposeOptions = {}): ComposedNumber {
  if (ds.height !== 28 || ds.width !== 28 || ds.channels !== 1) throw new DigitsError(`${ds.source}: composeNumber takes 28×28 one-channel digits`);
  if (ds.labels === null) throw new DigitsError(`${ds.source}: composeNumber needs labelled digits`);
  if (rows.length === 0) throw new DigitsError('composeNumber: no digits to compose');
  const [gapLo, gapHi] = o.gap ?? [-2, 6];
  const [scaleLo, scaleHi] = o.scale ?? [0.8, 1.25];
  const jitter = o.jitter ?? 3;
  const margin = o.margin ?? 8;
  const glyphs = rows.map((row) => {
    const src = ds.images.subarray(row * 784, (row + 1) * 784);
    let x0 = 28, y0 = 28, x1 = -1, y1 = -1;
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        if (src[y * 28 + x]! > 0.05) {
          x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
        }
      }
    }
    if (x1 < 0) throw new DigitsError(`${ds.source} image ${row}: blank, nothing to compose`);
    const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
    const crop = new Float32Array(bw * bh);
    for (let y = 0; y < bh; y++) for (let x = 0; x < bw; x++) crop[y * bw + x] = src[(y0 + y) * 28 + x0 + x]!;
    const s = rng.range(scaleLo, scaleHi);
    const w = Math.max(1, Math.round(bw * s)), h = Math.max(1, Math.round(bh * s));
    return { pixels: resize(crop, bw, bh, w, h), w, h, dy: Math.round(rng.range(-jitter, jitter)), label: ds.labels![row]! };
  });
  const tallest = Math.max(...glyphs.map((g) => g.h));
  const height = tallest + 2 * jitter + 2 * margin;
  const xs: number[] = [];
  let x = margin;
  for (const [i, g] of glyphs.entries()) {
    if (i > 0) x += Math.round(rng.range(gapLo, gapHi));
    xs.push(x);
    x += g.w;
  }
  const width = x + margin;
  const ink = new Float32Array(width * height);
  const owner = new Int8Array(width * height).fill(-1);
  const boxes = glyphs.map((g, i) => {
    // digits sit on a common middle line, each moved up or down a little
    const top = margin + jitter + Math.round((tallest - g.h) / 2) + g.dy;
    for (let y = 0; y < g.h; y++) {
      for (let xx = 0; xx < g.w; xx++) {
        const at = (top + y) * width + xs[i]! + xx;
        const v = g.pixels[y * g.w + xx]!;
        if (v > ink[at]!) {
          ink[at] = v;
          owner[at] = i;
        }
      }
    }
    return { x: xs[i]!, y: top, width: g.w, height: g.h };
  });
  const gray = new Float32Array(width * height);
  for (let i = 0; i < gray.length; i++) gray[i] = 255 * (1 - Math.min(1, ink[i]!));
  return { image: { width, height, gray, alpha: null }, text: glyphs.map((g) => String(g.label)).join(''), boxes, owner };
}
