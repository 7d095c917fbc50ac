/**
 * Recipe selection for the `best` preset, on validation only: trains the preset's
 * architecture with some training settings changed, on the 60,000 MNIST training
 * images with a seeded validation split (10% by default) held out, and prints one JSON
 * line with the settings, the validation accuracy and loss after every epoch, the
 * training seconds and the machine's load. The MNIST test images are never loaded.
 *
 *   node dist/lab/best-select.js [--seed 0] [--epochs 18] [--elastic-alpha 0] [--elastic-sigma 5]
 *        [--rotation 10] [--zoom 0.1] [--shift 2] [--batch-size 64] [--max-lr 0.003] [--label-smoothing 0] [--sam 0] [--split 0.1] [--threads N]
 *        [--ema 0.999,0.9998] [--swa-from EPOCH] [--bn-pass] [--folds K --fold I] [--normalize deskew|width:W]
 *
 * --ema and --swa-from also keep averages of the weights during the same run (exponential moving averages
 * with the given decays; the plain mean of the epoch-end weights from a 1-based epoch on) and score each on the
 * same validation rows after training: a paired comparison with the raw weights, free of seed noise.
 * --bn-pass scores each of them (and the raw weights) a second time, as "… +bn", after a pass over the
 * training rows recomputes BatchNorm's moving statistics (Sequential.recomputeBatchNormStatistics).
 *
 * --folds K --fold I (k-fold selection): instead of a seeded split, hold out fold I (0-based) of one fixed
 * partition of the 60,000 images into K parts (the partition does not depend on --seed), and train on the
 * other K - 1. Run every fold of a candidate and sum `valErrors` (and each average's `errors`): every
 * training image is then held out once, a standard error of ~0.025% instead of ~0.08% for 6,000 images.
 *
 * --normalize: every image (trained on and held out) normalized first (src/nn/normalize.ts): deskewed, or its
 * bounding box scaled to W pixels wide. A model saved with --out must be given images normalized the same way.
 *
 * Unset options keep the preset's values, except the split: 10% unless --split says otherwise (best itself
 * trains on all 60,000 images). `--out DIR` also saves the trained model there. valAccuracy is the raw weights'
 * after each epoch; `averaged` holds the weight averages' scores after the last, the preset's own (best's EMA)
 * as "preset". With --bn-pass the model saved is that average after the pass, as `digits train` makes it.
 */
import os from 'node:os';
import { Option } from 'commander';
import { benchProgram, intArg, numberArg } from '../bench/options.js';
import { loadNativeBackend, PRECISION_CHOICES, type PrecisionChoice } from '../src/engine/native.js';
import { loadMnist } from '../src/data/mnist.js';
import {
  BatchNormalization, WeightAveraging, takeRows, validationSplitIndices, Activation, Dense, Dropout, Flatten, MaxPooling2D, Sequential,
  buildPreset, datasetToTensors, presetCallbacks, presetFitOptions, presetOptimizer, type Layer,
} from '../src/nn/index.js';
import { anLayers, convBnRelu, M5_WIDTHS, m5Layers } from '../src/nn/presets.js';
import { M3_WIDTHS, M7_WIDTHS, vggLayers } from './architectures.js';
import { makeMetadata, saveModel } from '../src/io/model-files.js';
import { normalizeImages, normalizationName, parseNormalization, type Normalization } from './normalize.js';
import { FOLD_SEED, foldOptionsError, foldRows } from './folds.js';

const ARCHS = ['preset', 'vgg', 'c128', 'c128-drop', 'm5', 'm5h', 'm7', 'm3'] as const;
type Arch = (typeof ARCHS)[number];

const program = benchProgram('best-select', 'train a variant of a preset (best by default) and print its validation accuracy (the test set is never loaded)')
  .addOption(new Option('--preset <name>', 'preset to start from').default('best'))
  .addOption(new Option('--seed <n>', 'seed').argParser(intArg(0)).default(0))
  .addOption(new Option('--epochs <n>', 'epochs').argParser(intArg(1)))
  .addOption(new Option('--elastic-alpha <px>', 'elastic distortion scale (0: none)').argParser(numberArg(0, 1000)))
  .addOption(new Option('--elastic-sigma <px>', 'elastic distortion smoothness').argParser(numberArg(0.5, 100)).default(5))
  .addOption(new Option('--rotation <deg>', 'largest rotation').argParser(numberArg(0, 180)))
  .addOption(new Option('--zoom <f>', 'largest zoom').argParser(numberArg(0, 0.99)))
  .addOption(new Option('--shift <px>', 'largest shift').argParser(numberArg(0, 100)))
  .addOption(new Option('--batch-size <n>', 'batch size').argParser(intArg(1)))
  .addOption(new Option('--max-lr <lr>', 'one-cycle maximum rate').argParser(numberArg(1e-6, 10)))
  .addOption(new Option('--split <f>', 'validation split').argParser(numberArg(0.01, 0.95)))
  .addOption(new Option('--label-smoothing <f>', 'label smoothing of the targets').argParser(numberArg(0, 0.5)))
  .addOption(new Option('--sam <rho>', 'sharpness-aware minimization with this radius (0: off)').argParser(numberArg(0, 10)))
  .addOption(new Option('--threads <n>', 'engine threads').argParser(intArg(1)))
  .addOption(new Option('--precision <p>', 'conv arithmetic (auto: bf16 where the CPU has AMX tiles)').choices([...PRECISION_CHOICES]).default('auto'))
  .addOption(new Option('--arch <name>', 'architecture: the preset\'s, or a candidate of lab/best-preset.md').choices([...ARCHS]).default('preset'))
  .addOption(new Option('--ema <decays>', 'also score exponential moving averages of the weights (comma-separated decays)')
    .argParser((v: string) => v.split(',').map((d) => numberArg(0.5, 0.999999)(d))))
  .addOption(new Option('--swa-from <epoch>', 'also score the mean of the epoch-end weights from this 1-based epoch on').argParser(intArg(1)))
  .addOption(new Option('--bn-pass', 'also score the raw weights and each average with BatchNorm\'s statistics recomputed over the training rows'))
  .addOption(new Option('--folds <k>', 'k-fold selection: a fixed partition of the images into K folds (with --fold)').argParser(intArg(2)).conflicts('split'))
  .addOption(new Option('--fold <i>', 'the 0-based fold held out, with --folds').argParser(intArg(0)))
  .addOption(new Option('--normalize <how>', 'normalize every image first: deskew, or width:W (the bounding box stretched to W pixels)').argParser(parseNormalization))
  .addOption(new Option('--out <dir>', 'save the model the preset gives here (its average, after the pass with --bn-pass)'));
const opts = program
  .parse()
  .opts<{ preset: string; seed: number; epochs?: number; elasticAlpha?: number; elasticSigma: number; rotation?: number;
    zoom?: number; shift?: number; batchSize?: number; maxLr?: number; split?: number; labelSmoothing?: number; sam?: number; threads?: number; precision: PrecisionChoice; out?: string;
    ema?: number[]; swaFrom?: number; bnPass?: boolean; folds?: number; fold?: number; arch: Arch;
    normalize?: Normalization }>();

/**
 * Candidate architectures (lab/best-preset.md). vgg: the model best had before M5 (every row before the M5
 * section ran it as the preset). c128: vgg's two blocks, then a third (conv 3x3 128, BatchNorm, ReLU, max pool
 * 7 -> 3) before dense 256, so the dense layer reads 1,152 values instead of 3,136 (+15% arithmetic).
 * c128-drop: the same with dropout 0.25 after the first two pools.
 *
 * m5: An et al.'s M5 (now the preset's own model): five 'valid' 5x5 convolutions of 32, 64, 96, 128 and 160
 * filters with BatchNorm and ReLU, no pooling, dense 10 -> BatchNorm -> softmax. m5h: the same at half the
 * width (16 to 80 filters). m7: their M7, four 'valid' 7x7 convolutions of 48, 96, 144 and 192 filters, the
 * same otherwise (an ensemble partner for M5 that differs by more than a seed). m3: their M3, ten 'valid' 3x3
 * convolutions of 32 to 176 filters in steps of 16 (28 -> 8), the same otherwise (another such partner).
 */
function candidateLayers(arch: Exclude<Arch, 'preset'>): Layer[] {
  if (arch === 'm5' || arch === 'm5h') return m5Layers(arch === 'm5' ? M5_WIDTHS : M5_WIDTHS.map((w) => w / 2));
  if (arch === 'm7') return anLayers(7, M7_WIDTHS);
  if (arch === 'm3') return anLayers(3, M3_WIDTHS);
  if (arch === 'vgg') return vggLayers();
  const drop = (): Layer[] => (arch === 'c128-drop' ? [new Dropout({ rate: 0.25 })] : []);
  return [
    ...convBnRelu(32, { inputShape: [28, 28, 1], momentum: 0.9 }), ...convBnRelu(32, { momentum: 0.9 }),
    new MaxPooling2D({ poolSize: 2 }), ...drop(),
    ...convBnRelu(64, { momentum: 0.9 }), ...convBnRelu(64, { momentum: 0.9 }),
    new MaxPooling2D({ poolSize: 2 }), ...drop(),
    ...convBnRelu(128, { momentum: 0.9 }),
    new MaxPooling2D({ poolSize: 2 }),
    new Flatten(),
    new Dense({ units: 256, activation: 'linear', useBias: false }), new BatchNormalization({ momentum: 0.9 }),
    new Activation({ activation: 'relu' }), new Dropout({ rate: 0.4 }),
    new Dense({ units: 10, activation: 'softmax' }),
  ];
}

const foldError = foldOptionsError(opts.folds, opts.fold);
if (foldError !== null) program.error(foldError);

const nat = loadNativeBackend(opts.threads, opts.precision);
if (!nat.ok) throw new Error(`native backend: ${nat.reason}`);
const built = buildPreset(opts.preset, opts.seed);
const { training } = built;
let model = built.model;
if (opts.arch !== 'preset') {
  model = new Sequential({ name: 'sequential', layers: candidateLayers(opts.arch) });
  model.build([28, 28, 1], opts.seed);
  model.compile({ optimizer: presetOptimizer(training), loss: training.loss, metrics: training.metrics });
}
model.setBackend(nat.backend);
if (opts.epochs !== undefined) training.epochs = opts.epochs;
if (opts.batchSize !== undefined) training.batchSize = opts.batchSize;
// always hold data out: this bench exists to compare on it (k-fold: the fold is given to fit as validation data)
training.validationSplit = opts.folds !== undefined ? 0 : opts.split ?? 0.1;
if (opts.labelSmoothing !== undefined) training.labelSmoothing = opts.labelSmoothing;
if (opts.sam !== undefined) training.sam = opts.sam;
if (opts.maxLr !== undefined && training.schedule?.name === 'oneCycle') training.schedule.maxLr = opts.maxLr;
const aug = training.augment ?? { rotation: 0, zoom: 0, shift: 0 };
if (opts.rotation !== undefined) aug.rotation = opts.rotation;
if (opts.zoom !== undefined) aug.zoom = opts.zoom;
if (opts.shift !== undefined) aug.shift = opts.shift;
if (opts.elasticAlpha !== undefined) {
  if (opts.elasticAlpha > 0) aug.elastic = { alpha: opts.elasticAlpha, sigma: opts.elasticSigma };
  else delete aug.elastic;
}
training.augment = aug;

const train = await loadMnist('train');
const { x, y } = datasetToTensors(train);
if (opts.normalize !== undefined) x.data.set(normalizeImages(x.data, opts.normalize));
const total = x.shape[0]!;
// The rows trained on and held out. With a split, fit draws it from the seed (as `digits train` does) and the
// same rows are found again here; with k folds, fit gets the fold as validation data and trains on the rest.
const kfold = opts.folds !== undefined ? { folds: opts.folds, fold: opts.fold! } : null;
const parts = kfold === null ? validationSplitIndices(total, training.validationSplit, opts.seed) : foldRows(total, kfold.folds, kfold.fold);
const vx = takeRows(x, parts.validation);
const vy = takeRows(y!, parts.validation);
const fitX = kfold === null ? x : takeRows(x, parts.train);
const fitY = kfold === null ? y! : takeRows(y!, parts.train);
// The preset's own averaging (best: an EMA) is scored like the others, beside the raw weights; the model saved
// with --out is the one the preset gives (its average when it has one).
const presetAveraging = training.averaging ?? null;
const averages = [
  ...(presetAveraging === null ? [] : [{ name: 'preset', cb: new WeightAveraging({ ...presetAveraging, applyOnTrainEnd: false }) }]),
  ...(opts.ema ?? []).map((decay) => ({ name: `ema ${decay}`, cb: new WeightAveraging({ decay, applyOnTrainEnd: false }) })),
  ...(opts.swaFrom === undefined ? [] : [{
    name: `swa from epoch ${opts.swaFrom}`, cb: new WeightAveraging({ mode: 'swa', startEpoch: opts.swaFrom - 1, applyOnTrainEnd: false }),
  }]),
];
const loadBefore = os.loadavg()[0]!;
const t0 = Date.now();
const h = await model.fit(fitX, fitY, {
  epochs: training.epochs, batchSize: training.batchSize, validationSplit: training.validationSplit, seed: opts.seed,
  ...(kfold === null ? {} : { validationData: [vx, vy] as [typeof vx, typeof vy] }),
  shuffle: true, callbacks: [...presetCallbacks({ ...training, averaging: null }), ...averages.map((a) => a.cb)], ...presetFitOptions(training),
});
const trainSeconds = (Date.now() - t0) / 1000;

// the training rows the BatchNorm pass runs over (--bn-pass): the fit's own, without the held-out ones
const passRows = opts.bnPass === true ? (kfold === null ? takeRows(x, parts.train) : fitX) : null;

const errorsOf = (accuracy: number): number => vx.shape[0]! - Math.round(accuracy * vx.shape[0]!);

/** The averaged weights scored on fit's validation rows, then the raw weights put back. */
function scoreAverages(): Record<string, { valAccuracy: number; valLoss: number; errors: number }> {
  const out: Record<string, { valAccuracy: number; valLoss: number; errors: number }> = {};
  if (averages.length === 0 && opts.bnPass !== true) return out;
  const raw = new Map(model.namedWeights().map(({ name, tensor }) => [name, new Float32Array(tensor.data)]));
  const check = model.evaluate(vx, vy, { batchSize: training.batchSize });
  if (check.accuracy !== h.history.val_accuracy!.at(-1)) throw new Error(`validation rows not found again: ${check.accuracy} vs ${h.history.val_accuracy!.at(-1)}`);
  const score = (name: string, w: Map<string, Float32Array>): void => {
    model.setNamedWeights(w);
    const v = model.evaluate(vx, vy, { batchSize: training.batchSize });
    out[name] = { valAccuracy: v.accuracy, valLoss: v.loss, errors: errorsOf(v.accuracy) };
    if (passRows === null) return;
    model.recomputeBatchNormStatistics(passRows, { batchSize: training.batchSize });
    const b = model.evaluate(vx, vy, { batchSize: training.batchSize });
    out[`${name} +bn`] = { valAccuracy: b.accuracy, valLoss: b.loss, errors: errorsOf(b.accuracy) };
  };
  if (passRows !== null) score('raw', raw);
  for (const a of averages) {
    const w = a.cb.averagedWeights();
    if (w !== null) score(a.name, w);
  }
  model.setNamedWeights(raw);
  return out;
}
const averaged = scoreAverages();
if (presetAveraging !== null) model.setNamedWeights(averages[0]!.cb.averagedWeights()!);
// with --bn-pass the model saved is the preset's as `digits train` makes it: its average, then the pass
if (passRows !== null && opts.out !== undefined) model.recomputeBatchNormStatistics(passRows, { batchSize: training.batchSize });
if (opts.out !== undefined) {
  await saveModel(model, opts.out, makeMetadata(model, {
    seed: opts.seed, history: h.history as Record<string, number[]>, trainedAt: new Date().toISOString(), backend: 'native',
  }));
}
console.log(JSON.stringify({
  preset: opts.preset, arch: opts.arch, ...(opts.normalize === undefined ? {} : { normalize: normalizationName(opts.normalize) }), params: model.countParams(), seed: opts.seed, threads: nat.backend.threads, precision: nat.backend.precision, training,
  ...(kfold === null ? {} : { kfold: { ...kfold, partitionSeed: FOLD_SEED } }), valRows: vx.shape[0],
  valAccuracy: h.history.val_accuracy, valLoss: h.history.val_loss, valErrors: errorsOf(h.history.val_accuracy!.at(-1)!), averaged, trainSeconds,
  load1: [Number(loadBefore.toFixed(2)), Number(os.loadavg()[0]!.toFixed(2))],
}));
