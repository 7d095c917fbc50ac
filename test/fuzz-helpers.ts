/**
 * Shared by the property-based fuzz tests (test/fuzz-*.test.ts): one way to
 * run a fast-check property with a fixed seed and an explicit number of runs,
 * count the cases it ran and say so, and byte-level mutators of valid inputs.
 *
 * Every property runs with FUZZ_SEED, so CI sees the same cases every time;
 * a failure prints the seed, the path and the shrunk counterexample, which
 * replays with `fc.assert(..., { seed, path })`. To look further than CI does,
 * set DIGITS_FUZZ_SEED to another number (and DIGITS_FUZZ_SCALE to run more cases).
 */
import type { TestContext } from 'node:test';
import fc from 'fast-check';

export const FUZZ_SEED = Number(process.env.DIGITS_FUZZ_SEED ?? 20261124);
const SCALE = Number(process.env.DIGITS_FUZZ_SCALE ?? 1);

/** How long one case may take before it counts as a hang (generous: CI machines are shared). */
export const CASE_TIMEOUT_MS = 10_000;

/** Cases run per file, printed by the file's `after` hook via `reportCases`. */
const tally = new Map<string, number>();

/**
 * Run `predicate` on `numRuns` values of `arb` (seeded), each bound by
 * CASE_TIMEOUT_MS (an async hang fails the case; a synchronous one would be
 * stopped only by the test runner's timeout). The count of cases run, shrinking
 * included, is reported with t.diagnostic and added to the tally.
 */
export async function fuzz<T>(
  t: TestContext,
  arb: fc.Arbitrary<T>,
  numRuns: number,
  predicate: (value: T) => Promise<void> | void,
): Promise<number> {
  let cases = 0;
  const runs = Math.max(1, Math.round(numRuns * SCALE));
  await fc.assert(
    fc.asyncProperty(arb, async (value) => {
      cases++;
      await withTimeout(Promise.resolve().then(() => predicate(value)), CASE_TIMEOUT_MS);
    }),
    { numRuns: runs, seed: FUZZ_SEED },
  );
  t.diagnostic(`${t.name}: ${cases} cases (numRuns ${runs}, seed ${FUZZ_SEED})`);
  tally.set(t.name, cases);
  return cases;
}

/** The total of this file's properties, for its `after` hook: "fuzz <file>: N cases in K properties". */
export function reportCases(file: string): string {
  const total = [...tally.values()].reduce((a, b) => a + b, 0);
  const line = `fuzz ${file}: ${total} cases in ${tally.size} properties`;
  process.stdout.write(`${line}\n`);
  return line;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the case did not finish within ${ms} ms (a hang?)`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** One edit of a byte string; positions are fractions of the length so that they fit any input. */
export type Mutation =
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'duplicate'; at: number; length: number };

/**
 * Uniform in [0, 1). Not fc.double (uniform over bit patterns: mostly values near 0) and without
 * fast-check's bias towards small values: either would hit the first bytes (the magic numbers) far too often.
 */
export const position = fc.noBias(fc.integer({ min: 0, max: 2 ** 30 - 1 })).map((n) => n / 2 ** 30);

/** Mutations whose inserted bytes come from `tokens` (format-specific, e.g. ',', '\r\n', '-1') or are random. */
export function mutationArb(tokens: readonly (string | Uint8Array)[] = []): fc.Arbitrary<Mutation> {
  const tokenBytes = tokens.map((t) => (typeof t === 'string' ? new Uint8Array(Buffer.from(t, 'latin1')) : t));
  const inserted = tokenBytes.length > 0
    ? fc.oneof(fc.constantFrom(...tokenBytes), fc.uint8Array({ minLength: 1, maxLength: 8 }))
    : fc.uint8Array({ minLength: 1, maxLength: 8 });
  return fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: position, byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: position, bytes: inserted }),
    fc.record({ kind: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: position }),
    fc.record({ kind: fc.constant('duplicate' as const), at: position, length: fc.integer({ min: 1, max: 256 }) }),
  );
}

export function applyMutation(bytes: Uint8Array, m: Mutation): Uint8Array {
  const n = bytes.length;
  const at = Math.floor(m.at * (n + 1));
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (m.kind) {
    case 'set': {
      if (n === 0) return bytes;
      const out = Uint8Array.from(bytes);
      out[Math.min(at, n - 1)] = m.byte;
      return out;
    }
    case 'insert': return Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    case 'delete': return Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
    case 'truncate': return b.subarray(0, at);
    case 'duplicate': return Buffer.concat([b.subarray(0, at + m.length), b.subarray(at)]);
  }
}

/** `base` with 1..maxEdits mutations applied in turn. */
export function mutated(base: Uint8Array, tokens: readonly (string | Uint8Array)[] = [], maxEdits = 4): fc.Arbitrary<Uint8Array> {
  return fc.array(mutationArb(tokens), { minLength: 1, maxLength: maxEdits })
    .map((ms) => ms.reduce((bytes, m) => applyMutation(bytes, m), base));
}

/** Split bytes into chunks at the given cut points (fractions), as a stream would deliver them. */
export function chunked(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...at, bytes.length]) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  return out;
}

export const cutsArb = fc.array(position, { maxLength: 6 });
