/**
 * Kernel-level benchmark of the seed model: a full training step (forward,
 * softmax cross-entropy, backward, Adam) composed directly from Backend
 * kernel calls with the seed model's shapes, and inference in big batches.
 * Prints one JSON object; nothing is asserted.
 *
 *   node dist/bench/seed-step.js [--backend native|wasm|reference] [--threads N] [--steps N]
 *                                [--batch-size N] [--infer-batch N] [--profile]
 *
 * The seed model (as the PyTorch peer, ../shared/bench/torch_peer.py):
 *   conv 3x3 1->32 valid + ReLU -> maxpool 2 -> conv 3x3 32->64 same + ReLU -> maxpool 2
 *   -> conv 3x3 64->128 valid + ReLU -> maxpool 2 -> flatten 512 -> dense 64 + ReLU -> dropout 0.2
 *   -> dense 128 + ReLU -> dropout 0.2 -> dense 10 -> softmax cross-entropy; Adam lr 1e-3.
 * The first conv's input gradient is not computed (nothing needs it), as in any framework.
 */
import { pathToFileURL } from 'node:url';
import type { Backend, ConvGeometry, PoolGeometry } from '../src/engine/backend.js';
import { convGeometry, poolGeometry } from '../src/engine/backend.js';
import { ReferenceBackend } from '../src/engine/reference.js';
import { loadNativeBackend } from '../src/engine/native.js';
import { loadWasmBackend } from '../src/engine/wasm.js';
import { Rng } from '../src/engine/rng.js';
import { benchProgram, intArg, oneOfArg } from './options.js';

/** Hook around every kernel call (for per-kernel timing); the default just calls. */
export type CallHook = (label: string, fn: () => void) => void;
const direct: CallHook = (_label, fn) => fn();

interface Param {
  name: string;
  p: Float32Array;
  g: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

function glorot(rng: Rng, fanIn: number, fanOut: number, len: number): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) a[i] = rng.range(-limit, limit);
  return a;
}

/** The seed model's buffers for one batch size, and its step composed from kernels. */
export class SeedNet {
  readonly batch: number;
  readonly g1: ConvGeometry;
  readonly g2: ConvGeometry;
  readonly g3: ConvGeometry;
  readonly q1: PoolGeometry;
  readonly q2: PoolGeometry;
  readonly q3: PoolGeometry;
  readonly params: Param[] = [];
  readonly x: Float32Array;
  readonly targets: Float32Array;
  private readonly b: Backend;
  private readonly rng: Rng;
  private readonly w: Record<string, Param> = {};
  // activations and their gradients
  private readonly a1; private readonly p1; private readonly am1; private readonly da1; private readonly dp1;
  private readonly a2; private readonly p2; private readonly am2; private readonly da2; private readonly dp2;
  private readonly a3; private readonly p3; private readonly am3; private readonly da3; private readonly dp3;
  private readonly h1; private readonly h1d; private readonly mask1; private readonly dh1;
  private readonly h2; private readonly h2d; private readonly mask2; private readonly dh2;
  private readonly logits; private readonly probs; private readonly dlogits;
  private step = 0;

  constructor(backend: Backend, batch: number, seed = 0) {
    this.b = backend;
    this.batch = batch;
    this.rng = new Rng(seed);
    const n = batch;
    this.g1 = convGeometry(n, 28, 28, 1, 3, 3, 32, 1, 1, 'valid');
    this.q1 = poolGeometry(n, 26, 26, 32, 2, 2, 2, 2);
    this.g2 = convGeometry(n, 13, 13, 32, 3, 3, 64, 1, 1, 'same');
    this.q2 = poolGeometry(n, 13, 13, 64, 2, 2, 2, 2);
    this.g3 = convGeometry(n, 6, 6, 64, 3, 3, 128, 1, 1, 'valid');
    this.q3 = poolGeometry(n, 4, 4, 128, 2, 2, 2, 2);
    const f = (len: number): Float32Array => new Float32Array(len);
    const param = (name: string, len: number, fanIn: number, fanOut: number, bias: boolean): void => {
      const p: Param = { name, p: bias ? f(len) : glorot(this.rng, fanIn, fanOut, len), g: f(len), m: f(len), v: f(len) };
      this.params.push(p);
      this.w[name] = p;
    };
    param('conv1/kernel', 9 * 32, 9, 9 * 32, false); param('conv1/bias', 32, 0, 0, true);
    param('conv2/kernel', 9 * 32 * 64, 9 * 32, 9 * 64, false); param('conv2/bias', 64, 0, 0, true);
    param('conv3/kernel', 9 * 64 * 128, 9 * 64, 9 * 128, false); param('conv3/bias', 128, 0, 0, true);
    param('dense1/kernel', 512 * 64, 512, 64, false); param('dense1/bias', 64, 0, 0, true);
    param('dense2/kernel', 64 * 128, 64, 128, false); param('dense2/bias', 128, 0, 0, true);
    param('dense3/kernel', 128 * 10, 128, 10, false); param('dense3/bias', 10, 0, 0, true);

    this.x = f(n * 28 * 28);
    for (let i = 0; i < this.x.length; i++) this.x[i] = this.rng.uniform() < 0.8 ? 0 : this.rng.uniform();
    this.targets = f(n * 10);
    for (let r = 0; r < n; r++) this.targets[r * 10 + Math.floor(this.rng.uniform() * 10)] = 1;

    this.a1 = f(n * 26 * 26 * 32); this.da1 = f(this.a1.length);
    this.p1 = f(n * 13 * 13 * 32); this.dp1 = f(this.p1.length); this.am1 = new Int32Array(this.p1.length);
    this.a2 = f(n * 13 * 13 * 64); this.da2 = f(this.a2.length);
    this.p2 = f(n * 6 * 6 * 64); this.dp2 = f(this.p2.length); this.am2 = new Int32Array(this.p2.length);
    this.a3 = f(n * 4 * 4 * 128); this.da3 = f(this.a3.length);
    this.p3 = f(n * 512); this.dp3 = f(this.p3.length); this.am3 = new Int32Array(this.p3.length);
    this.h1 = f(n * 64); this.h1d = f(n * 64); this.mask1 = f(n * 64); this.dh1 = f(n * 64);
    this.h2 = f(n * 128); this.h2d = f(n * 128); this.mask2 = f(n * 128); this.dh2 = f(n * 128);
    this.logits = f(n * 10); this.probs = f(n * 10); this.dlogits = f(n * 10);
  }

  private p(name: string): Param {
    return this.w[name]!;
  }

  /** Forward pass; with `train`, draws dropout masks (rate 0.2, inverted scaling). Leaves logits. */
  forward(train: boolean, k: CallHook = direct): void {
    const b = this.b;
    const n = this.batch;
    k('conv1.forward', () => b.conv2dForward(this.x, this.p('conv1/kernel').p, this.p('conv1/bias').p, this.a1, this.g1, 'relu'));
    k('pool1.forward', () => b.maxPool2dForward(this.a1, this.p1, this.am1, this.q1));
    k('conv2.forward', () => b.conv2dForward(this.p1, this.p('conv2/kernel').p, this.p('conv2/bias').p, this.a2, this.g2, 'relu'));
    k('pool2.forward', () => b.maxPool2dForward(this.a2, this.p2, this.am2, this.q2));
    k('conv3.forward', () => b.conv2dForward(this.p2, this.p('conv3/kernel').p, this.p('conv3/bias').p, this.a3, this.g3, 'relu'));
    k('pool3.forward', () => b.maxPool2dForward(this.a3, this.p3, this.am3, this.q3));
    k('dense1.forward', () => {
      b.matmul(this.p3, this.p('dense1/kernel').p, this.h1, n, 64, 512, false, false, false);
      b.biasActivation(this.h1, this.p('dense1/bias').p, n, 64, 'relu');
    });
    let d1 = this.h1;
    let d2 = this.h2;
    if (train) {
      k('dropout.masks (JS)', () => {
        for (let i = 0; i < this.mask1.length; i++) this.mask1[i] = this.rng.uniform() < 0.2 ? 0 : 1.25;
        for (let i = 0; i < this.mask2.length; i++) this.mask2[i] = this.rng.uniform() < 0.2 ? 0 : 1.25;
      });
      k('dropout1.forward', () => b.mul(this.h1, this.mask1, this.h1d));
      d1 = this.h1d;
    }
    k('dense2.forward', () => {
      b.matmul(d1, this.p('dense2/kernel').p, this.h2, n, 128, 64, false, false, false);
      b.biasActivation(this.h2, this.p('dense2/bias').p, n, 128, 'relu');
    });
    if (train) {
      k('dropout2.forward', () => b.mul(this.h2, this.mask2, this.h2d));
      d2 = this.h2d;
    }
    k('dense3.forward', () => {
      b.matmul(d2, this.p('dense3/kernel').p, this.logits, n, 10, 128, false, false, false);
      b.biasActivation(this.logits, this.p('dense3/bias').p, n, 10, 'linear');
    });
  }

  /** One training step; returns the loss. */
  trainStep(k: CallHook = direct): number {
    const b = this.b;
    const n = this.batch;
    this.forward(true, k);
    let loss = 0;
    k('softmaxCrossEntropy', () => {
      loss = b.softmaxCrossEntropy(this.logits, this.targets, this.probs, this.dlogits, n, 10);
    });
    // dense3: logits = h2d @ W3 + b3
    k('dense3.backward', () => {
      b.matmul(this.h2d, this.dlogits, this.p('dense3/kernel').g, 128, 10, n, true, false, false);
      b.biasGrad(this.dlogits, this.p('dense3/bias').g, n, 10);
      b.matmul(this.dlogits, this.p('dense3/kernel').p, this.dh2, n, 128, 10, false, true, false);
    });
    k('dropout2.backward', () => b.mul(this.dh2, this.mask2, this.dh2));
    k('dense2.backward', () => {
      b.activationBackward(this.dh2, this.h2, this.dh2, 'relu');
      b.matmul(this.h1d, this.dh2, this.p('dense2/kernel').g, 64, 128, n, true, false, false);
      b.biasGrad(this.dh2, this.p('dense2/bias').g, n, 128);
      b.matmul(this.dh2, this.p('dense2/kernel').p, this.dh1, n, 64, 128, false, true, false);
    });
    k('dropout1.backward', () => b.mul(this.dh1, this.mask1, this.dh1));
    k('dense1.backward', () => {
      b.activationBackward(this.dh1, this.h1, this.dh1, 'relu');
      b.matmul(this.p3, this.dh1, this.p('dense1/kernel').g, 512, 64, n, true, false, false);
      b.biasGrad(this.dh1, this.p('dense1/bias').g, n, 64);
      b.matmul(this.dh1, this.p('dense1/kernel').p, this.dp3, n, 512, 64, false, true, false);
    });
    k('pool3.backward', () => b.maxPool2dBackward(this.dp3, this.am3, this.da3, this.q3));
    k('relu3.backward', () => b.activationBackward(this.da3, this.a3, this.da3, 'relu'));
    k('conv3.backwardFilter', () => b.conv2dBackwardFilter(this.p2, this.da3, this.p('conv3/kernel').g, this.p('conv3/bias').g, this.g3));
    k('conv3.backwardInput', () => b.conv2dBackwardInput(this.da3, this.p('conv3/kernel').p, this.dp2, this.g3));
    k('pool2.backward', () => b.maxPool2dBackward(this.dp2, this.am2, this.da2, this.q2));
    k('relu2.backward', () => b.activationBackward(this.da2, this.a2, this.da2, 'relu'));
    k('conv2.backwardFilter', () => b.conv2dBackwardFilter(this.p1, this.da2, this.p('conv2/kernel').g, this.p('conv2/bias').g, this.g2));
    k('conv2.backwardInput', () => b.conv2dBackwardInput(this.da2, this.p('conv2/kernel').p, this.dp1, this.g2));
    k('pool1.backward', () => b.maxPool2dBackward(this.dp1, this.am1, this.da1, this.q1));
    k('relu1.backward', () => b.activationBackward(this.da1, this.a1, this.da1, 'relu'));
    k('conv1.backwardFilter', () => b.conv2dBackwardFilter(this.x, this.da1, this.p('conv1/kernel').g, this.p('conv1/bias').g, this.g1));
    this.step++;
    k('adam (12 tensors)', () => {
      const o = { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, step: this.step };
      for (const p of this.params) b.adamUpdate(p.p, p.g, p.m, p.v, o);
    });
    return loss;
  }

  /** Inference on the current x (no dropout), probabilities into probs. */
  infer(k: CallHook = direct): void {
    this.forward(false, k);
    k('softmax', () => this.b.softmax(this.logits, this.probs, this.batch, 10));
  }
}

export interface BenchArgs {
  backend: 'native' | 'wasm' | 'reference';
  threads?: number;
  steps?: number;
  batchSize: number;
  inferBatch: number;
  profile: boolean;
}

function parseArgs(): BenchArgs {
  return benchProgram('seed-step', 'one training step of the seed model, timed; prints one JSON object')
    .option('--backend <name>', 'native, wasm (the kernels as WebAssembly, one thread) or reference', oneOfArg('native', 'wasm', 'reference'), 'native')
    .option('--threads <n>', 'engine threads', intArg(1))
    .option('--steps <n>', 'steps (default: 300 native, 3 reference)', intArg(1))
    .option('--batch-size <n>', 'batch size', intArg(1), 32)
    .option('--infer-batch <n>', 'inference batch size', intArg(1), 1000)
    .option('--profile', 'time each group of kernel calls', false)
    .parse()
    .opts<BenchArgs>();
}

export function makeBackend(name: 'native' | 'wasm' | 'reference', threads?: number): Backend {
  if (name === 'reference') return new ReferenceBackend();
  const l = name === 'wasm' ? loadWasmBackend(threads ?? 1) : loadNativeBackend(threads);
  if (!l.ok) throw new Error(`${name} backend: ${l.reason}`);
  return l.backend;
}

function main(): void {
  const args = parseArgs();
  const backend = makeBackend(args.backend, args.threads);
  const steps = args.steps ?? (args.backend === 'native' ? 300 : args.backend === 'wasm' ? 30 : 3);
  const net = new SeedNet(backend, args.batchSize);
  const warm = args.backend === 'native' ? 20 : 1;
  for (let i = 0; i < warm; i++) net.trainStep();
  const t0 = performance.now();
  let loss = 0;
  for (let i = 0; i < steps; i++) loss = net.trainStep();
  const trainMs = performance.now() - t0;

  const inf = new SeedNet(backend, args.inferBatch);
  const inferReps = args.backend === 'native' ? 10 : 1;
  inf.infer();
  const t1 = performance.now();
  for (let i = 0; i < inferReps; i++) inf.infer();
  const inferMs = performance.now() - t1;

  // Single-image latency (in-process, batch 1).
  const one = new SeedNet(backend, 1);
  for (let i = 0; i < 10; i++) one.infer();
  const latReps = args.backend === 'native' ? 500 : 5;
  const t2 = performance.now();
  for (let i = 0; i < latReps; i++) one.infer();
  const latencyMs = (performance.now() - t2) / latReps;

  const out: Record<string, unknown> = {
    system: `digits kernels (${backend.name})`,
    model: 'seed',
    backend: backend.name,
    threads: backend.threads,
    batchSize: args.batchSize,
    steps,
    trainImagesPerSec: Math.round((steps * args.batchSize) / (trainMs / 1000) * 10) / 10,
    msPerStep: Math.round((trainMs / steps) * 1000) / 1000,
    inferBatch: args.inferBatch,
    inferImagesPerSec: Math.round((inferReps * args.inferBatch) / (inferMs / 1000) * 10) / 10,
    latencyMsBatch1: Math.round(latencyMs * 1000) / 1000,
    lastLoss: Math.round(loss * 1e4) / 1e4,
  };
  if (args.profile) {
    const totals = new Map<string, number>();
    const hook: CallHook = (label, fn) => {
      const t = performance.now();
      fn();
      totals.set(label, (totals.get(label) ?? 0) + performance.now() - t);
    };
    const pSteps = Math.max(1, Math.floor(steps / 2));
    const tp = performance.now();
    for (let i = 0; i < pSteps; i++) net.trainStep(hook);
    const total = performance.now() - tp;
    const rows = [...totals.entries()].sort((a, b) => b[1] - a[1]);
    out.profile = Object.fromEntries(rows.map(([l, ms]) => [l, {
      usPerStep: Math.round((ms / pSteps) * 1000),
      percent: Math.round((ms / total) * 1000) / 10,
    }]));
    out.profileUsPerStep = Math.round((total / pSteps) * 1000);
  }
  console.log(JSON.stringify(out));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
