/**
 * Digits vs the PyTorch peer, back to back on the same machine, in one run:
 * `digits bench --json` then ../shared/bench/pytorch_peer.py --json, repeated
 * (--rounds, default 3) with the best of each taken, since these machines are
 * shared and noisy. Prints one JSON object with both and the ratios.
 *
 *   node dist/bench/compare.js [--rounds N] [--steps N] [--threads N] [--peer PATH] [--python PATH]
 *
 * The peer needs Debian's python3-torch; it runs with OPENBLAS_NUM_THREADS=1 unless that is set (peerEnv).
 */
import { spawnSync } from 'node:child_process';
import { benchProgram, intArg } from './options.js';
import { DIGITS_CLI, MNIST_DIR, ROOT, checkPeer, peerEnv, threadArgs as peerThreadArgs, withPeerOptions, type PeerOptions } from './peer.js';

const values = withPeerOptions(benchProgram('compare', 'Digits vs the PyTorch peer, back to back, best of --rounds; prints one JSON object')
  .option('--rounds <n>', 'rounds (best of each side is kept)', intArg(1), 3)
  .option('--steps <n>', 'training steps per measurement', intArg(1), 300))
  .parse()
  .opts<PeerOptions & { rounds: number; steps: number }>();

interface Figures {
  trainImagesPerSec: number;
  inferImagesPerSec: number;
  [k: string]: unknown;
}

function runJson(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Figures {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24, env });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.error?.message}`);
  }
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`${cmd}: no JSON in its output:\n${r.stdout}`);
  return JSON.parse(line) as Figures;
}

checkPeer('compare', values);
const threadArgs = peerThreadArgs(values);
const rounds = values.rounds;
const digits: Figures[] = [];
const torch: Figures[] = [];
for (let r = 0; r < rounds; r++) {
  digits.push(runJson(process.execPath, [DIGITS_CLI, 'bench', '--json', '--steps', String(values.steps), ...threadArgs]));
  torch.push(runJson(values.python, [values.peer, '--mnist-dir', MNIST_DIR, '--json', '--steps', String(values.steps), ...threadArgs], peerEnv()));
}
const best = (xs: Figures[], k: 'trainImagesPerSec' | 'inferImagesPerSec'): number => Math.max(...xs.map((x) => x[k]));
const d = { train: best(digits, 'trainImagesPerSec'), infer: best(digits, 'inferImagesPerSec') };
const t = { train: best(torch, 'trainImagesPerSec'), infer: best(torch, 'inferImagesPerSec') };
console.log(JSON.stringify({
  rounds,
  digits: { ...digits[0], trainImagesPerSec: d.train, inferImagesPerSec: d.infer, runs: digits.map((x) => [x.trainImagesPerSec, x.inferImagesPerSec]) },
  pytorch: { ...torch[0], trainImagesPerSec: t.train, inferImagesPerSec: t.infer, runs: torch.map((x) => [x.trainImagesPerSec, x.inferImagesPerSec]), openblasThreads: peerEnv().OPENBLAS_NUM_THREADS },
  ratio: { train: +(d.train / t.train).toFixed(2), infer: +(d.infer / t.infer).toFixed(2) },
}));
