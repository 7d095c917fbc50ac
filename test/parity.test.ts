/**
 * Parity: every native kernel against its reference twin (the specification)
 * on random shapes, odd sizes included. Test names encode the case.
 *
 * Tolerance: |native - reference| <= 1e-4 * max(1, |reference|), per element.
 * Why: the two backends add the same float32 products in different orders
 * (blocked sums, FMA, per-thread partials), which changes the result by a few
 * ulps of the sum of |terms|. Inputs here lie in [-1, 1] and the longest sum
 * has ~5,600 terms, so the absolute error stays around 1e-5 even where terms
 * cancel to a result near zero; the floor of 1 keeps such near-zero outputs
 * from demanding impossible relative precision, while large outputs are
 * held to 1e-4 relative. Pooling (a selection, no arithmetic) must match exactly.
 *
 * If the addon does not load, every test here fails with the loader's reason:
 * CI builds the addon, so a missing one is a failure, not a skip.
 *
 * With DIGITS_PARITY_TARGET=wasm (test/wasm-parity.test.ts runs this file so) the same cases run on the
 * WebAssembly build of the same kernels (one thread: the 2-thread cases run on it too), except the
 * flush of denormals, which WebAssembly's arithmetic does not do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Activation, Backend, ConvGeometry, Precision } from '../src/engine/backend.js';
import { KERNEL_NAMES, PRECISIONS } from '../src/engine/backend.js';
import { convGeometry, poolGeometry } from '../src/engine/backend.js';
import { ReferenceBackend } from '../src/engine/reference.js';
import { loadNativeBackend, type NativeLoad } from '../src/engine/native.js';
import { loadWasmBackend } from '../src/engine/wasm.js';
import { Rng } from '../src/engine/rng.js';

const TOL = 1e-4;
const ref = new ReferenceBackend();
const WASM = process.env.DIGITS_PARITY_TARGET === 'wasm';
const load = (threads: 1 | 2, precision: Precision = 'fp32'): NativeLoad =>
  (WASM ? loadWasmBackend(1, precision) : loadNativeBackend(threads, precision));
const load2 = load(2);
const load1 = load(1);
// The conv kernels run in both precisions: bf16 against the reference's bf16 (the same rounded operands;
// the products of two bfloat16 values are exact in float32, so only the order of the sums differs and
// TOL's reasoning holds unchanged).
const refs: Record<Precision, ReferenceBackend> = { fp32: ref, bf16: new ReferenceBackend('bf16') };
const loads: Record<Precision, Record<1 | 2, NativeLoad>> = {
  fp32: { 1: load1, 2: load2 },
  bf16: { 1: load(1, 'bf16'), 2: load(2, 'bf16') },
};

function native(threads: 1 | 2 = 2, precision: Precision = 'fp32'): Backend {
  const l = loads[precision][threads];
  if (!l.ok) assert.fail(`native backend did not load: ${l.reason}`);
  assert.equal(l.backend.precision, precision);
  return recorded(l.backend);
}

/** Kernels of the table that this suite has run on the native backend (the last test checks it ran every one). */
const exercised = new Set<string>();

/** The backend, noting each kernel of the table called on it. */
function recorded(b: Backend): Backend {
  return new Proxy(b, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && (KERNEL_NAMES as readonly string[]).includes(prop)) exercised.add(prop);
      return Reflect.get(target, prop, receiver);
    },
  });
}

test('native addon loads', () => {
  assert.ok(load2.ok, load2.ok ? '' : `native backend did not load: ${load2.reason}`);
  const b = native();
  assert.equal(b.name, WASM ? 'wasm' : 'native');
  assert.equal(b.threads, WASM ? 1 : 2);
});

const rng = new Rng(1234);
function rand(len: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) a[i] = lo + (hi - lo) * rng.uniform();
  return a;
}
/** Random values where a fraction are exactly zero (as after a ReLU). */
function sparse(len: number, zeros = 0.3): Float32Array {
  const a = rand(len);
  for (let i = 0; i < len; i++) if (rng.uniform() < zeros) a[i] = 0;
  return a;
}
/** Distinct values in random order: no ties for max pooling. */
function distinct(len: number): Float32Array {
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) a[i] = (i - len / 2) / len;
  for (let i = len - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}

/** Asserts per-element closeness; the message names the largest difference and the first mismatches. */
function assertClose(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol = TOL): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != ${expected.length}`);
  let worst = 0;
  let worstAt = -1;
  const bad: string[] = [];
  let nbad = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const d = Math.abs(a - e);
    const ok = d <= tol * Math.max(1, Math.abs(e)) || (Number.isNaN(a) && Number.isNaN(e));
    if (d > worst || Number.isNaN(d)) {
      worst = Number.isNaN(d) ? Infinity : d;
      worstAt = i;
    }
    if (!ok) {
      nbad++;
      if (bad.length < 5) bad.push(`[${i}] native ${a} reference ${e} (diff ${d.toExponential(2)})`);
    }
  }
  if (nbad > 0) {
    assert.fail(`${what}: ${nbad} of ${expected.length} values differ by more than ${tol} * max(1, |ref|); ` +
      `largest difference ${worst.toExponential(3)} at [${worstAt}]; first: ${bad.join('; ')}`);
  }
}

function assertEqualArrays(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const bad: string[] = [];
  let nbad = 0;
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      nbad++;
      if (bad.length < 5) bad.push(`[${i}] native ${actual[i]} reference ${expected[i]}`);
    }
  }
  if (nbad > 0) assert.fail(`${what}: ${nbad} of ${expected.length} values differ; first: ${bad.join('; ')}`);
}

function fill(len: number, v: number): Float32Array {
  return new Float32Array(len).fill(v);
}

// ---------------------------------------------------------------- convolution

interface ConvCase {
  x: [number, number, number, number];
  f: [number, number, number, number];
  s: [number, number];
  p: 'valid' | 'same';
  act: Activation;
}

const convCases: ConvCase[] = [
  { x: [1, 28, 28, 1], f: [3, 3, 1, 32], s: [1, 1], p: 'valid', act: 'relu' },
  { x: [3, 13, 13, 32], f: [3, 3, 32, 64], s: [1, 1], p: 'same', act: 'relu' },
  { x: [33, 6, 6, 64], f: [3, 3, 64, 128], s: [1, 1], p: 'valid', act: 'relu' },
  { x: [3, 9, 9, 17], f: [3, 3, 17, 5], s: [2, 2], p: 'same', act: 'relu' },
  { x: [3, 9, 9, 17], f: [3, 3, 17, 5], s: [2, 2], p: 'valid', act: 'linear' },
  { x: [1, 7, 8, 3], f: [2, 3, 3, 17], s: [1, 1], p: 'same', act: 'linear' },
  { x: [33, 10, 10, 3], f: [5, 5, 3, 19], s: [1, 1], p: 'same', act: 'relu' },
  { x: [3, 11, 7, 1], f: [3, 3, 1, 33], s: [2, 1], p: 'same', act: 'linear' },
  { x: [1, 5, 5, 17], f: [5, 5, 17, 1], s: [1, 1], p: 'valid', act: 'linear' },
  { x: [3, 8, 8, 3], f: [1, 1, 3, 17], s: [2, 2], p: 'valid', act: 'relu' },
  { x: [33, 12, 12, 1], f: [4, 4, 1, 3], s: [3, 3], p: 'same', act: 'relu' },
  // the fast preset's convs: K not a multiple of 16, with enough pixels (>= 2,048) that dy's padding to 16 columns
  // runs on every thread (a few images only: dw sums over every pixel, and float sums of ~50k terms drift past TOL)
  { x: [4, 28, 28, 1], f: [3, 3, 1, 12], s: [1, 1], p: 'same', act: 'linear' },
  { x: [16, 14, 14, 12], f: [3, 3, 12, 24], s: [1, 1], p: 'same', act: 'linear' },
  // K a multiple of 24 (the filter gradient's 4 x 24 tiles): depth 27 and 45 end in a partial tile, odd batches
  { x: [5, 9, 7, 3], f: [3, 3, 3, 24], s: [1, 1], p: 'same', act: 'relu' },
  { x: [3, 8, 9, 5], f: [3, 3, 5, 48], s: [2, 1], p: 'valid', act: 'linear' },
  // 588 output pixels: the row blocks of the 4 x 24 forward tiles end in a partial tile
  { x: [3, 14, 14, 12], f: [3, 3, 12, 24], s: [1, 1], p: 'same', act: 'relu' },
  // the best preset's convs (in bf16 on AMX tiles: channels in whole 32-blocks, rows of 28 + 2 dropped columns)
  { x: [3, 28, 28, 32], f: [3, 3, 32, 32], s: [1, 1], p: 'same', act: 'relu' },
  { x: [5, 14, 14, 64], f: [3, 3, 64, 64], s: [1, 1], p: 'same', act: 'linear' },
  // AMX tiles with partial channel blocks (40 in, 20 out), a 5 x 3 kernel, and a 1 x 1 conv of 33 channels
  { x: [2, 11, 10, 40], f: [5, 3, 40, 20], s: [1, 1], p: 'valid', act: 'relu' },
  { x: [3, 5, 6, 33], f: [1, 1, 33, 17], s: [1, 1], p: 'valid', act: 'linear' },
];

function convName(c: ConvCase): string {
  const s = c.s[0] === c.s[1] ? String(c.s[0]) : `[${c.s.join(',')}]`;
  return `x=[${c.x.join(',')}] f=[${c.f.join(',')}] s=${s} p=${c.p}`;
}

function geom(c: ConvCase): ConvGeometry {
  const [n, h, w, ch] = c.x;
  const [kh, kw, , k] = c.f;
  return convGeometry(n, h, w, ch, kh, kw, k, c.s[0], c.s[1], c.p);
}

for (const precision of PRECISIONS) for (const c of convCases) {
  const g = geom(c);
  const xLen = g.n * g.h * g.w * g.c;
  const wLen = g.kh * g.kw * g.c * g.k;
  const yLen = g.n * g.outH * g.outW * g.k;
  const ref = refs[precision];
  const at = precision === 'fp32' ? '' : ` precision=${precision}`;

  test(`conv2dForward ${convName(c)} ${c.act}${at}`, () => {
    const nb = native(2, precision);
    const x = sparse(xLen);
    const w = rand(wLen);
    const b = rand(g.k);
    const yr = fill(yLen, NaN);
    const yn = fill(yLen, NaN); // overwrite: garbage in the output must not matter
    ref.conv2dForward(x, w, b, yr, g, c.act);
    nb.conv2dForward(x, w, b, yn, g, c.act);
    assertClose('y', yn, yr);
  });

  test(`conv2dBackwardInput ${convName(c)}${at}`, () => {
    const nb = native(2, precision);
    const dy = rand(yLen);
    const w = rand(wLen);
    const dxr = fill(xLen, NaN);
    const dxn = fill(xLen, NaN);
    ref.conv2dBackwardInput(dy, w, dxr, g);
    nb.conv2dBackwardInput(dy, w, dxn, g);
    assertClose('dx', dxn, dxr);
  });

  test(`conv2dBackwardFilter ${convName(c)}${at}`, () => {
    const nb = native(2, precision);
    const x = sparse(xLen);
    const dy = rand(yLen);
    const dwr = fill(wLen, NaN);
    const dwn = fill(wLen, NaN);
    const dbr = fill(g.k, NaN);
    const dbn = fill(g.k, NaN);
    ref.conv2dBackwardFilter(x, dy, dwr, dbr, g);
    nb.conv2dBackwardFilter(x, dy, dwn, dbn, g);
    assertClose('dw', dwn, dwr);
    assertClose('db', dbn, dbr);
  });
}

// ---------------------------------------------------------------- matmul

const matmulShapes: [number, number, number][] = [
  [1, 10, 128], [3, 17, 5], [33, 64, 512], [512, 64, 32], [300, 40, 70], [17, 1, 33], [33, 3, 1], [5, 7, 0],
];
for (const [m, n, k] of matmulShapes) {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      for (const accumulate of [false, true]) {
        test(`matmul m=${m} n=${n} k=${k} transA=${transA} transB=${transB} accumulate=${accumulate}`, () => {
          const nb = native();
          const a = sparse(m * k);
          const b = rand(k * n);
          const c0 = accumulate ? rand(m * n) : fill(m * n, NaN);
          const cr = new Float32Array(c0);
          const cn = new Float32Array(c0);
          ref.matmul(a, b, cr, m, n, k, transA, transB, accumulate);
          nb.matmul(a, b, cn, m, n, k, transA, transB, accumulate);
          assertClose('c', cn, cr);
        });
      }
    }
  }
}

// ---------------------------------------------------------------- bias, activation, elementwise

for (const [rows, cols] of [[3, 17], [33, 10], [1, 1], [1000, 128]] as const) {
  for (const act of ['linear', 'relu'] as const) {
    test(`biasActivation rows=${rows} cols=${cols} ${act}`, () => {
      const nb = native();
      const y0 = rand(rows * cols);
      const b = rand(cols);
      const yr = new Float32Array(y0);
      const yn = new Float32Array(y0);
      ref.biasActivation(yr, b, rows, cols, act);
      nb.biasActivation(yn, b, rows, cols, act);
      assertClose('y', yn, yr);
    });
  }
  test(`biasGrad rows=${rows} cols=${cols}`, () => {
    const nb = native();
    const dy = rand(rows * cols);
    const dbr = fill(cols, NaN);
    const dbn = fill(cols, NaN);
    ref.biasGrad(dy, dbr, rows, cols);
    nb.biasGrad(dy, dbn, rows, cols);
    assertClose('db', dbn, dbr);
  });
}

for (const len of [1, 17, 33 * 13 * 13 * 32]) {
  for (const act of ['linear', 'relu'] as const) {
    for (const alias of [false, true]) {
      test(`activationBackward len=${len} ${act}${alias ? ' dx=dy' : ''}`, () => {
        const nb = native();
        const y = sparse(len, 0.4);
        const dy = rand(len);
        const dyr = new Float32Array(dy);
        const dyn = new Float32Array(dy);
        const dxr = alias ? dyr : fill(len, NaN);
        const dxn = alias ? dyn : fill(len, NaN);
        ref.activationBackward(dyr, y, dxr, act);
        nb.activationBackward(dyn, y, dxn, act);
        assertEqualArrays('dx', dxn, dxr);
      });
    }
  }
  test(`mul len=${len}`, () => {
    const nb = native();
    const a = rand(len);
    const b = rand(len);
    const outr = fill(len, NaN);
    const outn = fill(len, NaN);
    ref.mul(a, b, outr);
    nb.mul(a, b, outn);
    assertEqualArrays('out', outn, outr);
    const an = new Float32Array(a);
    nb.mul(an, b, an); // out may alias a
    assertEqualArrays('out (aliased)', an, outr);
  });
}

// ---------------------------------------------------------------- pooling

const poolCases: { x: [number, number, number, number]; pool: number; s: number }[] = [
  { x: [1, 26, 26, 32], pool: 2, s: 2 },
  { x: [3, 13, 13, 64], pool: 2, s: 2 },
  { x: [33, 7, 7, 17], pool: 2, s: 2 },
  { x: [3, 9, 9, 3], pool: 3, s: 2 },
  { x: [1, 5, 6, 1], pool: 2, s: 1 },
  { x: [4, 28, 28, 12], pool: 2, s: 2 }, // the fast preset's first pool: 8 + 4 channels
  { x: [2, 9, 9, 21], pool: 2, s: 2 }, // 8 + 8 + 4 + 1
];
for (const pc of poolCases) {
  const [n, h, w, c] = pc.x;
  const g = poolGeometry(n, h, w, c, pc.pool, pc.pool, pc.s, pc.s);
  const outLen = n * g.outH * g.outW * c;
  const name = `x=[${pc.x.join(',')}] pool=${pc.pool} s=${pc.s}`;
  test(`maxPool2dForward ${name} (no ties: argmax equal)`, () => {
    const nb = native();
    const x = distinct(n * h * w * c);
    const yr = fill(outLen, NaN);
    const yn = fill(outLen, NaN);
    const ar = new Int32Array(outLen).fill(-7);
    const an = new Int32Array(outLen).fill(-7);
    ref.maxPool2dForward(x, yr, ar, g);
    nb.maxPool2dForward(x, yn, an, g);
    assertEqualArrays('y', yn, yr);
    assertEqualArrays('argmax', an, ar);
  });
  test(`maxPool2dForward ${name} ties resolve to the first`, () => {
    const nb = native();
    const x = new Float32Array(n * h * w * c);
    for (let i = 0; i < x.length; i++) x[i] = Math.floor(rng.uniform() * 3) - 1; // many ties
    const yr = new Float32Array(outLen);
    const yn = new Float32Array(outLen);
    const ar = new Int32Array(outLen);
    const an = new Int32Array(outLen);
    ref.maxPool2dForward(x, yr, ar, g);
    nb.maxPool2dForward(x, yn, an, g);
    assertEqualArrays('y', yn, yr);
    assertEqualArrays('argmax', an, ar);
  });
  test(`maxPool2dBackward ${name}`, () => {
    const nb = native();
    const x = distinct(n * h * w * c);
    const y = new Float32Array(outLen);
    const am = new Int32Array(outLen);
    ref.maxPool2dForward(x, y, am, g);
    const dy = rand(outLen);
    const dxr = fill(n * h * w * c, NaN);
    const dxn = fill(n * h * w * c, NaN);
    ref.maxPool2dBackward(dy, am, dxr, g);
    nb.maxPool2dBackward(dy, am, dxn, g);
    assertClose('dx', dxn, dxr);
  });
}

// ---------------------------------------------------------------- conv + max pool, fused

const convPoolCases: { c: ConvCase; pool: number }[] = [
  // the fast preset's first conv (the direct kernel: one channel, 3x3, stride 1, 2x2 pool), odd batch
  { c: { x: [5, 28, 28, 1], f: [3, 3, 1, 12], s: [1, 1], p: 'same', act: 'linear' }, pool: 2 },
  // direct kernel: 'valid' with an odd conv output (the last row and column are not pooled), ReLU, K not a multiple of 8
  { c: { x: [3, 9, 12, 1], f: [3, 3, 1, 20], s: [1, 1], p: 'valid', act: 'relu' }, pool: 2 },
  { c: { x: [1, 7, 7, 1], f: [3, 3, 1, 5], s: [1, 1], p: 'same', act: 'relu' }, pool: 2 },
  // the seed model's first conv and its pool (the WebAssembly build's direct kernel: one channel, K a multiple of 8),
  // and an odd output with padding (its last row and column not pooled)
  { c: { x: [3, 28, 28, 1], f: [3, 3, 1, 32], s: [1, 1], p: 'valid', act: 'relu' }, pool: 2 },
  { c: { x: [2, 9, 11, 1], f: [3, 3, 1, 8], s: [1, 1], p: 'same', act: 'linear' }, pool: 2 },
  // the general path (conv, then pool)
  { c: { x: [3, 14, 14, 12], f: [3, 3, 12, 24], s: [1, 1], p: 'same', act: 'linear' }, pool: 2 },
  { c: { x: [2, 11, 10, 2], f: [2, 3, 2, 7], s: [1, 1], p: 'same', act: 'relu' }, pool: 3 },
  // 2x2 pooling of convs with several input channels: 'valid' with an odd output, strides, an asymmetric
  // kernel and padding
  { c: { x: [5, 9, 11, 3], f: [3, 3, 3, 8], s: [1, 1], p: 'valid', act: 'relu' }, pool: 2 },
  { c: { x: [3, 12, 13, 4], f: [2, 3, 4, 5], s: [2, 1], p: 'same', act: 'linear' }, pool: 2 },
  { c: { x: [1, 5, 5, 2], f: [5, 5, 2, 3], s: [1, 1], p: 'same', act: 'linear' }, pool: 2 },
  // the pooled input-gradient kernel (3x3, stride 1, 2x2 pool, 8 or 12 channels): odd sizes leave conv rows unpooled
  { c: { x: [2, 7, 9, 12], f: [3, 3, 12, 24], s: [1, 1], p: 'same', act: 'linear' }, pool: 2 },
  { c: { x: [3, 9, 10, 8], f: [3, 3, 8, 5], s: [1, 1], p: 'valid', act: 'relu' }, pool: 2 },
  // the pooling GEMM epilogue (K a multiple of 24, 2x2 pool): strides, an asymmetric kernel, ReLU ties at 0
  { c: { x: [3, 11, 12, 5], f: [2, 3, 5, 48], s: [2, 1], p: 'valid', act: 'relu' }, pool: 2 },
  // the best preset's second conv and its pool (in bf16: the AMX conv, then the pool)
  { c: { x: [3, 28, 28, 32], f: [3, 3, 32, 32], s: [1, 1], p: 'same', act: 'linear' }, pool: 2 },
  // the seed model's second and third convs with their pools (in bf16 on AVX512_BF16: the pair kernels, then the pool)
  { c: { x: [3, 13, 13, 32], f: [3, 3, 32, 64], s: [1, 1], p: 'same', act: 'relu' }, pool: 2 },
  { c: { x: [5, 6, 6, 64], f: [3, 3, 64, 128], s: [1, 1], p: 'valid', act: 'relu' }, pool: 2 },
];

for (const precision of PRECISIONS) for (const { c, pool } of convPoolCases) {
  const ref = refs[precision];
  const at = precision === 'fp32' ? '' : ` precision=${precision}`;
  const g = geom(c);
  const p = poolGeometry(g.n, g.outH, g.outW, g.k, pool, pool, pool, pool);
  const name = `${convName(c)} ${c.act} pool=${pool}`;
  const xLen = g.n * g.h * g.w * g.c;
  const wLen = g.kh * g.kw * g.c * g.k;
  const yLen = p.n * p.outH * p.outW * p.c;
  for (const threads of [1, 2] as const) {
    test(`conv2dMaxPoolForward ${name} threads=${threads}${at}`, () => {
      const nb = native(threads, precision);
      const x = sparse(xLen);
      const w = rand(wLen);
      const b = rand(g.k);
      const yr = fill(yLen, NaN);
      const yn = fill(yLen, NaN);
      const ar = new Int32Array(yLen).fill(-1);
      const an = new Int32Array(yLen).fill(-1);
      ref.conv2dMaxPoolForward(x, w, b, yr, ar, g, p, c.act);
      nb.conv2dMaxPoolForward(x, w, b, yn, an, g, p, c.act);
      assertClose('y', yn, yr);
      assertEqualArrays('argmax', an, ar);
      // and the reference's fused kernel is the two kernels
      const z = new Float32Array(g.n * g.outH * g.outW * g.k);
      ref.conv2dForward(x, w, b, z, g, c.act);
      const y2 = new Float32Array(yLen);
      const a2 = new Int32Array(yLen);
      ref.maxPool2dForward(z, y2, a2, p);
      assertEqualArrays('reference y', yr, y2);
      assertEqualArrays('reference argmax', ar, a2);
    });

    test(`conv2dMaxPoolBackwardFilter ${name} threads=${threads}${at}`, () => {
      const nb = native(threads, precision);
      const x = sparse(xLen);
      const w = rand(wLen);
      const b = rand(g.k);
      const y = new Float32Array(yLen);
      const argmax = new Int32Array(yLen);
      ref.conv2dMaxPoolForward(x, w, b, y, argmax, g, p, c.act);
      const dy = rand(yLen);
      const dwr = fill(wLen, NaN);
      const dwn = fill(wLen, NaN);
      const dbr = fill(g.k, NaN);
      const dbn = fill(g.k, NaN);
      ref.conv2dMaxPoolBackwardFilter(x, dy, argmax, dwr, dbr, g, p);
      nb.conv2dMaxPoolBackwardFilter(x, dy, argmax, dwn, dbn, g, p);
      assertClose('dw', dwn, dwr);
      assertClose('db', dbn, dbr);
      // and the input gradient (some of dy zero, as after a ReLU)
      for (let i = 0; i < yLen; i += 3) dy[i] = 0;
      const dxr = fill(xLen, NaN);
      const dxn = fill(xLen, NaN);
      ref.conv2dMaxPoolBackwardInput(dy, argmax, w, dxr, g, p);
      nb.conv2dMaxPoolBackwardInput(dy, argmax, w, dxn, g, p);
      assertClose('dx', dxn, dxr);
      ref.conv2dMaxPoolBackwardFilter(x, dy, argmax, dwr, dbr, g, p);
      nb.conv2dMaxPoolBackwardFilter(x, dy, argmax, dwn, dbn, g, p);
      assertClose('dw (sparse dy)', dwn, dwr);
      assertClose('db (sparse dy)', dbn, dbr);
    });
  }
}

// ---------------------------------------------------------------- softmax and loss

for (const [rows, cols] of [[1, 10], [33, 10], [3, 17], [1000, 10]] as const) {
  test(`softmax rows=${rows} cols=${cols}`, () => {
    const nb = native();
    const logits = rand(rows * cols, -20, 20);
    const pr = fill(rows * cols, NaN);
    const pn = fill(rows * cols, NaN);
    ref.softmax(logits, pr, rows, cols);
    nb.softmax(logits, pn, rows, cols);
    assertClose('probs', pn, pr, 1e-6);
  });
  for (const smooth of [false, true]) {
    test(`softmaxCrossEntropy rows=${rows} cols=${cols} targets=${smooth ? 'smoothed' : 'one-hot'}`, () => {
      const nb = native();
      const logits = rand(rows * cols, -20, 20);
      const t = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        const label = Math.floor(rng.uniform() * cols);
        for (let j = 0; j < cols; j++) t[r * cols + j] = smooth ? (j === label ? 0.9 : 0.1 / (cols - 1)) : j === label ? 1 : 0;
      }
      const pr = fill(rows * cols, NaN);
      const pn = fill(rows * cols, NaN);
      const dr = fill(rows * cols, NaN);
      const dn = fill(rows * cols, NaN);
      const lr = ref.softmaxCrossEntropy(logits, t, pr, dr, rows, cols);
      const ln = nb.softmaxCrossEntropy(logits, t, pn, dn, rows, cols);
      assertClose('loss', [ln], [lr], 1e-6);
      assertClose('probs', pn, pr, 1e-6);
      assertClose('dlogits', dn, dr, 1e-6);
    });
  }
}

// ---------------------------------------------------------------- optimizers

for (const len of [1, 17, 73728]) {
  test(`adamUpdate len=${len} step=1 and step=50`, () => {
    const nb = native();
    const p = rand(len);
    const m = rand(len, -0.01, 0.01);
    const v = rand(len, 0, 1e-4);
    const pr = new Float32Array(p), mr = new Float32Array(m), vr = new Float32Array(v);
    const pn = new Float32Array(p), mn = new Float32Array(m), vn = new Float32Array(v);
    for (const step of [1, 50]) {
      const g = rand(len, -0.1, 0.1);
      const o = { lr: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, step };
      ref.adamUpdate(pr, g, mr, vr, o);
      nb.adamUpdate(pn, g, mn, vn, o);
    }
    assertClose('p', pn, pr);
    assertClose('m', mn, mr);
    assertClose('v', vn, vr);
  });
  for (const keep of [0, 0.5, 0.999]) {
    test(`emaUpdate len=${len} keep=${keep}`, () => {
      const nb = native();
      const avg = rand(len);
      const ar = new Float32Array(avg), an = new Float32Array(avg);
      for (let i = 0; i < 3; i++) {
        const x = rand(len);
        ref.emaUpdate(ar, x, keep);
        nb.emaUpdate(an, x, keep);
      }
      assertClose('avg', an, ar);
      if (keep === 0) assert.deepEqual(an, ar, 'keep 0 copies x');
    });
  }
  for (const [momentum, nesterov] of [[0, false], [0.9, false], [0.9, true]] as const) {
    test(`sgdUpdate len=${len} momentum=${momentum} nesterov=${nesterov}`, () => {
      const nb = native();
      const p = rand(len);
      const vel = rand(len, -0.01, 0.01);
      const pr = new Float32Array(p), vr = new Float32Array(vel);
      const pn = new Float32Array(p), vn = new Float32Array(vel);
      for (let i = 0; i < 3; i++) {
        const g = rand(len, -0.1, 0.1);
        const o = { lr: 0.01, momentum, nesterov };
        ref.sgdUpdate(pr, g, vr, o);
        nb.sgdUpdate(pn, g, vn, o);
      }
      assertClose('p', pn, pr);
      assertClose('vel', vn, vr);
    });
  }
}

// ---------------------------------------------------------------- determinism and thread counts

/** Runs the thread-split kernels of a seed-like layer on one backend and returns every output. */
function runLayer(b: Backend, inputs: { x: Float32Array; w: Float32Array; bias: Float32Array; dy: Float32Array }, g: ConvGeometry,
  dense: { a: Float32Array; wd: Float32Array; m: number; n: number; k: number }): Float32Array[] {
  const yLen = g.n * g.outH * g.outW * g.k;
  const y = new Float32Array(yLen);
  const dx = new Float32Array(inputs.x.length);
  const dw = new Float32Array(inputs.w.length);
  const db = new Float32Array(g.k);
  b.conv2dForward(inputs.x, inputs.w, inputs.bias, y, g, 'relu');
  b.conv2dBackwardInput(inputs.dy, inputs.w, dx, g);
  b.conv2dBackwardFilter(inputs.x, inputs.dy, dw, db, g);
  const c = new Float32Array(dense.m * dense.n);
  const dwd = new Float32Array(dense.k * dense.n);
  b.matmul(dense.a, dense.wd, c, dense.m, dense.n, dense.k, false, false, false);
  b.matmul(dense.a, c, dwd, dense.k, dense.n, dense.m, true, false, false);
  return [y, dx, dw, db, c, dwd];
}

function seedLayerInputs(): [ConvGeometry, { x: Float32Array; w: Float32Array; bias: Float32Array; dy: Float32Array },
  { a: Float32Array; wd: Float32Array; m: number; n: number; k: number }] {
  const g = convGeometry(33, 13, 13, 32, 3, 3, 64, 1, 1, 'same');
  const inputs = {
    x: sparse(g.n * g.h * g.w * g.c), w: rand(9 * 32 * 64), bias: rand(64), dy: rand(g.n * g.outH * g.outW * g.k),
  };
  const dense = { a: rand(33 * 512), wd: rand(512 * 64), m: 33, n: 64, k: 512 };
  return [g, inputs, dense];
}

test('determinism: same inputs, same thread count (2) -> bit-identical outputs, run twice', () => {
  const nb = native(2);
  const [g, inputs, dense] = seedLayerInputs();
  const first = runLayer(nb, inputs, g, dense);
  const second = runLayer(nb, inputs, g, dense);
  const names = ['y', 'dx', 'dw', 'db', 'dense y', 'dense dw'];
  first.forEach((a, i) => assertEqualArrays(names[i]!, second[i]!, a));
});

test('threads=1 and threads=2 agree within tolerance (and with the reference)', () => {
  const n1 = native(1);
  const n2 = native(2);
  assert.equal(n1.threads, 1);
  assert.equal(n2.name, WASM ? 'wasm' : 'native');
  const [g, inputs, dense] = seedLayerInputs();
  const r1 = runLayer(n1, inputs, g, dense);
  const r2 = runLayer(n2, inputs, g, dense);
  const rr = runLayer(ref, inputs, g, dense);
  const names = ['y', 'dx', 'dw', 'db', 'dense y', 'dense dw'];
  r1.forEach((a, i) => {
    assertClose(`${names[i]!} threads=1 vs threads=2`, r2[i]!, a);
    assertClose(`${names[i]!} threads=1 vs reference`, a, rr[i]!);
  });
});

test('native arrays that are too short are an Error naming the kernel and argument, not a crash', () => {
  const nb = native();
  const g = convGeometry(2, 5, 5, 3, 3, 3, 4, 1, 1, 'same');
  assert.throws(() => nb.conv2dForward(new Float32Array(10), new Float32Array(108), new Float32Array(4),
    new Float32Array(200), g, 'relu'), /conv2dForward: x has 10 values, the shapes need at least 150/);
  assert.throws(() => nb.matmul(new Float32Array(6), new Float32Array(5), new Float32Array(4), 2, 2, 3, false, false, false),
    /matmul: b has 5 values/);
});

// ---------------------------------------------------------------------------------------------
// BatchNormalization and augmentation kernels

for (const [rows, cols] of [[1, 3], [37, 5], [6272, 16], [3000, 64]] as const) {
  test(`batchNormStats/Forward/Backward rows=${rows} cols=${cols}`, () => {
    const x = rand(rows * cols, -2, 3);
    const dy = rand(rows * cols);
    const gamma = rand(cols, 0.5, 1.5);
    const beta = rand(cols);
    const eps = 1e-3;
    const run = (b: Backend) => {
      const mean = new Float32Array(cols), variance = new Float32Array(cols);
      b.batchNormStats(x, mean, variance, rows, cols);
      const y = new Float32Array(rows * cols);
      b.batchNormForward(x, mean, variance, gamma, beta, eps, y, rows, cols);
      const dx = new Float32Array(rows * cols), dgamma = new Float32Array(cols), dbeta = new Float32Array(cols);
      b.batchNormBackward(x, dy, mean, variance, gamma, eps, dx, dgamma, dbeta, rows, cols);
      return { mean, variance, y, dx, dgamma, dbeta };
    };
    const r = run(ref);
    for (const threads of [1, 2] as const) {
      const nv = run(native(threads));
      assertClose(`mean t=${threads}`, nv.mean, r.mean);
      assertClose(`variance t=${threads}`, nv.variance, r.variance);
      assertClose(`y t=${threads}`, nv.y, r.y);
      assertClose(`dx t=${threads}`, nv.dx, r.dx);
      // dgamma, dbeta are sums over all rows (up to 6,272 terms of O(1)): compare relative to their scale
      assertClose(`dgamma t=${threads}`, nv.dgamma, r.dgamma, 1e-4 * Math.sqrt(rows));
      assertClose(`dbeta t=${threads}`, nv.dbeta, r.dbeta, 1e-4 * Math.sqrt(rows));
    }
    // forward in place (y aliases x) gives the same values
    const xc = new Float32Array(x);
    const mean = new Float32Array(cols), variance = new Float32Array(cols);
    native().batchNormStats(xc, mean, variance, rows, cols);
    native().batchNormForward(xc, mean, variance, gamma, beta, eps, xc, rows, cols);
    assertClose('y in place', xc, r.y);
  });
}

// BatchNorm with the ReLU after it fused: forward with 'relu', backward with the ReLU's output (reluY)
for (const [rows, cols] of [[1, 3], [37, 12], [6272, 24]] as const) {
  test(`batchNormForward/Backward with a fused ReLU rows=${rows} cols=${cols}`, () => {
    const x = rand(rows * cols, -2, 3);
    const dy = rand(rows * cols);
    const gamma = rand(cols, 0.5, 1.5);
    const beta = rand(cols);
    const eps = 1e-3;
    const run = (b: Backend) => {
      const mean = new Float32Array(cols), variance = new Float32Array(cols);
      b.batchNormStats(x, mean, variance, rows, cols);
      const y = fill(rows * cols, NaN);
      b.batchNormForward(x, mean, variance, gamma, beta, eps, y, rows, cols, 'relu');
      const dx = fill(rows * cols, NaN), dgamma = fill(cols, NaN), dbeta = fill(cols, NaN);
      b.batchNormBackward(x, dy, mean, variance, gamma, eps, dx, dgamma, dbeta, rows, cols, y);
      return { y, dx, dgamma, dbeta };
    };
    const r = run(ref);
    // the reference's fused forms are the two steps: BN then ReLU; ReLU's backward then BN's
    {
      const mean = new Float32Array(cols), variance = new Float32Array(cols);
      ref.batchNormStats(x, mean, variance, rows, cols);
      const z = new Float32Array(rows * cols);
      ref.batchNormForward(x, mean, variance, gamma, beta, eps, z, rows, cols);
      const y = new Float32Array(rows * cols);
      y.set(z);
      ref.biasActivation(y, new Float32Array(cols), rows, cols, 'relu');
      assertEqualArrays('reference y', r.y, y);
      const dz = new Float32Array(rows * cols);
      ref.activationBackward(dy, y, dz, 'relu');
      const dx = new Float32Array(rows * cols), dgamma = new Float32Array(cols), dbeta = new Float32Array(cols);
      ref.batchNormBackward(x, dz, mean, variance, gamma, eps, dx, dgamma, dbeta, rows, cols);
      assertEqualArrays('reference dx', r.dx, dx);
      assertEqualArrays('reference dgamma', r.dgamma, dgamma);
    }
    if (rows > 1) assert.ok(r.y.some((v) => v === 0) && r.y.some((v) => v > 0), 'the ReLU clips some values and keeps others');
    for (const threads of [1, 2] as const) {
      const nv = run(native(threads));
      assertClose(`y t=${threads}`, nv.y, r.y);
      assertClose(`dx t=${threads}`, nv.dx, r.dx);
      assertClose(`dgamma t=${threads}`, nv.dgamma, r.dgamma, 1e-4 * Math.sqrt(rows));
      assertClose(`dbeta t=${threads}`, nv.dbeta, r.dbeta, 1e-4 * Math.sqrt(rows));
    }
  });
}

for (const [n, h, w, c] of [[1, 5, 4, 1], [7, 28, 28, 1], [3, 9, 11, 3]] as const) {
  test(`affineResample x=[${n},${h},${w},${c}] random rotations/zooms/shifts (incl. far outside)`, () => {
    const x = rand(n * h * w * c, 0, 1);
    const params = new Float32Array(n * 6);
    for (let i = 0; i < n; i++) {
      const t = (rng.uniform() - 0.5) * 1.2;
      const s = 0.7 + 0.6 * rng.uniform();
      params.set([Math.cos(t) / s, Math.sin(t) / s, (rng.uniform() - 0.5) * 2 * w, -Math.sin(t) / s, Math.cos(t) / s, (rng.uniform() - 0.5) * 2 * h], i * 6);
    }
    const yr = new Float32Array(x.length);
    ref.affineResample(x, params, yr, n, h, w, c);
    for (const threads of [1, 2] as const) {
      const yn = new Float32Array(x.length);
      native(threads).affineResample(x, params, yn, n, h, w, c);
      assertClose(`y t=${threads}`, yn, yr, 1e-5);
    }
  });
}

for (const [n, h, w, sigma, alpha] of [[1, 5, 4, 0.5, 3], [5, 28, 28, 5, 34], [3, 9, 13, 2.5, 8], [2, 28, 28, 40, 100]] as const) {
  test(`elasticField noise=[${n},${h},${w},2] sigma ${sigma} alpha ${alpha} (taps wider than the image included)`, () => {
    const noise = rand(n * h * w * 2, -1, 1);
    const fr = new Float32Array(noise.length);
    ref.elasticField(noise, fr, n, h, w, sigma, alpha);
    for (const threads of [1, 2] as const) {
      const fn = new Float32Array(noise.length);
      native(threads).elasticField(noise, fn, n, h, w, sigma, alpha);
      assertClose(`field t=${threads}`, fn, fr, 1e-5);
    }
  });
}

for (const [n, h, w, c] of [[1, 5, 4, 1], [7, 28, 28, 1], [3, 9, 11, 3]] as const) {
  test(`affineResample with a displacement field x=[${n},${h},${w},${c}] (displacements up to 2x the image)`, () => {
    const x = rand(n * h * w * c, 0, 1);
    const params = new Float32Array(n * 6);
    for (let i = 0; i < n; i++) params.set([1, 0.1, 0.5, -0.1, 1, -0.25], i * 6);
    const disp = rand(n * h * w * 2, -2 * Math.max(h, w), 2 * Math.max(h, w));
    for (let i = 0; i < disp.length; i += 3) disp[i]! *= 0.05;  // most displacements small, some large
    const yr = new Float32Array(x.length);
    ref.affineResample(x, params, yr, n, h, w, c, disp);
    for (const threads of [1, 2] as const) {
      const yn = new Float32Array(x.length);
      native(threads).affineResample(x, params, yn, n, h, w, c, disp);
      assertClose(`y t=${threads}`, yn, yr, 1e-5);
    }
  });
}

test('native kernels flush denormals to zero (their reference twins keep them); JavaScript arithmetic after a call keeps its own',
  { skip: WASM ? 'WebAssembly arithmetic keeps denormals, as the reference does' : false }, () => {
  const tiny = Math.fround(1e-39); // a float32 denormal (the smallest normal is ~1.18e-38)
  assert.ok(tiny > 0 && tiny < 1.1754943508222875e-38);
  for (const threads of [1, 2] as const) {
    const nb = native(threads);
    // enough values for every thread to take a share: the workers flush too, not only the calling thread
    const len = 1 << 16;
    const a = new Float32Array(len).fill(tiny);
    const out = new Float32Array(len).fill(7);
    nb.mul(a, new Float32Array(len).fill(1), out);
    assert.equal(out.filter((v) => v !== 0).length, 0, `threads ${threads}: every denormal product flushed`);
    const outRef = new Float32Array(len);
    ref.mul(a, new Float32Array(len).fill(1), outRef);
    assert.equal(outRef[0], tiny);
    // Adam: a moment decaying into the denormal range becomes zero instead of lingering there
    const m = new Float32Array(len).fill(Math.fround(1.2e-38));
    const v = new Float32Array(len).fill(1);
    nb.adamUpdate(new Float32Array(len), new Float32Array(len), m, v, { lr: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, step: 10 });
    assert.equal(m.filter((x) => x !== 0).length, 0, `threads ${threads}: 0.9 * 1.2e-38 is denormal, so flushed`);
  }
  // the calling thread's control bits are put back: JavaScript still has denormal doubles (and float32s)
  assert.ok(Number.MIN_VALUE > 0 && Number.MIN_VALUE / 2 === 0);
  assert.ok(5e-324 * 2 === 1e-323);
  assert.equal(Math.fround(1e-39) * 1, tiny);
  assert.ok(new Float32Array([1e-39])[0]! > 0);
});

// Last: the list of kernels is the table's (src/engine/kernels.ts), not one kept here.
test('every kernel of the table has its parity cases here', () => {
  assert.deepEqual(KERNEL_NAMES.filter((k) => !exercised.has(k)), [], 'kernels of the table no parity case runs on the native backend');
});
