/**
 * The kernel table: every kernel of the engine declared once, with its
 * arguments (name and type, in order), the lengths its arrays must have and
 * its other shape rules. From it derive:
 *   - the kernels of the Backend type (backend.ts): the reference backend
 *     (reference.ts, the specification) implements them by hand;
 *   - the native backend (native.ts): each call checked against the rules
 *     (an Error naming the kernel and the argument, never a crash) and packed
 *     for the addon as its arrays, then one Int32Array of its integers
 *     (geometry, sizes, flags) and one Float64Array of its reals;
 *   - native/kernel_table.h (cppKernelTable, `npm run kernels`): where the
 *     addon's bindings find each argument in that packing;
 *   - the parity suite's list of kernels (test/parity.test.ts).
 *
 * Adding a kernel: its entry here, its reference twin (reference.ts), its
 * native twin (native/*.cc and one binding in native/addon.cc), then
 * `npm run kernels`.
 *
 * Conventions for every kernel:
 *   - Arrays are Float32Array (Int32Array for argmax indices), row-major, NHWC.
 *   - Kernels write into the output arrays they are given and allocate nothing
 *     in the steady state; "overwrite" outputs are fully written (callers need
 *     not zero them), "accumulate" outputs are added to.
 *   - Arguments are validated by the layers (TypeScript) before they get here;
 *     kernels trust their inputs, and the native backend checks lengths so a
 *     bug is an Error, not a crash.
 *
 * Shape legend: N batch, H/W input height/width, C channels in, K channels
 * out, kh/kw kernel size, OH/OW output height/width.
 */
import type { ConvGeometry, PoolGeometry } from './geometry.js';

export type { ConvGeometry, PoolGeometry } from './geometry.js';

/** The activation a kernel applies (or differentiates): none, or ReLU. */
export type Activation = 'linear' | 'relu';

/** Adam's step parameters. */
export interface AdamParams {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** 1-based step count, used for bias correction */
  readonly step: number;
}

/** SGD's step parameters. */
export interface SgdParams {
  readonly lr: number;
  readonly momentum: number;
  readonly nesterov: boolean;
}

/** The TypeScript type of each kind of kernel argument. */
export interface ArgKinds {
  f32: Float32Array;
  i32: Int32Array;
  conv: ConvGeometry;
  pool: PoolGeometry;
  int: number;
  flag: boolean;
  act: Activation;
  real: number;
  adam: AdamParams;
  sgd: SgdParams;
}

/**
 * A call's arguments by name, as the length and shape rules read them. Loosely typed on purpose: the
 * rules are data, checked by the parity suite and the native backend's tests.
 */
export type NamedArgs = Readonly<Record<string, any>>;

/** One argument of a kernel: its name, its kind, and for an array the least length the call needs. */
export interface ArgSpec<K extends keyof ArgKinds = keyof ArgKinds> {
  readonly name: string;
  readonly kind: K;
  /** may be left out (only at the end); an optional array may also be null */
  readonly optional?: boolean;
  /** arrays: the least length, from the call's arguments (0: nothing to check) */
  readonly len?: (a: NamedArgs) => number;
  /**
   * arrays: what the kernel does with it: reads it (absent), writes every value it covers without
   * reading it ('out'), or reads and writes it ('inout'). A backend that copies arrays (the
   * WebAssembly kernels) copies in only what is read and back only what is written.
   */
  readonly io?: ArrayUse;
}

/** How a kernel uses an array argument it does not only read (ArgSpec.io). */
export type ArrayUse = 'out' | 'inout';

/** A kernel: its arguments in order, what it returns, its shape rules. */
export interface KernelSpec {
  readonly args: readonly ArgSpec[];
  /** 'number': the kernel returns one (a loss); default: nothing */
  readonly returns?: 'number';
  /** a conv kernel with a bfloat16 twin: the backend's precision chooses (the addon gets a last integer, bf16) */
  readonly precision?: boolean;
  /** rules beyond array lengths: a message when the arguments break one, else null */
  readonly check?: (a: NamedArgs) => string | null;
}

type Len = (a: NamedArgs) => number;
/** An array argument that must hold at least `len` values (no `len`: nothing to check). */
const f32 = (name: string, len?: Len, io?: ArrayUse): ArgSpec<'f32'> =>
  ({ name, kind: 'f32', ...(len ? { len } : {}), ...(io ? { io } : {}) });
/** An array argument that may be left out or null. */
const optF32 = (name: string, len: Len): ArgSpec<'f32'> & { readonly optional: true } => ({ name, kind: 'f32', optional: true, len });
/** An Int32Array argument that must hold at least `len` values. */
const i32 = (name: string, len: Len, io?: ArrayUse): ArgSpec<'i32'> => ({ name, kind: 'i32', len, ...(io ? { io } : {}) });
/** A geometry, a number, a flag, an activation or optimizer parameters. */
const arg = <K extends Exclude<keyof ArgKinds, 'f32' | 'i32'>>(name: string, kind: K): ArgSpec<K> => ({ name, kind });
/** An activation that may be left out ('linear'). */
const optAct = (name: string): ArgSpec<'act'> & { readonly optional: true } => ({ name, kind: 'act', optional: true });

// lengths, from geometry and sizes
const convIn = (g: ConvGeometry): number => g.n * g.h * g.w * g.c;
const convOut = (g: ConvGeometry): number => g.n * g.outH * g.outW * g.k;
const convW = (g: ConvGeometry): number => g.kh * g.kw * g.c * g.k;
const poolIn = (p: PoolGeometry): number => p.n * p.h * p.w * p.c;
const poolOut = (p: PoolGeometry): number => p.n * p.outH * p.outW * p.c;
const rc = (a: NamedArgs): number => a.rows * a.cols;

/** Padding is never negative and strides are positive (windows may run past the input: they read zeros). */
function convRule(g: ConvGeometry): string | null {
  return g.padTop < 0 || g.padLeft < 0 || g.outH < 0 || g.outW < 0 || g.strideH < 1 || g.strideW < 1
    ? `inconsistent geometry ${JSON.stringify(g)}` : null;
}

/** Pool windows stay inside the input. */
function poolRule(p: PoolGeometry): string | null {
  return (p.outH - 1) * p.strideH + p.poolH > p.h || (p.outW - 1) * p.strideW + p.poolW > p.w
    ? `pool windows leave the input: ${JSON.stringify(p)}` : null;
}

/** A fused conv + pool: the pool reads the conv's output, with windows that do not overlap (the C++ relies on both). */
function convPoolRule(a: NamedArgs): string | null {
  const g = a.g as ConvGeometry;
  const p = a.p as PoolGeometry;
  if (p.n !== g.n || p.h !== g.outH || p.w !== g.outW || p.c !== g.k || p.poolH !== p.strideH || p.poolW !== p.strideW ||
    p.outH < 0 || p.outW < 0 || p.outH * p.strideH > p.h || p.outW * p.strideW > p.w) {
    return `the pool ${JSON.stringify(p)} does not fit the conv ${JSON.stringify(g)}`;
  }
  return convRule(g);
}

/** The kernels, by name. */
export const KERNELS = {
  /**
   * y[N,OH,OW,K] = act(conv(x[N,H,W,C], w[kh,kw,C,K]) + b[K])   (overwrite y)
   * Cross-correlation as TF/Keras: y[n,oy,ox,k] = sum_{i,j,c} x[n, oy*sh+i-padTop, ox*sw+j-padLeft, c] * w[i,j,c,k],
   * out-of-range input positions read as zero.
   */
  conv2dForward: {
    args: [f32('x', (a) => convIn(a.g)), f32('w', (a) => convW(a.g)), f32('b', (a) => a.g.k), f32('y', (a) => convOut(a.g), 'out'),
      arg('g', 'conv'), arg('act', 'act')],
    precision: true,
    /** padding never negative, strides positive */
    check: (a) => convRule(a.g),
  },
  /** dx[N,H,W,C] = gradient of the conv w.r.t. its input given dy[N,OH,OW,K]   (overwrite dx) */
  conv2dBackwardInput: {
    args: [f32('dy', (a) => convOut(a.g)), f32('w', (a) => convW(a.g)), f32('dx', (a) => convIn(a.g), 'out'), arg('g', 'conv')],
    precision: true,
    /** padding never negative, strides positive */
    check: (a) => convRule(a.g),
  },
  /** dw[kh,kw,C,K] = gradient w.r.t. the kernel; db[K] = sum of dy over N,OH,OW   (overwrite both) */
  conv2dBackwardFilter: {
    args: [f32('x', (a) => convIn(a.g)), f32('dy', (a) => convOut(a.g)), f32('dw', (a) => convW(a.g), 'out'),
      f32('db', (a) => a.g.k, 'out'), arg('g', 'conv')],
    precision: true,
    /** padding never negative, strides positive */
    check: (a) => convRule(a.g),
  },
  /**
   * c[m,n] = op(a) @ op(b) (+ c when accumulate), op(a) is [m,k], op(b) is [k,n].
   * a is stored [m,k], or [k,m] when transA; b is stored [k,n], or [n,k] when transB.
   */
  matmul: {
    args: [f32('a', (a) => a.m * a.k), f32('b', (a) => a.k * a.n), f32('c', (a) => a.m * a.n, 'inout'), arg('m', 'int'), arg('n', 'int'),
      arg('k', 'int'), arg('transA', 'flag'), arg('transB', 'flag'), arg('accumulate', 'flag')],
  },
  /** y[rows,cols] = act(y + b[cols])   (in place on y) */
  biasActivation: {
    args: [f32('y', rc, 'inout'), f32('b', (a) => a.cols), arg('rows', 'int'), arg('cols', 'int'), arg('act', 'act')],
  },
  /** db[cols] = sum over rows of dy[rows,cols]   (overwrite db) */
  biasGrad: {
    args: [f32('dy', rc), f32('db', (a) => a.cols, 'out'), arg('rows', 'int'), arg('cols', 'int')],
  },
  /**
   * dx = dy * act'(.) expressed through the activation's output y, over dy.length values:
   * relu: dx = y > 0 ? dy : 0; linear: dx = dy.   (overwrite dx; dx may alias dy)
   */
  activationBackward: {
    args: [f32('dy'), f32('y', (a) => (a.act === 'relu' ? a.dy.length : 0)), f32('dx', (a) => a.dy.length, 'out'), arg('act', 'act')],
  },
  /**
   * y[N,OH,OW,C] = max over each pool window of x[N,H,W,C]; argmax[N,OH,OW,C]
   * receives the flat index into x of the maximum (the first one on ties).   (overwrite both)
   */
  maxPool2dForward: {
    args: [f32('x', (a) => poolIn(a.g)), f32('y', (a) => poolOut(a.g), 'out'), i32('argmax', (a) => poolOut(a.g), 'out'), arg('g', 'pool')],
    /** pool windows inside the input */
    check: (a) => poolRule(a.g),
  },
  /** dx[N,H,W,C] = scatter-add of dy[N,OH,OW,C] to the argmax positions, zero elsewhere   (overwrite dx) */
  maxPool2dBackward: {
    args: [f32('dy', (a) => poolOut(a.g)), i32('argmax', (a) => poolOut(a.g)), f32('dx', (a) => poolIn(a.g), 'out'), arg('g', 'pool')],
    /** pool windows inside the input */
    check: (a) => poolRule(a.g),
  },
  /**
   * A convolution whose output only feeds a max pool with non-overlapping windows (poolH == strideH,
   * poolW == strideW), fused: y[N,POH,POW,K] and argmax[N,POH,POW,K] are exactly what
   * conv2dForward(x, w, b, z, g, act) then maxPool2dForward(z, y, argmax, p) give (argmax indexes the
   * conv output z [N,OH,OW,K]), without writing z.   (overwrite y, argmax)
   */
  conv2dMaxPoolForward: {
    args: [f32('x', (a) => convIn(a.g)), f32('w', (a) => convW(a.g)), f32('b', (a) => a.g.k), f32('y', (a) => poolOut(a.p), 'out'),
      i32('argmax', (a) => poolOut(a.p), 'out'), arg('g', 'conv'), arg('p', 'pool'), arg('act', 'act')],
    precision: true,
    /** the pool fits the conv's output, windows not overlapping */
    check: convPoolRule,
  },
  /**
   * The filter gradient of that conv from the gradient dy[N,POH,POW,K] of the pooled output (the
   * conv's activation derivative already applied): dw, db as conv2dBackwardFilter(x, dz, dw, db, g)
   * with dz = maxPool2dBackward(dy, argmax, p).   (overwrite dw, db)
   */
  conv2dMaxPoolBackwardFilter: {
    args: [f32('x', (a) => convIn(a.g)), f32('dy', (a) => poolOut(a.p)), i32('argmax', (a) => poolOut(a.p)),
      f32('dw', (a) => convW(a.g), 'out'), f32('db', (a) => a.g.k, 'out'), arg('g', 'conv'), arg('p', 'pool')],
    precision: true,
    /** the pool fits the conv's output, windows not overlapping */
    check: convPoolRule,
  },
  /**
   * The input gradient of that conv from the gradient dy[N,POH,POW,K] of the pooled output (the conv's
   * activation derivative already applied): dx as conv2dBackwardInput(dz, w, dx, g) with
   * dz = maxPool2dBackward(dy, argmax, p).   (overwrite dx)
   */
  conv2dMaxPoolBackwardInput: {
    args: [f32('dy', (a) => poolOut(a.p)), i32('argmax', (a) => poolOut(a.p)), f32('w', (a) => convW(a.g)),
      f32('dx', (a) => convIn(a.g), 'out'), arg('g', 'conv'), arg('p', 'pool')],
    precision: true,
    /** the pool fits the conv's output, windows not overlapping */
    check: convPoolRule,
  },
  /** out = a * b elementwise, over a.length values (out may alias a)   (dropout masks) */
  mul: {
    args: [f32('a'), f32('b', (a) => a.a.length), f32('out', (a) => a.a.length, 'out')],
  },
  /** probs[rows,cols] = softmax over each row of logits, numerically stable   (overwrite) */
  softmax: {
    args: [f32('logits', rc), f32('probs', rc, 'out'), arg('rows', 'int'), arg('cols', 'int')],
  },
  /**
   * Fused softmax + categorical cross-entropy over a batch of `rows`.
   * targets[rows,cols] are probability rows (one-hot or smoothed).
   * Writes probs (softmax of logits) and dlogits = (probs - targets) / rows,
   * returns the mean loss  -1/rows * sum targets * log(probs) computed as
   * targets * (logsumexp(logits) - logits), so it never takes log(0).
   */
  softmaxCrossEntropy: {
    args: [f32('logits', rc), f32('targets', rc), f32('probs', rc, 'out'), f32('dlogits', rc, 'out'), arg('rows', 'int'),
      arg('cols', 'int')],
    returns: 'number',
  },
  /**
   * Adam as Keras, over p.length values: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
   * p -= lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + epsilon).   (in place on p, m, v)
   */
  adamUpdate: {
    args: [f32('p', undefined, 'inout'), f32('g', (a) => a.p.length), f32('m', (a) => a.p.length, 'inout'),
      f32('v', (a) => a.p.length, 'inout'), arg('o', 'adam')],
  },
  /**
   * SGD as Keras, over p.length values: vel = momentum vel - lr g; p += vel
   * (nesterov: p += momentum vel - lr g). With momentum 0: p -= lr g.   (in place on p, vel)
   */
  sgdUpdate: {
    args: [f32('p', undefined, 'inout'), f32('g', (a) => a.p.length), f32('vel', (a) => (a.o.momentum !== 0 ? a.p.length : 0), 'inout'),
      arg('o', 'sgd')],
  },
  /**
   * One step of an exponential moving average: avg = keep avg + (1 - keep) x, over
   * avg.length values (weight averaging, nn/averaging.ts).   (in place on avg)
   */
  emaUpdate: {
    args: [f32('avg', undefined, 'inout'), f32('x', (a) => a.avg.length), arg('keep', 'real')],
  },
  /**
   * Batch statistics per channel of x[rows, cols] (rows = N*H*W, cols = C):
   * mean[c] = 1/rows sum_r x[r,c]; variance[c] = 1/rows sum_r (x[r,c] - mean[c])^2 (biased,
   * as Keras/TF moments), both computed in double precision.   (overwrite mean, variance)
   */
  batchNormStats: {
    args: [f32('x', rc), f32('mean', (a) => a.cols, 'out'), f32('variance', (a) => a.cols, 'out'), arg('rows', 'int'), arg('cols', 'int')],
  },
  /**
   * y[r,c] = act(gamma[c] * (x[r,c] - mean[c]) / sqrt(variance[c] + epsilon) + beta[c])   (overwrite y; y may alias x)
   * act (default 'linear'): 'relu' fuses a following ReLU (relu(v) = v > 0 ? v : 0).
   */
  batchNormForward: {
    args: [f32('x', rc), f32('mean', (a) => a.cols), f32('variance', (a) => a.cols), f32('gamma', (a) => a.cols),
      f32('beta', (a) => a.cols), arg('epsilon', 'real'), f32('y', rc, 'out'), arg('rows', 'int'), arg('cols', 'int'), optAct('act')],
  },
  /**
   * Backward of batchNormForward in training mode (mean and variance are the batch statistics of x):
   * xhat = (x - mean) * istd, istd = 1/sqrt(variance + epsilon);
   * dbeta[c] = sum_r dy; dgamma[c] = sum_r dy * xhat;
   * dx = gamma * istd / rows * (rows * dy - dbeta - xhat * dgamma).   (overwrite dx, dgamma, dbeta)
   * With reluY (the output of a ReLU fused after the BatchNorm, batchNormForward with 'relu'), dy is the
   * gradient of that output and is first masked: dy[i] = reluY[i] > 0 ? dy[i] : 0.
   */
  batchNormBackward: {
    args: [f32('x', rc), f32('dy', rc), f32('mean', (a) => a.cols), f32('variance', (a) => a.cols), f32('gamma', (a) => a.cols),
      arg('epsilon', 'real'), f32('dx', rc, 'out'), f32('dgamma', (a) => a.cols, 'out'), f32('dbeta', (a) => a.cols, 'out'),
      arg('rows', 'int'), arg('cols', 'int'), optF32('reluY', rc)],
  },
  /**
   * Affine resampling of images (augmentation): x[N,H,W,C] -> y[N,H,W,C]. For image n,
   * output pixel (ox, oy) samples x at sx = p0*ox + p1*oy + p2, sy = p3*ox + p4*oy + p5
   * (p = params[6n .. 6n+6], pixel-index coordinates) by bilinear interpolation;
   * neighbours outside the image read as zero. Coordinates are computed in double. With a displacement
   * field disp[N,H,W,2], (dx, dy) = disp at (ox, oy) is added to (sx, sy) first (elastic distortion).
   * (overwrite y)
   */
  affineResample: {
    args: [f32('x', (a) => a.n * a.h * a.w * a.c), f32('params', (a) => a.n * 6), f32('y', (a) => a.n * a.h * a.w * a.c, 'out'),
      arg('n', 'int'), arg('h', 'int'), arg('w', 'int'), arg('c', 'int'), optF32('disp', (a) => a.n * a.h * a.w * 2)],
  },
  /**
   * The displacement field of an elastic distortion (Simard et al. 2003): each of the two planes of
   * noise[N,H,W,2] (uniform noise, one (dx, dy) pair per pixel) is blurred by a Gaussian of standard
   * deviation sigma pixels (taps -r..r, r = ceil(3 sigma), normalised to sum 1; values outside the
   * image count as zero), separably along x then y in double, and scaled by alpha.   (overwrite field)
   */
  elasticField: {
    args: [f32('noise', (a) => a.n * a.h * a.w * 2), f32('field', (a) => a.n * a.h * a.w * 2, 'out'), arg('n', 'int'), arg('h', 'int'),
      arg('w', 'int'), arg('sigma', 'real'), arg('alpha', 'real')],
    /** a positive sigma and a finite alpha */
    check: (a) => (!(a.sigma > 0) || !Number.isFinite(a.alpha) ? `expected sigma > 0 and a finite alpha, got ${a.sigma}, ${a.alpha}` : null),
  },
} as const satisfies Record<string, KernelSpec>;

/** A kernel's name. */
export type KernelName = keyof typeof KERNELS;

/** Every kernel's name, in table order. */
export const KERNEL_NAMES = Object.keys(KERNELS) as KernelName[];

/** The TypeScript type of one argument. */
type ArgType<A> = A extends { readonly kind: infer K extends keyof ArgKinds; readonly optional: true }
  ? (K extends 'f32' ? ArgKinds[K] | null : ArgKinds[K])
  : A extends { readonly kind: infer K extends keyof ArgKinds } ? ArgKinds[K] : never;

/** A kernel's parameter list, its optional arguments optional. */
type Params<T> = T extends readonly [infer H, ...infer R]
  ? H extends { readonly optional: true } ? [arg?: ArgType<H>, ...Params<R>] : [arg: ArgType<H>, ...Params<R>]
  : [];

/** A kernel's function type. */
export type KernelFn<S extends KernelSpec> = (...args: Params<S['args']>) => S extends { readonly returns: 'number' } ? number : void;

/** Every kernel as a function: what a backend implements (see Backend). */
export type Kernels = { [K in KernelName]: KernelFn<(typeof KERNELS)[K]> };

/** The integers of a geometry, in the order the addon reads them (native/kernel_table.h). */
export const CONV_FIELDS = ['n', 'h', 'w', 'c', 'kh', 'kw', 'k', 'strideH', 'strideW', 'padTop', 'padLeft', 'outH', 'outW'] as const;
export const POOL_FIELDS = ['n', 'h', 'w', 'c', 'poolH', 'poolW', 'strideH', 'strideW', 'outH', 'outW'] as const;

/** How many integers (Int32Array) and reals (Float64Array) an argument of each kind packs into. */
const PACKED: Record<keyof ArgKinds, { ints: number; reals: number }> = {
  f32: { ints: 0, reals: 0 }, i32: { ints: 0, reals: 0 },
  conv: { ints: CONV_FIELDS.length, reals: 0 }, pool: { ints: POOL_FIELDS.length, reals: 0 },
  int: { ints: 1, reals: 0 }, flag: { ints: 1, reals: 0 }, act: { ints: 1, reals: 0 },
  real: { ints: 0, reals: 1 }, adam: { ints: 0, reals: 5 }, sgd: { ints: 1, reals: 2 },
};

/** Where each argument of a kernel goes in the addon's call: arrays by position, the rest at offsets in ints and reals. */
export interface KernelLayout {
  /** the array arguments, in order (their position in the call) */
  arrays: string[];
  /** offset in the Int32Array of each argument that packs integers (and of bf16 for a precision kernel) */
  ints: Record<string, number>;
  /** offset in the Float64Array of each argument that packs reals */
  reals: Record<string, number>;
  intCount: number;
  realCount: number;
}

/** The packing of `name`'s arguments for the addon. */
export function kernelLayout(name: KernelName): KernelLayout {
  const spec: KernelSpec = KERNELS[name];
  const layout: KernelLayout = { arrays: [], ints: {}, reals: {}, intCount: 0, realCount: 0 };
  for (const a of spec.args) {
    if (a.kind === 'f32' || a.kind === 'i32') {
      layout.arrays.push(a.name);
      continue;
    }
    const p = PACKED[a.kind];
    if (p.ints > 0) layout.ints[a.name] = layout.intCount;
    if (p.reals > 0) layout.reals[a.name] = layout.realCount;
    layout.intCount += p.ints;
    layout.realCount += p.reals;
  }
  if (spec.precision) layout.ints.bf16 = layout.intCount++;
  return layout;
}

/** Checks a call's arguments against a kernel's rules: a message naming the kernel and the argument, or null. */
export type KernelChecker = (args: readonly unknown[]) => string | null;

/**
 * The checker of `name`'s arguments (array lengths from the shapes, the kernel's other rules). It is
 * made once per kernel and reuses one record of the arguments by name, so a call allocates nothing.
 */
export function kernelChecker(name: KernelName): KernelChecker {
  const spec: KernelSpec = KERNELS[name];
  const names = spec.args.map((a) => a.name);
  const named: Record<string, unknown> = Object.fromEntries(names.map((n) => [n, undefined]));
  const sized = spec.args.flatMap((a, i) => (a.len === undefined ? [] : [{ i, name: a.name, len: a.len, optional: a.optional === true }]));
  const check = spec.check;
  return (args) => {
    for (let i = 0; i < names.length; i++) named[names[i]!] = args[i];
    for (const a of sized) {
      const v = args[a.i] as Float32Array | Int32Array | null | undefined;
      if (v == null) {
        if (a.optional) continue;
        return `${name}: ${a.name} is missing`;
      }
      const need = a.len(named);
      if (v.length < need) return `${name}: ${a.name} has ${v.length} values, the shapes need at least ${need}`;
    }
    const broken = check?.(named) ?? null;
    return broken === null ? null : `${name}: ${broken}`;
  };
}

/** Packs a call's integers and reals into the Int32Array and Float64Array kernelLayout describes. */
export type KernelPacker = (args: readonly unknown[], ints: Int32Array, reals: Float64Array, bf16: boolean) => void;

/** The packer of `name`'s arguments (arrays travel as they are), made once per kernel: a step per argument that packs. */
export function kernelPacker(name: KernelName): KernelPacker {
  const spec: KernelSpec = KERNELS[name];
  const layout = kernelLayout(name);
  type Step = (v: unknown, ints: Int32Array, reals: Float64Array) => void;
  const steps: { k: number; step: Step }[] = [];
  spec.args.forEach((a, k) => {
    const i = layout.ints[a.name] ?? 0;
    const r = layout.reals[a.name] ?? 0;
    let step: Step | null = null;
    switch (a.kind) {
      case 'conv': step = (v, ints) => {
        const g = v as ConvGeometry; // CONV_FIELDS' order
        ints[i] = g.n; ints[i + 1] = g.h; ints[i + 2] = g.w; ints[i + 3] = g.c; ints[i + 4] = g.kh; ints[i + 5] = g.kw; ints[i + 6] = g.k;
        ints[i + 7] = g.strideH; ints[i + 8] = g.strideW; ints[i + 9] = g.padTop; ints[i + 10] = g.padLeft; ints[i + 11] = g.outH;
        ints[i + 12] = g.outW;
      }; break;
      case 'pool': step = (v, ints) => {
        const p = v as PoolGeometry; // POOL_FIELDS' order
        ints[i] = p.n; ints[i + 1] = p.h; ints[i + 2] = p.w; ints[i + 3] = p.c; ints[i + 4] = p.poolH; ints[i + 5] = p.poolW;
        ints[i + 6] = p.strideH; ints[i + 7] = p.strideW; ints[i + 8] = p.outH; ints[i + 9] = p.outW;
      }; break;
      case 'int': step = (v, ints) => { ints[i] = v as number; }; break;
      case 'flag': step = (v, ints) => { ints[i] = v ? 1 : 0; }; break;
      case 'act': step = (v, ints) => { ints[i] = v === 'relu' ? 1 : 0; }; break;
      case 'real': step = (v, _ints, reals) => { reals[r] = v as number; }; break;
      case 'adam': step = (v, _ints, reals) => {
        const o = v as AdamParams;
        reals[r] = o.lr; reals[r + 1] = o.beta1; reals[r + 2] = o.beta2; reals[r + 3] = o.epsilon; reals[r + 4] = o.step;
      }; break;
      case 'sgd': step = (v, ints, reals) => {
        const o = v as SgdParams;
        ints[i] = o.nesterov ? 1 : 0;
        reals[r] = o.lr; reals[r + 1] = o.momentum;
      }; break;
      default: break; // arrays travel as they are
    }
    if (step !== null) steps.push({ k, step });
  });
  const bf16At = spec.precision ? layout.ints.bf16! : -1;
  return (args, ints, reals, bf16) => {
    for (const s of steps) s.step(args[s.k], ints, reals);
    if (bf16At >= 0) ints[bf16At] = bf16 ? 1 : 0;
  };
}

/**
 * native/kernel_table.h: for each kernel, where the addon's binding finds its arguments
 * (`npm run kernels` writes it; a test checks that the file is up to date).
 */
export function cppKernelTable(): string {
  const lines = [
    '// Generated from src/engine/kernels.ts by `npm run kernels`: do not edit by hand.',
    '// For each kernel, where its binding (native/addon.cc) finds each argument: arrays by position',
    '// (arg::), integers at offsets in the Int32Array after them (dim::), reals in the Float64Array after',
    '// that (real::). A conv geometry is ' + CONV_FIELDS.length + ' integers (' + CONV_FIELDS.join(', ') + '),',
    '// a pool geometry ' + POOL_FIELDS.length + ' (' + POOL_FIELDS.join(', ') + '); adam is lr, beta1, beta2,',
    '// epsilon, step; sgd is nesterov (dim) then lr, momentum (real); flags and activations are 0 or 1 (relu).',
    '#pragma once',
    '',
    'namespace digits::kernel {',
  ];
  for (const name of KERNEL_NAMES) {
    const l = kernelLayout(name);
    lines.push(`namespace ${name} {`);
    lines.push(`namespace arg { ${l.arrays.map((a, i) => `constexpr int ${a} = ${i};`).join(' ')} }`);
    lines.push(`constexpr int arrays = ${l.arrays.length};`);
    if (l.intCount > 0) lines.push(`namespace dim { ${Object.entries(l.ints).map(([a, i]) => `constexpr int ${a} = ${i};`).join(' ')} }`);
    if (l.realCount > 0) lines.push(`namespace real { ${Object.entries(l.reals).map(([a, i]) => `constexpr int ${a} = ${i};`).join(' ')} }`);
    lines.push(`}  // namespace ${name}`);
  }
  lines.push('}  // namespace digits::kernel', '', '// Every kernel, for the export table: X(name)', '#define DIGITS_KERNELS(X) \\');
  lines.push(KERNEL_NAMES.map((n) => `  X(${n})`).join(' \\\n'));
  return lines.join('\n') + '\n';
}
