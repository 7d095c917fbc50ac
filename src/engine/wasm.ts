/**
 * The kernels as WebAssembly (wasm/digits.wasm, built from the native sources by native/wasm-build.mjs
 * and committed): the native backend's kernels where the Node addon is not built. The module exports
 * every kernel of the table under its name, taking the address of a descriptor of its arguments in
 * the module's memory (native/wasm.cc); this file gives it the addon's shape, so the backend is
 * NativeBackend over it, named 'wasm': the same checks, packing and kernels.
 *
 * Each call copies its arrays into the module's memory and back out (the module cannot see
 * JavaScript's arrays), and runs on one thread.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KERNEL_NAMES, KERNELS, type KernelSpec } from './kernels.js';
import type { Precision } from './backend.js';
import { NativeBackend, PRECISION_CHOICES, type Addon, type NativeLoad, type PrecisionChoice } from './native.js';

/** Where the module is, from dist/src/engine/wasm.js (or src/engine/wasm.ts). */
export const WASM_MODULE_PATH = fileURLToPath(new URL('../../../wasm/digits.wasm', import.meta.url));

type Array32 = Float32Array | Int32Array | Float64Array;

interface WasmExports {
  memory: WebAssembly.Memory;
  _initialize(): void;
  alloc(bytes: number): number;
  release(pointer: number): void;
  peakGflops(): number;
  [kernel: string]: unknown;
}

let cached: { addon: Addon } | { error: string } | undefined;

/** The module's imports: the few WASI calls its C library links (a clock; the stderr of an abort). */
function wasiImports(memory: () => WebAssembly.Memory): WebAssembly.Imports {
  return {
    wasi_snapshot_preview1: {
      clock_time_get: (_id: number, _precision: bigint, at: number): number => {
        new DataView(memory().buffer).setBigUint64(at, process.hrtime.bigint(), true);
        return 0;
      },
      fd_write: (): number => 0,
      fd_seek: (): number => 0,
      fd_close: (): number => 0,
    },
  };
}

/** The module with the addon's shape, or why it could not be loaded. */
export function loadWasmAddon(): { addon: Addon } | { error: string } {
  if (cached !== undefined) return cached;
  try {
    let exports: WasmExports | undefined;
    const module = new WebAssembly.Module(readFileSync(WASM_MODULE_PATH));
    const instance = new WebAssembly.Instance(module, wasiImports(() => exports!.memory));
    exports = instance.exports as unknown as WasmExports;
    exports._initialize(); // a WASI reactor: its static constructors, once
    cached = { addon: wasmAddon(exports) };
  } catch (e) {
    cached = { error: `the WebAssembly kernels failed to load (${WASM_MODULE_PATH}: ${e instanceof Error ? e.message : String(e)})` };
  }
  return cached;
}

function wasmAddon(ex: WasmExports): Addon {
  const call = (kernel: (descriptor: number) => number, args: (Array32 | null)[]): number => {
    const n = args.length;
    const descriptor = ex.alloc(8 * n);
    const at = args.map((a) => (a === null ? 0 : ex.alloc(Math.max(a.byteLength, 4))));
    if (descriptor === 0 || at.some((p, i) => p === 0 && args[i] !== null)) throw new Error('the WebAssembly kernels ran out of memory');
    try {
      // views after every allocation: growing the memory replaces its buffer
      let bytes = new Uint8Array(ex.memory.buffer);
      const d = new Uint32Array(ex.memory.buffer, descriptor, 2 * n);
      args.forEach((a, i) => {
        d[2 * i] = at[i]!;
        d[2 * i + 1] = a === null ? 0 : a.length;
        if (a !== null) bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at[i]!);
      });
      const result = kernel(descriptor);
      bytes = new Uint8Array(ex.memory.buffer);
      // the kernel's arrays back (the integers and reals after them are the caller's own inputs)
      for (let i = 0; i < n - 2; i++) {
        const a = args[i];
        if (a !== null && a !== undefined) new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(bytes.subarray(at[i]!, at[i]! + a.byteLength));
      }
      return result;
    } finally {
      for (const p of at) if (p !== 0) ex.release(p);
      ex.release(descriptor);
    }
  };
  const addon: Record<string, unknown> = {
    setThreads: (): void => {},
    hardwareThreads: (): number => 1,
    amxAvailable: (): boolean => false,
    releaseFreeMemory: (): boolean => false,
    bf16Kernels: (): string => 'rounding',
    peakGflops: (): number => ex.peakGflops(),
  };
  for (const name of KERNEL_NAMES) {
    const kernel = ex[name] as (descriptor: number) => number;
    const returnsNumber = (KERNELS[name] as KernelSpec).returns === 'number'; // (the module returns 0 for the others)
    addon[name] = (...args: (Array32 | null)[]): number | undefined => {
      const r = call(kernel, args);
      return returnsNumber ? r : undefined;
    };
  }
  return addon as unknown as Addon;
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
  return { ok: true, backend: new NativeBackend(loaded.addon, 1, p, 'wasm') };
}
