/**
 * Optimizers: Adam and SGD with the Keras defaults, running on the backend's
 * update kernels. Their state (iteration count and per-weight slots) can be
 * read and restored, for checkpoints; slot names follow TF.js
 * (`conv2d/kernel/m`, `conv2d/kernel/v` for Adam, `conv2d/kernel/momentum` for SGD).
 */
import { DigitsError } from '../errors.js';
import type { Backend } from '../engine/backend.js';
import { boolean, isObject, knownKeys, nonNegativeInt, numberInRange, positiveNumber, showValue } from './validate.js';

/** One trainable weight as the optimizer sees it: values updated in place from grad. */
export interface WeightUpdate {
  /** `${layer.name}/${param.name}` */
  readonly name: string;
  readonly value: Float32Array;
  readonly grad: Float32Array;
}

export interface OptimizerState {
  /** optimizer steps taken so far */
  iterations: number;
  /** slot arrays by name (`${weight}/m`, ...) */
  slots: { name: string; data: Float32Array }[];
}

/** An optimizer: one step over the trainable weights with their gradients, and its state for checkpoints. */
export interface Optimizer {
  /** 'Adam' or 'SGD' (Keras class name) */
  readonly className: string;
  learningRate: number;
  readonly iterations: number;
  /** One update of every weight from its gradient. */
  step(weights: readonly WeightUpdate[], backend: Backend): void;
  /** Keras-style config (learning_rate, beta_1, ...). */
  getConfig(): Record<string, unknown>;
  /** A copy of the state. */
  getState(): OptimizerState;
  /** Restore a state from getState (slot lengths are checked against the weights at the next step). */
  setState(state: OptimizerState): void;
}

abstract class SlotOptimizer {
  protected iter = 0;
  protected readonly slots = new Map<string, Float32Array>();

  get iterations(): number {
    return this.iter;
  }

  /** The slot `${weight}/${suffix}`, created as zeros on first use; checked against the weight's length. */
  protected slot(w: WeightUpdate, suffix: string, className: string): Float32Array {
    const name = `${w.name}/${suffix}`;
    let s = this.slots.get(name);
    if (s === undefined) {
      s = new Float32Array(w.value.length);
      this.slots.set(name, s);
    } else if (s.length !== w.value.length) {
      throw new DigitsError(`${className} state: slot "${name}" has ${s.length} values but the weight has ${w.value.length}`);
    }
    return s;
  }

  getState(): OptimizerState {
    return { iterations: this.iter, slots: [...this.slots].map(([name, data]) => ({ name, data: new Float32Array(data) })) };
  }

  protected restore(className: string, state: OptimizerState, suffixes: readonly string[]): void {
    if (!isObject(state)) throw new DigitsError(`${className}.setState: expected {iterations, slots}, got ${showValue(state)}`);
    const iterations = nonNegativeInt(`${className}.setState: iterations`, state.iterations);
    if (!Array.isArray(state.slots)) throw new DigitsError(`${className}.setState: slots: expected an array, got ${showValue(state.slots)}`);
    const next = new Map<string, Float32Array>();
    for (const s of state.slots) {
      if (!isObject(s) || typeof s.name !== 'string' || !(s.data instanceof Float32Array)) {
        throw new DigitsError(`${className}.setState: slots: expected {name: string, data: Float32Array} entries, got ${showValue(s)}`);
      }
      if (!suffixes.some((x) => s.name.endsWith(`/${x}`))) {
        throw new DigitsError(`${className}.setState: slot "${s.name}": expected a name ending in ${suffixes.map((x) => `/${x}`).join(' or ')}`);
      }
      next.set(s.name, new Float32Array(s.data));
    }
    this.iter = iterations;
    this.slots.clear();
    for (const [k, v] of next) this.slots.set(k, v);
  }
}

/** Options of Adam (Keras names and defaults): learningRate, beta1, beta2, epsilon, and decoupled weightDecay. */
export interface AdamOptions {
  /** default 0.001 */
  learningRate?: number;
  /** default 0.9 */
  beta1?: number;
  /** default 0.999 */
  beta2?: number;
  /** default 1e-7 (Keras; TF.js uses 1e-7 too) */
  epsilon?: number;
  /** decoupled weight decay on kernels, AdamW style (default 0) */
  weightDecay?: number;
}

/** Adam as Keras: bias-corrected step size, epsilon outside the square root. */
export class Adam extends SlotOptimizer implements Optimizer {
  readonly className = 'Adam';
  learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** decoupled weight decay (AdamW): kernels shrink by lr * weightDecay * p each step; biases and BatchNorm weights are left alone */
  readonly weightDecay: number;

  constructor(opts: AdamOptions = {}) {
    super();
    knownKeys('Adam options', opts as Record<string, unknown>, ['learningRate', 'beta1', 'beta2', 'epsilon', 'weightDecay']);
    this.learningRate = positiveNumber('Adam.learningRate', opts.learningRate ?? 0.001);
    this.weightDecay = numberInRange('Adam.weightDecay', opts.weightDecay ?? 0, 0, 1, true);
    this.beta1 = numberInRange('Adam.beta1', opts.beta1 ?? 0.9, 0, 1);
    this.beta2 = numberInRange('Adam.beta2', opts.beta2 ?? 0.999, 0, 1);
    this.epsilon = positiveNumber('Adam.epsilon', opts.epsilon ?? 1e-7);
  }

  step(weights: readonly WeightUpdate[], backend: Backend): void {
    this.iter++;
    const o = { lr: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, step: this.iter };
    const decay = 1 - this.learningRate * this.weightDecay;
    for (const w of weights) {
      if (this.weightDecay > 0 && w.name.endsWith('/kernel')) {
        const p = w.value;
        for (let i = 0; i < p.length; i++) p[i] = p[i]! * decay;
      }
      backend.adamUpdate(w.value, w.grad, this.slot(w, 'm', 'Adam'), this.slot(w, 'v', 'Adam'), o);
    }
  }

  getConfig(): Record<string, unknown> {
    const c: Record<string, unknown> = { learning_rate: this.learningRate, beta_1: this.beta1, beta_2: this.beta2, epsilon: this.epsilon, amsgrad: false };
    if (this.weightDecay > 0) c.weight_decay = this.weightDecay;
    return c;
  }

  setState(state: OptimizerState): void {
    this.restore('Adam', state, ['m', 'v']);
  }
}

/** Options of SGD (Keras names): learningRate, momentum, nesterov. */
export interface SgdOptions {
  /** default 0.01 */
  learningRate?: number;
  /** default 0 */
  momentum?: number;
  /** default false */
  nesterov?: boolean;
}

/** SGD as Keras: vel = momentum * vel - lr * g; p += vel (nesterov: p += momentum * vel - lr * g). */
export class SGD extends SlotOptimizer implements Optimizer {
  readonly className = 'SGD';
  learningRate: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  private readonly none = new Float32Array(0);

  constructor(opts: SgdOptions = {}) {
    super();
    knownKeys('SGD options', opts as Record<string, unknown>, ['learningRate', 'momentum', 'nesterov']);
    this.learningRate = positiveNumber('SGD.learningRate', opts.learningRate ?? 0.01);
    this.momentum = numberInRange('SGD.momentum', opts.momentum ?? 0, 0, 1);
    this.nesterov = boolean('SGD.nesterov', opts.nesterov ?? false);
  }

  step(weights: readonly WeightUpdate[], backend: Backend): void {
    this.iter++;
    const o = { lr: this.learningRate, momentum: this.momentum, nesterov: this.nesterov };
    for (const w of weights) {
      // without momentum the kernel never reads the velocity: no slot is kept
      const vel = this.momentum === 0 ? this.none : this.slot(w, 'momentum', 'SGD');
      backend.sgdUpdate(w.value, w.grad, vel, o);
    }
  }

  getConfig(): Record<string, unknown> {
    return { learning_rate: this.learningRate, momentum: this.momentum, nesterov: this.nesterov };
  }

  setState(state: OptimizerState): void {
    this.restore('SGD', state, ['momentum']);
  }
}

/** 'adam' | 'sgd' (Keras defaults) or an Optimizer instance. */
export function getOptimizer(label: string, v: unknown): Optimizer {
  if (v === 'adam' || v === 'Adam') return new Adam();
  if (v === 'sgd' || v === 'SGD') return new SGD();
  if (isObject(v) && typeof v.step === 'function' && typeof v.getState === 'function') return v as unknown as Optimizer;
  throw new DigitsError(`${label}: expected "adam", "sgd" or an Optimizer (new Adam({...}), new SGD({...})), got ${showValue(v)}`);
}
