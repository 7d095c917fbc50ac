/**
 * Flatten: [N, d1, d2, ...] -> [N, d1*d2*...] in row-major (H-W-C) order,
 * as Keras channels_last. No arithmetic: forward and backward are views of
 * the same memory under another shape.
 */
import { DigitsError } from '../errors.js';
import type { Rng } from '../engine/rng.js';
import type { Tensor } from '../engine/tensor.js';
import { registerLayer, type RunContext } from './layer.js';
import { BaseLayer, COMMON_CONFIG_KEYS, parseCommonConfig, type CommonLayerOptions } from './base.js';
import { knownKeys, mustEqual } from './validate.js';

/** Options of Flatten: only the common layer options. */
export type FlattenOptions = CommonLayerOptions;

/** Flattens each example to one axis in H-W-C order, as Keras' Flatten (channels last). */
export class Flatten extends BaseLayer {
  readonly className = 'Flatten';
  readonly defaultName = 'flatten';
  /** the reshaped views of the last input and output gradient (cached: no allocation per batch) */
  private outView: Tensor | null = null;
  private inView: Tensor | null = null;
  private n = 0;

  constructor(opts: FlattenOptions = {}) {
    super(opts, 'Flatten');
    knownKeys('Flatten options', opts as unknown as Record<string, unknown>, ['name', 'inputShape', 'trainable']);
  }

  /** The layer from its Keras config; unsupported values are DigitsErrors naming the field. */
  static fromConfig(raw: Record<string, unknown>): Flatten {
    const { label, cfg, common } = parseCommonConfig('Flatten', raw);
    knownKeys(label, cfg, [...COMMON_CONFIG_KEYS, 'data_format']);
    mustEqual(`${label}.data_format`, cfg.data_format ?? 'channels_last', 'channels_last', 'Digits is NHWC only');
    return new Flatten(common);
  }

  protected setup(inputShape: readonly number[], _rng: Rng): number[] {
    this.outView = null;
    this.inView = null;
    return [inputShape.reduce((a, b) => a * b, 1)];
  }

  // x [N, d1, d2, ...] -> y [N, d1*d2*...] (same memory)
  forward(x: Tensor, _ctx: RunContext): Tensor {
    this.n = this.batchOf(x);
    if (this.outView === null || this.outView.data !== x.data) this.outView = x.reshape([this.n, ...this.builtOutput()]);
    return this.outView;
  }

  backward(dy: Tensor, _ctx: RunContext): Tensor {
    if (this.n === 0) throw new DigitsError(`Flatten "${this.name}": backward called before forward`);
    this.checkGradShape(dy, this.n);
    if (this.inView === null || this.inView.data !== dy.data) this.inView = dy.reshape([this.n, ...this.builtInput()]);
    return this.inView;
  }

  getConfig(): Record<string, unknown> {
    return { ...this.commonConfig() };
  }
}

registerLayer<Flatten>({
  className: 'Flatten',
  fromConfig: (config) => Flatten.fromConfig(config),
  toOnnx: (layer, g) => {
    g.toNHWC(layer.name); // H-W-C order, as Keras channels_last
    if (g.rank > 2) g.op('Flatten', layer.name, [], { axis: { int: 1 } });
  },
});
