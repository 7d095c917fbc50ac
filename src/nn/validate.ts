/**
 * Option and config checking for layers, optimizers and callbacks. Every
 * failure is a DigitsError that names the option (`Conv2D.filters`, or
 * `Conv2D "conv2d_1" config.kernel_size` for a model file), what was expected
 * and what came.
 */
import { DigitsError, describe, invalidParameter } from '../errors.js';

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function positiveInt(label: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw invalidParameter(label, 'a positive integer', v);
  return v;
}

export function nonNegativeInt(label: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw invalidParameter(label, 'a non-negative integer', v);
  return v;
}

/** A finite number in [lo, hi) (or [lo, hi] when hiInclusive). */
export function numberInRange(label: string, v: unknown, lo: number, hi: number, hiInclusive = false): number {
  const ok = typeof v === 'number' && Number.isFinite(v) && v >= lo && (hiInclusive ? v <= hi : v < hi);
  if (!ok) throw invalidParameter(label, `a number from ${lo} to ${hi} (${hiInclusive ? 'inclusive' : 'exclusive'})`, v);
  return v as number;
}

export function positiveNumber(label: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw invalidParameter(label, 'a positive number', v);
  return v;
}

export function finiteNumber(label: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidParameter(label, 'a finite number', v);
  return v;
}

export function boolean(label: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw invalidParameter(label, 'true or false', v);
  return v;
}

export function oneOf<T extends string>(label: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw invalidParameter(label, allowed.map((a) => JSON.stringify(a)).join(' or '), v);
  }
  return v as T;
}

/** A positive integer or a pair of them ([h, w]); a single number means [n, n]. */
export function intPair(label: string, v: unknown): [number, number] {
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((d) => typeof d === 'number' && Number.isInteger(d) && d > 0)) {
    return [v[0] as number, v[1] as number];
  }
  throw new DigitsError(`${label}: expected a positive integer or a pair [h, w] of them, got ${showValue(v)}`);
}

/** A shape without the batch dimension: non-empty array of positive integers. */
export function shape(label: string, v: unknown): number[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((d) => typeof d === 'number' && Number.isInteger(d) && d > 0)) {
    throw new DigitsError(`${label}: expected a shape without the batch dimension (positive integers, e.g. [28, 28, 1]), ` +
      `got ${showValue(v)}`);
  }
  return [...(v as number[])];
}

/** `batch_input_shape` as TF.js writes it: [null, d1, d2, ...] (returns the shape without the batch dim). */
export function batchInputShape(label: string, v: unknown): number[] {
  if (!Array.isArray(v) || v.length < 2 || (v[0] !== null && !(Number.isInteger(v[0]) && (v[0] as number) > 0)) ||
      !v.slice(1).every((d) => typeof d === 'number' && Number.isInteger(d) && d > 0)) {
    throw new DigitsError(`${label}: expected [null, d1, d2, ...] with positive integer sizes, got ${showValue(v)}`);
  }
  return v.slice(1) as number[];
}

/** Throw if `obj` has a key outside `allowed`. */
export function knownKeys(label: string, obj: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      throw new DigitsError(`${label}: unknown field ${JSON.stringify(k)} (known: ${allowed.join(', ')})`);
    }
  }
}

/** Field that Digits accepts only at one value (a Keras feature it does not implement). */
export function mustEqual(label: string, v: unknown, expected: unknown, why: string): void {
  if (JSON.stringify(v) !== JSON.stringify(expected)) {
    throw new DigitsError(`${label}: expected ${JSON.stringify(expected)} (${why}), got ${showValue(v)}`);
  }
}

/** describe(), but short arrays and objects are shown as JSON (messages about [3, 3] read better). */
export function showValue(v: unknown): string {
  if (Array.isArray(v) || isObject(v)) {
    try {
      const s = JSON.stringify(v);
      if (s.length <= 60) return s;
    } catch {
      // fall through
    }
  }
  return describe(v);
}
