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
import type { Segmentation } from '../preprocess/segment.js';

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

/** Share of its ink a candidate shares with one digit, both ways, to hold that digit whole (candidateDigits). */
export const WHOLE_SHARE = 0.85;

/**
 * Which digit of a composed number each candidate of its segmentation (made with `pieceMap`) holds
 * whole, from the ink's owners: the digit's index when at least `right` of the candidate's ink is
 * that digit's and it holds at least `right` of that digit's ink; -1 when it is far from any digit
 * (under 0.7 of either); -2 in between. What the line reader learns from (run/line-reader.ts), and
 * how the lab tells a segmentation's faults from the choice's.
 */
export function candidateDigits(seg: Pick<Segmentation, 'pieces' | 'candidates' | 'pieceMap'>, number: Pick<ComposedNumber, 'owner' | 'image' | 'boxes'>,
  right = WHOLE_SHARE): Int32Array {
  const k = number.boxes.length, { gray } = number.image;
  if (seg.pieceMap === undefined) throw new DigitsError('candidateDigits: the segmentation was made without its piece map');
  const ink = new Float64Array(seg.pieces * k);
  for (let i = 0; i < gray.length; i++) {
    const p = seg.pieceMap[i]!, d = number.owner[i]!;
    if (p >= 0 && d >= 0) ink[p * k + d]! += 255 - gray[i]!;
  }
  const total = new Float64Array(k);
  for (let p = 0; p < seg.pieces; p++) for (let d = 0; d < k; d++) total[d]! += ink[p * k + d]!;
  return Int32Array.from(seg.candidates, (c) => {
    const held = new Float64Array(k);
    for (let p = c.from; p < c.to; p++) for (let d = 0; d < k; d++) held[d]! += ink[p * k + d]!;
    const all = held.reduce((a, b) => a + b, 0);
    let best = 0;
    for (let d = 1; d < k; d++) if (held[d]! > held[best]!) best = d;
    const purity = all > 0 ? held[best]! / all : 0, whole = total[best]! > 0 ? held[best]! / total[best]! : 0;
    return purity >= right && whole >= right ? best : purity < 0.7 || whole < 0.7 ? -1 : -2;
  });
}
