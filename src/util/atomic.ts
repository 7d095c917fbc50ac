/**
 * Atomic file writes: write to a temporary name in the same folder, then
 * rename over the target, so a crash or error never leaves a half-written file.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

function tempName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${Date.now()}.tmp`);
}

export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempName(target);
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Open a temporary file beside `target` for streaming writes; `commit()`
 * renames it into place, `abort()` removes it.
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
      await close();
      await fs.rename(tmp, target);
    },
    async abort() {
      await close();
      await fs.rm(tmp, { force: true });
    },
  };
}
