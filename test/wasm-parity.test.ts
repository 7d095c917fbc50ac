/**
 * The WebAssembly build of the kernels (wasm/digits.wasm, engine/wasm.ts) passes the whole parity
 * suite: test/parity.test.ts run again in a child process with DIGITS_PARITY_TARGET=wasm, which
 * points its backend at the module.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadWasmBackend } from '../src/engine/wasm.js';

test('the WebAssembly kernels load as a one-thread backend named wasm, and refuse other thread counts', () => {
  const l = loadWasmBackend();
  assert.ok(l.ok, l.ok ? '' : l.reason);
  assert.equal(l.backend.name, 'wasm');
  assert.equal(l.backend.threads, 1);
  const two = loadWasmBackend(2);
  assert.ok(!two.ok && /one thread, got 2/.test(two.reason));
});

test('every parity case of test/parity.test.ts holds on the WebAssembly kernels', () => {
  const suite = fileURLToPath(new URL('./parity.test.js', import.meta.url));
  // (without NODE_TEST_CONTEXT, which this runner sets: the child then reports as a runner of its own)
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', suite], {
    env: { ...env, DIGITS_PARITY_TARGET: 'wasm' }, encoding: 'utf8', maxBuffer: 64 << 20,
  });
  const failed = r.stdout.split('\n').filter((l) => /^\s*not ok /.test(l));
  assert.deepEqual(failed, [], r.stdout.slice(-4000));
  assert.equal(r.status, 0, r.stderr);
  const passed = Number(/^# pass (\d+)/m.exec(r.stdout)?.[1] ?? 0);
  assert.ok(passed > 300, `${passed} parity cases passed`);
});
