/**
 * Backend selection. 'auto' picks the native backend and falls back to the
 * WebAssembly kernels (saying why, once) when the addon did not build or load,
 * and to the reference backend only when neither loads.
 */
import type { Backend } from './backend.js';
import { DigitsError } from '../errors.js';
import { loadNativeBackend, PRECISION_CHOICES, type PrecisionChoice } from './native.js';
import { ReferenceBackend } from './reference.js';
import { loadWasmBackend } from './wasm.js';

/**
 * A backend by name: 'native' (the C++ kernels as a Node addon, on every core), 'wasm' (the same kernels
 * compiled to WebAssembly, shipped in the package, one thread), 'reference' (plain TypeScript, the
 * specification), or 'auto' (native, else wasm, else reference).
 */
export type BackendName = 'auto' | 'reference' | 'native' | 'wasm';
/** Every backend name createBackend takes: 'auto', 'reference', 'native', 'wasm'. */
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'reference', 'native', 'wasm'];

/** What createBackend chose, and why when it fell back. */
export interface BackendChoice {
  backend: Backend;
  /** set when 'auto' fell back from the native backend (to wasm, or to reference): why, the first time only */
  warning?: string;
}

let warned = false;

/**
 * precision: the conv kernels' arithmetic (backend.ts, Precision); 'auto' is bf16 on the native backend
 * where the CPU computes in bfloat16 (AMX tiles, AVX512_BF16) and fp32 otherwise (the reference backend gains
 * nothing from bf16).
 */
export function createBackend(name: BackendName = 'auto', threads?: number, precision: PrecisionChoice = 'fp32'): BackendChoice {
  if (!BACKEND_NAMES.includes(name)) {
    throw new DigitsError(`backend: expected one of ${BACKEND_NAMES.join(', ')}, got ${JSON.stringify(name)}`);
  }
  if (!PRECISION_CHOICES.includes(precision)) {
    throw new DigitsError(`precision: expected one of ${PRECISION_CHOICES.join(', ')}, got ${JSON.stringify(precision)}`);
  }
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 256)) {
    // a bad thread count is the caller's mistake, not a reason to fall back to the reference backend
    throw new DigitsError(`threads: expected a whole number from 1 to 256, got ${String(threads)}`);
  }
  const referencePrecision = precision === 'bf16' ? 'bf16' : 'fp32';
  if (name === 'reference') return { backend: new ReferenceBackend(referencePrecision) };
  if (name === 'wasm') {
    const wasm = loadWasmBackend(threads ?? 1, precision);
    if (wasm.ok) return { backend: wasm.backend };
    throw new DigitsError(`backend wasm: ${wasm.reason}`);
  }
  const native = loadNativeBackend(threads, precision);
  if (native.ok) return { backend: native.backend };
  if (name === 'native') {
    throw new DigitsError(`backend native: the native addon could not be loaded (${native.reason}); ` +
      'rebuild it with `npm rebuild` or run with --backend wasm');
  }
  // auto: the same kernels as WebAssembly, on one thread whatever was asked for
  const wasm = loadWasmBackend(1, precision);
  const choice: BackendChoice = { backend: wasm.ok ? wasm.backend : new ReferenceBackend(referencePrecision) };
  if (!warned) {
    choice.warning = wasm.ok
      ? `native backend unavailable (${native.reason}); using the WebAssembly kernels (one thread, several times slower than native)`
      : `native backend unavailable (${native.reason}), and ${wasm.reason}; using the reference backend (correct, but slow)`;
    warned = true;
  }
  return choice;
}

export { ReferenceBackend } from './reference.js';
export { PRECISION_CHOICES, nativeBf16Kernels, type Bf16Kernels, type PrecisionChoice } from './native.js';
export type { Backend } from './backend.js';
