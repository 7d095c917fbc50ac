/**
 * A run folder held exclusively while a run writes into it: `.digits.lock`, created with O_EXCL
 * and holding the owner's pid, host and start time. A second run into the same folder gets one
 * clear line naming the owner. A lock whose process is gone (same host, pid not running: a
 * SIGKILL, a crash) is stale and taken over.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DigitsError } from '../errors.js';

export const LOCK_FILE = '.digits.lock';

interface LockOwner {
  pid: number;
  host: string;
  since: string;
  command: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // it exists, but is not ours to signal
  }
}

async function readOwner(file: string): Promise<LockOwner | null> {
  try {
    const v = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<LockOwner>;
    return typeof v.pid === 'number' && typeof v.host === 'string' ? { pid: v.pid, host: v.host, since: String(v.since), command: String(v.command) } : null;
  } catch {
    return null;
  }
}

function inUse(dir: string, owner: LockOwner): DigitsError {
  return new DigitsError(`${dir} is in use by another run (${owner.command}, pid ${owner.pid} on ${owner.host}, since ${owner.since}): ` +
    'wait for it to finish, or use another folder');
}

/**
 * Throws the in-use error when a live run holds `dir`, without taking the lock: for what must not read
 * the folder while another run writes it (`--resume` reads its checkpoint before its run takes the lock).
 */
export async function assertNotHeld(dir: string): Promise<void> {
  const owner = await readOwner(path.join(dir, LOCK_FILE));
  if (owner !== null && (owner.host !== os.hostname() || alive(owner.pid))) throw inUse(dir, owner);
}

/** The lock of run folder `dir` (which must exist), held until release(); `what` names the run in messages. */
export async function lockRunFolder(dir: string, what: string): Promise<{ release: () => Promise<void> }> {
  const file = path.join(dir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), command: what };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await fs.open(file, 'wx');
      try {
        await handle.writeFile(JSON.stringify(me) + '\n');
      } finally {
        await handle.close();
      }
      return {
        release: async () => {
          const owner = await readOwner(file);
          if (owner?.pid === me.pid && owner.host === me.host) await fs.rm(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = await readOwner(file);
    if (owner !== null && (owner.host !== me.host || alive(owner.pid))) throw inUse(dir, owner);
    // stale (its process is gone) or unreadable (a crash while it was written): take it over
    await fs.rm(file, { force: true });
  }
  throw new DigitsError(`${dir}: could not take the run folder's lock (${file}); another run keeps taking it`);
}
