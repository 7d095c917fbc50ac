/**
 * The pixel half of the preprocessing (image.ts describes the pipeline): from a grayscale image, or
 * the RGBA of a decoded one or of a canvas, to the 28×28 MNIST-like field. No Node imports, so the
 * drawing page runs exactly this code in the browser (src/web).
 */
import { DigitsError } from '../errors.js';

export const FIELD = 28;
export const BOX = 20;
/**
 * Where MNIST puts a digit's centre of mass, in pixel-centre coordinates
 * (pixel i spans [i, i+1)): on the centre of pixel (14, 14). Measured on the
 * first 2,000 MNIST test images: mean 14.50 (x), 14.49 (y).
 */
export const MNIST_CENTRE = FIELD / 2 + 0.5;

/** A grayscale image: 0 = black, 255 = white; alpha 0..255 (null: opaque). */
export interface GrayImage {
  width: number;
  height: number;
  /** [H, W] luminance 0..255 */
  gray: Float32Array;
  /** [H, W] alpha 0..255, or null when the image has no transparency */
  alpha: Float32Array | null;
}

/** An image problem users can read, distinct from other errors (the server maps it to 4xx). */
export class ImageError extends DigitsError {
  constructor(message: string) {
    super(message);
    this.name = 'ImageError';
  }
}

/** RGBA bytes (a decoded image, a canvas's ImageData) → grayscale (ITU-R 601 luma) and alpha when any pixel is not opaque. */
export function grayFromRgba(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): GrayImage {
  const n = width * height;
  const gray = new Float32Array(n);
  let transparent = false;
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    gray[i] = 0.299 * rgba[j]! + 0.587 * rgba[j + 1]! + 0.114 * rgba[j + 2]!;
    if (rgba[j + 3]! < 255) transparent = true;
  }
  // the alpha only where it says something (a drawing page's opaque canvas: no second array)
  let alpha: Float32Array | null = null;
  if (transparent) {
    alpha = new Float32Array(n);
    for (let i = 0; i < n; i++) alpha[i] = rgba[4 * i + 3]!;
  }
  return { width, height, gray, alpha };
}

/**
 * The ink map of an image: 0 where there is no ink, up to 255 for the
 * strongest ink, whatever the polarity.
 *
 * - Transparent background (some pixels with alpha < 128): the ink is the
 *   alpha, so black or white strokes on a transparent canvas both work.
 * - Otherwise the background level is the median of the border pixels; a
 *   light border means dark ink on light paper, so the image is inverted.
 * The result is stretched so the background maps to 0 and the strongest ink to 255.
 */
export function inkMap(img: GrayImage): { ink: Float32Array; polarity: Polarity } {
  const { width: w, height: h } = img;
  const n = w * h;
  const ink = new Float32Array(n);
  let polarity: Polarity;
  if (img.alpha && img.alpha.some((a) => a < 128)) {
    polarity = 'alpha';
    ink.set(img.alpha);
  } else {
    const invert = borderMedian(img.gray, w, h) > 127.5;
    polarity = invert ? 'dark-on-light' : 'light-on-dark';
    for (let i = 0; i < n; i++) ink[i] = invert ? 255 - img.gray[i]! : img.gray[i]!;
  }
  // stretch: background (border median of the ink map) -> 0, the strongest ink -> 255
  const bg = borderMedian(ink, w, h);
  let max = 0;
  for (let i = 0; i < n; i++) if (ink[i]! > max) max = ink[i]!;
  const range = max - bg;
  if (range < 1) return { ink: new Float32Array(n), polarity }; // no ink at all
  for (let i = 0; i < n; i++) {
    const v = ((ink[i]! - bg) / range) * 255;
    ink[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return { ink, polarity };
}

/** How the ink was found: light on dark, dark on light (inverted), or the alpha channel. */
export type Polarity = 'light-on-dark' | 'dark-on-light' | 'alpha';

/** Median of the pixels on the image's border: the background level. */
function borderMedian(v: Float32Array, w: number, h: number): number {
  const border: number[] = [];
  for (let x = 0; x < w; x++) border.push(v[x]!, v[(h - 1) * w + x]!);
  for (let y = 1; y < h - 1; y++) border.push(v[y * w]!, v[y * w + w - 1]!);
  border.sort((a, b) => a - b);
  return border[border.length >> 1]!;
}

/** Ink counts as part of the digit's bounding box above this level (of 255): ignores faint noise. */
export const INK_THRESHOLD = 32;

/** A rectangle in image pixels: left, top, width, height. */
export interface Box {
  x0: number;
  y0: number;
  /** exclusive */
  x1: number;
  y1: number;
}

/** Bounding box of pixels above `threshold`, or null when there are none. */
export function inkBoundingBox(ink: Float32Array, width: number, height: number, threshold = INK_THRESHOLD): Box | null {
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x]! > threshold) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < 0 ? null : { x0, y0, x1: x1 + 1, y1: y1 + 1 };
}

/**
 * Resample src [sh, sw] to [dh, dw]: area averaging when shrinking (each
 * output pixel is the mean of the input area it covers, fractional edges
 * weighted), bilinear interpolation when enlarging.
 */
export function resize(src: Float32Array, sw: number, sh: number, dw: number, dh: number): Float32Array {
  const dst = new Float32Array(dw * dh);
  const sx = sw / dw;
  const sy = sh / dh;
  if (sx >= 1 && sy >= 1) {
    for (let y = 0; y < dh; y++) {
      const fy0 = y * sy, fy1 = (y + 1) * sy;
      for (let x = 0; x < dw; x++) {
        const fx0 = x * sx, fx1 = (x + 1) * sx;
        let sum = 0;
        for (let yy = Math.floor(fy0); yy < Math.min(sh, Math.ceil(fy1)); yy++) {
          const wy = Math.min(yy + 1, fy1) - Math.max(yy, fy0);
          for (let xx = Math.floor(fx0); xx < Math.min(sw, Math.ceil(fx1)); xx++) {
            const wx = Math.min(xx + 1, fx1) - Math.max(xx, fx0);
            sum += src[yy * sw + xx]! * wx * wy;
          }
        }
        dst[y * dw + x] = sum / (sx * sy);
      }
    }
    return dst;
  }
  for (let y = 0; y < dh; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), sh - 1);
    const y0 = Math.floor(fy), y1 = Math.min(y0 + 1, sh - 1), ty = fy - y0;
    for (let x = 0; x < dw; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), sw - 1);
      const x0 = Math.floor(fx), x1 = Math.min(x0 + 1, sw - 1), tx = fx - x0;
      const top = src[y0 * sw + x0]! * (1 - tx) + src[y0 * sw + x1]! * tx;
      const bottom = src[y1 * sw + x0]! * (1 - tx) + src[y1 * sw + x1]! * tx;
      dst[y * dw + x] = top * (1 - ty) + bottom * ty;
    }
  }
  return dst;
}

/** Centre of mass (x, y) of an ink map in pixel-centre coordinates (pixel i spans [i, i+1), centre i + 0.5). */
export function centreOfMass(ink: Float32Array, width: number, height: number): { x: number; y: number } {
  let m = 0, mx = 0, my = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = ink[y * width + x]!;
      m += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  }
  return m > 0 ? { x: mx / m, y: my / m } : { x: width / 2, y: height / 2 };
}

/** An image made MNIST-like: the 28×28 field (0-255, white on black), the ink box in the original image, and its polarity. */
export interface Preprocessed {
  /** [28, 28] row-major, 0..255, white digit on black */
  pixels: Float32Array;
  /** the ink's bounding box in the original image */
  box: Box;
  /** whether the image was inverted (dark ink on light paper) or its alpha used */
  polarity: Polarity;
}

/** An ink map (any size) → the 28×28 MNIST-like field. Throws ImageError when there is no ink. */
export function mnistFromInk(ink: Float32Array, width: number, height: number, where = 'image', strokes: StrokeOptions = {}): { pixels: Float32Array; box: Box } {
  const box = inkBoundingBox(ink, width, height);
  if (box === null) throw new ImageError(`${where}: the image is blank (no ink found to read a digit from)`);
  // strokes far thinner or heavier than MNIST's are brought into its range
  const { ink: crop, width: bw, height: bh } = normaliseStrokes(cropInk(ink, width, box), box.x1 - box.x0, box.y1 - box.y0, strokes);
  const scale = BOX / Math.max(bw, bh);
  const dw = Math.max(1, Math.min(BOX, Math.round(bw * scale)));
  const dh = Math.max(1, Math.min(BOX, Math.round(bh * scale)));
  const small = resize(crop, bw, bh, dw, dh);
  // place so that the centre of mass lands where MNIST has it, whole-pixel shifts
  const com = centreOfMass(small, dw, dh);
  let ox = Math.round(MNIST_CENTRE - com.x);
  let oy = Math.round(MNIST_CENTRE - com.y);
  ox = Math.min(Math.max(ox, 0), FIELD - dw);
  oy = Math.min(Math.max(oy, 0), FIELD - dh);
  const pixels = new Float32Array(FIELD * FIELD);
  for (let y = 0; y < dh; y++) {
    for (let x = 0; x < dw; x++) {
      const v = small[y * dw + x]!;
      pixels[(oy + y) * FIELD + ox + x] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { pixels, box };
}

/** How normaliseStrokes treats a digit's strokes. */
export interface StrokeOptions {
  /** strokes heavier than this (in the 20-pixel box) are eroded; default HEAVY_STROKE */
  heavyStroke?: number;
  /**
   * whether the ink is a faint line, redrawn as a hairline is; default: measured on the digit's own
   * ink (isFaint). A row of digits is measured once, on the whole row: the pen is the row's.
   */
  faint?: boolean;
}

/** A decoded image → the 28×28 MNIST-like field (0..255, white on black). */
export function preprocessGray(img: GrayImage, where = 'image'): Preprocessed {
  const { ink, polarity } = inkMap(img);
  const { pixels, box } = mnistFromInk(ink, img.width, img.height, where);
  return { pixels, box, polarity };
}


/**
 * Stroke width of an ink map in its own pixels: 2 × area / perimeter of the ink above half strength
 * (a stroke of length L and width w has area L·w and a perimeter of about 2L). 0 when there is no ink.
 */
export function strokeWidth(ink: Float32Array, w: number, h: number): number {
  let area = 0, edge = 0;
  const on = (x: number, y: number): boolean => x >= 0 && y >= 0 && x < w && y < h && ink[y * w + x]! > 127.5;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!on(x, y)) continue;
      area++;
      if (!on(x - 1, y) || !on(x + 1, y) || !on(x, y - 1) || !on(x, y + 1)) edge++;
    }
  }
  return edge === 0 ? 0 : (2 * area) / edge;
}

/** MNIST's median stroke width in its 20-pixel box (strokeWidth over 10,000 training digits: 1% 2.0, median 2.84, 75% 3.35, 90% 3.96, 99% 5.25). */
export const MNIST_STROKE = 2.84;
/** Strokes thinner than this (in the 20-pixel box) are redrawn at MNIST_STROKE: MNIST digits are thicker, as they are and enlarged 7 times (0.1% under 1.11). */
export const THIN_STROKE = 1.0;
/**
 * A faint line (a hairline font printed small, then enlarged: its strokes a pixel wide and gray) is
 * thin by its ink, not by its outline, and is redrawn too: in the 20-pixel box, its ink over its
 * skeleton's length is under FAINT_STROKE and under FAINT_SHARE of strokeWidth's figure. Chosen on
 * bench/printed.ts (hairline and thin fonts at 16 and 32 pixels); the share leaves MNIST's own ink
 * as it is (5 of 10,000 training digits count as faint with it, 81 without).
 */
export const FAINT_STROKE = 1.4;
export const FAINT_SHARE = 0.55;
/** Ink above this level (of 255) belongs to a thin stroke's skeleton: its faint edges included. */
const FAINT_INK = 48;
/**
 * Strokes heavier than this (MNIST's 90th percentile) are eroded to HEAVY_TARGET, a heavy stroke of
 * MNIST's (about its 80th percentile). Chosen on bench/printed.ts (a marker's weight: 89% read right
 * when only strokes past 6.0 were thinned and redrawn, 97% so).
 */
export const HEAVY_STROKE = 4.0;
export const HEAVY_TARGET = 3.5;
/** The box (pixels, longer side) strokes are normalised in. */
const NORMALISE_BOX = 60;

/**
 * Stroke-width normalisation: a digit's ink cropped to its box, with strokes much thinner or heavier
 * than MNIST's brought into its range. Heavy strokes (a marker, a bold font) are eroded by the
 * excess, which opens the loops a heavy pen half filled in as much as it narrows the strokes;
 * hairlines, and faint lines a pixel wide, are thinned to their skeleton (Zhang & Suen 1984) and
 * drawn again. Ink within MNIST's range comes back as it was. Returns the ink and its size (which
 * may be another resolution than the input's).
 */
export function normaliseStrokes(crop: Float32Array, bw: number, bh: number, o: StrokeOptions = {}): { ink: Float32Array; width: number; height: number } {
  const heavyStroke = o.heavyStroke ?? HEAVY_STROKE;
  const width = strokeWidth(crop, bw, bh) * (BOX / Math.max(bw, bh));
  if (width === 0) return { ink: crop, width: bw, height: bh };
  if (width >= THIN_STROKE && width <= heavyStroke && !(o.faint ?? isFaint(crop, bw, bh, BOX / Math.max(bw, bh), width))) return { ink: crop, width: bw, height: bh };
  const s = NORMALISE_BOX / Math.max(bw, bh);
  const w = Math.max(1, Math.round(bw * s)), h = Math.max(1, Math.round(bh * s));
  const ink = resize(crop, bw, bh, w, h);
  // a margin of paper: strokes drawn again at the edge keep their width, and an eroded stroke's edge
  // pixels have paper to measure their distance to
  const r = (MNIST_STROKE * (NORMALISE_BOX / BOX)) / 2;
  const m = Math.ceil(r) + 1, W = w + 2 * m, H = h + 2 * m;
  const on = new Uint8Array(W * H);
  const heavy = width > heavyStroke;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) on[(y + m) * W + x + m] = ink[y * w + x]! > (heavy ? 127.5 : FAINT_INK) ? 1 : 0;
  if (!heavy) thin(on, W, H);
  const out = new Float32Array(W * H);
  if (heavy) {
    // each pixel's distance to the paper, less the excess half-width: the stroke's edge moves inwards
    const inside = distanceToZero(on, W, H);
    const excess = ((width - HEAVY_TARGET) * (NORMALISE_BOX / BOX)) / 2;
    for (let i = 0; i < W * H; i++) out[i] = Math.min(1, Math.max(0, Math.sqrt(inside[i]!) - excess - 0.5)) * 255;
  } else {
    const R = Math.ceil(r + 1);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        if (on[y * W + x] === 0) continue;
        for (let dy = -R; dy <= R; dy++) {
          for (let dx = -R; dx <= R; dx++) {
            const X = x + dx, Y = y + dy;
            if (X < 0 || Y < 0 || X >= W || Y >= H) continue;
            const v = Math.min(1, Math.max(0, r + 0.5 - Math.hypot(dx, dy))) * 255;
            if (v > out[Y * W + X]!) out[Y * W + X] = v;
          }
        }
      }
    }
  }
  // the result may be smaller than the box it was drawn in (a skeleton ends half a stroke short): crop again
  const box = inkBoundingBox(out, W, H);
  if (box === null) return { ink: crop, width: bw, height: bh };
  return { ink: cropInk(out, W, box), width: box.x1 - box.x0, height: box.y1 - box.y0 };
}

/**
 * Whether ink is a faint line, seen at `scale` (the 20-pixel box's pixels per pixel of the ink): its
 * ink's sum (each pixel 0-1) over its skeleton's length is under FAINT_STROKE and under FAINT_SHARE
 * of `outline`, its strokeWidth at that scale (measured when not given).
 */
export function isFaint(ink: Float32Array, width: number, height: number, scale: number,
  outline = strokeWidth(ink, width, height) * scale): boolean {
  const w = Math.max(1, Math.round(width * scale)), h = Math.max(1, Math.round(height * scale));
  const small = resize(ink, width, height, w, h);
  const W = w + 2, H = h + 2;
  const on = new Uint8Array(W * H);
  let mass = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      mass += small[y * w + x]! / 255;
      on[(y + 1) * W + x + 1] = small[y * w + x]! > FAINT_INK ? 1 : 0;
    }
  }
  thin(on, W, H);
  let length = 0;
  for (const v of on) length += v;
  const faint = length === 0 ? 0 : mass / length;
  return faint < FAINT_STROKE && faint < FAINT_SHARE * outline;
}

/** The part of an ink map (`width` pixels a row) inside `box`, row-major. */
export function cropInk(ink: Float32Array, width: number, box: Box): Float32Array {
  const cw = box.x1 - box.x0;
  const out = new Float32Array(cw * (box.y1 - box.y0));
  for (let y = box.y0; y < box.y1; y++) out.set(ink.subarray(y * width + box.x0, y * width + box.x1), (y - box.y0) * cw);
  return out;
}

/**
 * Squared Euclidean distance from each pixel of a binary image to the nearest 0 pixel (0 where the
 * pixel is 0 itself), by the separable lower-envelope method of Felzenszwalb & Huttenlocher (2012).
 */
export function distanceToZero(on: Uint8Array, w: number, h: number): Float64Array {
  const BIG = 1e12;
  const d = new Float64Array(w * h);
  for (let i = 0; i < w * h; i++) d[i] = on[i] === 0 ? 0 : BIG;
  const n = Math.max(w, h);
  const f = new Float64Array(n), out = new Float64Array(n), z = new Float64Array(n + 1);
  const v = new Int32Array(n);
  const pass = (len: number, get: (k: number) => number, set: (k: number, x: number) => void): void => {
    for (let q = 0; q < len; q++) f[q] = get(q);
    let k = 0;
    v[0] = 0; z[0] = -Infinity; z[1] = Infinity;
    for (let q = 1; q < len; q++) {
      let s = ((f[q]! + q * q) - (f[v[k]!]! + v[k]! * v[k]!)) / (2 * q - 2 * v[k]!);
      while (s <= z[k]!) { k--; s = ((f[q]! + q * q) - (f[v[k]!]! + v[k]! * v[k]!)) / (2 * q - 2 * v[k]!); }
      k++; v[k] = q; z[k] = s; z[k + 1] = Infinity;
    }
    k = 0;
    for (let q = 0; q < len; q++) {
      while (z[k + 1]! < q) k++;
      out[q] = (q - v[k]!) * (q - v[k]!) + f[v[k]!]!;
    }
    for (let q = 0; q < len; q++) set(q, out[q]!);
  };
  for (let x = 0; x < w; x++) pass(h, (y) => d[y * w + x]!, (y, val) => { d[y * w + x] = val; });
  for (let y = 0; y < h; y++) pass(w, (x) => d[y * w + x]!, (x, val) => { d[y * w + x] = val; });
  return d;
}

/** Zhang-Suen thinning of a binary image in place: one-pixel-wide skeleton, connectivity kept. */
function thin(on: Uint8Array, w: number, h: number): void {
  const clear: number[] = [];
  // the eight neighbours P2..P9, clockwise from the one above
  const ring = [-w, -w + 1, 1, w + 1, w, w - 1, -1, -w - 1];
  for (let changed = true; changed;) {
    changed = false;
    for (const pass of [0, 1]) {
      clear.length = 0;
      for (let y = 1; y < h - 1; y++) {
        for (let x = 1; x < w - 1; x++) {
          const i = y * w + x;
          if (on[i] === 0) continue;
          // b: neighbours on; a: 0 → 1 steps going round them
          let b = 0, a = 0;
          for (let k = 0; k < 8; k++) {
            const p = on[i + ring[k]!]!;
            b += p;
            if (p === 0 && on[i + ring[(k + 1) & 7]!] === 1) a++;
          }
          if (b < 2 || b > 6 || a !== 1) continue;
          const p2 = on[i - w]!, p4 = on[i + 1]!, p6 = on[i + w]!, p8 = on[i - 1]!;
          if (pass === 0 ? p2 * p4 * p6 !== 0 || p4 * p6 * p8 !== 0 : p2 * p4 * p8 !== 0 || p2 * p6 * p8 !== 0) continue;
          clear.push(i);
        }
      }
      for (const i of clear) on[i] = 0;
      if (clear.length > 0) changed = true;
    }
  }
}
