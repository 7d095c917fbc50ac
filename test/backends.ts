/**
 * The backends every layer and model suite runs on: one entry each. A suite wraps its tests in
 * onEveryBackend and runs once per backend, with the same assertions; a backend added later
 * joins every suite by one line here. The native addon must load: a checkout builds it at
 * `npm ci`, and a suite that could not run on it fails rather than skips; so must the WebAssembly
 * kernels, which are committed (wasm/digits.wasm).
 */
import { before, describe } from 'node:test';
import type { Backend } from '../src/engine/backend.js';
import { ReferenceBackend } from '../src/engine/reference.js';
import { loadNativeBackend } from '../src/engine/native.js';
import { loadWasmBackend } from '../src/engine/wasm.js';

function native(): Backend {
  const r = loadNativeBackend(2, 'fp32');
  if (!r.ok) throw new Error(`the native backend must load for the backend suites: ${r.reason}`);
  return r.backend;
}

function wasm(): Backend {
  const r = loadWasmBackend(1, 'fp32');
  if (!r.ok) throw new Error(`the WebAssembly kernels must load for the backend suites: ${r.reason}`);
  return r.backend;
}

/** Every backend, by name: how to make one for a suite (fp32 arithmetic; 2 threads where it has threads). */
export const BACKENDS: readonly { name: string; create(): Backend }[] = [
  { name: 'reference', create: () => new ReferenceBackend() },
  { name: 'native', create: native },
  { name: 'wasm', create: wasm },
];

/**
 * `suite` once per backend, each run in its own describe; before its tests, `use` is given that
 * backend (a suite keeps it in a variable its tests and helpers read).
 */
export function onEveryBackend(use: (backend: Backend) => void, suite: (name: string) => void): void {
  for (const b of BACKENDS) {
    describe(`on the ${b.name} backend`, () => {
      before(() => use(b.create()));
      suite(b.name);
    });
  }
}
