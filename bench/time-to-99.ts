/**
 * Time to 99% MNIST test accuracy, Digits' `fast` preset against the PyTorch
 * peer running the seed recipe, back to back in one run (issue 6). Prints one
 * JSON object:
 *   digits:  the fast preset's trainSeconds and test accuracy (`digits train --preset fast`, its metrics.json)
 *   pytorch: test accuracy and cumulative training seconds per epoch, and the seconds to its
 *            first epoch at >= 99.0% test (null if none of its N epochs got there)
 *   ratio:   pytorch seconds to 99% / digits trainSeconds (null unless both reached 99%); when the peer did not
 *            reach 99% in its N epochs, ratioAtLeast: its N epochs' seconds / digits trainSeconds (a lower bound)
 *
 *   node dist/bench/time-to-99.js [--epochs N] [--seed N] [--threads N] [--peer PATH] [--python PATH] [--skip-peer]
 *
 * --epochs is the peer's epoch count (default 3, ~60 s each on the 2-core machine). The peer needs
 * Debian's python3-torch for /usr/bin/python3; without it this bench stops with exit code 1 and says so.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { benchProgram, intArg } from './options.js';
import { DIGITS_CLI, MNIST_DIR, ROOT, checkPeer, fail as failBench, peerEnv, threadArgs as peerThreadArgs, withPeerOptions, type PeerOptions } from './peer.js';

const TARGET = 0.99;
const values = withPeerOptions(benchProgram('time-to-99', 'seconds of training to 99% test accuracy: digits --preset fast vs the PyTorch peer (seed recipe)')
  .option('--epochs <n>', 'epochs of the peer', intArg(1), 3)
  .option('--seed <n>', 'seed of the fast run', intArg(0), 0))
  .option('--skip-peer', 'only run digits')
  .parse()
  .opts<PeerOptions & { epochs: number; seed: number; skipPeer?: boolean }>();

const fail = (message: string): never => failBench('time-to-99', message);
const epochs = values.epochs;
const threadArgs = peerThreadArgs(values);
const skipPeer = values.skipPeer === true;
if (!skipPeer) checkPeer('time-to-99', values);

// 1. Digits: `digits train --preset fast` into a temporary folder; its metrics.json has the figures.
const out = mkdtempSync(path.join(os.tmpdir(), 'digits-time-to-99-'));
const loadBefore = os.loadavg()[0]!;
const d = spawnSync(process.execPath, [DIGITS_CLI, 'train', '--preset', 'fast', '--seed', String(values.seed),
  ...threadArgs, '--out', out], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
if (d.status !== 0) fail(`digits train --preset fast failed (exit ${d.status}): ${d.stderr.trim() || d.error?.message}`);
const metrics = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8')) as Record<string, number>;
rmSync(out, { recursive: true, force: true });
const digits = {
  preset: 'fast', seed: Number(values.seed), trainSeconds: metrics.trainSeconds, testAccuracy: metrics.testAccuracy,
  valAccuracy: metrics.valAccuracy, trainImagesPerSec: Math.round(metrics.trainImagesPerSec!), threads: metrics.threads,
  load1: [Number(loadBefore.toFixed(2)), Number(os.loadavg()[0]!.toFixed(2))],
};
process.stderr.write(`digits: ${JSON.stringify(digits)}\n`); // progress: the peer takes minutes more

// 2. The peer, seed recipe, N epochs; one JSON line per epoch (cumulative trainSeconds, testAccuracy).
interface PeerEpoch { epoch: number; trainSeconds: number; testAccuracy: number }
async function runPeer(): Promise<{ epochs: PeerEpoch[]; load1: number[] }> {
  const before = os.loadavg()[0]!;
  const child = spawn(values.python, ['-u', values.peer, '--mnist-dir', MNIST_DIR, '--epochs', String(epochs), ...threadArgs],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: peerEnv() });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => {
    const done = stdout.lastIndexOf('\n') + 1;
    stdout += b.toString();
    // progress: each complete line (one per peer epoch) as it arrives
    for (const line of stdout.slice(done, stdout.lastIndexOf('\n') + 1).split('\n')) if (line) process.stderr.write(`pytorch: ${line}\n`);
  });
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  if (code !== 0) fail(`the PyTorch peer failed (${signal !== null ? `killed by ${signal}` : `exit ${code}`}): ${stderr.trim()}`);
  const lines = stdout.split('\n').filter((l) => l.startsWith('{'));
  return { epochs: lines.map((l) => JSON.parse(l) as PeerEpoch), load1: [Number(before.toFixed(2)), Number(os.loadavg()[0]!.toFixed(2))] };
}

let pytorch: Record<string, unknown> | null = null;
let ratio: number | null = null;
/** when the peer never reached the target in its N epochs: its total seconds / Digits' seconds (a lower bound) */
let ratioAtLeast: number | null = null;
if (!skipPeer) {
  const peer = await runPeer();
  const first = peer.epochs.find((e) => e.testAccuracy >= TARGET) ?? null;
  pytorch = {
    recipe: 'seed (batch 32, Adam 1e-3)', epochsRun: peer.epochs.length, perEpoch: peer.epochs,
    epochTo99: first?.epoch ?? null, secondsTo99: first?.trainSeconds ?? null, load1: peer.load1,
    openblasThreads: peerEnv().OPENBLAS_NUM_THREADS,
  };
  if ((digits.testAccuracy ?? 0) >= TARGET) {
    if (first !== null) ratio = Number((first.trainSeconds / digits.trainSeconds!).toFixed(2));
    else if (peer.epochs.length > 0) ratioAtLeast = Number((peer.epochs.at(-1)!.trainSeconds / digits.trainSeconds!).toFixed(2));
  }
}
console.log(JSON.stringify({ target: TARGET, cores: os.cpus().length, digits, pytorch, ratio, ...(ratioAtLeast !== null ? { ratioAtLeast } : {}) }));
