/**
 * Backend selection. 'auto' picks the native backend and falls back to the
 * reference one (saying why, once) when the addon did not build or load.
 */
import type { Backend } from './backend.js';
import { DigitsError } from '../errors.js';
import { loadNativeBackend, PRECISION_CHOICES, type PrecisionChoice } from './native.js';
import { ReferenceBackend } from './reference.js';

/** A backend by name: 'native' (C++ kernels), 'reference' (plain TypeScript, the specification), or 'auto' (native, else reference). */
export type BackendName = 'auto' | 'reference' | 'native';
/** Every backend name createBackend takes: 'auto', 'reference', 'native'. */
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'reference', 'native'];

/** What createBackend chose, and why when it fell back. */
export interface BackendChoice {
  backend: Backend;
  /** set when 'auto' fell back to the reference backend: why */
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
  const native = loadNativeBackend(threads, precision);
  if (native.ok) return { backend: native.backend };
  if (name === 'native') {
    throw new DigitsError(`backend native: the native addon could not be loaded (${native.reason}); ` +
      'rebuild it with `npm rebuild` or run with --backend reference');
  }
  const choice: BackendChoice = { backend: new ReferenceBackend(referencePrecision) };
  if (!warned) {
    choice.warning = `native backend unavailable (${native.reason}); using the reference backend (correct, but slow)`;
    warned = true;
  }
  return choice;
}

export { ReferenceBackend } from './reference.js';
export { PRECISION_CHOICES, nativeBf16Kernels, type Bf16Kernels, type PrecisionChoice } from './native.js';
export type { Backend } from './backend.js';
