/**
 * The geometry of the conv and pooling kernels: sizes of input, window and
 * output, strides and padding, computed as TensorFlow computes them. Shape
 * legend: N batch, H/W input height/width, C channels in, K channels out,
 * kh/kw kernel size, OH/OW output height/width.
 */

/** Geometry of a 2-D convolution, NHWC input, kernel [kh, kw, C, K]. */
export interface ConvGeometry {
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly c: number;
  readonly kh: number;
  readonly kw: number;
  readonly k: number;
  readonly strideH: number;
  readonly strideW: number;
  /** zero rows added above the input (TF 'same': floor(total/2)) */
  readonly padTop: number;
  /** zero columns added left of the input */
  readonly padLeft: number;
  readonly outH: number;
  readonly outW: number;
}

/** Geometry of 2-D max pooling, NHWC, channels unchanged ('valid' padding). */
export interface PoolGeometry {
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly c: number;
  readonly poolH: number;
  readonly poolW: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly outH: number;
  readonly outW: number;
}

/** Output size and padding for a conv or pool window, as TF computes them. */
export function windowGeometry(size: number, kernel: number, stride: number, padding: 'valid' | 'same'):
  { out: number; padBefore: number } {
  if (padding === 'valid') {
    return { out: Math.floor((size - kernel) / stride) + 1, padBefore: 0 };
  }
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  return { out, padBefore: Math.floor(total / 2) };
}

export function convGeometry(n: number, h: number, w: number, c: number, kh: number, kw: number, k: number,
  strideH: number, strideW: number, padding: 'valid' | 'same'): ConvGeometry {
  const gh = windowGeometry(h, kh, strideH, padding);
  const gw = windowGeometry(w, kw, strideW, padding);
  return { n, h, w, c, kh, kw, k, strideH, strideW, padTop: gh.padBefore, padLeft: gw.padBefore, outH: gh.out, outW: gw.out };
}

export function poolGeometry(n: number, h: number, w: number, c: number, poolH: number, poolW: number,
  strideH: number, strideW: number): PoolGeometry {
  const outH = Math.floor((h - poolH) / strideH) + 1;
  const outW = Math.floor((w - poolW) / strideW) + 1;
  return { n, h, w, c, poolH, poolW, strideH, strideW, outH, outW };
}
