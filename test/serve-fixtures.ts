/**
 * Shared by the serve, preprocess and e2e tests: synthetic images (drawn
 * digit-like shapes, encoded as PNG/JPEG) and a small trained model saved to
 * a temporary folder.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { createBackend } from '../src/engine/index.js';
import { Tensor } from '../src/engine/tensor.js';
import { loadMnist } from '../src/data/mnist.js';
import { buildPreset } from '../src/nn/index.js';
import { makeMetadata, saveModel } from '../src/io/model-files.js';
import { Predictor } from '../src/run/predictor.js';

/** A grayscale canvas [h, w], 0..255. */
export interface Canvas {
  width: number;
  height: number;
  v: Float32Array;
}

export function canvas(width: number, height: number, fill = 0): Canvas {
  return { width, height, v: new Float32Array(width * height).fill(fill) };
}

/** A ring (a "0"): centre (cx, cy), radii rx, ry, stroke `thick`, value `ink`. */
export function drawRing(c: Canvas, cx: number, cy: number, rx: number, ry: number, thick: number, ink: number): void {
  for (let y = 0; y < c.height; y++) {
    for (let x = 0; x < c.width; x++) {
      const dx = (x + 0.5 - cx) / rx, dy = (y + 0.5 - cy) / ry;
      const r = Math.sqrt(dx * dx + dy * dy);
      // distance to the ellipse, roughly, in pixels
      const d = Math.abs(r - 1) * Math.min(rx, ry);
      if (d <= thick / 2) c.v[y * c.width + x] = ink;
    }
  }
}

/**
 * A ring drawn with a pen under a pixel wide: a pixel's ink is how much of it the pen covers,
 * roughly (`pen`, 0-1, on the centre line), so that the ring is gray, as a thin font printed small
 * is. Drawn over what is there: the stronger ink wins.
 */
export function drawFaintRing(c: Canvas, cx: number, cy: number, rx: number, ry: number, pen: number): void {
  for (let y = 0; y < c.height; y++) {
    for (let x = 0; x < c.width; x++) {
      const d = Math.abs(Math.hypot((x + 0.5 - cx) / rx, (y + 0.5 - cy) / ry) - 1) * ((rx + ry) / 2);
      const i = y * c.width + x;
      c.v[i] = Math.max(c.v[i]!, Math.min(1, Math.max(0, pen - d)) * 255);
    }
  }
}

/** A filled axis-aligned rectangle. */
export function fillRect(c: Canvas, x0: number, y0: number, w: number, h: number, ink: number): void {
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) c.v[y * c.width + x] = ink;
}

/** RGBA bytes of a gray canvas; `alpha` per pixel (default opaque). */
function rgba(c: Canvas, alpha?: (i: number) => number): Buffer {
  const out = Buffer.alloc(c.width * c.height * 4);
  for (let i = 0; i < c.width * c.height; i++) {
    const g = Math.round(c.v[i]!);
    out[4 * i] = out[4 * i + 1] = out[4 * i + 2] = g;
    out[4 * i + 3] = alpha ? alpha(i) : 255;
  }
  return out;
}

export function encodePng(c: Canvas, alpha?: (i: number) => number): Buffer {
  const png = new PNG({ width: c.width, height: c.height });
  rgba(c, alpha).copy(png.data);
  return PNG.sync.write(png);
}

export function encodeJpeg(c: Canvas, quality = 92): Buffer {
  return Buffer.from(jpeg.encode({ data: rgba(c), width: c.width, height: c.height }, quality).data);
}

/** An MNIST image (0..1, 28×28) → a `size`×`size` canvas, dark ink on white paper when `invert`, upscaled nearest. */
export function mnistAsCanvas(img01: Float32Array, size: number, invert: boolean, offsetX = 0, offsetY = 0, pad = 0): Canvas {
  const c = canvas(size + 2 * pad, size + 2 * pad, invert ? 255 : 0);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = img01[Math.floor((y * 28) / size) * 28 + Math.floor((x * 28) / size)]! * 255;
      const yy = y + pad + offsetY, xx = x + pad + offsetX;
      if (yy >= 0 && yy < c.height && xx >= 0 && xx < c.width) c.v[yy * c.width + xx] = invert ? 255 - v : v;
    }
  }
  return c;
}

/** Bounding box (inclusive-exclusive) of values > threshold in a 28×28 field. */
export function fieldBox(p: Float32Array | number[], threshold = 0): { x0: number; y0: number; x1: number; y1: number } {
  let x0 = 28, y0 = 28, x1 = -1, y1 = -1;
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      if (p[y * 28 + x]! > threshold) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  return { x0, y0, x1: x1 + 1, y1: y1 + 1 };
}

export function fieldCentreOfMass(p: Float32Array | number[]): { x: number; y: number } {
  let m = 0, mx = 0, my = 0;
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const v = p[y * 28 + x]!;
      m += v; mx += v * (x + 0.5); my += v * (y + 0.5);
    }
  }
  return { x: mx / m, y: my / m };
}

/**
 * The seed CNN trained briefly (3,000 MNIST images, 1 epoch, ~2 s on the
 * native backend; a minute or so on the reference one), saved to a temp folder.
 * Accurate enough (~90%) to check that preprocessed images are read right.
 */
export async function trainTinyModel(opts: { images?: number; epochs?: number } = {}): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-serve-model-'));
  const { model } = buildPreset('seed', 0);
  model.setBackend(createBackend('auto').backend);
  const train = await loadMnist('train', { limit: opts.images ?? 3000 });
  const x = new Tensor([train.count, 28, 28, 1], train.images);
  const y = new Tensor([train.count, 10]);
  for (let i = 0; i < train.count; i++) y.data[i * 10 + train.labels![i]!] = 1;
  await model.fit(x, y, { epochs: opts.epochs ?? 1, batchSize: 32, shuffle: true, seed: 0 });
  await saveModel(model, dir, makeMetadata(model, { testAccuracy: 0.9, trainedAt: new Date().toISOString(), preset: 'seed', seed: 0 }));
  return dir;
}

/**
 * A Predictor over the seed CNN as initialised (no training, no files): for
 * tests of the HTTP layer that need answers, not accurate ones.
 */
export function untrainedPredictor(seed = 0): Predictor {
  const { model } = buildPreset('seed', seed);
  if (model.inputShape === null) model.build([28, 28, 1], seed);
  model.setBackend(createBackend('auto').backend);
  return new Predictor(model, makeMetadata(model), 'untrained-seed', `untrained seed ${seed}`);
}
