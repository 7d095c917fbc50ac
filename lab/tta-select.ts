/**
 * Which test-time views to average (`--tta`), chosen on validation only. Each saved model held out
 * one fold of the fixed k-fold partition (`best-select.js --folds K --fold I --bn-pass --out DIR`);
 * it is scored on that fold's images alone, seen through every view of a fixed pool (shifts,
 * rotations, zooms), and every candidate set of views is scored by averaging the views' class
 * probabilities. The MNIST test images are never loaded.
 *
 *   node dist/lab/tta-select.js [--folds 5] [--threads N] 0=runs/kf/m0 1=runs/kf/m1 ...
 *
 * Prints one JSON object: per candidate set, its views, its errors and mean cross-entropy on each
 * fold given, and the sums over them.
 */
import { benchProgram, intArg } from '../bench/options.js';
import { loadNativeBackend } from '../src/engine/native.js';
import { loadMnist } from '../src/data/mnist.js';
import { countCorrect, crossEntropyOnProbs, datasetToTensors, takeRows } from '../src/nn/index.js';
import { viewImages } from '../src/nn/ensemble.js';
import { loadModel } from '../src/io/model-files.js';
import { foldRows } from './folds.js';

/** A view: a shift (pixels), a rotation (degrees) and a zoom (1: none) of every image. */
interface View { dx: number; dy: number; rotation: number; zoom: number }

const view = (dx: number, dy: number, rotation = 0, zoom = 1): View => ({ dx, dy, rotation, zoom });
const IDENTITY = [view(0, 0)];
const SHIFT4 = [view(1, 0), view(-1, 0), view(0, 1), view(0, -1)];
const DIAGONAL4 = [view(1, 1), view(1, -1), view(-1, 1), view(-1, -1)];
const SHIFT2PX = [view(2, 0), view(-2, 0), view(0, 2), view(0, -2)];
const ROT5 = [view(0, 0, 5), view(0, 0, -5)];
const ROT10 = [view(0, 0, 10), view(0, 0, -10)];
const ZOOM10 = [view(0, 0, 0, 0.9), view(0, 0, 0, 1.1)];

/** The candidate sets, fixed before any was scored (lab/best-preset.md, "Test-time views"). */
const CANDIDATES: Record<string, View[]> = {
  none: IDENTITY,
  'default (shifts of 1 px)': [...IDENTITY, ...SHIFT4],
  'shifts of 1 px with diagonals': [...IDENTITY, ...SHIFT4, ...DIAGONAL4],
  'shifts of 1 and 2 px': [...IDENTITY, ...SHIFT4, ...SHIFT2PX],
  'shifts + rotations of 5 deg': [...IDENTITY, ...SHIFT4, ...ROT5],
  'shifts + rotations of 10 deg': [...IDENTITY, ...SHIFT4, ...ROT10],
  'shifts + zooms of 10%': [...IDENTITY, ...SHIFT4, ...ZOOM10],
  'shifts + rotations of 5 deg + zooms': [...IDENTITY, ...SHIFT4, ...ROT5, ...ZOOM10],
  'shifts with diagonals + rotations of 5 deg + zooms': [...IDENTITY, ...SHIFT4, ...DIAGONAL4, ...ROT5, ...ZOOM10],
};

const program = benchProgram('tta-select', 'score sets of test-time views on k-fold validation (the test set is never loaded)')
  .option('--folds <k>', 'the number of folds of the partition the models held out', intArg(2), 5)
  .option('--threads <n>', 'engine threads (default: all cores)', intArg(1))
  .argument('<models...>', 'I=DIR: the model that held out fold I')
  .allowExcessArguments(true);
program.parse();
const { folds, threads } = program.opts<{ folds: number; threads?: number }>();
const specs = program.args.map((a) => {
  const m = /^(\d+)=(.+)$/.exec(a);
  if (m === null || Number(m[1]) >= folds) return program.error(`error: ${a}: expected I=DIR with I from 0 to ${folds - 1}`);
  return { fold: Number(m[1]), dir: m[2]! };
});

const nat = loadNativeBackend(threads);
if (!nat.ok) throw new Error(`native backend: ${nat.reason}`);
const { x, y } = datasetToTensors(await loadMnist('train'));
const key = (v: View): string => `${v.dx},${v.dy},${v.rotation},${v.zoom}`;
const pool = new Map<string, View>();
for (const set of Object.values(CANDIDATES)) for (const v of set) pool.set(key(v), v);

const perSet: Record<string, { views: number; errors: Record<number, number>; loss: Record<number, number> }> = {};
for (const name of Object.keys(CANDIDATES)) perSet[name] = { views: CANDIDATES[name]!.length, errors: {}, loss: {} };
const t0 = Date.now();
for (const s of specs) {
  const rows = foldRows(x.shape[0]!, folds, s.fold).validation;
  const n = rows.length;
  const xv = takeRows(x, rows);
  const yv = takeRows(y!, rows).data;
  const { model } = await loadModel(s.dir);
  model.setBackend(nat.backend);
  const probs = new Map<string, Float32Array>();
  for (const [k, v] of pool) probs.set(k, model.predict(viewImages(nat.backend, xv, v, v.zoom), { batchSize: 256 }).data);
  for (const [name, views] of Object.entries(CANDIDATES)) {
    const mean = new Float32Array(n * 10);
    for (const v of views) {
      const p = probs.get(key(v))!;
      for (let i = 0; i < mean.length; i++) mean[i] += p[i]! / views.length;
    }
    perSet[name]!.errors[s.fold] = n - countCorrect(mean, yv, n, 10);
    perSet[name]!.loss[s.fold] = Number(crossEntropyOnProbs(mean, yv, null, n, 10).toFixed(5));
  }
}
const sum = (r: Record<number, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
console.log(JSON.stringify({
  folds, scored: specs.map((s) => s.fold), seconds: (Date.now() - t0) / 1000,
  sets: Object.fromEntries(Object.entries(perSet).map(([name, r]) => [name, {
    ...r, totalErrors: sum(r.errors), meanLoss: Number((sum(r.loss) / specs.length).toFixed(5)),
    describe: CANDIDATES[name]!.map(key).join(' '),
  }])),
}));
