/**
 * Checks of an output folder before long work: it can be created, a file can
 * be written, flushed and deleted in it, and its file system has room for
 * what the work will write. A failure names the folder and what is wrong.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DigitsError } from '../errors.js';

export interface FolderCheckOptions {
  /** bytes the work will write there (0: no space check) */
  needBytes?: number;
  /** what the bytes are for, in the message ("the model, its checkpoint and the report") */
  needFor?: string;
  /** free bytes of the folder's file system (default: fs.statfs); tests give a figure */
  freeBytes?: (dir: string) => Promise<number>;
}

const MB = 1024 * 1024;

export function formatMB(bytes: number): string {
  return bytes >= 10 * MB ? `${Math.round(bytes / MB)} MB` : `${(bytes / MB).toFixed(1)} MB`;
}

/** Free bytes for an unprivileged writer, from statfs. */
async function statfsFree(dir: string): Promise<number> {
  const s = await fs.statfs(dir);
  return s.bavail * s.bsize;
}

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'EROFS': return 'the file system is read-only';
    case 'EACCES':
    case 'EPERM': return 'permission denied';
    case 'ENOTDIR': return `a part of the path is a file, not a folder`;
    case 'ENOSPC': return 'no space left on the device';
    case 'EDQUOT': return 'disk quota exceeded';
    case 'EFBIG': return 'file too large for the file-size limit';
    case 'ENOENT': return 'the file system there does not allow creating it';
    default: return e.code ?? String(err);
  }
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdir never returns on a
 * path such as /proc/x (mkdir says ENOENT there while the parent exists).
 */
async function makeDirs(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let cur = path.resolve(dir); ; cur = path.dirname(cur)) {
    const exists = await fs.stat(cur).then(() => true, (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    });
    if (exists || path.dirname(cur) === cur) break;
    missing.push(cur);
  }
  for (const d of missing.reverse()) {
    await fs.mkdir(d).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}

/**
 * Create `dir` if needed and prove it writable (write + fsync + delete a
 * small file), then check its free space against `needBytes`. `label` starts
 * messages (`--out runs/seed`).
 */
export async function checkOutputFolder(dir: string, label: string, opts: FolderCheckOptions = {}): Promise<{ freeBytes: number | null }> {
  try {
    await makeDirs(dir);
  } catch (err) {
    throw new DigitsError(`${label}: cannot create the folder (${reason(err)})`);
  }
  const st = await fs.stat(dir);
  if (!st.isDirectory()) throw new DigitsError(`${label}: expected a folder, but it is a file`);
  const probe = path.join(dir, `.digits-write-test-${process.pid}`);
  try {
    const handle = await fs.open(probe, 'w');
    try {
      await handle.writeFile('digits write test\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rm(probe);
  } catch (err) {
    await fs.rm(probe, { force: true }).catch(() => undefined);
    throw new DigitsError(`${label}: cannot write there (${reason(err)})`);
  }
  const need = opts.needBytes ?? 0;
  if (need <= 0) return { freeBytes: null };
  let free: number;
  try {
    free = await (opts.freeBytes ?? statfsFree)(dir);
  } catch {
    return { freeBytes: null }; // no statfs on this file system: the write probe is all we can check
  }
  if (free < need) {
    throw new DigitsError(`${label}: not enough free space: ${formatMB(free)} free, ${formatMB(need)} needed` +
      (opts.needFor ? ` (${opts.needFor})` : ''));
  }
  return { freeBytes: free };
}

/** Name a write failure that happened after the start (ENOSPC and the like) in a sentence. */
export function writeFailure(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return typeof e?.code === 'string' ? `${reason(err)}${e.path ? ` (${e.path})` : ''}` : String((err as Error)?.message ?? err);
}
