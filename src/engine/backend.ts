/**
 * The Backend: the kernel set of the engine. Every kernel exists twice, in the
 * reference backend (plain TypeScript, the specification) and in the native
 * backend (C++), with the same name and the same semantics; a parity suite
 * runs each on both.
 *
 * Conventions for every kernel:
 *   - Arrays are Float32Array (Int32Array for argmax indices), row-major, NHWC.
 *   - Kernels write into the output arrays they are given and allocate nothing
 *     in the steady state; "overwrite" outputs are fully written (callers need
 *     not zero them), "accumulate" outputs are added to.
 *   - Shapes come in as plain numbers (a geometry object for conv and pooling).
 *     Arguments are validated by the layers (TypeScript) before they get here;
 *     kernels trust their inputs.
 *
 * Shape legend: N batch, H/W input height/width, C channels in, K channels
 * out, kh/kw kernel size, OH/OW output height/width.
 */

export type Activation = 'linear' | 'relu';

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

export interface AdamParams {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** 1-based step count, used for bias correction */
  readonly step: number;
}

export interface SgdParams {
  readonly lr: number;
  readonly momentum: number;
  readonly nesterov: boolean;
}

/**
 * The arithmetic of the convolution kernels (conv2d*, the fused conv + pool ones). 'fp32': float32
 * throughout. 'bf16' ("mixed precision"): each conv kernel's two multiplied operands (x and w
 * forward, dy and w for the input gradient, x and dy for the filter gradient) are rounded to
 * bfloat16 (round to nearest even, denormals to zero, as the CPU's VCVTNEPS2BF16), the products summed
 * in float32; biases and the bias gradient stay float32, as does every other kernel. On CPUs with
 * AMX tiles the native backend runs it several times faster than float32.
 */
export type Precision = 'fp32' | 'bf16';
export const PRECISIONS: readonly Precision[] = ['fp32', 'bf16'];

/**
 * The bfloat16 value of v (round to nearest even; denormals to a signed zero; NaN stays NaN; values
 * that round past the largest bfloat16 become infinite), as a float32 value.
 */
export function roundBf16(v: number): number {
  scratchF32[0] = v;
  const u = scratchU32[0]!;
  const exp = u & 0x7f800000;
  if (exp === 0) scratchU32[0] = u & 0x80000000;
  else if (exp === 0x7f800000) scratchU32[0] = (u & 0x007fffff) !== 0 ? (u | 0x00400000) & 0xffff0000 : u;
  else scratchU32[0] = ((u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000) >>> 0;
  return scratchF32[0]!;
}
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** A copy of a rounded to bfloat16 (roundBf16 per element). */
export function roundedBf16(a: Float32Array, len = a.length): Float32Array {
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) out[i] = roundBf16(a[i]!);
  return out;
}

export interface Backend {
  /** 'reference' or 'native' */
  readonly name: string;
  /** worker threads used by the kernels (1 for reference) */
  readonly threads: number;
  /** the arithmetic of the conv kernels (see Precision) */
  readonly precision: Precision;

  /**
   * y[N,OH,OW,K] = act(conv(x[N,H,W,C], w[kh,kw,C,K]) + b[K])   (overwrite y)
   * Cross-correlation as TF/Keras: y[n,oy,ox,k] = sum_{i,j,c} x[n, oy*sh+i-padTop, ox*sw+j-padLeft, c] * w[i,j,c,k],
   * out-of-range input positions read as zero.
   */
  conv2dForward(x: Float32Array, w: Float32Array, b: Float32Array, y: Float32Array, g: ConvGeometry, act: Activation): void;

  /** dx[N,H,W,C] = gradient of the conv w.r.t. its input given dy[N,OH,OW,K]   (overwrite dx) */
  conv2dBackwardInput(dy: Float32Array, w: Float32Array, dx: Float32Array, g: ConvGeometry): void;

  /**
   * dw[kh,kw,C,K] = gradient w.r.t. the kernel; db[K] = sum of dy over N,OH,OW   (overwrite both)
   */
  conv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, db: Float32Array, g: ConvGeometry): void;

  /**
   * c[m,n] = op(a) @ op(b) (+ c when accumulate), op(a) is [m,k], op(b) is [k,n].
   * a is stored [m,k], or [k,m] when transA; b is stored [k,n], or [n,k] when transB.
   */
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number,
    transA: boolean, transB: boolean, accumulate: boolean): void;

  /** y[rows,cols] = act(y + b[cols])   (in place on y) */
  biasActivation(y: Float32Array, b: Float32Array, rows: number, cols: number, act: Activation): void;

  /** db[cols] = sum over rows of dy[rows,cols]   (overwrite db) */
  biasGrad(dy: Float32Array, db: Float32Array, rows: number, cols: number): void;

  /**
   * dx = dy * act'(.) expressed through the activation's output y:
   * relu: dx = y > 0 ? dy : 0; linear: dx = dy.   (overwrite dx; dx may alias dy)
   */
  activationBackward(dy: Float32Array, y: Float32Array, dx: Float32Array, act: Activation): void;

  /**
   * y[N,OH,OW,C] = max over each pool window of x[N,H,W,C]; argmax[N,OH,OW,C]
   * receives the flat index into x of the maximum (the first one on ties).   (overwrite both)
   */
  maxPool2dForward(x: Float32Array, y: Float32Array, argmax: Int32Array, g: PoolGeometry): void;

  /** dx[N,H,W,C] = scatter-add of dy[N,OH,OW,C] to the argmax positions, zero elsewhere   (overwrite dx) */
  maxPool2dBackward(dy: Float32Array, argmax: Int32Array, dx: Float32Array, g: PoolGeometry): void;

  /**
   * A convolution whose output only feeds a max pool with non-overlapping windows (poolH == strideH,
   * poolW == strideW), fused: y[N,POH,POW,K] and argmax[N,POH,POW,K] are exactly what
   * conv2dForward(x, w, b, z, g, act) then maxPool2dForward(z, y, argmax, p) give (argmax indexes the
   * conv output z [N,OH,OW,K]), without writing z.   (overwrite y, argmax)
   */
  conv2dMaxPoolForward(x: Float32Array, w: Float32Array, b: Float32Array, y: Float32Array, argmax: Int32Array,
    g: ConvGeometry, p: PoolGeometry, act: Activation): void;

  /**
   * The filter gradient of that conv from the gradient dy[N,POH,POW,K] of the pooled output (the
   * conv's activation derivative already applied): dw, db as conv2dBackwardFilter(x, dz, dw, db, g)
   * with dz = maxPool2dBackward(dy, argmax, p).   (overwrite dw, db)
   */
  conv2dMaxPoolBackwardFilter(x: Float32Array, dy: Float32Array, argmax: Int32Array, dw: Float32Array, db: Float32Array,
    g: ConvGeometry, p: PoolGeometry): void;

  /**
   * The input gradient of that conv from the gradient dy[N,POH,POW,K] of the pooled output (the conv's
   * activation derivative already applied): dx as conv2dBackwardInput(dz, w, dx, g) with
   * dz = maxPool2dBackward(dy, argmax, p).   (overwrite dx)
   */
  conv2dMaxPoolBackwardInput(dy: Float32Array, argmax: Int32Array, w: Float32Array, dx: Float32Array,
    g: ConvGeometry, p: PoolGeometry): void;

  /** out = a * b elementwise, length n (out may alias a)   (dropout masks) */
  mul(a: Float32Array, b: Float32Array, out: Float32Array): void;

  /** probs[rows,cols] = softmax over each row of logits, numerically stable   (overwrite) */
  softmax(logits: Float32Array, probs: Float32Array, rows: number, cols: number): void;

  /**
   * Fused softmax + categorical cross-entropy over a batch of `rows`.
   * targets[rows,cols] are probability rows (one-hot or smoothed).
   * Writes probs (softmax of logits) and dlogits = (probs - targets) / rows,
   * returns the mean loss  -1/rows * sum targets * log(probs) computed as
   * targets * (logsumexp(logits) - logits), so it never takes log(0).
   */
  softmaxCrossEntropy(logits: Float32Array, targets: Float32Array, probs: Float32Array, dlogits: Float32Array,
    rows: number, cols: number): number;

  /**
   * Adam as Keras: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
   * p -= lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + epsilon).   (in place on p, m, v)
   */
  adamUpdate(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, o: AdamParams): void;

  /**
   * SGD as Keras: vel = momentum vel - lr g; p += vel  (nesterov: p += momentum vel - lr g).
   * With momentum 0: p -= lr g.   (in place on p, vel)
   */
  sgdUpdate(p: Float32Array, g: Float32Array, vel: Float32Array, o: SgdParams): void;

  /**
   * One step of an exponential moving average: avg = keep avg + (1 - keep) x, over
   * avg.length values (weight averaging, nn/averaging.ts).   (in place on avg)
   */
  emaUpdate(avg: Float32Array, x: Float32Array, keep: number): void;

  /**
   * Batch statistics per channel of x[rows, cols] (rows = N*H*W, cols = C):
   * mean[c] = 1/rows sum_r x[r,c]; variance[c] = 1/rows sum_r (x[r,c] - mean[c])^2 (biased,
   * as Keras/TF moments), both computed in double precision.   (overwrite mean, variance)
   */
  batchNormStats(x: Float32Array, mean: Float32Array, variance: Float32Array, rows: number, cols: number): void;

  /**
   * y[r,c] = act(gamma[c] * (x[r,c] - mean[c]) / sqrt(variance[c] + epsilon) + beta[c])   (overwrite y; y may alias x)
   * act (default 'linear'): 'relu' fuses a following ReLU (relu(v) = v > 0 ? v : 0).
   */
  batchNormForward(x: Float32Array, mean: Float32Array, variance: Float32Array, gamma: Float32Array, beta: Float32Array,
    epsilon: number, y: Float32Array, rows: number, cols: number, act?: Activation): void;

  /**
   * Backward of batchNormForward in training mode (mean and variance are the batch statistics of x):
   * xhat = (x - mean) * istd, istd = 1/sqrt(variance + epsilon);
   * dbeta[c] = sum_r dy; dgamma[c] = sum_r dy * xhat;
   * dx = gamma * istd / rows * (rows * dy - dbeta - xhat * dgamma).   (overwrite dx, dgamma, dbeta)
   * With reluY (the output of a ReLU fused after the BatchNorm, batchNormForward with 'relu'), dy is the
   * gradient of that output and is first masked: dy[i] = reluY[i] > 0 ? dy[i] : 0.
   */
  batchNormBackward(x: Float32Array, dy: Float32Array, mean: Float32Array, variance: Float32Array, gamma: Float32Array,
    epsilon: number, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, rows: number, cols: number,
    reluY?: Float32Array): void;

  /**
   * Affine resampling of images (augmentation): x[N,H,W,C] -> y[N,H,W,C]. For image n,
   * output pixel (ox, oy) samples x at sx = p0*ox + p1*oy + p2, sy = p3*ox + p4*oy + p5
   * (p = params[6n .. 6n+6], pixel-index coordinates) by bilinear interpolation;
   * neighbours outside the image read as zero. Coordinates are computed in double. With a displacement
   * field disp[N,H,W,2], (dx, dy) = disp at (ox, oy) is added to (sx, sy) first (elastic distortion).
   * (overwrite y)
   */
  affineResample(x: Float32Array, params: Float32Array, y: Float32Array, n: number, h: number, w: number, c: number,
    disp?: Float32Array | null): void;

  /**
   * The displacement field of an elastic distortion (Simard et al. 2003): each of the two planes of
   * noise[N,H,W,2] (uniform noise, one (dx, dy) pair per pixel) is blurred by a Gaussian of standard
   * deviation sigma pixels (taps -r..r, r = ceil(3 sigma), normalised to sum 1; values outside the
   * image count as zero), separably along x then y in double, and scaled by alpha.   (overwrite field)
   */
  elasticField(noise: Float32Array, field: Float32Array, n: number, h: number, w: number, sigma: number, alpha: number): void;
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
