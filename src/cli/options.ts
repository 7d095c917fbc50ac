/** Option parsers for the CLI: each rejects bad values with a message naming the option. */
import { InvalidArgumentError, Option } from 'commander';
import { createBackend, PRECISION_CHOICES, type BackendName, type PrecisionChoice } from '../engine/index.js';
import type { Backend } from '../engine/backend.js';
import { getPreset, presetNames } from '../nn/presets.js';

export interface BackendOpts {
  backend: BackendName;
  threads?: number;
  /** the conv kernels' arithmetic (default fp32) */
  precision?: PrecisionChoice;
}

/** The backend --backend, --threads and --precision pick; a fallback to the reference backend is said once on stderr. */
export function pickBackend(o: BackendOpts): Backend {
  const choice = createBackend(o.backend, o.threads, o.precision ?? 'fp32');
  if (choice.warning) process.stderr.write(`digits: warning: ${choice.warning}\n`);
  return choice.backend;
}

/**
 * --precision auto, refined by a preset's own choice (Preset.precision: `fast` runs in fp32): the options
 * with that precision when auto was asked for and the preset has one, else unchanged. Training takes the
 * preset from --preset, the predicting commands from the model's metadata, so that a model is scored in
 * the arithmetic it was trained in.
 */
export function withPresetPrecision<T extends BackendOpts>(o: T, preset: string | null | undefined): T {
  if (o.precision !== 'auto' || preset === null || preset === undefined || !presetNames().includes(preset)) return o;
  const p = getPreset(preset).precision;
  return p === undefined ? o : { ...o, precision: p };
}

/** --precision: the conv kernels' arithmetic, auto by default on every command (bf16 where the CPU has AMX tiles). */
export function precisionOption(): Option {
  return new Option('--precision <p>', 'arithmetic of the convolutions: fp32, bf16 (operands rounded to bfloat16, float32 sums; ' +
    'several times faster on CPUs with AMX tiles), or auto (bf16 where the CPU has AMX, else fp32; ' +
    'a preset may choose otherwise: fast runs in fp32)')
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
