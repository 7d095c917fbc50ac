/** SIGINT/SIGTERM during training turned into "finish the batch, write a checkpoint, exit 130/143". */

import { signalExitCode } from '../errors.js';

/**
 * While armed (from `arm(true)` on), turn the first SIGINT/SIGTERM into an abort of `signal` (the
 * run finishes its batch and writes a checkpoint); a second one exits at once
 * (the last checkpoint stays as it was). While not armed (between fits, when
 * there is no checkpoint to write), a signal ends the process as it would
 * without a handler.
 */
export function catchInterrupts(onFirst: (sig: NodeJS.Signals) => void): {
  signal: AbortSignal; caught: () => NodeJS.Signals | null; arm: (armed: boolean) => void; dispose: () => void;
} {
  const ac = new AbortController();
  let caught: NodeJS.Signals | null = null;
  let armed = false;
  const handler = (sig: NodeJS.Signals): void => {
    if (!armed && caught === null) {
      dispose();
      process.kill(process.pid, sig);
      return;
    }
    if (caught !== null) {
      process.stderr.write(`\ndigits: ${sig} again: quitting at once (the last checkpoint written is intact)\n`);
      process.exit(signalExitCode(sig));
    }
    caught = sig;
    ac.abort(sig);
    onFirst(sig);
  };
  const dispose = (): void => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: ac.signal,
    caught: () => caught,
    arm: (a) => {
      armed = a;
    },
    dispose,
  };
}
