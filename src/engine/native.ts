/**
 * The native backend: the Backend kernels in C++ (native/, built by node-gyp
 * into build/Release/digits_native.node at `npm install`), with a thread pool
 * that uses every core.
 *
 * loadNativeBackend never throws: when the addon is missing or does not load
 * it returns the reason, and createBackend('auto') falls back to the
 * reference backend saying so once.
 *
 * The C++ side trusts its inputs, so each call here is checked against the
 * kernel table's rules (kernels.ts: array lengths from the shapes, geometry
 * that holds): a wrong size becomes an Error naming the kernel and the
 * argument, not a crash.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
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

/** Where node-gyp puts the addon, from dist/src/engine/native.js (or src/engine/native.ts). */
export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../../../build/Release/digits_native.node', import.meta.url));

/** Whether this copy of Digits is a project's dependency (under node_modules/) rather than a checkout. */
const INSTALLED_AS_DEPENDENCY = NATIVE_ADDON_PATH.split(/[\\/]/).includes('node_modules');

let cached: { addon: Addon } | { error: string } | undefined;

function loadAddon(): { addon: Addon } | { error: string } {
  if (cached !== undefined) return cached;
  if (!existsSync(NATIVE_ADDON_PATH)) {
    cached = {
      error: INSTALLED_AS_DEPENDENCY
        // a project that installed Digits without running its install script (npm 11 asks first, or --ignore-scripts)
        ? 'the native kernels are not built, as the package\'s install script did not run; to build them, run ' +
          '`npm rebuild digits` in your project (npm 11 asks first: `npm install-scripts approve digits`; it needs python3, make and g++)'
        : `the addon is not built (${NATIVE_ADDON_PATH} is missing; build it with \`npm rebuild\`, ` +
          'which needs python3, make and a C++17 compiler)',
    };
    return cached;
  }
  try {
    const require = createRequire(import.meta.url);
    const addon = require(NATIVE_ADDON_PATH) as Addon;
    if (typeof addon.conv2dForward !== 'function' || typeof addon.setThreads !== 'function' ||
      typeof addon.amxAvailable !== 'function' || typeof addon.bf16Kernels !== 'function') {
      cached = { error: `${NATIVE_ADDON_PATH} loaded but is not the Digits addon (rebuild it with \`npm rebuild\`)` };
    } else {
      cached = { addon };
    }
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    cached = { error: `the addon failed to load (${NATIVE_ADDON_PATH}: ${message}); rebuild it with \`npm rebuild\`` };
  }
  return cached;
}

/**
 * The precision a backend's conv kernels should use: 'auto' is 'bf16' where the CPU computes in bfloat16
 * (AMX tiles: several times faster than fp32; AVX512_BF16: about twice) and 'fp32' elsewhere (there
 * bf16 only rounds, at no gain).
 */
export type PrecisionChoice = Precision | 'auto';
/** Every conv precision a backend can be asked for: 'auto', 'fp32', 'bf16'. */
export const PRECISION_CHOICES: readonly PrecisionChoice[] = ['auto', 'fp32', 'bf16'];

/** Whether the native addon loads and this CPU gives it AMX-BF16 tiles. */
export function nativeAmxAvailable(): boolean {
  const loaded = loadAddon();
  return 'addon' in loaded && loaded.addon.amxAvailable();
}

/** How the native addon's bf16 conv kernels compute here, or null when the addon does not load. */
export function nativeBf16Kernels(): Bf16Kernels | null {
  const loaded = loadAddon();
  return 'addon' in loaded ? loaded.addon.bf16Kernels() : null;
}

/**
 * The machine's arithmetic peak as the native kernels can use it, measured (about 0.1 s): GFLOP/s of
 * float32 FMAs, or of bfloat16 pair dot products with 'bf16' where the build has them, on the
 * threads of the last backend loaded. Null when the addon does not load.
 */
export function nativePeakGflops(precision: Precision): number | null {
  const loaded = loadAddon();
  return 'addon' in loaded ? loaded.addon.peakGflops(precision === 'bf16' ? 1 : 0) : null;
}

/**
 * Gives the free pages of the process's C heap back to the system (glibc's malloc_trim, through the
 * addon). The C library keeps memory freed after a burst of large buffers (request bodies, decoded
 * images) for reuse, so a server's resident size would stay at its peak; a server calls this once
 * it is quiet again. False when the addon is not built or the C library has no such call.
 */
export function releaseFreeMemory(): boolean {
  const loaded = loadAddon();
  return 'addon' in loaded && typeof loaded.addon.releaseFreeMemory === 'function' && loaded.addon.releaseFreeMemory();
}

/**
 * The native backend with `threads` workers (default: every core the OS
 * reports) and the given conv precision (default 'fp32'). Never throws; see NativeLoad.
 */
export function loadNativeBackend(threads?: number, precision: PrecisionChoice = 'fp32'): NativeLoad {
  const loaded = loadAddon();
  if ('error' in loaded) return { ok: false, reason: loaded.error };
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 256)) {
    return { ok: false, reason: `threads: expected an integer from 1 to 256, got ${String(threads)}` };
  }
  if (!PRECISION_CHOICES.includes(precision)) {
    return { ok: false, reason: `precision: expected one of ${PRECISION_CHOICES.join(', ')}, got ${JSON.stringify(precision)}` };
  }
  const n = threads ?? Math.max(1, loaded.addon.hardwareThreads());
  const p: Precision = precision === 'auto' ? (loaded.addon.bf16Kernels() === 'rounding' ? 'fp32' : 'bf16') : precision;
  return { ok: true, backend: new NativeBackend(loaded.addon, n, p) };
}

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
