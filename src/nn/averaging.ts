/**
 * Weight averaging as a training callback, after PyTorch's
 * `torch.optim.swa_utils.AveragedModel` and TensorFlow's
 * `ExponentialMovingAverage`:
 *
 *   'ema'  after every batch, avg = d·avg + (1 − d)·w, the average starting
 *          as a copy of the weights after the first batch averaged. With
 *          `warmup` (the default, TensorFlow's `num_updates`), d is
 *          min(decay, (1 + n) / (10 + n)) at the n-th update, so the average
 *          never reaches back much further than the last ~10% of the updates
 *          and a short run does not average in its untrained start; without
 *          it, d = decay throughout (Keras 3's `use_ema`);
 *   'swa'  the plain mean of the weights at the end of each epoch from
 *          `startEpoch` on (stochastic weight averaging, Izmailov et al. 2018).
 *
 * Every named weight is averaged, BatchNorm's moving mean and variance
 * included (as timm's ModelEmaV2 does), so the averaged model is complete and
 * needs no pass over the data afterwards. At the end of training the averaged
 * weights replace the model's (unless `applyOnTrainEnd` is false: then read
 * them with `averagedWeights()`); the per-epoch validation figures are those
 * of the raw weights, as in Keras.
 */
import { DigitsError } from '../errors.js';
import { isInt, stateField, type Callback, type CallbackModel } from './callbacks.js';
import { boolean, knownKeys, nonNegativeInt, numberInRange, oneOf } from './validate.js';

/** Options of WeightAveraging: mode 'ema' (decay) or 'swa' (from startEpoch), and whether the average replaces the weights. */
export interface WeightAveragingOptions {
  /** 'ema' (default): exponential moving average after each batch; 'swa': equal-weight mean of epoch-end weights */
  mode?: 'ema' | 'swa';
  /**
   * ema only: weight of the old average, 0 < decay < 1 (default 0.999). The average
   * reaches back about 1 / (1 − decay) batches (less early in training, with `warmup`).
   */
  decay?: number;
  /** ema only: d = min(decay, (1 + n) / (10 + n)) at the n-th update (default true) */
  warmup?: boolean;
  /** 0-based epoch from which averaging starts (default 0); earlier weights are not in the average */
  startEpoch?: number;
  /** put the averaged weights into the model when training ends (default true) */
  applyOnTrainEnd?: boolean;
}

/** A callback that keeps an average of the weights while training (an exponential moving average, or the mean of epoch ends) and makes it the model at the end. */
export class WeightAveraging implements Callback {
  readonly mode: 'ema' | 'swa';
  readonly decay: number;
  readonly warmup: boolean;
  readonly startEpoch: number;
  readonly applyOnTrainEnd: boolean;
  /** updates folded into the average so far */
  count = 0;

  private model: CallbackModel | null = null;
  private epoch = 0;
  private avg: Map<string, Float32Array> | null = null;

  constructor(opts: WeightAveragingOptions = {}) {
    knownKeys('WeightAveraging options', opts as Record<string, unknown>, ['mode', 'decay', 'warmup', 'startEpoch', 'applyOnTrainEnd']);
    this.mode = oneOf('WeightAveraging.mode', opts.mode ?? 'ema', ['ema', 'swa']);
    if (opts.decay !== undefined && this.mode !== 'ema') throw new DigitsError('WeightAveraging.decay: only for mode "ema"');
    this.decay = numberInRange('WeightAveraging.decay', opts.decay ?? 0.999, 0, 1);
    if (this.decay === 0 || this.decay === 1) throw new DigitsError(`WeightAveraging.decay: expected a number between 0 and 1 (exclusive), got ${this.decay}`);
    if (opts.warmup !== undefined && this.mode !== 'ema') throw new DigitsError('WeightAveraging.warmup: only for mode "ema"');
    this.warmup = boolean('WeightAveraging.warmup', opts.warmup ?? true);
    this.startEpoch = nonNegativeInt('WeightAveraging.startEpoch', opts.startEpoch ?? 0);
    this.applyOnTrainEnd = boolean('WeightAveraging.applyOnTrainEnd', opts.applyOnTrainEnd ?? true);
  }

  setModel(model: CallbackModel): void {
    this.model = model;
  }

  onTrainBegin(): void {
    this.count = 0;
    this.avg = null;
  }

  onEpochBegin(epoch: number): void {
    this.epoch = epoch;
  }

  onBatchEnd(): void {
    if (this.mode !== 'ema' || this.epoch < this.startEpoch) return;
    const n = this.count;
    this.fold(this.warmup ? Math.min(this.decay, (1 + n) / (10 + n)) : this.decay);
  }

  onEpochEnd(epoch: number): void {
    if (this.mode !== 'swa' || epoch < this.startEpoch) return;
    // the running mean of n + 1 snapshots: avg += (w − avg) / (n + 1)
    this.fold(this.count / (this.count + 1));
  }

  onTrainEnd(): void {
    if (this.applyOnTrainEnd && this.avg !== null) this.requireModel().setNamedWeights(this.avg);
  }

  /** A copy of the averaged weights by name (null before the first update). */
  averagedWeights(): Map<string, Float32Array> | null {
    return this.avg === null ? null : new Map([...this.avg].map(([k, v]) => [k, new Float32Array(v)]));
  }

  getState(): unknown {
    return {
      count: this.count,
      avg: this.avg === null ? null : [...this.avg].map(([name, data]) => ({ name, data: new Float32Array(data) })),
    };
  }

  setState(state: unknown): void {
    const who = 'WeightAveraging';
    this.count = stateField(who, state, 'count', isInt, 'an integer');
    const avg = stateField<{ name: string; data: Float32Array }[] | null>(who, state, 'avg', (v) => v === null ||
      (Array.isArray(v) && v.every((w) => typeof w === 'object' && w !== null && typeof w.name === 'string' && w.data instanceof Float32Array)),
    'null or [{name, data: Float32Array}]');
    this.avg = avg === null ? null : new Map(avg.map((w) => [w.name, new Float32Array(w.data)]));
  }

  /** avg = keep·avg + (1 − keep)·w for every weight (a plain copy on the first update), on the model's backend. */
  private fold(keep: number): void {
    const model = this.requireModel();
    const named = model.namedWeights();
    if (this.avg === null) {
      this.avg = new Map(named.map(({ name, tensor }) => [name, new Float32Array(tensor.data)]));
    } else {
      for (const { name, tensor } of named) {
        const a = this.avg.get(name);
        const w = tensor.data;
        if (a === undefined || a.length !== w.length) {
          throw new DigitsError(`WeightAveraging: weight "${name}" has ${w.length} values, its average ${a?.length ?? 'none'} (the model changed during training?)`);
        }
        model.backend.emaUpdate(a, w, keep);
      }
    }
    this.count++;
  }

  private requireModel(): CallbackModel {
    if (this.model === null) throw new DigitsError('WeightAveraging: not attached to a model (pass it to fit in callbacks)');
    return this.model;
  }
}
