/**
 * The kernels as WebAssembly, given the compiled module (native/wasm.cc, built by native/wasm-build.mjs):
 * it exports every kernel of the table under its name, taking the address of a descriptor of its
 * arguments in the module's memory. This gives it the addon's shape, so the backend is NativeBackend over
 * it, named 'wasm': the same checks, packing and kernels. No Node imports: Node (wasm.ts) and the
 * browser (src/web) compile the module their own way and both come here.
 *
 * Each call copies into the module's memory the arrays its kernel reads, and back out those it writes
 * (the module cannot see JavaScript's arrays; the kernel table says which, ArgSpec.io), and runs on one thread.
 */
import { KERNEL_NAMES, KERNELS, type ArrayUse, type KernelSpec } from './kernels.js';
import { NativeBackend, type Addon } from './addon-backend.js';
import type { Precision } from './backend.js';

type Array32 = Float32Array | Int32Array | Float64Array;

interface WasmExports {
  memory: WebAssembly.Memory;
  _initialize(): void;
  alloc(bytes: number): number;
  release(pointer: number): void;
  peakGflops(): number;
  [kernel: string]: unknown;
}

/** The module's imports: the few WASI calls its C library links (a clock; the stderr of an abort). */
function wasiImports(memory: () => WebAssembly.Memory): WebAssembly.Imports {
  return {
    wasi_snapshot_preview1: {
      clock_time_get: (_id: number, _precision: bigint, at: number): number => {
        new DataView(memory().buffer).setBigUint64(at, BigInt(Math.round(performance.now() * 1e6)), true);
        return 0;
      },
      fd_write: (): number => 0,
      fd_seek: (): number => 0,
      fd_close: (): number => 0,
    },
  };
}

/** The compiled module, instantiated, with the addon's shape. Throws when it does not instantiate. */
export function instantiateWasmKernels(module: WebAssembly.Module): Addon {
  let exports: WasmExports | undefined;
  const instance = new WebAssembly.Instance(module, wasiImports(() => exports!.memory));
  exports = instance.exports as unknown as WasmExports;
  exports._initialize(); // a WASI reactor: its static constructors, once
  return wasmAddon(exports);
}

/** The backend over an instantiated module (instantiateWasmKernels): one thread, the given conv precision. */
export function wasmBackend(addon: Addon, precision: Precision = 'fp32'): NativeBackend {
  return new NativeBackend(addon, 1, precision, 'wasm');
}

function wasmAddon(ex: WasmExports): Addon {
  /** `kernel` on `args` (its arrays, then its integers and reals); `io[i]`: how it uses array i (KernelSpec) */
  const call = (kernel: (descriptor: number) => number, args: (Array32 | null)[], io: readonly (ArrayUse | undefined)[]): number => {
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
        // what the kernel reads (the arrays it only writes are not), and the integers and reals after them
        if (a !== null && io[i] !== 'out') bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at[i]!);
      });
      const result = kernel(descriptor);
      bytes = new Uint8Array(ex.memory.buffer);
      // what the kernel wrote back, after every read (an output may alias an input: dx and dy)
      for (let i = 0; i < n - 2; i++) {
        const a = args[i];
        if (a !== null && a !== undefined && io[i] !== undefined) {
          new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(bytes.subarray(at[i]!, at[i]! + a.byteLength));
        }
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
    const spec = KERNELS[name] as KernelSpec;
    const returnsNumber = spec.returns === 'number'; // (the module returns 0 for the others)
    const io = spec.args.filter((a) => a.kind === 'f32' || a.kind === 'i32').map((a) => a.io);
    addon[name] = (...args: (Array32 | null)[]): number | undefined => {
      const r = call(kernel, args, io);
      return returnsNumber ? r : undefined;
    };
  }
  return addon as unknown as Addon;
}

