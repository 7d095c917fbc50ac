/**
 * Digit images for the report: one image of a Dataset as a small PNG (pngjs),
 * and the pick of which images to show (seeded, so a report is reproducible).
 */
import { PNG } from 'pngjs';
import { Rng } from '../engine/rng.js';
import type { Dataset } from '../data/dataset.js';

/**
 * Image `index` of `ds` (values 0..1, NHWC, first channel) as a greyscale PNG,
 * dark ink on white, each pixel drawn as a `zoom` × `zoom` block.
 */
export function digitPng(ds: Dataset, index: number, zoom = 2): Buffer {
  const { height: h, width: w, channels: c } = ds;
  const png = new PNG({ width: w * zoom, height: h * zoom, colorType: 0, inputColorType: 0, bitDepth: 8 });
  const base = index * h * w * c;
  const W = w * zoom;
  const gray = Buffer.alloc(W * h * zoom);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = ds.images[base + (y * w + x) * c]!;
      const g = 255 - Math.round(Math.min(1, Math.max(0, v)) * 255);
      for (let dy = 0; dy < zoom; dy++) gray.fill(g, (y * zoom + dy) * W + x * zoom, (y * zoom + dy) * W + (x + 1) * zoom);
    }
  }
  png.data = gray;
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
}

export function pngDataUri(png: Buffer): string {
  return `data:image/png;base64,${png.toString('base64')}`;
}

/** `k` distinct indices from `candidates` (all of 0..n-1 when a number), chosen with a seeded Rng, in ascending order. */
export function samplePick(candidates: number | ArrayLike<number>, k: number, seed: number): number[] {
  const n = typeof candidates === 'number' ? candidates : candidates.length;
  const at = (i: number): number => (typeof candidates === 'number' ? i : candidates[i]!);
  if (n <= k) return Array.from({ length: n }, (_, i) => at(i));
  const perm = new Rng(seed).permutation(n);
  return Array.from(perm.subarray(0, k), (i) => at(i)).sort((a, b) => a - b);
}

/** One cell of a digit grid: an image and its caption lines. */
export interface DigitTile {
  uri: string;
  title: string;
  subtitle?: string;
  /** drawn in the "wrong" colour */
  wrong?: boolean;
}
