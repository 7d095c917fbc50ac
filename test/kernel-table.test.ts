/**
 * The kernel table is the one declaration of every kernel: native/kernel_table.h, which the addon's
 * bindings read their arguments by, is what the table generates (`npm run kernels`), and the
 * reference backend, the native backend and the addon all have exactly the table's kernels.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { KERNEL_NAMES, cppKernelTable, kernelChecker, kernelLayout, type KernelName } from '../src/engine/kernels.js';

const kernelArgsError = (name: KernelName, args: readonly unknown[]): string | null => kernelChecker(name)(args);
import { ReferenceBackend } from '../src/engine/reference.js';
import { loadNativeBackend, NATIVE_ADDON_PATH } from '../src/engine/native.js';
import { convGeometry } from '../src/engine/geometry.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

test('native/kernel_table.h is what the kernel table generates (run `npm run kernels` after changing the table)', () => {
  assert.equal(readFileSync(path.join(root, 'native', 'kernel_table.h'), 'utf8'), cppKernelTable());
});

test('the reference backend, the native backend and the addon have exactly the table\'s kernels', () => {
  const ref = new ReferenceBackend() as unknown as Record<string, unknown>;
  for (const k of KERNEL_NAMES) assert.equal(typeof ref[k], 'function', `reference backend: ${k}`);
  const load = loadNativeBackend(1);
  assert.ok(load.ok, load.ok ? '' : load.reason);
  const nat = load.backend as unknown as Record<string, unknown>;
  for (const k of KERNEL_NAMES) assert.equal(typeof nat[k], 'function', `native backend: ${k}`);
  const addon = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as Record<string, unknown>;
  const exported = Object.keys(addon).filter((k) => !['setThreads', 'hardwareThreads', 'amxAvailable', 'bf16Kernels', 'peakGflops', 'releaseFreeMemory'].includes(k));
  assert.deepEqual([...exported].sort(), [...KERNEL_NAMES].sort());
});

test('a kernel\'s arguments are packed as its layout says: arrays by position, integers and reals at their offsets', () => {
  const conv = kernelLayout('conv2dMaxPoolForward');
  assert.deepEqual(conv.arrays, ['x', 'w', 'b', 'y', 'argmax']);
  assert.deepEqual(conv.ints, { g: 0, p: 13, act: 23, bf16: 24 });
  assert.equal(conv.intCount, 25);
  const adam = kernelLayout('adamUpdate');
  assert.deepEqual(adam.reals, { o: 0 });
  assert.equal(adam.realCount, 5);
});

test('the table\'s rules name the kernel and the argument: short arrays, missing arrays, a geometry that does not hold', () => {
  const g = convGeometry(2, 5, 5, 3, 3, 3, 4, 1, 1, 'same');
  assert.equal(kernelArgsError('conv2dForward', [new Float32Array(150), new Float32Array(108), new Float32Array(4), new Float32Array(200), g, 'relu']), null);
  assert.equal(kernelArgsError('conv2dForward', [new Float32Array(150), new Float32Array(108), new Float32Array(3), new Float32Array(200), g, 'relu']),
    'conv2dForward: b has 3 values, the shapes need at least 4');
  assert.match(kernelArgsError('conv2dForward', [new Float32Array(150), new Float32Array(108), new Float32Array(4), new Float32Array(200),
    { ...g, strideH: 0 }, 'relu'])!, /^conv2dForward: inconsistent geometry/);
  assert.equal(kernelArgsError('batchNormBackward', [...Array.from({ length: 5 }, () => new Float32Array(6)), 1e-3,
    ...Array.from({ length: 3 }, () => new Float32Array(6)), 2, 3]), null, 'reluY is optional');
  assert.equal(kernelArgsError('activationBackward', [new Float32Array(8), new Float32Array(0), new Float32Array(8), 'linear']), null,
    'y is read only for relu');
  assert.equal(kernelArgsError('activationBackward', [new Float32Array(8), new Float32Array(0), new Float32Array(8), 'relu']),
    'activationBackward: y has 0 values, the shapes need at least 8');
  assert.equal(kernelArgsError('elasticField', [new Float32Array(8), new Float32Array(8), 1, 2, 2, 0, 1]),
    'elasticField: expected sigma > 0 and a finite alpha, got 0, 1');
});
