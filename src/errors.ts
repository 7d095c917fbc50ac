/**
 * Errors users can read. A DigitsError carries a message that names the file,
 * row/field or argument and what was expected; the CLI prints its message
 * alone (no stack trace) and exits with code 1.
 */
export class DigitsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DigitsError';
  }
}

/**
 * A run stopped on request (SIGINT/SIGTERM) after saving what it needs to go
 * on: the CLI prints the message as is (not as an error) and exits with
 * `exitCode` (130 for SIGINT, 143 for SIGTERM, as a shell reports them).
 */
export class Interrupted extends DigitsError {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = 'Interrupted';
  }
}

/** The exit code a shell reports for a process ended by the signal named `reason` (SIGTERM: 143, else SIGINT's 130). */
export function signalExitCode(reason: unknown): number {
  return reason === 'SIGTERM' ? 143 : 130;
}

/** `name` was `actual` but `expected` was expected. */
export function invalidParameter(name: string, expected: string, actual: unknown): DigitsError {
  return new DigitsError(`${name}: expected ${expected}, got ${describe(actual)}`);
}

export function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 57) + '...' : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  return typeof v;
}
