/**
 * Digits against PyTorch 2 on the same cores, back to back in one run: the seed model's training
 * (batch 32) and inference (batch 1000) throughput in float32 and in bf16, each side at its best.
 * Digits runs `digits bench --json --precision fp32|bf16`; the peer (bench/peer.ts) runs every
 * configuration of its arithmetic (float32: plain, channels_last, torch.compile; bf16: autocast with
 * channels_last, and with torch.compile too), and each figure takes its best configuration. Every
 * measurement is repeated --rounds times, the best kept, since these machines are shared and noisy.
 * Prints one JSON object: a row per figure with both sides, the peer's configuration and the ratio.
 *
 *   node dist/bench/compare.js [--rounds N] [--steps N] [--threads N] [--peer PATH] [--python PATH]
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { benchProgram, intArg } from './options.js';
import { DIGITS_CLI, MNIST_DIR, ROOT, fail, peerEnv, resolvePeer, threadArgs as peerThreadArgs, withPeerOptions, type PeerOptions } from './peer.js';

const values = withPeerOptions(benchProgram('compare', 'Digits vs PyTorch 2, back to back, fp32 and bf16, best of --rounds; prints one JSON object')
  .option('--rounds <n>', 'rounds (the best of each side is kept)', intArg(1), 2)
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
  if (r.status !== 0) fail('compare', `${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) fail('compare', `${cmd}: no JSON in its output`);
  return JSON.parse(line) as Figures;
}

const peer = resolvePeer('compare', values);
const threads = peerThreadArgs(values);
const steps = ['--steps', String(values.steps)];
const precisions = ['fp32', 'bf16'] as const;
/** The peer's configurations for each arithmetic: its flags. */
const PEER_CONFIGS: Record<(typeof precisions)[number], string[][]> = {
  fp32: [[], ['--channels-last'], ['--compile']],
  bf16: [['--amp', 'bf16', '--channels-last'], ['--amp', 'bf16', '--channels-last', '--compile']],
};

type Kind = 'trainImagesPerSec' | 'inferImagesPerSec';
const rows: Record<string, unknown>[] = [];
const raw: Record<string, unknown> = {};
for (const precision of precisions) {
  const digits: Figures[] = [];
  const torch: { flags: string[]; figures: Figures }[] = [];
  for (let r = 0; r < values.rounds; r++) {
    digits.push(runJson(process.execPath, [DIGITS_CLI, 'bench', '--json', '--precision', precision, ...steps, ...threads]));
    for (const flags of PEER_CONFIGS[precision]) {
      torch.push({ flags, figures: runJson(peer.python, [peer.script, '--mnist-dir', MNIST_DIR, ...flags, ...steps, ...threads], peerEnv(peer)) });
    }
  }
  raw[precision] = { digits: digits.map((d) => [d.trainImagesPerSec, d.inferImagesPerSec]), pytorch: torch.map((t) => [t.flags.join(' ') || 'plain', t.figures.trainImagesPerSec, t.figures.inferImagesPerSec]) };
  for (const [kind, figure] of [['trainImagesPerSec', 'seed model training, batch 32'], ['inferImagesPerSec', 'seed model inference, batch 1000']] as [Kind, string][]) {
    const ours = Math.max(...digits.map((d) => d[kind]));
    const best = torch.reduce((a, b) => (b.figures[kind] > a.figures[kind] ? b : a));
    rows.push({
      figure: `${figure}, ${precision}`, unit: 'images/s', digits: Math.round(ours), pytorch: Math.round(best.figures[kind]),
      pytorchConfig: best.flags.join(' ') || 'plain', ratio: +(ours / best.figures[kind]).toFixed(2),
    });
  }
}
// how Digits' bf16 rows computed: 'amx', 'avx512-bf16' or 'rounding' (asked in a child: the addon stays out of this process)
const bf16Kernels = spawnSync(process.execPath, ['-e', `import(${JSON.stringify(`${ROOT}/dist/src/engine/native.js`)}).then((m) => console.log(m.nativeBf16Kernels()))`],
  { encoding: 'utf8' }).stdout.trim();
console.log(JSON.stringify({
  machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism(), bf16Kernels, threads: values.threads ?? os.availableParallelism() },
  peer: { version: `pytorch ${peer.version}`, python: peer.python },
  rounds: values.rounds, steps: values.steps, rows, runs: raw,
}));
