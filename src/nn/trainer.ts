/**
 * The trainer: fit (epochs of shuffled batches, validation, callbacks),
 * augmentation, label smoothing, sharpness-aware minimization, the training
 * state a fit can be resumed from bit for bit, one-batch training and the
 * BatchNorm statistics pass. It works on any model that offers the
 * TrainableModel surface (Sequential does); the model itself knows nothing of
 * epochs, schedules or checkpoints.
 *
 * One seeded Rng (the model's, reseeded by fit's `seed`) drives the
 * validation split, shuffling, augmentation and dropout, so a seed fixes a run
 * on a given backend. A fit can be stopped between batches (its `signal`) and
 * continued later from its training state (the `resume` option), ending with
 * the same weights as an uninterrupted fit: see io/checkpoint.ts for the files.
 */
import { DigitsError } from '../errors.js';
import type { Backend } from '../engine/backend.js';
import type { Rng } from '../engine/rng.js';
import { Tensor, shapeToString } from '../engine/tensor.js';
import type { Layer } from './layer.js';
import { EarlyStopping, type Callback, type CallbackModel, type EpochLogs } from './callbacks.js';
import { countCorrect } from './losses.js';
import type { Optimizer, WeightUpdate } from './optimizers.js';
import { parseAugment, randomAffineParams, randomElasticNoise, type AugmentOptions, type AugmentSettings } from './augment.js';
import { takeRows, validationSplitIndices } from './batches.js';
import { boolean, isObject, knownKeys, nonNegativeInt, numberInRange, positiveInt, showValue } from './validate.js';
import { shardArrays, type FitShard } from './shard.js';

/**
 * What the trainer needs of a model. Sequential implements it; the members it marks internal are
 * there for the trainer alone.
 */
export interface TrainableModel extends CallbackModel {
  readonly name: string;
  readonly layers: readonly Layer[];
  readonly rng: Rng;
  readonly backend: Backend;
  /** the optimizer compile set (null: not compiled) */
  readonly optimizer: Optimizer | null;
  /** whether a fit is running */
  readonly isTraining: boolean;
  /** check x [N, ...inputShape] (and y [N, classes]), building the model from x if needed; returns N */
  checkData(where: string, x: Tensor, y: Tensor | null): number;
  /** rows idx[from..from+n) of src (or rows from..from+n with idx null) in the model's batch buffer `key` */
  batch(src: Tensor, idx: Int32Array | null, from: number, n: number, key: string): Tensor;
  /** a scratch tensor [n, ...shape] of the model's, reused per key */
  scratch(key: string, n: number, shape: readonly number[]): Tensor;
  /** the batch through every layer (training: dropout on, what backward needs saved) */
  forwardBatch(x: Tensor, training: boolean): Tensor;
  /** loss of the batch just run forward, the probabilities, and the output gradient when asked */
  lossOnBatch(out: Tensor, y: Tensor, wantGrad: boolean): { loss: number; probs: Tensor; dout: Tensor | null; fused: boolean };
  /** backward through every layer, leaving each parameter's gradient */
  backwardBatch(dout: Tensor, fused: boolean, training: boolean): void;
  /** what the optimizer updates: the trainable weights with their gradients */
  trainableUpdates(): WeightUpdate[];
  /** every weight, trainable or not, in manifest order */
  allWeights(): Tensor[];
  evaluate(x: Tensor, y: Tensor, opts?: { batchSize?: number }): { loss: number; accuracy: number };
  /** a fit starts (the model refuses what may not happen meanwhile, and keeps `run` for its trainingState) */
  beginFit(run: FitRun): void;
  /** the fit ends; `keepState`: it was interrupted, and its trainingState stays available */
  endFit(keepState: boolean): void;
}

/** A fit in progress (or interrupted): its position, optimizer and SAM's scratch copies. */
export interface FitRun {
  readonly position: RunPosition;
  readonly optimizer: Optimizer;
  /** SAM's copy of every weight while its second pass runs (allocated on first use) */
  samSaved: Float32Array[] | null;
  /** the state to resume from, as trainingState() gives it */
  state(): TrainingState;
}

/** A layer whose statistics a pass can recompute (BatchNormalization). */
interface StatisticsPass {
  beginStatisticsPass(): void;
  endStatisticsPass(): void;
}

/** Options of fit, as Keras plus what Digits adds: augmentation, label smoothing, SAM, resuming and an abort signal. */
export interface FitOptions {
  /** default 1 */
  epochs?: number;
  /** default 32 */
  batchSize?: number;
  /** fraction held out for validation, chosen at random with the Rng (not Keras' "last fraction") */
  validationSplit?: number;
  /** explicit validation set; takes precedence over validationSplit (as Keras) */
  validationData?: [Tensor, Tensor];
  /** shuffle the training samples every epoch (default true) */
  shuffle?: boolean;
  /** reseed the model's Rng (split, shuffling, dropout) for this run */
  seed?: number;
  callbacks?: Callback[];
  /** random rotation/zoom/shift of each training batch (images [N, H, W, C]); validation data is never augmented */
  augment?: AugmentOptions;
  /** train on targets y * (1 - s) + s / classes (default 0) */
  labelSmoothing?: number;
  /**
   * Sharpness-aware minimization (Foret et al. 2021), with this radius rho (default 0: off). Every step
   * takes its gradient at the weights moved by rho along the batch's own normalized gradient, the
   * worst nearby point to first order, so training prefers flat minima. Each step costs two
   * forward and backward passes; the second pass leaves BatchNorm's moving statistics untouched.
   */
  sam?: number;
  /**
   * Continue a run from where `trainingState()` left it: same x, y, options
   * and callbacks (in the same order), and the model's weights as they were
   * when the state was taken. The run then ends with exactly the weights of
   * an uninterrupted one (same backend and threads).
   */
  resume?: TrainingState;
  /**
   * Checked before every batch: once aborted, fit stops at once (no epoch
   * end, no onTrainEnd) and resolves with `interrupted` set;
   * `trainingState()` then gives the state to resume from.
   */
  signal?: AbortSignal;
  /**
   * Data-parallel training: this fit is replica `index` of `count` running the same fit (same model,
   * weights, data, options and seed) in other threads, which `reduce` joins at every step. Each replica
   * runs forward and backward on its share of every batch (rows [n * index / count, n * (index + 1) /
   * count) of its n), so a step costs each about 1/count of the work. Not with `sam` or `augment`.
   */
  shard?: FitShard;
}

/** What fit returns: the epochs that ran and their loss and accuracy (and validation's), as Keras' History. */
export interface History {
  /** 0-based epoch numbers that ran */
  epoch: number[];
  history: { loss: number[]; accuracy: number[]; val_loss?: number[]; val_accuracy?: number[] };
  /** 0-based epoch at which EarlyStopping stopped training (absent: it ran all epochs) */
  stoppedEpoch?: number;
  /** 0-based epoch with EarlyStopping's best monitored value (absent without EarlyStopping) */
  bestEpoch?: number;
  /** set when fit's signal stopped it: the 0-based epoch and the batches of it done */
  interrupted?: { epoch: number; batch: number };
}

/**
 * Where a fit stands, enough to continue it bit for bit (see
 * `Sequential.trainingState`). The weights travel separately (a model file).
 */
export interface TrainingState {
  /** 0-based epoch to continue with */
  epoch: number;
  /** batches of that epoch already done (0: it has not started) */
  batch: number;
  epochs: number;
  batchSize: number;
  /** batches per epoch */
  steps: number;
  /** the model's Rng, and the own Rngs of layers that have one (Dropout with a seed), by layer name */
  rng: number[];
  layerRngs: Record<string, number[]>;
  /** the training rows in the current epoch's order (the next epoch's shuffle starts from it) */
  order: Int32Array;
  /** running sums of the unfinished epoch */
  lossSum: number;
  correct: number;
  seen: number;
  history: { epoch: number[]; history: History['history'] };
  stopTraining: boolean;
  optimizer: { className: string; learningRate: number; iterations: number; slots: { name: string; data: Float32Array }[] };
  /** each callback's class name and getState() (null without one), in fit's order */
  callbacks: { className: string; state: unknown }[];
  /**
   * the fit options that change what a batch trains on: augmentation (null: none), label smoothing and
   * SAM's radius (absent in states written before they were recorded: then not checked on resume)
   */
  fitOptions?: TrainingFitOptions;
}

/** What TrainingState.fitOptions records. */
export interface TrainingFitOptions {
  augment: AugmentSettings | null;
  labelSmoothing: number;
  sam: number;
}

/** The live position of a fit, read by trainingState(). */
export interface RunPosition {
  epoch: number;
  batch: number;
  epochs: number;
  batchSize: number;
  steps: number;
  order: Int32Array;
  lossSum: number;
  correct: number;
  seen: number;
  history: History;
  callbacks: Callback[];
  fitOptions: TrainingFitOptions;
}

/** fit's options, checked, with their defaults. */
interface FitSettings {
  epochs: number;
  batchSize: number;
  shuffle: boolean;
  callbacks: Callback[];
  augment: AugmentSettings | null;
  smoothing: number;
  sam: number;
  signal: AbortSignal | null;
  optimizer: Optimizer;
  /** rows of x */
  total: number;
  shard: FitShard | null;
}

/** Check fit's options and data (building the model from x if needed); reseeds the model's Rng with `seed`. */
function fitSettings(model: TrainableModel, x: Tensor, y: Tensor, opts: FitOptions): FitSettings & { split: number } {
  if (model.isTraining) throw new DigitsError('Sequential.fit: this model is already training (one fit at a time)');
  if (!isObject(opts as unknown)) throw new DigitsError(`Sequential.fit: options: expected an object, got ${showValue(opts)}`);
  knownKeys('Sequential.fit options', opts as Record<string, unknown>,
    ['epochs', 'batchSize', 'validationSplit', 'validationData', 'shuffle', 'seed', 'callbacks', 'augment', 'labelSmoothing', 'sam', 'resume', 'signal',
      'shard']);
  const optimizer = model.optimizer;
  if (optimizer === null) throw new DigitsError(`Sequential.fit: model "${model.name}" is not compiled (call compile({optimizer, loss, metrics}) first)`);
  const epochs = nonNegativeInt('Sequential.fit: epochs', opts.epochs ?? 1);
  const batchSize = positiveInt('Sequential.fit: batchSize', opts.batchSize ?? 32);
  const shuffle = boolean('Sequential.fit: shuffle', opts.shuffle ?? true);
  const split = numberInRange('Sequential.fit: validationSplit', opts.validationSplit ?? 0, 0, 1);
  const callbacks = opts.callbacks ?? [];
  if (!Array.isArray(callbacks)) throw new DigitsError(`Sequential.fit: callbacks: expected an array, got ${showValue(callbacks)}`);
  if (opts.seed !== undefined) {
    if (!Number.isInteger(opts.seed)) throw new DigitsError(`Sequential.fit: seed: expected an integer, got ${showValue(opts.seed)}`);
  }
  const augment = opts.augment === undefined ? null : parseAugment('Sequential.fit: augment', opts.augment);
  const smoothing = numberInRange('Sequential.fit: labelSmoothing', opts.labelSmoothing ?? 0, 0, 1);
  const sam = numberInRange('Sequential.fit: sam', opts.sam ?? 0, 0, 10);
  const signal = opts.signal ?? null;
  const total = model.checkData('Sequential.fit', x, y);
  if (augment !== null && x.shape.length !== 4) {
    throw new DigitsError(`Sequential.fit: augment needs images [N, H, W, C], got x of shape ${shapeToString(x.shape)}`);
  }
  const shard = opts.shard ?? null;
  if (shard !== null) {
    if (!isObject(shard as unknown) || typeof shard.reduce !== 'function' || !Number.isInteger(shard.count) || shard.count < 1 ||
      !Number.isInteger(shard.index) || shard.index < 0 || shard.index >= shard.count) {
      throw new DigitsError(`Sequential.fit: shard: expected {index, count, reduce} with 0 <= index < count, got ${showValue(shard)}`);
    }
    // both draw random numbers per row, which the replicas would then draw apart
    if (sam > 0 || augment !== null) throw new DigitsError('Sequential.fit: shard: not with sam or augment');
  }
  if (opts.seed !== undefined) model.rng.seed(opts.seed);
  return { epochs, batchSize, shuffle, split, callbacks, augment, smoothing, sam, signal, optimizer, total, shard };
}

/** The rows fit trains on, and the validation set: given data, or a seeded random fraction of x held out. */
function holdOut(model: TrainableModel, x: Tensor, y: Tensor, opts: FitOptions, split: number, total: number):
  { trainIdx: Int32Array; valX: Tensor | null; valY: Tensor | null } {
  if (opts.validationData !== undefined) {
    const vd = opts.validationData;
    if (!Array.isArray(vd) || vd.length !== 2) throw new DigitsError(`Sequential.fit: validationData: expected [x, y], got ${showValue(vd)}`);
    model.checkData('Sequential.fit: validationData', vd[0], vd[1]);
    return { trainIdx: identity(total), valX: vd[0], valY: vd[1] };
  }
  if (split > 0) {
    const parts = validationSplitIndices(total, split, model.rng);
    return { trainIdx: parts.train, valX: takeRows(x, parts.validation), valY: takeRows(y, parts.validation) };
  }
  return { trainIdx: identity(total), valX: null, valY: null };
}

/** A fit under way: its settings, data and position. */
interface FitLoop extends FitSettings {
  model: TrainableModel;
  x: Tensor;
  y: Tensor;
  valX: Tensor | null;
  valY: Tensor | null;
  run: RunPosition;
  fitRun: FitRun;
  updates: WeightUpdate[];
  /** with a shard: the weights the optimizer does not train (moving statistics), which reduce averages */
  state: Float32Array[];
}

/**
 * Train. Per epoch: shuffle (with the Rng), run the batches (forward,
 * loss, backward, optimizer step), report loss/accuracy as the mean over the
 * epoch's samples (as Keras reports them), then validate with evaluate.
 * With `resume`, continue a run from a `trainingState()`; with `signal`,
 * stop cleanly before the next batch once it is aborted.
 */
export async function fit(model: TrainableModel, x: Tensor, y: Tensor, opts: FitOptions = {}): Promise<History> {
  const settings = fitSettings(model, x, y, opts);
  const { epochs, batchSize, callbacks, optimizer, total } = settings;
  const held = holdOut(model, x, y, opts, settings.split, total);
  const { valX, valY } = held;
  let trainIdx = held.trainIdx;

  const nTrain = trainIdx.length;
  const steps = Math.ceil(nTrain / batchSize);
  const fitOptions: TrainingFitOptions = { augment: settings.augment, labelSmoothing: settings.smoothing, sam: settings.sam };
  let history: History = { epoch: [], history: { loss: [], accuracy: [] } };
  if (valX !== null) {
    history.history.val_loss = [];
    history.history.val_accuracy = [];
  }
  const resume = opts.resume ?? null;
  if (resume !== null) {
    checkResume(resume, { epochs, batchSize, steps, total, trainIdx, callbacks, optimizer, layers: model.layers, fitOptions });
    trainIdx = new Int32Array(resume.order);
    history = { epoch: [...resume.history.epoch], history: copyHistory(resume.history.history) };
  }
  const early = callbacks.filter((c): c is EarlyStopping => c instanceof EarlyStopping);
  const run: RunPosition = {
    epoch: resume?.epoch ?? 0, batch: resume?.batch ?? 0, epochs, batchSize, steps, order: trainIdx,
    lossSum: resume?.lossSum ?? 0, correct: resume?.correct ?? 0, seen: resume?.seen ?? 0, history, callbacks, fitOptions,
  };
  const fitRun: FitRun = { position: run, optimizer, samSaved: null, state: () => trainingState(model, run, optimizer) };
  const updates = model.trainableUpdates();
  const loop: FitLoop = { ...settings, model, x, y, valX, valY, run, fitRun, updates, state: shardArrays(model).state };

  model.beginFit(fitRun);
  model.stopTraining = false;
  let interrupted = false;
  try {
    for (const cb of callbacks) cb.setModel?.(model);
    for (const cb of callbacks) await cb.onTrainBegin?.({
      epochs, batchSize, samples: nTrain, validationSamples: valX?.shape[0] ?? 0, stepsPerEpoch: steps,
    });
    if (resume !== null) restoreState(model, run, resume, optimizer);
    for (; run.epoch < epochs && !model.stopTraining; run.epoch++) {
      interrupted = await trainEpoch(loop);
      if (interrupted) break;
      await endEpoch(loop);
    }
    if (interrupted) {
      history.interrupted = { epoch: run.epoch, batch: run.batch };
    } else {
      for (const cb of callbacks) await cb.onTrainEnd?.({ epochs: history.epoch.length });
    }
  } finally {
    model.endFit(interrupted);
  }
  for (const es of early) {
    if (es.stoppedEpoch !== null) history.stoppedEpoch = es.stoppedEpoch;
    if (es.bestEpoch >= 0) history.bestEpoch = es.bestEpoch;
  }
  return history;
}

/**
 * The batches of the epoch `loop.run.epoch` from `loop.run.batch` on (an epoch that starts here
 * begins with its callbacks and its shuffle). Returns true when the signal stopped it.
 */
async function trainEpoch(loop: FitLoop): Promise<boolean> {
  const { model, x, y, run, callbacks, signal, batchSize, augment, smoothing } = loop;
  const epoch = run.epoch;
  const trainIdx = run.order;
  if (run.batch === 0) {
    // an epoch starts here (a resumed mid-epoch had its start before the state was taken)
    if (signal?.aborted) return true;
    for (const cb of callbacks) await cb.onEpochBegin?.(epoch);
    if (loop.shuffle) model.rng.shuffle(trainIdx);
    run.lossSum = 0;
    run.correct = 0;
    run.seen = 0;
  }
  while (run.batch < run.steps) {
    if (signal?.aborted) return true;
    const b = run.batch;
    const from = b * batchSize;
    const n = Math.min(batchSize, trainIdx.length - from);
    let loss: number;
    let c: number;
    if (loop.shard !== null) {
      ({ loss, correct: c } = await shardStep(loop, from, n, smoothing));
    } else {
      let xb = model.batch(x, trainIdx, from, n, 'x');
      const yb = model.batch(y, trainIdx, from, n, 'y');
      if (augment !== null) xb = augmentBatch(model, xb, augment);
      if (smoothing > 0) smoothTargets(yb.data, yb.shape[1]!, smoothing);
      ({ loss, correct: c } = step(model, xb, yb, loop.optimizer, loop.updates, loop.sam, loop.fitRun));
    }
    if (!Number.isFinite(loss)) {
      throw new DigitsError(`Sequential.fit: the loss became ${loss} at epoch ${epoch + 1}, batch ${b + 1} ` +
        '(training diverged: try a smaller learning rate)');
    }
    run.lossSum += loss * n;
    run.correct += c;
    run.seen += n;
    run.batch++;
    for (const cb of callbacks) await cb.onBatchEnd?.(b, { loss, accuracy: c / n, size: n });
    // Let timers and signal handlers run between batches (fit is async for a reason).
    await yieldToEventLoop();
    if (model.stopTraining) break;
  }
  return false;
}

/** An epoch's end: its logs (validation included), the history, and the callbacks' onEpochEnd. */
async function endEpoch(loop: FitLoop): Promise<void> {
  const { model, run, valX, valY } = loop;
  const epoch = run.epoch;
  const history = run.history;
  const logs: EpochLogs = { loss: run.lossSum / run.seen, accuracy: run.correct / run.seen };
  if (valX !== null && valY !== null) {
    const v = model.evaluate(valX, valY, { batchSize: loop.batchSize });
    logs.val_loss = v.loss;
    logs.val_accuracy = v.accuracy;
  }
  history.epoch.push(epoch);
  history.history.loss.push(logs.loss);
  history.history.accuracy.push(logs.accuracy);
  if (logs.val_loss !== undefined) {
    history.history.val_loss!.push(logs.val_loss);
    history.history.val_accuracy!.push(logs.val_accuracy!);
  }
  // the position callbacks see at the epoch's end: the next epoch, not started
  run.epoch++;
  run.batch = 0;
  try {
    for (const cb of loop.callbacks) await cb.onEpochEnd?.(epoch, logs);
  } finally {
    run.epoch--;
  }
}

/**
 * Everything but the weights that a fit needs to go on exactly where it
 * stands: position, Rng states, the epoch's sample order, the epoch's
 * running sums, history, optimizer state and the callbacks' states (copies).
 * Call it from a callback's onBatchEnd/onEpochEnd (at an epoch end the
 * position is the next epoch, not started), or after a fit its signal
 * interrupted. Give it back to fit as `resume`. (Sequential.trainingState asks the running fit.)
 */
function trainingState(model: TrainableModel, r: RunPosition, opt: Optimizer): TrainingState {
  const layerRngs: Record<string, number[]> = {};
  for (const l of model.layers) if (l.ownRng) layerRngs[l.name] = l.ownRng.getState();
  return {
    epoch: r.epoch,
    batch: r.batch,
    epochs: r.epochs,
    batchSize: r.batchSize,
    steps: r.steps,
    rng: model.rng.getState(),
    layerRngs,
    order: new Int32Array(r.order),
    lossSum: r.lossSum,
    correct: r.correct,
    seen: r.seen,
    history: { epoch: [...r.history.epoch], history: copyHistory(r.history.history) },
    stopTraining: model.stopTraining,
    optimizer: { className: opt.className, learningRate: opt.learningRate, ...opt.getState() },
    callbacks: r.callbacks.map((cb) => ({ className: cb.constructor.name, state: cb.getState?.() ?? null })),
    fitOptions: structuredClone(r.fitOptions),
  };
}

/** The non-weight state of a resumed run, after onTrainBegin (which resets what callbacks keep). */
function restoreState(model: TrainableModel, run: RunPosition, s: TrainingState, optimizer: Optimizer): void {
  model.rng.setState(s.rng);
  for (const l of model.layers) if (l.ownRng) l.ownRng.setState(s.layerRngs[l.name]!);
  run.callbacks.forEach((cb, i) => {
    const st = s.callbacks[i]!.state;
    if (st !== null) cb.setState?.(st);
  });
  // last: schedules set the rate from their restored step; the saved one is what the run had
  optimizer.setState({ iterations: s.optimizer.iterations, slots: s.optimizer.slots });
  optimizer.learningRate = s.optimizer.learningRate;
  model.stopTraining = s.stopTraining;
}

/**
 * A randomly rotated/zoomed/shifted (and, if asked, elastically distorted) copy of the image batch
 * xb [N, H, W, C] (parameters from the model's Rng).
 */
function augmentBatch(model: TrainableModel, xb: Tensor, a: AugmentSettings): Tensor {
  const [n, h, w, c] = xb.shape as [number, number, number, number];
  const params = model.scratch('augParams', n, [6]);
  randomAffineParams(model.rng, n, h, w, a, params.data);
  let disp: Float32Array | null = null;
  if (a.elastic) {
    const noise = model.scratch('augNoise', n, [h, w, 2]);
    randomElasticNoise(model.rng, n, h, w, noise.data);
    disp = model.scratch('augField', n, [h, w, 2]).data;
    model.backend.elasticField(noise.data, disp, n, h, w, a.elastic.sigma, a.elastic.alpha);
  }
  const out = model.scratch('xAug', n, [h, w, c]);
  model.backend.affineResample(xb.data, params.data, out.data, n, h, w, c, disp);
  return out;
}

/**
 * One training step on a batch: forward (training mode), loss, backward,
 * optimizer update. The first layer's input gradient is not computed:
 * nothing needs it. With `sam` > 0 the gradient the optimizer gets is
 * sharpness-aware (see FitOptions.sam); loss and accuracy stay the batch's
 * at the weights as they were.
 */
function step(model: TrainableModel, xb: Tensor, yb: Tensor, optimizer: Optimizer, updates: WeightUpdate[], sam = 0,
run: FitRun | null = null): { loss: number; correct: number } {
  const n = xb.shape[0]!;
  const out = model.forwardBatch(xb, true);
  const { loss, probs, dout, fused } = model.lossOnBatch(out, yb, true);
  if (!Number.isFinite(loss)) return { loss, correct: 0 };
  const correct = countCorrect(probs.data, yb.data, n, probs.size / n);
  model.backwardBatch(dout!, fused, true);
  if (sam > 0) {
    const perturbed = sharpnessAwareGradients(model, run!, xb, yb, updates, sam);
    if (!Number.isFinite(perturbed)) return { loss: perturbed, correct: 0 };
  }
  optimizer.step(updates, model.backend);
  return { loss, correct };
}

/**
 * A step of a data-parallel fit: forward and backward on this replica's share of the batch's `n` rows
 * from `from`, FitShard.reduce, then the optimizer on what it left (the same in every replica).
 */
async function shardStep(loop: FitLoop, from: number, n: number, smoothing: number): Promise<{ loss: number; correct: number }> {
  const { model, x, y, run, updates, shard } = loop;
  const lo = from + Math.floor((n * shard!.index) / shard!.count);
  const rows = from + Math.floor((n * (shard!.index + 1)) / shard!.count) - lo;
  let lossSum = 0;
  let correct = 0;
  if (rows > 0) {
    const xb = model.batch(x, run.order, lo, rows, 'x');
    const yb = model.batch(y, run.order, lo, rows, 'y');
    if (smoothing > 0) smoothTargets(yb.data, yb.shape[1]!, smoothing);
    const out = model.forwardBatch(xb, true);
    const r = model.lossOnBatch(out, yb, true);
    // a replica that diverged still joins reduce, so the others are not left waiting: the loss says so
    lossSum = r.loss * rows;
    if (Number.isFinite(r.loss)) {
      correct = countCorrect(r.probs.data, yb.data, rows, r.probs.size / rows);
      model.backwardBatch(r.dout!, r.fused, true);
    }
  } else {
    for (const u of updates) u.grad.fill(0);
  }
  const total = await shard!.reduce({ grads: updates.map((u) => u.grad), state: loop.state, rows, lossSum, correct });
  const loss = total.lossSum / total.rows;
  if (Number.isFinite(loss)) loop.optimizer.step(updates, model.backend);
  return { loss, correct: total.correct };
}

/**
 * SAM's second pass: move every trainable weight by rho * g / |g| (g: the gradients
 * backward just left, |g| their norm over all weights), run forward and backward again
 * there, and put the weights back; the gradients are then those at the moved point.
 * The moving statistics (and any other weight the optimizer does not train) are kept
 * as the first pass left them. Returns the loss at the moved point.
 */
function sharpnessAwareGradients(model: TrainableModel, run: FitRun, xb: Tensor, yb: Tensor, updates: WeightUpdate[], rho: number): number {
  let sq = 0;
  for (const u of updates) for (let i = 0; i < u.grad.length; i++) sq += u.grad[i]! * u.grad[i]!;
  const norm = Math.sqrt(sq);
  if (!(norm > 0)) return 0; // a zero gradient: no direction to climb, the plain step stands
  const scale = rho / norm;
  const weights = model.allWeights();
  if (run.samSaved === null) run.samSaved = weights.map((w) => new Float32Array(w.size));
  const saved = run.samSaved;
  weights.forEach((w, k) => saved[k]!.set(w.data));
  for (const u of updates) for (let i = 0; i < u.value.length; i++) u.value[i]! += scale * u.grad[i]!;
  let loss: number;
  try {
    const out = model.forwardBatch(xb, true);
    const second = model.lossOnBatch(out, yb, true);
    loss = second.loss;
    if (Number.isFinite(loss)) model.backwardBatch(second.dout!, second.fused, true);
  } finally {
    weights.forEach((w, k) => w.data.set(saved[k]!));
  }
  return loss;
}

/**
 * Keras' train_on_batch: one optimizer step on (x, y) taken whole as a
 * batch. Returns the batch's loss and accuracy (before the update).
 */
export function trainOnBatch(model: TrainableModel, x: Tensor, y: Tensor): { loss: number; accuracy: number } {
  if (model.isTraining) throw new DigitsError('Sequential.trainOnBatch: not while fit is running');
  const optimizer = model.optimizer;
  if (optimizer === null) throw new DigitsError(`Sequential.trainOnBatch: model "${model.name}" is not compiled (call compile first)`);
  const n = model.checkData('Sequential.trainOnBatch', x, y);
  const { loss, correct } = step(model, model.batch(x, null, 0, n, 'x'), model.batch(y, null, 0, n, 'y'),
    optimizer, model.trainableUpdates());
  if (!Number.isFinite(loss)) {
    throw new DigitsError(`Sequential.trainOnBatch: the loss became ${loss} (training diverged: try a smaller learning rate)`);
  }
  return { loss, accuracy: correct / n };
}

/**
 * Recompute every BatchNormalization layer's moving mean and variance from x, as PyTorch's
 * `torch.optim.swa_utils.update_bn`: x runs forward in batches, each BatchNormalization
 * normalizing with its batch's statistics as in training, and its moving statistics become the
 * plain mean of the batches' (not a momentum average). Dropout is off, as at inference, so the
 * statistics are those of what inference feeds each layer. For weights that no training step
 * produced, such as an average of weights (WeightAveraging), whose moving statistics are averages
 * of statistics that belonged to other weights. Nothing else changes. Returns the batches run.
 * `rows` (0-based row numbers of x, in the order to batch them) limits the pass to those rows,
 * e.g. the training rows of a split, without copying them out of x.
 */
export function recomputeBatchNormStatistics(model: TrainableModel, x: Tensor, opts: { batchSize?: number; rows?: Int32Array } = {}): number {
  const who = 'Sequential.recomputeBatchNormStatistics';
  if (model.isTraining) throw new DigitsError(`${who}: not while fit is running`);
  const count = model.checkData(who, x, null);
  const batchSize = positiveInt(`${who}: batchSize`, opts.batchSize ?? 64);
  const rows = opts.rows ?? null;
  if (rows !== null) {
    if (rows.length === 0) throw new DigitsError(`${who}: rows is empty; expected at least one row of x`);
    const bad = rows.findIndex((r) => !(r >= 0 && r < count));
    if (bad >= 0) throw new DigitsError(`${who}: rows[${bad}] = ${rows[bad]} is not a row of x (expected 0..${count - 1})`);
  }
  const total = rows?.length ?? count;
  const bns = model.layers.filter((l): l is Layer & StatisticsPass => typeof (l as Partial<StatisticsPass>).beginStatisticsPass === 'function');
  if (bns.length === 0) throw new DigitsError(`${who}: model "${model.name}" has no BatchNormalization layer`);
  for (const bn of bns) bn.beginStatisticsPass();
  let batches = 0;
  try {
    for (let from = 0; from < total; from += batchSize) {
      model.forwardBatch(model.batch(x, rows, from, Math.min(batchSize, total - from), 'x'), false);
      batches++;
    }
  } finally {
    for (const bn of bns) bn.endStatisticsPass();
  }
  return batches;
}

// ---------------------------------------------------------------------------------------------
// helpers

/** Label smoothing in place on one-hot (or probability) rows: t = t * (1 - s) + s / classes. */
function smoothTargets(t: Float32Array, classes: number, s: number): void {
  const add = s / classes;
  for (let i = 0; i < t.length; i++) t[i] = t[i]! * (1 - s) + add;
}

function copyHistory(h: History['history']): History['history'] {
  const out: History['history'] = { loss: [...h.loss], accuracy: [...h.accuracy] };
  if (h.val_loss !== undefined) out.val_loss = [...h.val_loss];
  if (h.val_accuracy !== undefined) out.val_accuracy = [...h.val_accuracy];
  return out;
}

/** A resume state must belong to this run: same settings, fit options, callbacks, optimizer, layers' Rngs and training rows. */
function checkResume(s: TrainingState, run: {
  epochs: number; batchSize: number; steps: number; total: number; trainIdx: Int32Array;
  callbacks: Callback[]; optimizer: Optimizer; layers: readonly Layer[]; fitOptions: TrainingFitOptions;
}): void {
  const where = 'Sequential.fit: resume';
  if (!isObject(s as unknown) || !(s.order instanceof Int32Array) || !Array.isArray(s.callbacks) || !isObject(s.optimizer as unknown)) {
    throw new DigitsError(`${where}: expected a state from trainingState(), got ${showValue(s)}`);
  }
  const same = (field: string, want: unknown, got: unknown): void => {
    if (want !== got) throw new DigitsError(`${where}: ${field}: the run has ${showValue(want)}, the state ${showValue(got)} (resume with the settings it was taken with)`);
  };
  same('epochs', run.epochs, s.epochs);
  same('batchSize', run.batchSize, s.batchSize);
  same('training samples', run.trainIdx.length, s.order.length);
  same('steps per epoch', run.steps, s.steps);
  if (s.fitOptions !== undefined) {
    const f = s.fitOptions as unknown;
    if (!isObject(f)) throw new DigitsError(`${where}: fitOptions: expected {augment, labelSmoothing, sam}, got ${showValue(f)}`);
    same('augment', augmentKey(run.fitOptions.augment), augmentKey(f.augment as AugmentSettings | null | undefined));
    same('labelSmoothing', run.fitOptions.labelSmoothing, f.labelSmoothing);
    same('sam', run.fitOptions.sam, f.sam);
  }
  if (!Number.isInteger(s.epoch) || s.epoch < 0 || s.epoch > run.epochs || !Number.isInteger(s.batch) || s.batch < 0 ||
      s.batch >= run.steps || (s.epoch === run.epochs && s.batch !== 0)) {
    throw new DigitsError(`${where}: position: expected epoch 0..${run.epochs} and batch 0..${run.steps - 1}, got epoch ${showValue(s.epoch)}, batch ${showValue(s.batch)}`);
  }
  same('callbacks', run.callbacks.map((c) => c.constructor.name).join(', '), s.callbacks.map((c) => c.className).join(', '));
  same('optimizer', run.optimizer.className, s.optimizer.className);
  same('layers with their own Rng', run.layers.filter((l) => l.ownRng).map((l) => l.name).join(', '), Object.keys(s.layerRngs).join(', '));
  // the order must be a permutation of this run's training rows (the same data and validation split)
  const member = new Uint8Array(run.total);
  for (const i of run.trainIdx) member[i] = 1;
  for (const i of s.order) {
    if (!(i >= 0 && i < run.total) || member[i] !== 1) {
      throw new DigitsError(`${where}: its training rows differ from this run's (different data, seed or validation split)`);
    }
    member[i] = 2;
  }
}

/** Augment settings as one string, the same whatever the order of their keys (null/undefined: "none"). */
function augmentKey(a: AugmentSettings | null | undefined): string {
  if (!isObject(a)) return 'none';
  const e = isObject(a.elastic) ? `, elastic alpha ${a.elastic.alpha} sigma ${a.elastic.sigma}` : '';
  return `rotation ${a.rotation}, zoom ${a.zoom}, shift ${a.shift}${e}`;
}

function identity(n: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}

/** Node's setImmediate, absent in browsers (the pages' worker runs the engine there: src/web). */
const immediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;

/** setImmediate in Node; a zero timeout where it does not exist. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => (immediate !== undefined ? immediate(resolve) : setTimeout(resolve, 0)));
}
