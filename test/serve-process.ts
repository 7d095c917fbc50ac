/**
 * `digits serve` in a child process, as the tests of the real server process (serve-memory) and
 * bench/serve-attacks start it: on an ephemeral port, which its first line of output says.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Starts `node CLI serve ARGS --port 0`; resolves with the child and its port once it listens. */
export async function spawnServe(cli: string, args: string[], stdio: StdioOptions = ['ignore', 'pipe', 'pipe']): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [cli, 'serve', ...args, '--port', '0'], { stdio });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`digits serve exited with ${code}`)));
  });
  return { child, port };
}

/** A process's peak resident memory so far (VmHWM), in MiB. */
export function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
