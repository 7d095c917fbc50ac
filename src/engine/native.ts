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
import type { Precision } from './backend.js';
import { NativeBackend, PRECISION_CHOICES, type Addon, type Bf16Kernels, type NativeLoad, type PrecisionChoice } from './addon-backend.js';

export { NativeBackend, PRECISION_CHOICES, type Addon, type Bf16Kernels, type NativeLoad, type PrecisionChoice } from './addon-backend.js';

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

