/**
 * Seconds of training to 99% MNIST test accuracy, back to back in one run: Digits' `fast` preset
 * (`digits train --preset fast`, its metrics.json's trainSeconds: the preset's whole training as the
 * command reports it) against PyTorch 2 running the fastest public recipe to 99%
 * (tuomaso/train_mnist_fast, `torch_peer.py --recipe fast`) in float32 and in bf16 autocast with
 * channels_last, over the same seeds. Prints one JSON object: each side's mean seconds and test
 * accuracy over the seeds (and each seed's), and the ratio of the peer's bf16 seconds to Digits'.
 *
 *   node dist/bench/time-to-99.js [--seeds K] [--threads N] [--peer PATH] [--python PATH] [--skip-peer]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { benchProgram, intArg } from './options.js';
import { DIGITS_CLI, MNIST_DIR, ROOT, fail as failBench, peerEnv, resolvePeer, threadArgs as peerThreadArgs, withPeerOptions, type PeerOptions } from './peer.js';

const TARGET = 0.99;
const values = withPeerOptions(benchProgram('time-to-99', 'seconds of training to 99% test accuracy: digits --preset fast vs PyTorch 2 (tuomaso\'s recipe)')
  .option('--seeds <k>', 'seeds 0..K-1 on each side', intArg(1), 3))
  .option('--skip-peer', 'only run digits')
  .parse()
  .opts<PeerOptions & { seeds: number; skipPeer?: boolean }>();

const fail = (message: string): never => failBench('time-to-99', message);
const threadArgs = peerThreadArgs(values);
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

// 1. Digits: `digits train --preset fast --seed s` into a temporary folder; its metrics.json has the figures.
const runs: { seed: number; trainSeconds: number; testAccuracy: number }[] = [];
for (let seed = 0; seed < values.seeds; seed++) {
  const out = mkdtempSync(path.join(os.tmpdir(), 'digits-time-to-99-'));
  const d = spawnSync(process.execPath, [DIGITS_CLI, 'train', '--preset', 'fast', '--seed', String(seed), ...threadArgs, '--out', out],
    { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (d.status !== 0) fail(`digits train --preset fast failed (exit ${d.status}): ${d.stderr.trim() || d.error?.message}`);
  const m = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8')) as Record<string, number>;
  rmSync(out, { recursive: true, force: true });
  runs.push({ seed, trainSeconds: m.trainSeconds!, testAccuracy: m.testAccuracy! });
  process.stderr.write(`digits fast, seed ${seed}: ${m.trainSeconds} s, ${(m.testAccuracy! * 100).toFixed(2)}%\n`);
}
const digits = {
  preset: 'fast', seeds: runs, meanTrainSeconds: +mean(runs.map((r) => r.trainSeconds)).toFixed(3),
  meanTestAccuracy: +mean(runs.map((r) => r.testAccuracy)).toFixed(4),
};

// 2. The peer: the recipe over the same seeds, in float32 and in bf16 (autocast + channels_last).
let pytorch: Record<string, unknown> | null = null;
let ratio: number | null = null;
if (values.skipPeer !== true) {
  const peer = resolvePeer('time-to-99', values);
  const configs: Record<string, string[]> = { fp32: [], bf16: ['--amp', 'bf16', '--channels-last'] };
  const results: Record<string, { meanTrainSeconds: number; meanTestAccuracy: number; fractionAt99: number }> = {};
  for (const [name, flags] of Object.entries(configs)) {
    const r = spawnSync(peer.python, [peer.script, '--mnist-dir', MNIST_DIR, '--recipe', 'fast', '--seeds', String(values.seeds), ...flags, ...threadArgs],
      { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24, env: peerEnv(peer) });
    if (r.status !== 0) fail(`the PyTorch peer failed (exit ${r.status}): ${r.stderr.trim().split('\n').pop()}`);
    const summary = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop() ?? fail('the PyTorch peer printed no summary');
    results[name] = JSON.parse(summary) as (typeof results)[string];
    process.stderr.write(`pytorch ${name}: ${summary}\n`);
  }
  pytorch = { version: `pytorch ${peer.version}`, recipe: 'tuomaso/train_mnist_fast', configs: results };
  ratio = +(results.bf16!.meanTrainSeconds / digits.meanTrainSeconds).toFixed(2);
}
console.log(JSON.stringify({
  target: TARGET, threads: values.threads ?? os.availableParallelism(), digits, pytorch,
  // > 1: Digits reaches 99% sooner; the target is >= 2 (at most half the peer's bf16 seconds) with Digits' mean at >= 99%
  ratioToBf16Peer: ratio, digitsAt99: digits.meanTestAccuracy >= TARGET,
}));
