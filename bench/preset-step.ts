/**
 * Where a preset's training step goes: per-layer forward and backward time,
 * the loss, the optimizer update and everything else, through the real
 * Sequential model (native backend), on MNIST batches. Prints one JSON object;
 * nothing is asserted.
 *
 *   node dist/bench/preset-step.js [--preset fast] [--threads N] [--steps N] [--batch-size N] [--precision fp32|bf16|auto]
 *
 * Per entry: the minimum and median time per step in microseconds (compare
 * minimums on a shared, noisy machine), and `imagesPerSec` from the median
 * wall time of a whole step (trainOnBatch).
 */
import { loadNativeBackend, type PrecisionChoice } from '../src/engine/native.js';
import { Tensor } from '../src/engine/tensor.js';
import { loadMnist } from '../src/data/mnist.js';
import { buildPreset, datasetToTensors } from '../src/nn/index.js';
import type { Layer } from '../src/nn/layer.js';
import { benchProgram, intArg } from './options.js';

interface Args { preset: string; threads?: number; steps: number; batchSize?: number; precision: PrecisionChoice }

function parse(): Args {
  return benchProgram('preset-step', 'where a preset\'s training step goes, per layer (native backend); prints one JSON object')
    .option('--preset <name>', 'preset', 'fast')
    .option('--threads <n>', 'engine threads (default: all cores)', intArg(1))
    .option('--steps <n>', 'timed steps', intArg(1), 200)
    .option('--batch-size <n>', 'batch size (default: the preset\'s)', intArg(1))
    .option('--precision <p>', 'conv precision: fp32, bf16 or auto (bf16 where the CPU has AMX)', 'fp32')
    .parse()
    .opts<Args>();
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const args = parse();
  const nat = loadNativeBackend(args.threads, args.precision);
  if (!nat.ok) throw new Error(`native backend: ${nat.reason}`);
  const { model, training } = buildPreset(args.preset, 0);
  model.setBackend(nat.backend);
  const batch = args.batchSize ?? training.batchSize;
  const data = await loadMnist('train', { limit: batch * 16 });
  const { x, y } = datasetToTensors(data);

  // wrap each layer's forward/backward with a timer
  const current = new Map<string, number>();
  const add = (label: string, us: number): void => { current.set(label, (current.get(label) ?? 0) + us); };
  const timed = <T extends unknown[], R>(label: string, fn: (...a: T) => R) => (...a: T): R => {
    const t = performance.now();
    const r = fn(...a);
    add(label, (performance.now() - t) * 1000);
    return r;
  };
  const layers = model.layers as (Layer & Record<string, unknown>)[];
  for (const layer of layers) {
    // a conv's backward calls its own backwardFromLogits: time that only where the model calls it (the softmax layer)
    // a conv fused with the max pool after it (forwardPooled/backwardPooled) is timed as the conv, pool included;
    // a BatchNormalization fused with the ReLU after it (forwardRelu/backwardRelu) as the BatchNormalization
    for (const m of ['forward', layer === layers[layers.length - 1] ? 'backwardFromLogits' : 'backward', 'forwardPooled', 'backwardPooled', 'forwardRelu', 'backwardRelu'] as const) {
      const f = layer[m];
      if (typeof f === 'function') layer[m] = timed(`${layer.name}.${m.startsWith('forward') ? 'forward' : 'backward'}`, f.bind(layer));
    }
  }
  const opt = model.optimizer!;
  opt.step = timed('optimizer.step', opt.step.bind(opt));

  const batches: [Tensor, Tensor][] = [];
  const rowsOf = (t: Tensor, from: number): Tensor => {
    const per = t.size / t.shape[0]!;
    return new Tensor([batch, ...t.shape.slice(1)], t.data.slice(from * per, (from + batch) * per));
  };
  for (let b = 0; b < 16; b++) batches.push([rowsOf(x, b * batch), rowsOf(y!, b * batch)]);
  for (let s = 0; s < 10; s++) model.trainOnBatch(...batches[s % 16]!);
  const times = new Map<string, number[]>();
  for (let s = 0; s < args.steps; s++) {
    current.clear();
    const t = performance.now();
    model.trainOnBatch(...batches[s % 16]!);
    const total = (performance.now() - t) * 1000;
    let inside = 0;
    for (const [l, us] of current) {
      inside += us;
      (times.get(l) ?? times.set(l, []).get(l)!).push(us);
    }
    (times.get('other (loss, gather, checks)') ?? times.set('other (loss, gather, checks)', []).get('other (loss, gather, checks)')!).push(total - inside);
    (times.get('step') ?? times.set('step', []).get('step')!).push(total);
  }
  const rows = [...times.entries()].map(([part, us]) => ({ part, minUs: Math.round(Math.min(...us)), medianUs: Math.round(median(us)) }));
  const step = rows.find((r) => r.part === 'step')!;
  console.log(JSON.stringify({
    preset: args.preset, backend: nat.backend.name, threads: nat.backend.threads, batchSize: batch, steps: args.steps,
    imagesPerSec: Math.round(batch / (step.medianUs / 1e6)), imagesPerSecBest: Math.round(batch / (step.minUs / 1e6)),
    rows,
  }, null, 1));
}

await main();
