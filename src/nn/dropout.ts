/**
 * Dropout (inverted): while training, each value is kept with probability
 * 1 - rate and scaled by 1 / (1 - rate), else zeroed; at inference the layer
 * is the identity (returns its input unchanged).
 *
 *   x [N, ...] -> y [N, ...]
 *   forward (training): mask = (u >= rate) / (1 - rate), u ~ U[0,1) from the Rng;  y = x * mask
 *   backward:           dx = dy * mask
 *
 * The mask comes from the model's Rng (RunContext.rng), or from the layer's
 * own Rng when a `seed` is given (as Keras' Dropout(seed=...)).
 */
import { DigitsError } from '../errors.js';
import { Rng } from '../engine/rng.js';
import type { Tensor } from '../engine/tensor.js';
import { registerLayer, type RunContext } from './layer.js';
import { BaseLayer, COMMON_CONFIG_KEYS, parseCommonConfig, type CommonLayerOptions } from './base.js';
import { knownKeys, numberInRange } from './validate.js';
import { invalidParameter } from '../errors.js';

/** Options of Dropout: the rate, and a seed for a random stream of the layer's own. */
export interface DropoutOptions extends CommonLayerOptions {
  /** fraction of values dropped while training, 0 <= rate < 1 */
  rate: number;
  /** own seed for the masks (default: the model's Rng) */
  seed?: number | null;
}

/** Drops a fraction of its inputs while training (scaling the rest by 1/(1 - rate)), as Keras' Dropout; the identity at inference. */
export class Dropout extends BaseLayer {
  readonly className = 'Dropout';
  readonly defaultName = 'dropout';
  readonly rate: number;
  readonly seed: number | null;
  /** the mask stream when the layer has its own seed (null: the model's Rng) */
  readonly ownRng: Rng | null;
  /** what backward needs, written by forward: the mask, or null when forward was the identity */
  private saved: { mask: Tensor | null; n: number } | null = null;

  constructor(opts: DropoutOptions) {
    super(opts, 'Dropout');
    knownKeys('Dropout options', opts as unknown as Record<string, unknown>, ['rate', 'seed', 'name', 'inputShape', 'trainable']);
    this.rate = numberInRange('Dropout.rate', opts.rate, 0, 1);
    const seed = opts.seed ?? null;
    if (seed !== null && !Number.isInteger(seed)) throw invalidParameter('Dropout.seed', 'an integer', seed);
    this.seed = seed;
    this.ownRng = seed === null ? null : new Rng(seed);
  }

  /** The layer from its Keras config; unsupported values are DigitsErrors naming the field. */
  static fromConfig(raw: Record<string, unknown>): Dropout {
    const { label, cfg, common } = parseCommonConfig('Dropout', raw);
    knownKeys(label, cfg, [...COMMON_CONFIG_KEYS, 'rate', 'noise_shape', 'seed']);
    if (cfg.noise_shape !== undefined && cfg.noise_shape !== null) {
      throw new DigitsError(`${label}.noise_shape: expected null (Digits drops values independently), got ${JSON.stringify(cfg.noise_shape)}`);
    }
    const seed = cfg.seed ?? null;
    if (seed !== null && !Number.isInteger(seed)) throw invalidParameter(`${label}.seed`, 'an integer or null', seed);
    return new Dropout({ ...common, rate: numberInRange(`${label}.rate`, cfg.rate, 0, 1), seed: seed as number | null });
  }

  protected setup(inputShape: readonly number[]): number[] {
    this.saved = null;
    if (this.ownRng !== null) this.ownRng.seed(this.seed!);
    return [...inputShape];
  }

  forward(x: Tensor, ctx: RunContext): Tensor {
    const n = this.batchOf(x);
    if (!ctx.training || this.rate === 0) {
      this.saved = { mask: null, n };
      return x;
    }
    const shape = this.builtOutput();
    const mask = this.ws.tensor('mask', n, shape);
    const rng = this.ownRng ?? ctx.rng;
    const keep = 1 / (1 - this.rate);
    const m = mask.data;
    for (let i = 0; i < m.length; i++) m[i] = rng.uniform() < this.rate ? 0 : keep;
    const y = this.ws.tensor('y', n, shape);
    ctx.backend.mul(x.data, m, y.data);
    this.saved = { mask, n };
    return y;
  }

  backward(dy: Tensor, ctx: RunContext): Tensor {
    if (this.saved === null) throw new DigitsError(`Dropout "${this.name}": backward called before forward`);
    const { mask, n } = this.saved;
    this.checkGradShape(dy, n);
    if (mask === null) return dy;
    const dx = this.ws.tensor('dx', n, this.builtInput());
    ctx.backend.mul(dy.data, mask.data, dx.data);
    return dx;
  }

  getConfig(): Record<string, unknown> {
    // Key order as TF.js 4.22 writes a Dropout config.
    return { rate: this.rate, noise_shape: null, seed: this.seed, ...this.commonConfig() };
  }
}

registerLayer<Dropout>({
  className: 'Dropout',
  fromConfig: (config) => Dropout.fromConfig(config),
  toOnnx: () => {}, // the identity at inference
});
