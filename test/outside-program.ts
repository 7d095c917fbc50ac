/**
 * Tests that need a program the project cannot install itself (Debian's Chromium for the browser
 * test). Where it is missing, such a test is skipped with a line saying which program and how to
 * get it, so that `npm ci && npm test` passes on a machine with only Node, npm, g++, make and
 * python3; where CI is set (.ci/run installs the program), a missing program fails the test, so
 * CI always runs it for real.
 */
import { existsSync } from 'node:fs';

/** The `skip` option of a test needing `file`: false (run it) when present or under CI, else the reason. */
export function skipUnlessInstalled(file: string, what: string, install: string): string | false {
  if (existsSync(file) || isCi()) return false;
  return `${what} is not installed (${file}): ${install}; CI=true makes its absence a failure`;
}

/** Throws when `file` is missing (under CI, where skipUnlessInstalled does not skip). */
export function requireInstalled(file: string, what: string, install: string): void {
  if (!existsSync(file)) throw new Error(`${what} is not installed (${file}): ${install}`);
}

function isCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}
