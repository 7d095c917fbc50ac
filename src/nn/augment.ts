/**
 * Seeded on-the-fly augmentation: a random rotation, zoom and shift per image,
 * optionally an elastic distortion, applied to training batches by fit (never
 * to validation data).
 *
 * The parameters are drawn in TypeScript from the model's Rng; the pixels are
 * moved by the backend kernel `affineResample` (bilinear, zero outside), so
 * both backends produce the same transform from the same parameters.
 *
 *   x [N, H, W, C] -> y [N, H, W, C]
 *   per image: theta ~ U(-rotation, rotation) degrees, s ~ U(1 - zoom, 1 + zoom),
 *              (tx, ty) ~ U(-shift, shift)^2 pixels
 *   forward map (content): out = s R(theta) (src - centre) + centre + (tx, ty)
 *   kernel map (inverse):  src = R(-theta) (out - centre - (tx, ty)) / s + centre
 *
 * Elastic distortion (Simard, Steinkraus and Platt 2003, "Best practices for
 * convolutional neural networks applied to visual document analysis"): a
 * uniform(-1, 1) displacement per pixel and axis, blurred by a Gaussian of
 * `sigma` pixels and scaled by `alpha` (kernel `elasticField`), is added to the
 * source position of each output pixel. The noise is drawn after the 4 affine
 * uniforms of all images of the batch, 2*H*W per image.
 */
import { DigitsError } from '../errors.js';
import type { Rng } from '../engine/rng.js';
import { isObject, knownKeys, numberInRange, showValue } from './validate.js';

/** Random augmentation of training images: rotation (degrees), zoom (fraction), shift (pixels), elastic distortion; each bound is ± around none. */
export interface AugmentOptions {
  /** largest rotation in degrees, either way (default 0) */
  rotation?: number;
  /** largest relative zoom in or out, e.g. 0.1 for 0.9x..1.1x (default 0) */
  zoom?: number;
  /** largest shift in pixels along each axis (default 0) */
  shift?: number;
  /** elastic distortion: scale alpha (pixels) and smoothness sigma (pixels) of the displacement field (default none) */
  elastic?: ElasticSettings | null;
}

/** Elastic distortion (Simard et al. 2003): displacement scale alpha and smoothing sigma, in pixels. */
export interface ElasticSettings {
  alpha: number;
  sigma: number;
}

/** AugmentOptions with every field set (what fit uses and a checkpoint records). */
export interface AugmentSettings {
  rotation: number;
  zoom: number;
  shift: number;
  /** absent: no elastic distortion */
  elastic?: ElasticSettings;
}

export function parseAugment(label: string, v: unknown): AugmentSettings {
  if (!isObject(v)) throw new DigitsError(`${label}: expected {rotation?, zoom?, shift?, elastic?}, got ${showValue(v)}`);
  knownKeys(label, v, ['rotation', 'zoom', 'shift', 'elastic']);
  const a: AugmentSettings = {
    rotation: numberInRange(`${label}.rotation`, v.rotation ?? 0, 0, 180, true),
    zoom: numberInRange(`${label}.zoom`, v.zoom ?? 0, 0, 1),
    shift: numberInRange(`${label}.shift`, v.shift ?? 0, 0, 1000, true),
  };
  if (v.elastic !== undefined && v.elastic !== null) {
    const e = v.elastic;
    if (!isObject(e)) throw new DigitsError(`${label}.elastic: expected {alpha, sigma} (pixels), got ${showValue(e)}`);
    knownKeys(`${label}.elastic`, e, ['alpha', 'sigma']);
    const alpha = numberInRange(`${label}.elastic.alpha`, e.alpha, 0, 1000, true);
    // sigma >= 0.5: below that the blurred field is nearly white noise; <= 100: taps stay few
    const sigma = numberInRange(`${label}.elastic.sigma`, e.sigma, 0.5, 100, true);
    if (alpha > 0) a.elastic = { alpha, sigma };
  }
  return a;
}

/**
 * Draws n images' elastic noise from rng (2*h*w uniforms in (-1, 1) per image, in pixel order, dx then dy)
 * into noise[n*h*w*2].
 */
export function randomElasticNoise(rng: Rng, n: number, h: number, w: number, noise: Float32Array): void {
  const len = n * h * w * 2;
  for (let i = 0; i < len; i++) noise[i] = 2 * rng.uniform() - 1;
}

/** One image's kernel parameters (6 numbers) for an explicit rotation (degrees), zoom factor and shift. */
export function affineParams(h: number, w: number, degrees: number, scale: number, tx: number, ty: number,
  out: Float32Array, at = 0): void {
  const t = (degrees * Math.PI) / 180;
  const cos = Math.cos(t) / scale;
  const sin = Math.sin(t) / scale;
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const ux = cx + tx;
  const uy = cy + ty;
  out[at] = cos;
  out[at + 1] = sin;
  out[at + 2] = cx - (cos * ux + sin * uy);
  out[at + 3] = -sin;
  out[at + 4] = cos;
  out[at + 5] = cy - (-sin * ux + cos * uy);
}

/** Draws n images' parameters from rng into out[6n] (4 uniforms per image, in a fixed order). */
export function randomAffineParams(rng: Rng, n: number, h: number, w: number, a: AugmentSettings, out: Float32Array): void {
  for (let i = 0; i < n; i++) {
    const deg = (2 * rng.uniform() - 1) * a.rotation;
    const scale = 1 + (2 * rng.uniform() - 1) * a.zoom;
    const tx = (2 * rng.uniform() - 1) * a.shift;
    const ty = (2 * rng.uniform() - 1) * a.shift;
    affineParams(h, w, deg, scale, tx, ty, out, i * 6);
  }
}
