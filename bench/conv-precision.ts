/**
 * The conv kernels in fp32 and in bf16 (AMX tiles where the CPU has them), on the conv shapes of best
 * (M5), of the VGG model best had before, and of fast: forward, input gradient and filter gradient, native backend. Prints one
 * JSON object; nothing is asserted.
 *
 *   node dist/bench/conv-precision.js [--threads N] [--batch-size N] [--reps N]
 *
 * Per shape and precision: the minimum time of a call in milliseconds over --reps calls (the figure
 * to compare on a shared, noisy machine), and bf16's speed-up over fp32.
 */
import { convGeometry, type Precision } from '../src/engine/backend.js';
import { loadNativeBackend, nativeAmxAvailable } from '../src/engine/native.js';
import { Rng } from '../src/engine/rng.js';
import { benchProgram, intArg } from './options.js';

interface Args { threads?: number; batchSize: number; reps: number }

const args = benchProgram('conv-precision', 'conv kernels in fp32 and bf16 on the presets\' shapes (native backend); prints one JSON object')
  .option('--threads <n>', 'engine threads (default: all cores)', intArg(1))
  .option('--batch-size <n>', 'images per call', intArg(1), 64)
  .option('--reps <n>', 'timed calls per kernel', intArg(1), 30)
  .parse()
  .opts<Args>();

// [label, h, w, c, k, kernel, padding]: stride-1 convs of the presets
const shapes: [string, number, number, number, number, number, 'same' | 'valid'][] = [
  ['best (M5) conv 1 (1 -> 32, 5x5, 28x28)', 28, 28, 1, 32, 5, 'valid'],
  ['best (M5) conv 2 (32 -> 64, 5x5, 24x24)', 24, 24, 32, 64, 5, 'valid'],
  ['best (M5) conv 3 (64 -> 96, 5x5, 20x20)', 20, 20, 64, 96, 5, 'valid'],
  ['best (M5) conv 4 (96 -> 128, 5x5, 16x16)', 16, 16, 96, 128, 5, 'valid'],
  ['best (M5) conv 5 (128 -> 160, 5x5, 12x12)', 12, 12, 128, 160, 5, 'valid'],
  ['VGG conv 2 (32 -> 32, 3x3, 28x28)', 28, 28, 32, 32, 3, 'same'],
  ['VGG conv 4 (64 -> 64, 3x3, 14x14)', 14, 14, 64, 64, 3, 'same'],
  ['fast conv 2 (12 -> 24, 3x3, 14x14)', 14, 14, 12, 24, 3, 'same'],
];

const rng = new Rng(1);
const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.uniform() * 2 - 1);

function minMs(fn: () => void, reps: number): number {
  for (let i = 0; i < 3; i++) fn();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    fn();
    best = Math.min(best, performance.now() - t);
  }
  return Number(best.toFixed(3));
}

const backends = new Map<Precision, ReturnType<typeof loadNativeBackend>>();
for (const p of ['fp32', 'bf16'] as const) backends.set(p, loadNativeBackend(args.threads, p));
const rows = [];
for (const [label, h, w, c, k, ks, pad] of shapes) {
  const n = args.batchSize;
  const g = convGeometry(n, h, w, c, ks, ks, k, 1, 1, pad);
  const x = rand(n * h * w * c);
  const wt = rand(ks * ks * c * k);
  const b = rand(k);
  const dy = rand(n * g.outH * g.outW * k);
  const y = new Float32Array(dy.length);
  const dx = new Float32Array(x.length);
  const dw = new Float32Array(wt.length);
  const db = new Float32Array(k);
  const row: Record<string, unknown> = { shape: label, batch: n };
  for (const [p, l] of backends) {
    if (!l.ok) throw new Error(`native backend: ${l.reason}`);
    const be = l.backend;
    row[p] = {
      forwardMs: minMs(() => be.conv2dForward(x, wt, b, y, g, 'relu'), args.reps),
      inputGradMs: minMs(() => be.conv2dBackwardInput(dy, wt, dx, g), args.reps),
      filterGradMs: minMs(() => be.conv2dBackwardFilter(x, dy, dw, db, g), args.reps),
    };
  }
  const f = row.fp32 as Record<string, number>;
  const h16 = row.bf16 as Record<string, number>;
  row.bf16SpeedUp = Object.fromEntries(Object.keys(f).map((key) => [key, Number((f[key]! / h16[key]!).toFixed(2))]));
  rows.push(row);
}
const first = backends.get('fp32');
console.log(JSON.stringify({
  bench: 'conv-precision', amx: nativeAmxAvailable(), threads: first?.ok ? first.backend.threads : null, rows,
}, null, 1));
