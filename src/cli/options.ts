/** Option parsers for the CLI: each rejects bad values with a message naming the option. */
import { InvalidArgumentError } from 'commander';

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
