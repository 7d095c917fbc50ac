/** The options several commands share, and parsers that reject bad values with a message naming the option. */
import { InvalidArgumentError, Option } from 'commander';
import { BACKEND_NAMES, PRECISION_CHOICES } from '../engine/index.js';

/** --backend: auto (native, else wasm with a warning), native, wasm or reference. */
export function backendOption(): Option {
  return new Option('--backend <name>', 'compute backend: native (C++ addon, every core), wasm (the same kernels as ' +
    'WebAssembly, one thread), reference (plain TypeScript); auto is native, else wasm').choices([...BACKEND_NAMES]).default('auto');
}

/** Most worker threads the native backend takes (its pool's limit). */
export const MAX_THREADS = 256;

/** --threads: the native backend's worker threads. */
export function threadsOption(): Option {
  return new Option('--threads <n>', `worker threads for the native backend, 1 to ${MAX_THREADS} (default: all cores)`)
    .argParser(intInRange('--threads', 1, MAX_THREADS));
}

export const TTA_HELP = 'test-time augmentation: average over the image and its four 1-pixel shifts ' +
  '(an ensemble trained with --tta uses them unless --no-tta is given)';

/** --tta on the commands that predict. */
export function ttaOption(): Option {
  return new Option('--tta', TTA_HELP);
}

/** --no-tta on the commands that predict. */
export function noTtaOption(): Option {
  return new Option('--no-tta', 'no test-time augmentation, even for an ensemble trained with --tta');
}

/**
 * --precision: the conv kernels' arithmetic, auto by default. `running`: the option of a command that runs a
 * saved model (auto: float32 unless the model records bf16 training); else of training or the bench (auto:
 * bf16 where the CPU computes in bfloat16, unless the preset names its own).
 */
export function precisionOption(running: 'model' | 'training' = 'model'): Option {
  const auto = running === 'model'
    ? 'or auto: float32, unless the model records that it was trained in bf16'
    : 'or auto: bf16 where the CPU computes in bfloat16 (AMX tiles, AVX512_BF16), else fp32; a preset may name its own (seed and fast: fp32)';
  return new Option('--precision <p>', 'arithmetic of the convolutions: fp32, bf16 (operands rounded to bfloat16, float32 sums; ' +
    `faster on CPUs with AMX tiles or AVX512_BF16), ${auto}`)
    .choices([...PRECISION_CHOICES]).default('auto');
}

export function positiveInt(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
      throw new InvalidArgumentError(`${name} expects a positive integer, got "${value}".`);
    }
    return n;
  };
}

/** A whole number from `lo` to `hi`. */
export function intInRange(name: string, lo: number, hi: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < lo || n > hi) {
      throw new InvalidArgumentError(`${name} expects a whole number from ${lo} to ${hi}, got "${value}".`);
    }
    return n;
  };
}

export function nonNegativeInt(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) {
      throw new InvalidArgumentError(`${name} expects a non-negative integer, got "${value}".`);
    }
    return n;
  };
}

export function fraction(name: string, { allowZero = true } = {}): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1 || (!allowZero && n === 0)) {
      throw new InvalidArgumentError(`${name} expects a number in ${allowZero ? '[0, 1)' : '(0, 1)'}, got "${value}".`);
    }
    return n;
  };
}
