/**
 * Learning-rate schedules, as callbacks that set the optimizer's learningRate:
 *
 *   OneCycle:         per batch; warm up from maxLr/divFactor to maxLr over the first
 *                     `pctStart` of all steps (cosine), then anneal (cosine) to maxLr/finalDivFactor
 *   CosineDecay:      per batch; from lr0 down to lr0 * alpha over all steps
 *   ReduceLROnPlateau: per epoch; multiply by `factor` after `patience` epochs without
 *                     improvement of the monitored value (default val_loss), not below minLr
 *
 * Total steps = epochs * stepsPerEpoch from fit's onTrainBegin.
 */
import { DigitsError } from '../errors.js';
import { isInt, isNum, isNumArray, stateField, type BatchLogs, type Callback, type CallbackModel, type EpochLogs, type TrainBeginInfo } from './callbacks.js';
import { finiteNumber, knownKeys, nonNegativeInt, numberInRange, positiveNumber } from './validate.js';

interface HasOptimizer {
  optimizer: { learningRate: number } | null;
}

function optimizerOf(model: CallbackModel | null, who: string): { learningRate: number } {
  const opt = (model as unknown as Partial<HasOptimizer> | null)?.optimizer ?? null;
  if (opt === null) throw new DigitsError(`${who}: the model has no optimizer (compile it before fit)`);
  return opt;
}

/** Base of the per-batch schedules: lrAt(step, total) is set before every step. */
abstract class BatchSchedule implements Callback {
  private model: CallbackModel | null = null;
  private step = 0;
  private total = 1;
  /** the learning rates set, one per step (for tests and reports) */
  readonly history: number[] = [];

  protected abstract lrAt(step: number, total: number): number;

  setModel(model: CallbackModel): void {
    this.model = model;
  }

  onTrainBegin(info: TrainBeginInfo): void {
    this.step = 0;
    this.total = Math.max(1, info.epochs * info.stepsPerEpoch);
    this.history.length = 0;
    this.apply();
  }

  onBatchEnd(_batch: number, _logs: BatchLogs): void {
    this.step++;
    this.apply();
  }

  getState(): unknown {
    return { step: this.step, total: this.total, history: [...this.history] };
  }

  setState(state: unknown): void {
    const who = this.constructor.name;
    this.step = stateField(who, state, 'step', isInt, 'an integer');
    this.total = stateField(who, state, 'total', isInt, 'an integer');
    const h = stateField<number[]>(who, state, 'history', isNumArray, 'an array of numbers');
    this.history.length = 0;
    this.history.push(...h);
    optimizerOf(this.model, who).learningRate = this.lrAt(Math.min(this.step, this.total - 1), this.total);
  }

  private apply(): void {
    const lr = this.lrAt(Math.min(this.step, this.total - 1), this.total);
    optimizerOf(this.model, this.constructor.name).learningRate = lr;
    if (this.step < this.total) this.history.push(lr);
  }
}

const cosine = (from: number, to: number, frac: number): number => to + ((from - to) * (1 + Math.cos(Math.PI * frac))) / 2;

/** Options of OneCycle: maxLr and the fraction of the run spent warming up (pctStart). */
export interface OneCycleOptions {
  maxLr: number;
  /** fraction of the steps spent warming up (default 0.25) */
  pctStart?: number;
  /** start at maxLr / divFactor (default 25) */
  divFactor?: number;
  /** end at maxLr / finalDivFactor (default 1e4) */
  finalDivFactor?: number;
}

/** A callback for the one-cycle learning-rate schedule (Smith 2018): warm up to maxLr, then anneal, over the whole run. */
export class OneCycle extends BatchSchedule {
  readonly maxLr: number;
  readonly pctStart: number;
  readonly divFactor: number;
  readonly finalDivFactor: number;

  constructor(opts: OneCycleOptions) {
    super();
    knownKeys('OneCycle options', opts as unknown as Record<string, unknown>, ['maxLr', 'pctStart', 'divFactor', 'finalDivFactor']);
    this.maxLr = positiveNumber('OneCycle.maxLr', opts.maxLr);
    this.pctStart = numberInRange('OneCycle.pctStart', opts.pctStart ?? 0.25, 0, 1);
    this.divFactor = positiveNumber('OneCycle.divFactor', opts.divFactor ?? 25);
    this.finalDivFactor = positiveNumber('OneCycle.finalDivFactor', opts.finalDivFactor ?? 1e4);
  }

  protected lrAt(step: number, total: number): number {
    const warm = Math.max(1, Math.round(this.pctStart * total));
    const start = this.maxLr / this.divFactor;
    if (step < warm) return cosine(start, this.maxLr, step / warm);
    const rest = Math.max(1, total - 1 - warm);
    return cosine(this.maxLr, this.maxLr / this.finalDivFactor, (step - warm) / rest);
  }
}

/** A callback that decays the learning rate along a cosine, from the optimizer's rate to alpha times it, over the run. */
export class CosineDecay extends BatchSchedule {
  constructor(readonly initialLr: number, readonly alpha = 0) {
    super();
    positiveNumber('CosineDecay.initialLr', initialLr);
    numberInRange('CosineDecay.alpha', alpha, 0, 1, true);
  }

  protected lrAt(step: number, total: number): number {
    return cosine(this.initialLr, this.initialLr * this.alpha, step / Math.max(1, total - 1));
  }
}

/** Options of ReduceLROnPlateau (Keras names): monitor, factor, patience, minLr. */
export interface ReduceLROnPlateauOptions {
  monitor?: 'loss' | 'val_loss';
  /** default 0.5 */
  factor?: number;
  /** default 2 */
  patience?: number;
  /** default 1e-6 */
  minLr?: number;
  /** improvements smaller than this do not count (default 1e-4) */
  minDelta?: number;
}

/** A callback that multiplies the learning rate by `factor` when the monitored metric stops improving, as Keras' ReduceLROnPlateau. */
export class ReduceLROnPlateau implements Callback {
  readonly monitor: 'loss' | 'val_loss';
  readonly factor: number;
  readonly patience: number;
  readonly minLr: number;
  readonly minDelta: number;
  private model: CallbackModel | null = null;
  private best = Infinity;
  private wait = 0;
  /** epochs (0-based) after which the rate was reduced */
  readonly reductions: number[] = [];

  constructor(opts: ReduceLROnPlateauOptions = {}) {
    knownKeys('ReduceLROnPlateau options', opts as Record<string, unknown>, ['monitor', 'factor', 'patience', 'minLr', 'minDelta']);
    this.monitor = opts.monitor ?? 'val_loss';
    this.factor = numberInRange('ReduceLROnPlateau.factor', opts.factor ?? 0.5, 0, 1);
    this.patience = nonNegativeInt('ReduceLROnPlateau.patience', opts.patience ?? 2);
    this.minLr = finiteNumber('ReduceLROnPlateau.minLr', opts.minLr ?? 1e-6);
    this.minDelta = finiteNumber('ReduceLROnPlateau.minDelta', opts.minDelta ?? 1e-4);
  }

  setModel(model: CallbackModel): void {
    this.model = model;
  }

  onTrainBegin(): void {
    this.best = Infinity;
    this.wait = 0;
    this.reductions.length = 0;
  }

  getState(): unknown {
    return { best: this.best, wait: this.wait, reductions: [...this.reductions] };
  }

  setState(state: unknown): void {
    const who = 'ReduceLROnPlateau';
    this.best = stateField(who, state, 'best', isNum, 'a number');
    this.wait = stateField(who, state, 'wait', isInt, 'an integer');
    const r = stateField<number[]>(who, state, 'reductions', isNumArray, 'an array of numbers');
    this.reductions.length = 0;
    this.reductions.push(...r);
  }

  onEpochEnd(epoch: number, logs: EpochLogs): void {
    const v = logs[this.monitor];
    if (v === undefined) throw new DigitsError(`ReduceLROnPlateau: fit reported no ${this.monitor} (a validation split or data is needed)`);
    if (v < this.best - this.minDelta) {
      this.best = v;
      this.wait = 0;
      return;
    }
    if (++this.wait >= Math.max(1, this.patience)) {
      const opt = optimizerOf(this.model, 'ReduceLROnPlateau');
      const next = Math.max(this.minLr, opt.learningRate * this.factor);
      if (next < opt.learningRate) {
        opt.learningRate = next;
        this.reductions.push(epoch);
      }
      this.wait = 0;
    }
  }
}
