/**
 * Atomic file writes: write to a temporary name in the same folder, flush it
 * to the disk (fsync), then rename over the target, so a crash or error never
 * leaves a half-written file. `writeFolderAtomic` does the same for a folder
 * of files (a checkpoint).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

function tempName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${Date.now()}.tmp`);
}

/** Write `data` to `file` and fsync it before returning. */
export async function writeFileSynced(file: string, data: string | Uint8Array): Promise<void> {
  const handle = await fs.open(file, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync a folder, so that the names created or renamed in it are on the disk too. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } catch (err) {
    // some file systems cannot fsync a folder; the rename is still atomic there
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL' && (err as NodeJS.ErrnoException).code !== 'EISDIR') throw err;
  } finally {
    await handle.close();
  }
}

export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempName(target);
  try {
    await writeFileSynced(tmp, data);
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** The sibling that holds the previous version of a folder while `writeFolderAtomic` swaps in the new one. */
export function previousFolder(target: string): string {
  return `${path.resolve(target)}.prev`;
}

/**
 * Replace the folder `target` with one holding exactly `files`, so that a
 * reader (or a crash at any point) finds the old folder or the new one,
 * complete, never a mix or a half-written file:
 *  1. every file is written and fsynced into a hidden staging folder beside `target`;
 *  2. the old `target` (if any) is renamed to `target.prev`;
 *  3. the staging folder is renamed to `target` and the parent folder fsynced;
 *  4. `target.prev` is removed.
 * A crash between 2 and 3 leaves only `target.prev`, complete: readers look
 * there when `target` is missing (see `previousFolder`). On an error the
 * staging folder is removed and `target` is left as it was.
 * `beforeCommit` (a test hook) runs after step 1.
 */
export async function writeFolderAtomic(
  target: string,
  files: { name: string; data: string | Uint8Array }[],
  opts: { beforeCommit?: () => void | Promise<void> } = {},
): Promise<void> {
  const dest = path.resolve(target);
  const parent = path.dirname(dest);
  const stagingPrefix = `.${path.basename(dest)}.saving-`;
  const staging = path.join(parent, `${stagingPrefix}${process.pid}-${Date.now()}`);
  const prev = previousFolder(dest);
  try {
    await fs.mkdir(staging, { recursive: true });
    for (const f of files) await writeFileSynced(path.join(staging, f.name), f.data);
    await syncDir(staging);
    if (opts.beforeCommit) await opts.beforeCommit();
    const existing = await fs.stat(dest).catch(() => null);
    if (existing !== null) {
      // a stale .prev is only removed while a complete target exists
      await fs.rm(prev, { recursive: true, force: true });
      await fs.rename(dest, prev);
    }
    await fs.rename(staging, dest);
    await syncDir(parent);
  } catch (err) {
    await fs.rm(staging, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
  await fs.rm(prev, { recursive: true, force: true });
  // staging folders a killed process left behind
  for (const name of await fs.readdir(parent)) {
    if (name.startsWith(stagingPrefix)) await fs.rm(path.join(parent, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Open a temporary file beside `target` for streaming writes; `commit()`
 * fsyncs it and renames it into place, `abort()` removes it.
 */
export async function openAtomic(target: string): Promise<{
  write(chunk: string): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}> {
  const tmp = tempName(target);
  const handle = await fs.open(tmp, 'w');
  let closed = false;
  const close = async (): Promise<void> => {
    if (!closed) {
      closed = true;
      await handle.close();
    }
  };
  return {
    async write(chunk: string) {
      await handle.write(chunk);
    },
    async commit() {
      await handle.sync();
      await close();
      await fs.rename(tmp, target);
    },
    async abort() {
      await close();
      await fs.rm(tmp, { force: true });
    },
  };
}

/** Names the atomic writers above give their staging files and folders (`.x.123.456.tmp`, `.saving-…`, `.x.saving-…`). */
const LEFTOVER = /^\.(?:.+\.\d+\.\d+\.tmp|saving-.+|.+\.saving-.+)$/;

/**
 * Remove what atomic writes left in `dir` when their process was killed (SIGKILL, a power cut):
 * staging files and folders, never a file that was committed. Call it only while nothing else
 * writes into `dir` (a run holding its folder's lock). Returns the names removed.
 */
export async function removeLeftovers(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const stale = names.filter((n) => LEFTOVER.test(n));
  for (const n of stale) await fs.rm(path.join(dir, n), { recursive: true, force: true });
  return stale;
}
