/**
 * Training callbacks. The engine prints nothing: whoever wants to show
 * progress or stop early gives `fit` a callback. Hooks may return a promise,
 * which fit awaits.
 */
import { DigitsError, describe } from '../errors.js';
import type { Backend } from '../engine/backend.js';
import { boolean, finiteNumber, knownKeys, nonNegativeInt, oneOf } from './validate.js';

/** What fit tells callbacks when training starts. */
export interface TrainBeginInfo {
  epochs: number;
  batchSize: number;
  /** training samples per epoch */
  samples: number;
  /** validation samples (0: no validation) */
  validationSamples: number;
  /** batches per epoch */
  stepsPerEpoch: number;
}

/** One training batch: its mean loss, its accuracy, its number of samples. */
export interface BatchLogs {
  loss: number;
  accuracy: number;
  size: number;
}

/** One epoch: training means over its batches, and validation metrics when there is validation data. */
export interface EpochLogs {
  loss: number;
  accuracy: number;
  val_loss?: number;
  val_accuracy?: number;
}

/** The parts of the model a callback may use (Sequential implements it). */
export interface CallbackModel {
  /** set to true to end training after the current batch */
  stopTraining: boolean;
  namedWeights(): { name: string; tensor: { data: Float32Array } }[];
  setNamedWeights(map: Map<string, Float32Array>): void;
  /** the kernels the model runs on */
  readonly backend: Backend;
}

/** Hooks fit calls around training (Keras callbacks): begin and end of training, epochs and batches, and state for checkpoints. */
export interface Callback {
  /** called by fit before onTrainBegin */
  setModel?(model: CallbackModel): void;
  /** called once when fit starts (after setModel), with the run's sizes */
  onTrainBegin?(info: TrainBeginInfo): void | Promise<void>;
  /** called as epoch `epoch` (0-based) starts */
  onEpochBegin?(epoch: number): void | Promise<void>;
  /** batch: 0-based index within the epoch */
  onBatchEnd?(batch: number, logs: BatchLogs): void | Promise<void>;
  /** epoch: 0-based */
  onEpochEnd?(epoch: number, logs: EpochLogs): void | Promise<void>;
  /** called once when fit ends (not when its signal interrupted it), with the epochs run */
  onTrainEnd?(logs: { epochs: number }): void | Promise<void>;
  /**
   * What the callback keeps between events, for checkpoints: a copy made of
   * plain data (numbers, strings, arrays, objects, Float32Array/Int32Array).
   * fit restores it with setState after onTrainBegin when it resumes a run.
   */
  getState?(): unknown;
  /** restore what getState returned (fit calls it after onTrainBegin when it resumes) */
  setState?(state: unknown): void;
}

/** A callback state field, checked (a checkpoint is read from disk). */
export function stateField<T>(who: string, state: unknown, key: string, ok: (v: unknown) => boolean, expected: string): T {
  const v = isRecord(state) ? state[key] : undefined;
  if (!ok(v)) throw new DigitsError(`${who}.setState: ${key}: expected ${expected}, got ${describe(v)}`);
  return v as T;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isNum = (v: unknown): boolean => typeof v === 'number';
export const isInt = (v: unknown): boolean => Number.isInteger(v);
export const isNumArray = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'number');

// ---------------------------------------------------------------------------------------------

/** Options of EarlyStopping (Keras names): the metric to monitor, patience, min delta, mode, and whether to restore the best weights. */
export interface EarlyStoppingOptions {
  /** default 'val_loss' */
  monitor?: 'loss' | 'accuracy' | 'val_loss' | 'val_accuracy';
  /** epochs without improvement before stopping (default 0) */
  patience?: number;
  /** smallest change that counts as an improvement (default 0) */
  minDelta?: number;
  /** default 'auto': 'max' for accuracies, 'min' otherwise */
  mode?: 'auto' | 'min' | 'max';
  /** put back the weights of the best epoch when training ends (default false) */
  restoreBestWeights?: boolean;
}

/**
 * Keras' EarlyStopping: stop when `monitor` has not improved by more than
 * `minDelta` for `patience` epochs.
 *
 * With restoreBestWeights, the best epoch's weights are put back when
 * training ends, whether it ended because this callback stopped it or
 * because the epochs ran out. That is tf-keras' behaviour since
 * keras-team/tf-keras#693 (merged late 2023, fixing keras#12511 and
 * tensorflow#35634); Keras 2 releases before it (2.11 included) restored only
 * when the callback itself stopped training and otherwise left the last
 * epoch's weights. Digits takes the newer choice, so the option always means
 * "the model you get is the best one seen".
 */
export class EarlyStopping implements Callback {
  readonly monitor: string;
  readonly patience: number;
  readonly minDelta: number;
  readonly mode: 'min' | 'max';
  readonly restoreBestWeights: boolean;

  /** 0-based epoch with the best monitored value (-1 before the first epoch) */
  bestEpoch = -1;
  best = Number.POSITIVE_INFINITY;
  /** 0-based epoch at whose end this callback stopped training (null: it did not) */
  stoppedEpoch: number | null = null;
  /** true when restoreBestWeights put the best weights back at the end of training */
  restored = false;

  private model: CallbackModel | null = null;
  private wait = 0;
  private bestWeights: Map<string, Float32Array> | null = null;

  constructor(opts: EarlyStoppingOptions = {}) {
    knownKeys('EarlyStopping options', opts as Record<string, unknown>, ['monitor', 'patience', 'minDelta', 'mode', 'restoreBestWeights']);
    this.monitor = oneOf('EarlyStopping.monitor', opts.monitor ?? 'val_loss', ['loss', 'accuracy', 'val_loss', 'val_accuracy']);
    this.patience = nonNegativeInt('EarlyStopping.patience', opts.patience ?? 0);
    this.minDelta = Math.abs(finiteNumber('EarlyStopping.minDelta', opts.minDelta ?? 0));
    const mode = oneOf('EarlyStopping.mode', opts.mode ?? 'auto', ['auto', 'min', 'max']);
    this.mode = mode === 'auto' ? (this.monitor.endsWith('accuracy') ? 'max' : 'min') : mode;
    this.restoreBestWeights = boolean('EarlyStopping.restoreBestWeights', opts.restoreBestWeights ?? false);
  }

  setModel(model: CallbackModel): void {
    this.model = model;
  }

  onTrainBegin(): void {
    this.wait = 0;
    this.bestEpoch = -1;
    this.best = this.mode === 'min' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
    this.stoppedEpoch = null;
    this.restored = false;
  }

  private isImprovement(current: number): boolean {
    return this.mode === 'min' ? current + this.minDelta < this.best : current - this.minDelta > this.best;
  }

  onEpochEnd(epoch: number, logs: EpochLogs): void {
    const current = (logs as unknown as Record<string, number | undefined>)[this.monitor];
    if (current === undefined) {
      throw new DigitsError(`EarlyStopping.monitor: ${JSON.stringify(this.monitor)} is not among the epoch's metrics ` +
        `(${Object.keys(logs).join(', ')})${this.monitor.startsWith('val_') ? '; give fit a validationSplit or validationData' : ''}`);
    }
    const model = this.requireModel();
    this.wait++;
    if (this.isImprovement(current)) {
      this.best = current;
      this.bestEpoch = epoch;
      this.wait = 0;
      if (this.restoreBestWeights) this.snapshot(model);
      return;
    }
    // Keras: never stop at the end of the first epoch
    if (this.wait >= this.patience && epoch > 0) {
      this.stoppedEpoch = epoch;
      model.stopTraining = true;
    }
  }

  onTrainEnd(): void {
    if (this.restoreBestWeights && this.bestWeights !== null && this.bestEpoch >= 0) {
      this.requireModel().setNamedWeights(this.bestWeights);
      this.restored = true;
    }
  }

  getState(): unknown {
    return {
      wait: this.wait, best: this.best, bestEpoch: this.bestEpoch, stoppedEpoch: this.stoppedEpoch,
      bestWeights: this.bestWeights === null ? null : [...this.bestWeights].map(([name, data]) => ({ name, data: new Float32Array(data) })),
    };
  }

  setState(state: unknown): void {
    const who = 'EarlyStopping';
    this.wait = stateField(who, state, 'wait', isInt, 'an integer');
    this.best = stateField(who, state, 'best', isNum, 'a number');
    this.bestEpoch = stateField(who, state, 'bestEpoch', isInt, 'an integer');
    this.stoppedEpoch = stateField(who, state, 'stoppedEpoch', (v) => v === null || isInt(v), 'an integer or null');
    const bw = stateField<{ name: string; data: Float32Array }[] | null>(who, state, 'bestWeights', (v) => v === null ||
      (Array.isArray(v) && v.every((w) => isRecord(w) && typeof w.name === 'string' && w.data instanceof Float32Array)),
    'null or [{name, data: Float32Array}]');
    this.bestWeights = bw === null ? null : new Map(bw.map((w) => [w.name, new Float32Array(w.data)]));
  }

  /** Copy the current weights into the snapshot buffers (allocated on the first snapshot only). */
  private snapshot(model: CallbackModel): void {
    const named = model.namedWeights();
    if (this.bestWeights === null || this.bestWeights.size !== named.length) this.bestWeights = new Map();
    for (const { name, tensor } of named) {
      let copy = this.bestWeights.get(name);
      if (copy === undefined || copy.length !== tensor.data.length) {
        copy = new Float32Array(tensor.data.length);
        this.bestWeights.set(name, copy);
      }
      copy.set(tensor.data);
    }
  }

  private requireModel(): CallbackModel {
    if (this.model === null) throw new DigitsError('EarlyStopping: not attached to a model (pass it to fit in callbacks)');
    return this.model;
  }
}

// ---------------------------------------------------------------------------------------------

/** What ProgressCallback reports: training begins, each batch (loss, accuracy, images/s), each epoch (its logs and seconds), training ends. */
export type ProgressEvent =
  | { type: 'trainBegin'; info: TrainBeginInfo }
  | {
    type: 'batch';
    /** 0-based */
    epoch: number;
    epochs: number;
    /** batches done in this epoch (1-based count) */
    batch: number;
    batches: number;
    /** samples done in this epoch */
    seen: number;
    samples: number;
    /** running means over the epoch so far, as Keras' progress bar shows */
    loss: number;
    accuracy: number;
    /** training throughput in this epoch so far */
    imagesPerSecond: number;
    elapsedSeconds: number;
  }
  | {
    type: 'epoch';
    epoch: number;
    epochs: number;
    logs: EpochLogs;
    /** wall time of the epoch, validation included */
    seconds: number;
    /** training images per second (validation excluded) */
    imagesPerSecond: number;
  }
  | { type: 'trainEnd'; epochs: number; seconds: number };

/** Forwards per-batch and per-epoch progress, with images/s, to `report`. */
export class ProgressCallback implements Callback {
  private info: TrainBeginInfo | null = null;
  private trainStart = 0;
  private epochStart = 0;
  private trainDone = 0; // time the last training batch of the epoch ended
  private seen = 0;
  private lossSum = 0;
  private correctSum = 0;
  private batches = 0;
  private epoch = 0;
  /** samples of the epoch done before a resume (not counted in images/s) */
  private seenBefore = 0;

  constructor(private readonly report: (event: ProgressEvent) => void, private readonly now: () => number = () => performance.now()) {
    if (typeof report !== 'function') throw new DigitsError('ProgressCallback: expected a function to report progress to');
  }

  onTrainBegin(info: TrainBeginInfo): void {
    this.info = info;
    this.trainStart = this.now();
    this.report({ type: 'trainBegin', info });
  }

  onEpochBegin(epoch: number): void {
    this.epoch = epoch;
    this.epochStart = this.now();
    this.trainDone = this.epochStart;
    this.seen = 0;
    this.lossSum = 0;
    this.correctSum = 0;
    this.batches = 0;
    this.seenBefore = 0;
  }

  getState(): unknown {
    return { epoch: this.epoch, seen: this.seen, lossSum: this.lossSum, correctSum: this.correctSum, batches: this.batches };
  }

  /** A resumed run goes on with the epoch's running means; its throughput counts from now. */
  setState(state: unknown): void {
    const who = 'ProgressCallback';
    this.epoch = stateField(who, state, 'epoch', isInt, 'an integer');
    this.seen = stateField(who, state, 'seen', isInt, 'an integer');
    this.lossSum = stateField(who, state, 'lossSum', isNum, 'a number');
    this.correctSum = stateField(who, state, 'correctSum', isNum, 'a number');
    this.batches = stateField(who, state, 'batches', isInt, 'an integer');
    this.seenBefore = this.seen;
    this.epochStart = this.now();
    this.trainDone = this.epochStart;
  }

  onBatchEnd(_batch: number, logs: BatchLogs): void {
    const t = this.now();
    this.trainDone = t;
    this.seen += logs.size;
    this.lossSum += logs.loss * logs.size;
    this.correctSum += logs.accuracy * logs.size;
    this.batches++;
    const elapsed = (t - this.epochStart) / 1000;
    this.report({
      type: 'batch',
      epoch: this.epoch,
      epochs: this.info?.epochs ?? 0,
      batch: this.batches,
      batches: this.info?.stepsPerEpoch ?? 0,
      seen: this.seen,
      samples: this.info?.samples ?? 0,
      loss: this.lossSum / this.seen,
      accuracy: this.correctSum / this.seen,
      imagesPerSecond: elapsed > 0 ? (this.seen - this.seenBefore) / elapsed : 0,
      elapsedSeconds: elapsed,
    });
  }

  onEpochEnd(epoch: number, logs: EpochLogs): void {
    const t = this.now();
    const trainSeconds = (this.trainDone - this.epochStart) / 1000;
    this.report({
      type: 'epoch',
      epoch,
      epochs: this.info?.epochs ?? 0,
      logs,
      seconds: (t - this.epochStart) / 1000,
      imagesPerSecond: trainSeconds > 0 ? (this.seen - this.seenBefore) / trainSeconds : 0,
    });
  }

  onTrainEnd(logs: { epochs: number }): void {
    this.report({ type: 'trainEnd', epochs: logs.epochs, seconds: (this.now() - this.trainStart) / 1000 });
  }
}
