/**
 * The native loader's failure paths: a missing or broken addon is a reason,
 * never an exception, so that 'auto' can fall back to the reference backend.
 * A copy of the compiled loader is placed in a temporary tree whose
 * build/Release/ holds no addon, then a broken one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadNativeBackend, releaseFreeMemory } from '../src/engine/native.js';
import { createBackend } from '../src/engine/index.js';

type Loader = typeof import('../src/engine/native.js');

const compiledLoader = fileURLToPath(new URL('../src/engine/native.js', import.meta.url));
/** what the loader imports at run time: the backend over an addon, and the kernel table */
const compiledImports = ['addon-backend.js', 'kernels.js'].map((f) => fileURLToPath(new URL(`../src/engine/${f}`, import.meta.url)));

async function loaderIn(root: string, tag: string): Promise<Loader> {
  const dir = join(root, 'dist', 'src', 'engine');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `native-${tag}.js`);
  copyFileSync(compiledLoader, file);
  for (const f of compiledImports) copyFileSync(f, join(dir, basename(f)));
  return await import(pathToFileURL(file).href) as Loader;
}

test('missing addon: loadNativeBackend returns {ok:false} saying it is not built', async () => {
  const root = mkdtempSync(join(tmpdir(), 'digits-loader-'));
  try {
    const loader = await loaderIn(root, 'missing');
    const r = loader.loadNativeBackend();
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, /not built .*digits_native\.node is missing.*npm rebuild/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('broken addon: loadNativeBackend returns {ok:false} with the load error', async () => {
  const root = mkdtempSync(join(tmpdir(), 'digits-loader-'));
  try {
    mkdirSync(join(root, 'build', 'Release'), { recursive: true });
    writeFileSync(join(root, 'build', 'Release', 'digits_native.node'), 'not a shared object');
    const loader = await loaderIn(root, 'broken');
    const r = loader.loadNativeBackend();
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, /failed to load .*digits_native\.node/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('threads option: default is every core; a bad value is a reason, not a throw', () => {
  const r = loadNativeBackend();
  if (!r.ok) assert.fail(`native backend did not load: ${r.reason}`);
  assert.ok(r.backend.threads >= 1);
  for (const bad of [0, -1, 1.5, NaN]) {
    const b = loadNativeBackend(bad);
    assert.equal(b.ok, false);
    assert.match(b.ok ? '' : b.reason, /threads: expected an integer/);
  }
  const one = loadNativeBackend(1);
  assert.ok(one.ok && one.backend.threads === 1);
});

test('releaseFreeMemory gives the C heap\'s free pages back where the addon is built on glibc, and says so', () => {
  const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime !== undefined;
  const built = loadNativeBackend(1).ok;
  // 64 MiB allocated and dropped: what is freed is trimmed, and the call says whether it could
  let garbage: Buffer | null = Buffer.alloc(64 * 1024 * 1024, 1);
  assert.equal(garbage[123], 1);
  garbage = null;
  assert.equal(releaseFreeMemory(), built && glibc);
});

test('--backend wasm: the WebAssembly kernels on one thread; more threads are refused, naming why', () => {
  const wasm = createBackend('wasm');
  assert.equal(wasm.backend.name, 'wasm');
  assert.equal(wasm.backend.threads, 1);
  assert.equal(wasm.warning, undefined);
  assert.equal(createBackend('wasm', 1, 'bf16').backend.precision, 'bf16');
  assert.equal(createBackend('wasm', 1, 'auto').backend.precision, 'fp32'); // nothing computes bfloat16 faster there
  assert.throws(() => createBackend('wasm', 2), /^DigitsError: backend wasm: threads: the WebAssembly kernels run on one thread, got 2$/);
});
