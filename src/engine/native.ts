/**
 * The native backend: the Backend kernels in C++ (native/, built by node-gyp
 * into build/Release/digits_native.node at `npm install`), with a thread pool
 * that uses every core.
 *
 * loadNativeBackend never throws: when the addon is missing or does not load
 * it returns the reason, and createBackend('auto') falls back to the
 * reference backend saying so once.
 *
 * The C++ side trusts its inputs, so each call here checks that the arrays
 * are at least as long as the shapes say (a few comparisons): a wrong size
 * becomes an Error naming the kernel and the argument, not a crash.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Activation, AdamParams, Backend, ConvGeometry, PoolGeometry, Precision, SgdParams } from './backend.js';

export type NativeLoad = { ok: true; backend: Backend } | { ok: false; reason: string };

/**
 * The addon's exports (native/addon.cc); geometry is passed as positional numbers. The BatchNorm and
 * resampling kernels take exactly the Backend's arguments.
 */
interface Addon extends Pick<Backend, 'batchNormStats' | 'batchNormForward' | 'batchNormBackward' | 'affineResample' | 'elasticField'> {
  setThreads(n: number): void;
  hardwareThreads(): number;
  /** AMX-BF16 tiles present and granted to this process (the bf16 conv kernels then run on them) */
  amxAvailable(): boolean;
  conv2dForward(x: Float32Array, w: Float32Array, b: Float32Array, y: Float32Array,
    n: number, h: number, w_: number, c: number, kh: number, kw: number, k: number,
    sh: number, sw: number, pt: number, pl: number, oh: number, ow: number, relu: boolean, bf16: boolean): void;
  conv2dBackwardInput(dy: Float32Array, w: Float32Array, dx: Float32Array,
    n: number, h: number, w_: number, c: number, kh: number, kw: number, k: number,
    sh: number, sw: number, pt: number, pl: number, oh: number, ow: number, bf16: boolean): void;
  conv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, db: Float32Array,
    n: number, h: number, w_: number, c: number, kh: number, kw: number, k: number,
    sh: number, sw: number, pt: number, pl: number, oh: number, ow: number, bf16: boolean): void;
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number,
    transA: boolean, transB: boolean, accumulate: boolean): void;
  biasActivation(y: Float32Array, b: Float32Array, rows: number, cols: number, relu: boolean): void;
  biasGrad(dy: Float32Array, db: Float32Array, rows: number, cols: number): void;
  activationBackward(dy: Float32Array, y: Float32Array, dx: Float32Array, relu: boolean): void;
  maxPool2dForward(x: Float32Array, y: Float32Array, argmax: Int32Array,
    n: number, h: number, w: number, c: number, ph: number, pw: number, sh: number, sw: number, oh: number, ow: number): void;
  maxPool2dBackward(dy: Float32Array, argmax: Int32Array, dx: Float32Array,
    n: number, h: number, w: number, c: number, ph: number, pw: number, sh: number, sw: number, oh: number, ow: number): void;
  conv2dMaxPoolForward(x: Float32Array, w: Float32Array, b: Float32Array, y: Float32Array, argmax: Int32Array,
    n: number, h: number, w_: number, c: number, kh: number, kw: number, k: number,
    sh: number, sw: number, pt: number, pl: number, oh: number, ow: number,
    pn: number, ph_: number, pw_: number, pc: number, ph: number, pw: number, psh: number, psw: number, poh: number, pow: number,
    relu: boolean, bf16: boolean): void;
  conv2dMaxPoolBackwardFilter(x: Float32Array, dy: Float32Array, argmax: Int32Array, dw: Float32Array, db: Float32Array,
    n: number, h: number, w_: number, c: number, kh: number, kw: number, k: number,
    sh: number, sw: number, pt: number, pl: number, oh: number, ow: number,
    pn: number, ph_: number, pw_: number, pc: number, ph: number, pw: number, psh: number, psw: number, poh: number, pow: number,
    bf16: boolean): void;
  conv2dMaxPoolBackwardInput(dy: Float32Array, argmax: Int32Array, w: Float32Array, dx: Float32Array,
    n: number, h: number, w_: number, c: number, kh: number, kw: number, k: number,
    sh: number, sw: number, pt: number, pl: number, oh: number, ow: number,
    pn: number, ph_: number, pw_: number, pc: number, ph: number, pw: number, psh: number, psw: number, poh: number, pow: number,
    bf16: boolean): void;
  mul(a: Float32Array, b: Float32Array, out: Float32Array): void;
  softmax(logits: Float32Array, probs: Float32Array, rows: number, cols: number): void;
  softmaxCrossEntropy(logits: Float32Array, targets: Float32Array, probs: Float32Array, dlogits: Float32Array,
    rows: number, cols: number): number;
  adamUpdate(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
    lr: number, beta1: number, beta2: number, epsilon: number, step: number): void;
  sgdUpdate(p: Float32Array, g: Float32Array, vel: Float32Array, lr: number, momentum: number, nesterov: boolean): void;
  emaUpdate(avg: Float32Array, x: Float32Array, keep: number): void;
}

/** Where node-gyp puts the addon, from dist/src/engine/native.js (or src/engine/native.ts). */
export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../../../build/Release/digits_native.node', import.meta.url));

/** Whether this copy of Digits is a project's dependency (under node_modules/) rather than a checkout. */
const INSTALLED_AS_DEPENDENCY = NATIVE_ADDON_PATH.split(/[\\/]/).includes('node_modules');

let cached: { addon: Addon } | { error: string } | undefined;

function loadAddon(): { addon: Addon } | { error: string } {
  if (cached !== undefined) return cached;
  if (!existsSync(NATIVE_ADDON_PATH)) {
    cached = {
      error: INSTALLED_AS_DEPENDENCY
        // a project that installed Digits without running its install script (npm 11 asks first, or --ignore-scripts)
        ? 'the native kernels are not built, as the package\'s install script did not run; to build them, run ' +
          '`npm rebuild digits` in your project (npm 11 asks first: `npm install-scripts approve digits`; it needs python3, make and g++)'
        : `the addon is not built (${NATIVE_ADDON_PATH} is missing; build it with \`npm rebuild\`, ` +
          'which needs python3, make and a C++17 compiler)',
    };
    return cached;
  }
  try {
    const require = createRequire(import.meta.url);
    const addon = require(NATIVE_ADDON_PATH) as Addon;
    if (typeof addon.conv2dForward !== 'function' || typeof addon.setThreads !== 'function' ||
      typeof addon.amxAvailable !== 'function') {
      cached = { error: `${NATIVE_ADDON_PATH} loaded but is not the Digits addon (rebuild it with \`npm rebuild\`)` };
    } else {
      cached = { addon };
    }
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    cached = { error: `the addon failed to load (${NATIVE_ADDON_PATH}: ${message}); rebuild it with \`npm rebuild\`` };
  }
  return cached;
}

/**
 * The precision a backend's conv kernels should use: 'auto' is 'bf16' where the CPU has AMX tiles
 * (there bf16 is several times faster than fp32) and 'fp32' elsewhere (bf16 without the tiles only
 * rounds, at no gain).
 */
export type PrecisionChoice = Precision | 'auto';
export const PRECISION_CHOICES: readonly PrecisionChoice[] = ['auto', 'fp32', 'bf16'];

/** Whether the native addon loads and this CPU gives it AMX-BF16 tiles. */
export function nativeAmxAvailable(): boolean {
  const loaded = loadAddon();
  return 'addon' in loaded && loaded.addon.amxAvailable();
}

/**
 * The native backend with `threads` workers (default: every core the OS
 * reports) and the given conv precision (default 'fp32'). Never throws; see NativeLoad.
 */
export function loadNativeBackend(threads?: number, precision: PrecisionChoice = 'fp32'): NativeLoad {
  const loaded = loadAddon();
  if ('error' in loaded) return { ok: false, reason: loaded.error };
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 256)) {
    return { ok: false, reason: `threads: expected an integer from 1 to 256, got ${String(threads)}` };
  }
  if (!PRECISION_CHOICES.includes(precision)) {
    return { ok: false, reason: `precision: expected one of ${PRECISION_CHOICES.join(', ')}, got ${JSON.stringify(precision)}` };
  }
  const n = threads ?? Math.max(1, loaded.addon.hardwareThreads());
  const p: Precision = precision === 'auto' ? (loaded.addon.amxAvailable() ? 'bf16' : 'fp32') : precision;
  return { ok: true, backend: new NativeBackend(loaded.addon, n, p) };
}

/** The thread count the addon's pool is set to (one pool per process). */
let poolThreads = 0;

function short(kernel: string, name: string, arr: Float32Array | Int32Array, need: number): never {
  throw new Error(`${kernel}: ${name} has ${arr.length} values, the shapes need at least ${need}`);
}

export class NativeBackend implements Backend {
  readonly name = 'native';
  readonly threads: number;
  readonly precision: Precision;
  private readonly bf16: boolean;
  private readonly addon: Addon;

  constructor(addon: Addon, threads: number, precision: Precision) {
    this.addon = addon;
    this.threads = threads;
    this.precision = precision;
    this.bf16 = precision === 'bf16';
  }

  /** Points the shared pool at this backend's thread count (backends with different counts may coexist). */
  private use(): Addon {
    if (poolThreads !== this.threads) {
      this.addon.setThreads(this.threads);
      poolThreads = this.threads;
    }
    return this.addon;
  }

  conv2dForward(x: Float32Array, w: Float32Array, b: Float32Array, y: Float32Array, g: ConvGeometry, act: Activation): void {
    checkConv('conv2dForward', g, x, 'x', w, 'w');
    if (b.length < g.k) short('conv2dForward', 'b', b, g.k);
    if (y.length < g.n * g.outH * g.outW * g.k) short('conv2dForward', 'y', y, g.n * g.outH * g.outW * g.k);
    this.use().conv2dForward(x, w, b, y, g.n, g.h, g.w, g.c, g.kh, g.kw, g.k, g.strideH, g.strideW,
      g.padTop, g.padLeft, g.outH, g.outW, act === 'relu', this.bf16);
  }

  conv2dBackwardInput(dy: Float32Array, w: Float32Array, dx: Float32Array, g: ConvGeometry): void {
    checkConv('conv2dBackwardInput', g, dx, 'dx', w, 'w');
    if (dy.length < g.n * g.outH * g.outW * g.k) short('conv2dBackwardInput', 'dy', dy, g.n * g.outH * g.outW * g.k);
    this.use().conv2dBackwardInput(dy, w, dx, g.n, g.h, g.w, g.c, g.kh, g.kw, g.k, g.strideH, g.strideW,
      g.padTop, g.padLeft, g.outH, g.outW, this.bf16);
  }

  conv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, db: Float32Array, g: ConvGeometry): void {
    checkConv('conv2dBackwardFilter', g, x, 'x', dw, 'dw');
    if (dy.length < g.n * g.outH * g.outW * g.k) short('conv2dBackwardFilter', 'dy', dy, g.n * g.outH * g.outW * g.k);
    if (db.length < g.k) short('conv2dBackwardFilter', 'db', db, g.k);
    this.use().conv2dBackwardFilter(x, dy, dw, db, g.n, g.h, g.w, g.c, g.kh, g.kw, g.k, g.strideH, g.strideW,
      g.padTop, g.padLeft, g.outH, g.outW, this.bf16);
  }

  matmul(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number,
    transA: boolean, transB: boolean, accumulate: boolean): void {
    if (a.length < m * k) short('matmul', 'a', a, m * k);
    if (b.length < k * n) short('matmul', 'b', b, k * n);
    if (c.length < m * n) short('matmul', 'c', c, m * n);
    this.use().matmul(a, b, c, m, n, k, transA, transB, accumulate);
  }

  biasActivation(y: Float32Array, b: Float32Array, rows: number, cols: number, act: Activation): void {
    if (y.length < rows * cols) short('biasActivation', 'y', y, rows * cols);
    if (b.length < cols) short('biasActivation', 'b', b, cols);
    this.use().biasActivation(y, b, rows, cols, act === 'relu');
  }

  biasGrad(dy: Float32Array, db: Float32Array, rows: number, cols: number): void {
    if (dy.length < rows * cols) short('biasGrad', 'dy', dy, rows * cols);
    if (db.length < cols) short('biasGrad', 'db', db, cols);
    this.use().biasGrad(dy, db, rows, cols);
  }

  activationBackward(dy: Float32Array, y: Float32Array, dx: Float32Array, act: Activation): void {
    if (dx.length < dy.length) short('activationBackward', 'dx', dx, dy.length);
    if (act === 'relu' && y.length < dy.length) short('activationBackward', 'y', y, dy.length);
    this.use().activationBackward(dy, y, dx, act === 'relu');
  }

  maxPool2dForward(x: Float32Array, y: Float32Array, argmax: Int32Array, g: PoolGeometry): void {
    checkPool('maxPool2dForward', g, x, 'x', y, 'y', argmax);
    this.use().maxPool2dForward(x, y, argmax, g.n, g.h, g.w, g.c, g.poolH, g.poolW, g.strideH, g.strideW, g.outH, g.outW);
  }

  maxPool2dBackward(dy: Float32Array, argmax: Int32Array, dx: Float32Array, g: PoolGeometry): void {
    checkPool('maxPool2dBackward', g, dx, 'dx', dy, 'dy', argmax);
    this.use().maxPool2dBackward(dy, argmax, dx, g.n, g.h, g.w, g.c, g.poolH, g.poolW, g.strideH, g.strideW, g.outH, g.outW);
  }

  conv2dMaxPoolForward(x: Float32Array, w: Float32Array, b: Float32Array, y: Float32Array, argmax: Int32Array,
    g: ConvGeometry, p: PoolGeometry, act: Activation): void {
    checkConvPool('conv2dMaxPoolForward', g, p, x, 'x', w, 'w', y, 'y', argmax);
    if (b.length < g.k) short('conv2dMaxPoolForward', 'b', b, g.k);
    this.use().conv2dMaxPoolForward(x, w, b, y, argmax, g.n, g.h, g.w, g.c, g.kh, g.kw, g.k, g.strideH, g.strideW,
      g.padTop, g.padLeft, g.outH, g.outW, p.n, p.h, p.w, p.c, p.poolH, p.poolW, p.strideH, p.strideW, p.outH, p.outW,
      act === 'relu', this.bf16);
  }

  conv2dMaxPoolBackwardFilter(x: Float32Array, dy: Float32Array, argmax: Int32Array, dw: Float32Array, db: Float32Array,
    g: ConvGeometry, p: PoolGeometry): void {
    checkConvPool('conv2dMaxPoolBackwardFilter', g, p, x, 'x', dw, 'dw', dy, 'dy', argmax);
    if (db.length < g.k) short('conv2dMaxPoolBackwardFilter', 'db', db, g.k);
    this.use().conv2dMaxPoolBackwardFilter(x, dy, argmax, dw, db, g.n, g.h, g.w, g.c, g.kh, g.kw, g.k, g.strideH, g.strideW,
      g.padTop, g.padLeft, g.outH, g.outW, p.n, p.h, p.w, p.c, p.poolH, p.poolW, p.strideH, p.strideW, p.outH, p.outW, this.bf16);
  }

  conv2dMaxPoolBackwardInput(dy: Float32Array, argmax: Int32Array, w: Float32Array, dx: Float32Array,
    g: ConvGeometry, p: PoolGeometry): void {
    checkConvPool('conv2dMaxPoolBackwardInput', g, p, dx, 'dx', w, 'w', dy, 'dy', argmax);
    this.use().conv2dMaxPoolBackwardInput(dy, argmax, w, dx, g.n, g.h, g.w, g.c, g.kh, g.kw, g.k, g.strideH, g.strideW,
      g.padTop, g.padLeft, g.outH, g.outW, p.n, p.h, p.w, p.c, p.poolH, p.poolW, p.strideH, p.strideW, p.outH, p.outW, this.bf16);
  }

  mul(a: Float32Array, b: Float32Array, out: Float32Array): void {
    if (b.length < a.length) short('mul', 'b', b, a.length);
    if (out.length < a.length) short('mul', 'out', out, a.length);
    this.use().mul(a, b, out);
  }

  softmax(logits: Float32Array, probs: Float32Array, rows: number, cols: number): void {
    if (logits.length < rows * cols) short('softmax', 'logits', logits, rows * cols);
    if (probs.length < rows * cols) short('softmax', 'probs', probs, rows * cols);
    this.use().softmax(logits, probs, rows, cols);
  }

  softmaxCrossEntropy(logits: Float32Array, targets: Float32Array, probs: Float32Array, dlogits: Float32Array,
    rows: number, cols: number): number {
    const len = rows * cols;
    if (logits.length < len) short('softmaxCrossEntropy', 'logits', logits, len);
    if (targets.length < len) short('softmaxCrossEntropy', 'targets', targets, len);
    if (probs.length < len) short('softmaxCrossEntropy', 'probs', probs, len);
    if (dlogits.length < len) short('softmaxCrossEntropy', 'dlogits', dlogits, len);
    return this.use().softmaxCrossEntropy(logits, targets, probs, dlogits, rows, cols);
  }

  adamUpdate(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, o: AdamParams): void {
    if (g.length < p.length) short('adamUpdate', 'g', g, p.length);
    if (m.length < p.length) short('adamUpdate', 'm', m, p.length);
    if (v.length < p.length) short('adamUpdate', 'v', v, p.length);
    this.use().adamUpdate(p, g, m, v, o.lr, o.beta1, o.beta2, o.epsilon, o.step);
  }

  sgdUpdate(p: Float32Array, g: Float32Array, vel: Float32Array, o: SgdParams): void {
    if (g.length < p.length) short('sgdUpdate', 'g', g, p.length);
    if (o.momentum !== 0 && vel.length < p.length) short('sgdUpdate', 'vel', vel, p.length);
    this.use().sgdUpdate(p, g, vel, o.lr, o.momentum, o.nesterov);
  }

  emaUpdate(avg: Float32Array, x: Float32Array, keep: number): void {
    if (x.length < avg.length) short('emaUpdate', 'x', x, avg.length);
    this.use().emaUpdate(avg, x, keep);
  }

  batchNormStats(x: Float32Array, mean: Float32Array, variance: Float32Array, rows: number, cols: number): void {
    if (x.length < rows * cols) short('batchNormStats', 'x', x, rows * cols);
    if (mean.length < cols) short('batchNormStats', 'mean', mean, cols);
    if (variance.length < cols) short('batchNormStats', 'variance', variance, cols);
    this.use().batchNormStats(x, mean, variance, rows, cols);
  }

  batchNormForward(x: Float32Array, mean: Float32Array, variance: Float32Array, gamma: Float32Array, beta: Float32Array,
    epsilon: number, y: Float32Array, rows: number, cols: number, act: Activation = 'linear'): void {
    const len = rows * cols;
    if (x.length < len) short('batchNormForward', 'x', x, len);
    if (y.length < len) short('batchNormForward', 'y', y, len);
    for (const [name, a] of [['mean', mean], ['variance', variance], ['gamma', gamma], ['beta', beta]] as const) {
      if (a.length < cols) short('batchNormForward', name, a, cols);
    }
    this.use().batchNormForward(x, mean, variance, gamma, beta, epsilon, y, rows, cols, act);
  }

  batchNormBackward(x: Float32Array, dy: Float32Array, mean: Float32Array, variance: Float32Array, gamma: Float32Array,
    epsilon: number, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, rows: number, cols: number,
    reluY?: Float32Array): void {
    const len = rows * cols;
    for (const [name, a] of [['x', x], ['dy', dy], ['dx', dx]] as const) if (a.length < len) short('batchNormBackward', name, a, len);
    for (const [name, a] of [['mean', mean], ['variance', variance], ['gamma', gamma], ['dgamma', dgamma], ['dbeta', dbeta]] as const) {
      if (a.length < cols) short('batchNormBackward', name, a, cols);
    }
    if (reluY !== undefined && reluY.length < len) short('batchNormBackward', 'reluY', reluY, len);
    this.use().batchNormBackward(x, dy, mean, variance, gamma, epsilon, dx, dgamma, dbeta, rows, cols, reluY);
  }

  affineResample(x: Float32Array, params: Float32Array, y: Float32Array, n: number, h: number, w: number, c: number,
    disp?: Float32Array | null): void {
    const len = n * h * w * c;
    if (x.length < len) short('affineResample', 'x', x, len);
    if (y.length < len) short('affineResample', 'y', y, len);
    if (params.length < n * 6) short('affineResample', 'params', params, n * 6);
    if (disp != null && disp.length < n * h * w * 2) short('affineResample', 'disp', disp, n * h * w * 2);
    this.use().affineResample(x, params, y, n, h, w, c, disp ?? null);
  }

  elasticField(noise: Float32Array, field: Float32Array, n: number, h: number, w: number, sigma: number, alpha: number): void {
    const len = n * h * w * 2;
    if (noise.length < len) short('elasticField', 'noise', noise, len);
    if (field.length < len) short('elasticField', 'field', field, len);
    if (!(sigma > 0) || !Number.isFinite(alpha)) throw new Error(`elasticField: expected sigma > 0 and a finite alpha, got ${sigma}, ${alpha}`);
    this.use().elasticField(noise, field, n, h, w, sigma, alpha);
  }
}

function checkConv(kernel: string, g: ConvGeometry, img: Float32Array, imgName: string, w: Float32Array, wName: string): void {
  const inLen = g.n * g.h * g.w * g.c;
  if (img.length < inLen) short(kernel, imgName, img, inLen);
  const wLen = g.kh * g.kw * g.c * g.k;
  if (w.length < wLen) short(kernel, wName, w, wLen);
  // Windows may run past the input (read as zero) but padding is never negative.
  if (g.padTop < 0 || g.padLeft < 0 || g.outH < 0 || g.outW < 0 || g.strideH < 1 || g.strideW < 1) {
    throw new Error(`${kernel}: inconsistent geometry ${JSON.stringify(g)}`);
  }
}

function checkPool(kernel: string, g: PoolGeometry, img: Float32Array, imgName: string, out: Float32Array, outName: string,
  argmax: Int32Array): void {
  const inLen = g.n * g.h * g.w * g.c;
  if (img.length < inLen) short(kernel, imgName, img, inLen);
  const outLen = g.n * g.outH * g.outW * g.c;
  if (out.length < outLen) short(kernel, outName, out, outLen);
  if (argmax.length < outLen) short(kernel, 'argmax', argmax, outLen);
  if ((g.outH - 1) * g.strideH + g.poolH > g.h || (g.outW - 1) * g.strideW + g.poolW > g.w) {
    throw new Error(`${kernel}: pool windows leave the input: ${JSON.stringify(g)}`);
  }
}

/** The pool of a fused conv + pool reads the conv's output, with windows that do not overlap (the C++ relies on both). */
/**
 * A fused conv + pool kernel's arguments: the conv's image and weights (checkConv), a pool that fits
 * the conv's output, and the pooled map (y or dy) and its argmax, each of the pool's output size.
 */
function checkConvPool(kernel: string, g: ConvGeometry, p: PoolGeometry, img: Float32Array, imgName: string,
  w: Float32Array, wName: string, pooled: Float32Array, pooledName: string, argmax: Int32Array): void {
  checkConv(kernel, g, img, imgName, w, wName);
  if (p.n !== g.n || p.h !== g.outH || p.w !== g.outW || p.c !== g.k || p.poolH !== p.strideH || p.poolW !== p.strideW ||
    p.outH < 0 || p.outW < 0 || p.outH * p.strideH > p.h || p.outW * p.strideW > p.w) {
    throw new Error(`${kernel}: the pool ${JSON.stringify(p)} does not fit the conv ${JSON.stringify(g)}`);
  }
  const len = p.n * p.outH * p.outW * p.c;
  if (pooled.length < len) short(kernel, pooledName, pooled, len);
  if (argmax.length < len) short(kernel, 'argmax', argmax, len);
}
