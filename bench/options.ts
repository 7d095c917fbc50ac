/**
 * Command-line options of the benchmarks, parsed with commander as the `digits`
 * CLI does: `--help` lists them, and an unknown option or a bad value ends the
 * program with one line naming it (exit 1), never a stack trace.
 */
import { Command, InvalidArgumentError } from 'commander';

/** A commander program for a benchmark (call .option()/.addOption() on it, then options()). */
export function benchProgram(name: string, description: string): Command {
  return new Command(name).description(description).allowExcessArguments(false).showHelpAfterError(false);
}

/** Parses an integer >= lo (default 1). */
export const intArg = (lo = 1) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < lo) throw new InvalidArgumentError(`expected an integer >= ${lo}, got ${v}`);
  return n;
};

/** Parses a number in [lo, hi]. */
export const numberArg = (lo: number, hi: number) => (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < lo || n > hi) throw new InvalidArgumentError(`expected a number from ${lo} to ${hi}, got ${v}`);
  return n;
};

/** Parses one of the given words. */
export const oneOfArg = <T extends string>(...allowed: T[]) => (v: string): T => {
  if (!(allowed as string[]).includes(v)) throw new InvalidArgumentError(`expected ${allowed.join(' or ')}, got ${v}`);
  return v as T;
};
