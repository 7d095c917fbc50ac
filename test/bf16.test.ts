/**
 * The bf16 precision's definition: roundBf16 (round to nearest even, denormals to zero, as the CPU's
 * VCVTNEPS2BF16), and the reference backend's bf16 conv kernels as the float32 kernels on rounded
 * operands, with the bias gradient left in float32. (The native bf16 kernels are checked against these
 * in test/parity.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { convGeometry, roundBf16, roundedBf16 } from '../src/engine/backend.js';
import { ReferenceBackend } from '../src/engine/reference.js';
import { createBackend } from '../src/engine/index.js';
import { loadNativeBackend, nativeAmxAvailable, nativeBf16Kernels, nativePeakGflops } from '../src/engine/native.js';
import { Rng } from '../src/engine/rng.js';

test('roundBf16: nearest, ties to even, denormals to signed zero, overflow to infinity, NaN kept', () => {
  assert.equal(roundBf16(1), 1);
  assert.equal(roundBf16(1 + 2 ** -8), 1, 'a tie rounds to the even mantissa (down)');
  assert.equal(roundBf16(1 + 3 * 2 ** -8), 1 + 2 ** -6, 'a tie rounds to the even mantissa (up)');
  assert.equal(roundBf16(1 + 2 ** -8 + 2 ** -12), 1 + 2 ** -7, 'above the tie rounds up');
  assert.equal(roundBf16(0.1), 0.10009765625);
  assert.equal(roundBf16(-0.1), -0.10009765625);
  assert.equal(roundBf16(255 / 255), 1);
  assert.equal(roundBf16(7 / 255), 0.02746582031250);
  assert.ok(Object.is(roundBf16(1e-40), 0));
  assert.ok(Object.is(roundBf16(-1e-40), -0));
  assert.equal(roundBf16(2 ** -126), 2 ** -126, 'the smallest normal stays');
  assert.equal(roundBf16(3.4e38), Infinity);
  assert.equal(roundBf16(-Infinity), -Infinity);
  assert.ok(Number.isNaN(roundBf16(NaN)));
  const r = roundedBf16(new Float32Array([0.1, 1 + 2 ** -8, 5]), 2);
  assert.deepEqual([...r], [0.10009765625, 1]);
});

test('reference bf16 conv kernels = float32 kernels on rounded operands; the bias gradient stays float32', () => {
  const rng = new Rng(7);
  const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.uniform() * 2 - 1);
  const g = convGeometry(2, 7, 6, 5, 3, 3, 4, 1, 1, 'same');
  const x = rand(2 * 7 * 6 * 5);
  const w = rand(9 * 5 * 4);
  const b = rand(4);
  const dy = rand(2 * 7 * 6 * 4);
  const f32 = new ReferenceBackend();
  const b16 = new ReferenceBackend('bf16');
  assert.equal(b16.precision, 'bf16');
  assert.equal(f32.precision, 'fp32');
  const [xr, wr, dyr] = [roundedBf16(x), roundedBf16(w), roundedBf16(dy)];

  const y1 = new Float32Array(dy.length);
  const y2 = new Float32Array(dy.length);
  b16.conv2dForward(x, w, b, y1, g, 'relu');
  f32.conv2dForward(xr, wr, b, y2, g, 'relu');
  assert.deepEqual(y1, y2);
  const y3 = new Float32Array(dy.length);
  f32.conv2dForward(x, w, b, y3, g, 'relu');
  assert.notDeepEqual(y1, y3, 'bf16 must differ from float32 on unrounded operands');

  const dx1 = new Float32Array(x.length);
  const dx2 = new Float32Array(x.length);
  b16.conv2dBackwardInput(dy, w, dx1, g);
  f32.conv2dBackwardInput(dyr, wr, dx2, g);
  assert.deepEqual(dx1, dx2);

  const dw1 = new Float32Array(w.length);
  const dw2 = new Float32Array(w.length);
  const db1 = new Float32Array(4);
  const db2 = new Float32Array(4);
  const dbExact = new Float32Array(4);
  b16.conv2dBackwardFilter(x, dy, dw1, db1, g);
  f32.conv2dBackwardFilter(xr, dyr, dw2, db2, g);
  assert.deepEqual(dw1, dw2);
  f32.conv2dBackwardFilter(x, dy, new Float32Array(w.length), dbExact, g);
  assert.deepEqual(db1, dbExact, 'db sums the float32 dy');
  // the inputs are not modified
  assert.notDeepEqual(x, xr);
});

test('precision choices: auto follows the CPU (bf16 arithmetic), the reference backend takes bf16, bad values are refused by name', () => {
  const kernels = nativeBf16Kernels();
  assert.ok(kernels === 'amx' || kernels === 'avx512-bf16' || kernels === 'rounding', String(kernels));
  assert.equal(kernels === 'amx', nativeAmxAvailable(), 'the tiles are used exactly where the CPU grants them');
  const auto = loadNativeBackend(1, 'auto');
  assert.ok(auto.ok);
  assert.equal(auto.backend.precision, kernels === 'rounding' ? 'fp32' : 'bf16');
  const plain = loadNativeBackend(1);
  assert.ok(plain.ok);
  assert.equal(plain.backend.precision, 'fp32', 'the library default is fp32');
  assert.equal(createBackend('reference', undefined, 'bf16').backend.precision, 'bf16');
  assert.equal(createBackend('reference', undefined, 'auto').backend.precision, 'fp32');
  const bad = loadNativeBackend(1, 'fp16' as never);
  assert.ok(!bad.ok && /precision: expected one of auto, fp32, bf16, got "fp16"/.test(bad.reason));
  assert.throws(() => createBackend('native', 1, 'half' as never), /precision: expected one of auto, fp32, bf16, got "half"/);
});

test('the measured peak is a rate in either precision (its size is the benchmarks\' business)', () => {
  assert.ok(loadNativeBackend(1).ok);
  for (const p of ['fp32', 'bf16'] as const) {
    const g = nativePeakGflops(p)!;
    assert.ok(Number.isFinite(g) && g > 0, `${p} peak ${g} GFLOP/s`);
  }
});
