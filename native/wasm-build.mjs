// Builds wasm/digits.wasm from the kernels' C++ sources (`npm run wasm`), with clang's wasm32-wasi
// target (Debian: clang-14 lld-14 wasi-libc libc++-14-dev-wasm32 libc++abi-14-dev-wasm32
// libclang-rt-14-dev-wasm32). The module is committed and packed, so neither a checkout nor a package
// needs this toolchain; `npm run wasm -- --check` rebuilds into a temporary file and fails when it
// differs from the committed one (CI). CXX_WASM names another compiler.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = path.join(root, 'wasm', 'digits.wasm');
const check = process.argv.includes('--check');
const work = check ? mkdtempSync(path.join(tmpdir(), 'digits-wasm-')) : null;
const out = check ? path.join(work, 'digits.wasm') : target;
mkdirSync(path.dirname(out), { recursive: true });

const cxx = process.env.CXX_WASM ?? 'clang++-14';
const sources = ['wasm.cc', 'kernels.cc', 'pool.cc', 'amx.cc'].map((f) => path.join(root, 'native', f));
// A WASI reactor: its static constructors run once, from _initialize (src/engine/wasm.ts calls it); a
// command module would run them, and the destructors, around every call (freeing the scratch buffers).
const flags = ['--target=wasm32-wasi', '-mexec-model=reactor', '-O3', '-msimd128', '-std=c++17', '-fno-exceptions', '-fno-rtti',
  '-Wall', '-Wextra', '-Wl,--strip-all', '-o', out];
const r = spawnSync(cxx, [...flags, ...sources], { cwd: root, stdio: 'inherit' });
if (r.error || r.status !== 0) {
  console.error(`wasm-build: ${cxx} failed (${r.error ? r.error.message : `exit code ${r.status}`}); it needs clang's wasm32-wasi target`);
  process.exit(1);
}
if (check) {
  const same = readFileSync(out).equals(readFileSync(target));
  rmSync(work, { recursive: true, force: true });
  if (!same) {
    console.error('wasm-build: wasm/digits.wasm differs from what its sources build: run `npm run wasm` and commit it');
    process.exit(1);
  }
  console.log('wasm-build: wasm/digits.wasm is what its sources build');
} else {
  console.log(`wasm-build: ${path.relative(root, out)} (${readFileSync(out).length} bytes)`);
}
