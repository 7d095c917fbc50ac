/**
 * `digits serve` in a child process on 127.0.0.1 (an ephemeral port), for the server
 * benches: the server and the load generator each get their own event loop. The model is
 * `model` when it holds model.json, else the seed preset with fresh weights (the same
 * arithmetic per request) saved to a temporary folder.
 */
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPreset } from '../src/nn/index.js';
import { makeMetadata, saveModel } from '../src/io/model-files.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');

export interface ServeChild {
  /** http://127.0.0.1:PORT */
  url: string;
  /** the model folder served, or the fresh seed preset's description */
  model: string;
  stop(): Promise<void>;
}

export async function startServeChild(opts: { model: string; args?: string[] }): Promise<ServeChild> {
  let model = opts.model;
  let tmp: string | null = null;
  if (!existsSync(path.join(model, 'model.json'))) {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'digits-serve-bench-'));
    const { model: m } = buildPreset('seed', 0);
    await saveModel(m, tmp, makeMetadata(m, { preset: 'seed', seed: 0 }));
    model = tmp;
  }
  const server = spawn(process.execPath, [CLI, 'serve', '--model', model, '--port', '0', ...(opts.args ?? [])],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = async (): Promise<void> => {
    server.kill('SIGTERM');
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 30_000);
      server.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /drawing page: (http:\/\/[^\s/]+)\//.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      server.on('exit', (code) => reject(new Error(`server exited (${code}): ${out}`)));
    });
    return { url, model: tmp ? 'seed preset (fresh weights)' : path.resolve(model), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
