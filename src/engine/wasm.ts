/**
 * The WebAssembly kernels in Node (wasm/digits.wasm, built from the native sources by
 * native/wasm-build.mjs, committed and packed): the backend `--backend wasm` names and `auto` falls
 * back to where the Node addon is not built. wasm-kernels.ts gives the module the addon's shape.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Precision } from './backend.js';
import { PRECISION_CHOICES, type Addon, type NativeLoad, type PrecisionChoice } from './addon-backend.js';
import { instantiateWasmKernels, wasmBackend } from './wasm-kernels.js';

/** Where the module is, from dist/src/engine/wasm.js (or src/engine/wasm.ts). */
export const WASM_MODULE_PATH = fileURLToPath(new URL('../../../wasm/digits.wasm', import.meta.url));

let cached: { addon: Addon } | { error: string } | undefined;

/** The module with the addon's shape, or why it could not be loaded. */
export function loadWasmAddon(): { addon: Addon } | { error: string } {
  if (cached !== undefined) return cached;
  try {
    cached = { addon: instantiateWasmKernels(new WebAssembly.Module(readFileSync(WASM_MODULE_PATH))) };
  } catch (e) {
    cached = { error: `the WebAssembly kernels failed to load (${WASM_MODULE_PATH}: ${e instanceof Error ? e.message : String(e)})` };
  }
  return cached;
}

/**
 * The backend over the WebAssembly kernels: one thread (threads other than 1 are refused), the given
 * conv precision (bf16 rounds the operands; 'auto' is fp32). Never throws; see NativeLoad.
 */
export function loadWasmBackend(threads = 1, precision: PrecisionChoice = 'fp32'): NativeLoad {
  if (threads !== 1) return { ok: false, reason: `threads: the WebAssembly kernels run on one thread, got ${String(threads)}` };
  if (!PRECISION_CHOICES.includes(precision)) {
    return { ok: false, reason: `precision: expected one of ${PRECISION_CHOICES.join(', ')}, got ${JSON.stringify(precision)}` };
  }
  const loaded = loadWasmAddon();
  if ('error' in loaded) return { ok: false, reason: loaded.error };
  const p: Precision = precision === 'bf16' ? 'bf16' : 'fp32';
  return { ok: true, backend: wasmBackend(loaded.addon, p) };
}
