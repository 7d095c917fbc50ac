/**
 * Shared plumbing of the built-in layers: names, shapes, parameters, the
 * workspace of per-batch buffers, and the config fields every layer has
 * (name, trainable, and on the first layer batch_input_shape + dtype).
 *
 * Each concrete layer keeps its forward and backward side by side, and what
 * backward needs in one `saved` field written by forward.
 */
import { DigitsError } from '../errors.js';
import type { Rng } from '../engine/rng.js';
import { Tensor, shapeToString } from '../engine/tensor.js';
import type { Layer, Param, RunContext } from './layer.js';
import { Workspace } from './workspace.js';
import { batchInputShape, boolean, isObject, shape, showValue } from './validate.js';

/** Options every layer takes. */
export interface CommonLayerOptions {
  /** unique within a model; default: the Keras name (conv2d, conv2d_1, ...) given by the model */
  name?: string;
  /** input shape without the batch dimension, e.g. [28, 28, 1]; needed on the first layer only */
  inputShape?: readonly number[];
  /** false: the optimizer leaves this layer's weights alone (default true) */
  trainable?: boolean;
}

/** While a model is built from a file: the weight values its file declares, which the layers may not exceed (withWeightBudget). */
let weightBudget: { left: number; where: string } | null = null;

/**
 * Run `build` (a model's build, synchronous) allowing its layers at most `values` weight values:
 * a topology that needs more weights than its file declares (a Dense of a million units in a
 * model.json of a few KB) is refused, naming the layer, before that layer allocates anything.
 */
export function withWeightBudget<T>(values: number, where: string, build: () => T): T {
  const outer = weightBudget;
  weightBudget = { left: values, where };
  try {
    return build();
  } finally {
    weightBudget = outer;
  }
}

/** Config keys every layer accepts in a model file. */
export const COMMON_CONFIG_KEYS = ['name', 'trainable', 'dtype', 'batch_input_shape', 'batch_shape'] as const;

export abstract class BaseLayer implements Layer {
  abstract readonly className: string;
  /** the Keras default-name stem ('conv2d', 'max_pooling2d', ...) */
  abstract readonly defaultName: string;

  trainable: boolean;
  /** input shape given as an option (or batch_input_shape in a config); written back by getConfig */
  declaredInputShape: readonly number[] | null;

  private _name: string | null;
  private _inputShape: readonly number[] | null = null;
  private _outputShape: readonly number[] | null = null;
  private _params: Param[] = [];
  protected readonly ws = new Workspace();

  constructor(opts: CommonLayerOptions, className: string) {
    if (!isObject(opts)) throw new DigitsError(`${className}: expected an options object, got ${showValue(opts)}`);
    this._name = opts.name === undefined ? null : checkName(`${className}.name`, opts.name);
    this.trainable = opts.trainable === undefined ? true : boolean(`${className}.trainable`, opts.trainable);
    this.declaredInputShape = opts.inputShape === undefined ? null : shape(`${className}.inputShape`, opts.inputShape);
  }

  get name(): string {
    return this._name ?? this.defaultName;
  }

  set name(v: string) {
    this._name = checkName(`${this.className}.name`, v);
  }

  /** true while the layer has no name of its own (the model then gives it a unique Keras default) */
  get nameIsDefault(): boolean {
    return this._name === null;
  }

  get inputShape(): readonly number[] | null {
    return this._inputShape;
  }

  get outputShape(): readonly number[] | null {
    return this._outputShape;
  }

  /** Create the weights for inputs of `inputShape` (no batch dimension), initialised from `rng`; sets inputShape and outputShape. */
  build(inputShape: readonly number[], rng: Rng): void {
    const s = shape(`${this.className} "${this.name}" input shape`, inputShape);
    this.ws.clear();
    this._params = [];
    this._outputShape = this.setup(s, rng);
    this._inputShape = s;
  }

  /** Check the input shape, create and initialise the parameters; returns the output shape. */
  protected abstract setup(inputShape: readonly number[], rng: Rng): number[];

  /** The output for a batch x [N, ...inputShape]; in training, saves what backward needs. */
  abstract forward(x: Tensor, ctx: RunContext): Tensor;
  /** From the gradient of the last forward's output: each parameter's gradient, and the input's. */
  abstract backward(dy: Tensor, ctx: RunContext): Tensor;

  /** The weights in Keras order (kernel, then bias; moving statistics last), as model files store them. */
  params(): Param[] {
    return this._params;
  }

  /** The Keras layer config (what a TF.js model.json holds under `config`). */
  abstract getConfig(): Record<string, unknown>;

  /**
   * A weight of the layer. `frozen`: never trained, whatever the layer's `trainable`
   * (BatchNormalization's moving statistics: saved with the model, updated by the layer itself).
   */
  protected addParam(name: string, shape: readonly number[], frozen = false): Param {
    if (weightBudget !== null) {
      const size = shape.reduce((a, b) => a * b, 1);
      if (size > weightBudget.left) {
        throw new DigitsError(`${weightBudget.where}: layer "${this.name}" (${this.className}) needs a weight "${name}" of shape ` +
          `[${shape.join(', ')}] (${size.toLocaleString('en-US')} values), more than the weights file declares for what is left of the model ` +
          `(${weightBudget.left.toLocaleString('en-US')}); refused before allocating it`);
      }
      weightBudget.left -= size;
    }
    const layer = this;
    const p: Param = {
      name,
      value: new Tensor(shape),
      grad: new Tensor(shape),
      get trainable() {
        return !frozen && layer.trainable;
      },
    };
    this._params.push(p);
    return p;
  }

  /** The built input shape; throws if forward is called before build. */
  protected builtInput(): readonly number[] {
    if (this._inputShape === null) {
      throw new DigitsError(`${this.className} "${this.name}": not built (add it to a model and build the model, or call build(inputShape, rng))`);
    }
    return this._inputShape;
  }

  protected builtOutput(): readonly number[] {
    this.builtInput();
    return this._outputShape!;
  }

  /** Batch size of x, after checking x is [N, ...inputShape]. */
  protected batchOf(x: Tensor, what = 'input'): number {
    const s = this.builtInput();
    const ok = x.shape.length === s.length + 1 && s.every((d, i) => x.shape[i + 1] === d) && x.shape[0]! > 0;
    if (!ok) {
      throw new DigitsError(`${this.className} "${this.name}": ${what}: expected shape [N, ${s.join(', ')}], got ${shapeToString(x.shape)}`);
    }
    return x.shape[0]!;
  }

  protected checkGradShape(dy: Tensor, n: number): void {
    const s = this.builtOutput();
    const ok = dy.shape.length === s.length + 1 && dy.shape[0] === n && s.every((d, i) => dy.shape[i + 1] === d);
    if (!ok) {
      throw new DigitsError(`${this.className} "${this.name}": backward: expected an output gradient of shape ` +
        `[${n}, ${s.join(', ')}], got ${shapeToString(dy.shape)} (backward must follow forward on the same batch)`);
    }
  }

  /** name, trainable, and batch_input_shape + dtype when an input shape was declared (as TF.js writes them). */
  protected commonConfig(): Record<string, unknown> {
    const c: Record<string, unknown> = { name: this.name, trainable: this.trainable };
    if (this.declaredInputShape !== null) {
      c.batch_input_shape = [null, ...this.declaredInputShape];
      c.dtype = 'float32';
    }
    return c;
  }
}

export function checkName(label: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.includes('/')) {
    throw new DigitsError(`${label}: expected a non-empty string without "/", got ${showValue(v)}`);
  }
  return v;
}

/** Label for messages about a config from a model file: `Conv2D "conv2d_1" config`. */
export function configLabel(className: string, cfg: Record<string, unknown>): string {
  return typeof cfg.name === 'string' ? `${className} "${cfg.name}" config` : `${className} config`;
}

/** Read the fields every layer config has; check dtype. */
export function parseCommonConfig(className: string, cfg: unknown): { label: string; cfg: Record<string, unknown>; common: CommonLayerOptions } {
  if (!isObject(cfg)) throw new DigitsError(`${className} config: expected an object, got ${showValue(cfg)}`);
  const label = configLabel(className, cfg);
  const common: CommonLayerOptions = {};
  if (cfg.name !== undefined) common.name = checkName(`${label}.name`, cfg.name);
  if (cfg.trainable !== undefined) common.trainable = boolean(`${label}.trainable`, cfg.trainable);
  const dtype = cfg.dtype;
  const dtypeName = isObject(dtype) && isObject(dtype.config) ? dtype.config.name : dtype; // Keras 3 writes a DTypePolicy
  if (dtype !== undefined && dtype !== null && dtypeName !== 'float32') {
    throw new DigitsError(`${label}.dtype: expected "float32" (Digits computes in float32), got ${showValue(dtype)}`);
  }
  for (const key of ['batch_input_shape', 'batch_shape'] as const) {
    if (cfg[key] !== undefined && cfg[key] !== null) {
      common.inputShape = batchInputShape(`${label}.${key}`, cfg[key]);
      break;
    }
  }
  return { label, cfg, common };
}

/** Regularizers and constraints change training: Digits accepts only null there. */
export function requireNull(label: string, cfg: Record<string, unknown>, keys: readonly string[]): void {
  for (const k of keys) {
    const v = cfg[k];
    if (v !== undefined && v !== null) {
      throw new DigitsError(`${label}.${k}: expected null (Digits does not implement ${k.replace(/_/g, ' ')}s), got ${showValue(v)}`);
    }
  }
}
