/**
 * Where a preset's training step goes: per-layer forward and backward time,
 * the loss, the optimizer update and everything else, through the real
 * Sequential model (native backend, or the WebAssembly kernels with --backend wasm), on MNIST batches.
 * Prints one JSON object; nothing is asserted.
 *
 *   node dist/bench/preset-step.js [--preset fast] [--backend native|wasm] [--threads N] [--steps N] [--batch-size N]
 *                                  [--precision fp32|bf16|auto]
 *
 * Per entry: the minimum and median time per step in microseconds (compare
 * minimums on a shared, noisy machine), and `imagesPerSec` from the median
 * wall time of a whole step (trainOnBatch). For the layers that do arithmetic
 * (Conv2D, Dense): the multiply-adds of the pass as FLOPs (backward: the input
 * gradient and the weight gradient, twice the forward; a first layer that skips its input gradient
 * does half of that), the GFLOP/s achieved at the
 * minimum time, and its share of the machine's peak in the precision it runs in
 * (--peak-gflops; by default measured: the addon's multiply-add loop on the same threads, float32 FMAs or
 * bfloat16 pair dot products as the kernels use them; AMX bf16 from the clock), so that the next bottleneck
 * shows at a glance.
 */
import { readFileSync } from 'node:fs';
import { loadNativeBackend, nativeBf16Kernels, nativePeakGflops, type PrecisionChoice } from '../src/engine/native.js';
import { loadWasmAddon, loadWasmBackend } from '../src/engine/wasm.js';
import type { Precision } from '../src/engine/backend.js';
import { Tensor } from '../src/engine/tensor.js';
import { loadMnist } from '../src/data/mnist.js';
import { buildPreset, datasetToTensors } from '../src/nn/index.js';
import type { Layer } from '../src/nn/layer.js';
import { Option } from 'commander';
import { benchProgram, intArg } from './options.js';

interface Args {
  preset: string; backend: 'native' | 'wasm'; threads?: number; steps: number; batchSize?: number; precision: PrecisionChoice; peakGflops?: number;
}

function parse(): Args {
  return benchProgram('preset-step', 'where a preset\'s training step goes, per layer (native backend); prints one JSON object')
    .option('--preset <name>', 'preset', 'fast')
    .addOption(new Option('--backend <name>', 'the kernels: native, or wasm (the WebAssembly module, one thread)').choices(['native', 'wasm']).default('native'))
    .option('--threads <n>', 'engine threads (default: all cores)', intArg(1))
    .option('--steps <n>', 'timed steps', intArg(1), 200)
    .option('--batch-size <n>', 'batch size (default: the preset\'s)', intArg(1))
    .option('--precision <p>', 'conv precision: fp32, bf16 or auto (bf16 where the CPU computes in bfloat16)', 'fp32')
    .option('--peak-gflops <g>', 'the machine\'s peak GFLOP/s in this precision (default: measured on the same threads; AMX bf16 from the clock)', intArg(1))
    .parse()
    .opts<Args>();
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const args = parse();
  const nat = args.backend === 'wasm' ? loadWasmBackend(args.threads ?? 1, args.precision) : loadNativeBackend(args.threads, args.precision);
  if (!nat.ok) throw new Error(`${args.backend} backend: ${nat.reason}`);
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
  const peak = args.peakGflops ?? (args.backend === 'wasm' ? wasmPeakGflops() : machinePeakGflops(nat.backend.threads, nat.backend.precision));
  const flops = layerFlops(layers, model.inputShape!, batch);
  const rows = [...times.entries()].map(([part, us]) => {
    const minUs = Math.min(...us);
    const f = flops.get(part);
    const gflops = f === undefined ? undefined : f / (minUs * 1e3);
    return {
      part, minUs: Math.round(minUs), medianUs: Math.round(median(us)),
      ...(f === undefined ? {} : { mflop: +(f / 1e6).toFixed(1), gflopsPerSec: +gflops!.toFixed(1), peakPercent: +((100 * gflops!) / peak).toFixed(1) }),
    };
  });
  const step = rows.find((r) => r.part === 'step')!;
  console.log(JSON.stringify({
    preset: args.preset, backend: nat.backend.name, threads: nat.backend.threads, precision: nat.backend.precision, peakGflops: Math.round(peak),
    batchSize: batch, steps: args.steps,
    imagesPerSec: Math.round(batch / (step.medianUs / 1e6)), imagesPerSecBest: Math.round(batch / (step.minUs / 1e6)),
    rows,
  }, null, 1));
}

/**
 * FLOPs (two a multiply-add) of each Conv2D and Dense pass for one batch, by the labels the timers use:
 * forward as the layer computes it, backward twice that (the input gradient and the weight gradient).
 */
function layerFlops(layers: Layer[], inputShape: readonly number[], batch: number): Map<string, number> {
  const out = new Map<string, number>();
  let shape = [...inputShape];
  for (const layer of layers) {
    const c = layer.getConfig() as { kernel_size?: number[]; filters?: number; units?: number };
    const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
    let forward: number | null = null;
    if (layer.className === 'Conv2D' && c.kernel_size && c.filters) {
      const [h, w] = layer.outputShape!;
      forward = 2 * batch * h! * w! * c.filters * c.kernel_size[0]! * c.kernel_size[1]! * shape[2]!;
    } else if (layer.className === 'Dense' && c.units) {
      forward = 2 * batch * size(shape) * c.units;
    }
    if (forward !== null) {
      out.set(`${layer.name}.forward`, forward);
      out.set(`${layer.name}.backward`, 2 * forward);
    }
    shape = [...layer.outputShape!];
  }
  return out;
}

/** The WebAssembly module's own multiply-add peak on one thread (its first run warms the engine's compiler). */
function wasmPeakGflops(): number {
  const loaded = loadWasmAddon();
  if ('error' in loaded) throw new Error(loaded.error);
  loaded.addon.peakGflops(0);
  return loaded.addon.peakGflops(0);
}

/**
 * The peak the kernels of this precision can reach: measured by the addon (float32 FMAs, or bfloat16
 * pair dot products where the bf16 kernels use them); on AMX tiles, which that loop does not measure,
 * threads × clock (GHz, from /proc/cpuinfo, else 2.6) × 1,024 FLOP a cycle.
 */
function machinePeakGflops(threads: number, precision: Precision): number {
  if (precision === 'bf16' && nativeBf16Kernels() === 'amx') {
    let ghz = 2.6;
    try {
      const mhz = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
      if (mhz !== undefined) ghz = Number(mhz) / 1000;
    } catch {
      // not Linux: the default clock
    }
    return threads * ghz * 1024;
  }
  return nativePeakGflops(precision)!;
}

await main();
