/**
 * A backend over an addon: the kernels of the table as functions taking their arrays, then one
 * Int32Array of integers and one Float64Array of reals. The Node addon (native.ts) and the WebAssembly
 * module (wasm-kernels.ts) both have this shape, so NativeBackend runs either, checking every call
 * against the table. No Node imports: the browser build uses it too.
 */
import type { Backend, Precision } from './backend.js';
import { KERNELS, KERNEL_NAMES, kernelChecker, kernelLayout, kernelPacker, type KernelName, type KernelSpec, type Kernels } from './kernels.js';

export type NativeLoad = { ok: true; backend: Backend } | { ok: false; reason: string };

/**
 * The addon's exports (native/addon.cc): each kernel of the table takes its arrays, then one
 * Int32Array of its integers and one Float64Array of its reals (kernels.ts, kernelPacker).
 */
export type Addon = { [K in KernelName]: (...args: (Float32Array | Int32Array | Float64Array | null)[]) => number | undefined } & {
  setThreads(n: number): void;
  hardwareThreads(): number;
  /** AMX-BF16 tiles present and granted to this process (the bf16 conv kernels then run on them) */
  amxAvailable(): boolean;
  /** malloc_trim(0): the C heap's free pages back to the system; false where the C library cannot */
  releaseFreeMemory(): boolean;
  /** how the bf16 conv kernels compute (Bf16Kernels) */
  bf16Kernels(): Bf16Kernels;
  /** the measured arithmetic peak on the pool's threads, GFLOP/s; 1: bfloat16 pairs */
  peakGflops(bf16: 0 | 1): number;
};

/**
 * How the native bf16 conv kernels compute: 'amx' on AMX-BF16 tiles, 'avx512-bf16' with AVX512_BF16's
 * pair dot products (VDPBF16PS), 'rounding' by rounding the operands and running the float32 kernels.
 */
export type Bf16Kernels = 'amx' | 'avx512-bf16' | 'rounding';

/**
 * The precision a backend's conv kernels should use: 'auto' is 'bf16' where the CPU computes in bfloat16
 * (AMX tiles: several times faster than fp32; AVX512_BF16: about twice) and 'fp32' elsewhere (there
 * bf16 only rounds, at no gain).
 */
export type PrecisionChoice = Precision | 'auto';
/** Every conv precision a backend can be asked for: 'auto', 'fp32', 'bf16'. */
export const PRECISION_CHOICES: readonly PrecisionChoice[] = ['auto', 'fp32', 'bf16'];

/** The thread count the addon's pool is set to (one pool per process). */
let poolThreads = 0;

// Every kernel of the table, as a method of NativeBackend (the constructor defines them).
export interface NativeBackend extends Kernels {}

/**
 * The native backend: for each kernel of the table a method that checks the call against the table's
 * rules (an Error naming the kernel and the argument), packs its integers and reals, and calls the addon.
 */
export class NativeBackend implements Backend {
  /** 'native' (the Node addon) or 'wasm' (the same kernels as WebAssembly, engine/wasm.ts) */
  readonly name: 'native' | 'wasm';
  readonly threads: number;
  readonly precision: Precision;
  private readonly addon: Addon;

  constructor(addon: Addon, threads: number, precision: Precision, name: 'native' | 'wasm' = 'native') {
    this.addon = addon;
    this.threads = threads;
    this.precision = precision;
    this.name = name;
    for (const name of KERNEL_NAMES) Object.defineProperty(this, name, { value: this.kernel(name), enumerable: false });
  }

  /** `name` as a method: check, pack, call (with the shared pool set to this backend's threads); a call allocates nothing. */
  private kernel(name: KernelName): (...args: unknown[]) => unknown {
    const layout = kernelLayout(name);
    const check = kernelChecker(name);
    const pack = kernelPacker(name);
    const arrayArgs = (KERNELS[name] as KernelSpec).args.flatMap((a, i) => (a.kind === 'f32' || a.kind === 'i32' ? [i] : []));
    // reused per call: the addon reads them before it returns
    const ints = new Int32Array(layout.intCount);
    const reals = new Float64Array(layout.realCount);
    const callArgs: (Float32Array | Int32Array | Float64Array | null)[] = [...arrayArgs.map(() => null), ints, reals];
    const bf16 = this.precision === 'bf16';
    return (...args: unknown[]) => {
      const broken = check(args);
      if (broken !== null) throw new Error(broken);
      pack(args, ints, reals, bf16);
      for (let k = 0; k < arrayArgs.length; k++) callArgs[k] = (args[arrayArgs[k]!] ?? null) as Float32Array | Int32Array | null;
      const addon = this.use();
      const result = addon[name].apply(addon, callArgs);
      for (let k = 0; k < arrayArgs.length; k++) callArgs[k] = null; // hold no caller's array past the call
      return result;
    };
  }

  /** Points the shared pool at this backend's thread count (backends with different counts may coexist). */
  private use(): Addon {
    if (poolThreads !== this.threads) {
      this.addon.setThreads(this.threads);
      poolThreads = this.threads;
    }
    return this.addon;
  }
}
