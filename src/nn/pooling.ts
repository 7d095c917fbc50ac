/**
 * MaxPooling2D, NHWC, 'valid' padding (the only one the Backend implements).
 *
 *   x [N, H, W, C] -> y [N, OH, OW, C],  OH = floor((H - poolH) / strideH) + 1
 *   forward:  y = max over each window; argmax keeps the flat index of the winner (first on ties)
 *   backward: dx = dy scattered to the argmax positions, zero elsewhere
 */
import { DigitsError } from '../errors.js';
import { poolGeometry, type PoolGeometry } from '../engine/backend.js';
import type { Rng } from '../engine/rng.js';
import type { Tensor } from '../engine/tensor.js';
import { registerLayer, type RunContext } from './layer.js';
import { BaseLayer, COMMON_CONFIG_KEYS, parseCommonConfig, type CommonLayerOptions } from './base.js';
import { intPair, knownKeys, mustEqual, oneOf } from './validate.js';

/** Options of MaxPooling2D: poolSize and strides (default: poolSize). */
export interface MaxPooling2DOptions extends CommonLayerOptions {
  /** default 2 */
  poolSize?: number | readonly [number, number];
  /** default: poolSize */
  strides?: number | readonly [number, number];
  /** only 'valid' */
  padding?: 'valid';
}

/** 2-D max pooling over NHWC images, as Keras' MaxPooling2D ('valid' padding). */
export class MaxPooling2D extends BaseLayer {
  readonly className = 'MaxPooling2D';
  readonly defaultName = 'max_pooling2d';
  readonly poolSize: readonly [number, number];
  readonly strides: readonly [number, number];
  readonly padding = 'valid' as const;
  private readonly geometries = new Map<number, PoolGeometry>();
  /** what backward needs, written by forward */
  private saved: { argmax: Int32Array; g: PoolGeometry } | null = null;

  constructor(opts: MaxPooling2DOptions = {}) {
    super(opts, 'MaxPooling2D');
    knownKeys('MaxPooling2D options', opts as unknown as Record<string, unknown>, ['poolSize', 'strides', 'padding', 'name', 'inputShape', 'trainable']);
    this.poolSize = intPair('MaxPooling2D.poolSize', opts.poolSize ?? 2);
    this.strides = opts.strides === undefined || opts.strides === null ? this.poolSize : intPair('MaxPooling2D.strides', opts.strides);
    oneOf('MaxPooling2D.padding', opts.padding ?? 'valid', ['valid'] as const);
  }

  /** The layer from its Keras config; unsupported values are DigitsErrors naming the field. */
  static fromConfig(raw: Record<string, unknown>): MaxPooling2D {
    const { label, cfg, common } = parseCommonConfig('MaxPooling2D', raw);
    knownKeys(label, cfg, [...COMMON_CONFIG_KEYS, 'pool_size', 'strides', 'padding', 'data_format']);
    mustEqual(`${label}.data_format`, cfg.data_format ?? 'channels_last', 'channels_last', 'Digits is NHWC only');
    const poolSize = intPair(`${label}.pool_size`, cfg.pool_size ?? 2);
    return new MaxPooling2D({
      ...common,
      poolSize,
      strides: cfg.strides === undefined || cfg.strides === null ? poolSize : intPair(`${label}.strides`, cfg.strides),
      padding: oneOf(`${label}.padding`, cfg.padding ?? 'valid', ['valid'] as const),
    });
  }

  protected setup(inputShape: readonly number[], _rng: Rng): number[] {
    if (inputShape.length !== 3) {
      throw new DigitsError(`MaxPooling2D "${this.name}": input shape: expected [H, W, C], got [${inputShape.join(', ')}]`);
    }
    const [h, w, c] = inputShape as [number, number, number];
    const g = poolGeometry(1, h, w, c, this.poolSize[0], this.poolSize[1], this.strides[0], this.strides[1]);
    if (g.outH < 1 || g.outW < 1) {
      throw new DigitsError(`MaxPooling2D "${this.name}": pool ${this.poolSize.join('x')} does not fit the ${h}x${w} input`);
    }
    this.geometries.clear();
    this.saved = null;
    return [g.outH, g.outW, c];
  }

  private geometry(n: number): PoolGeometry {
    let g = this.geometries.get(n);
    if (g === undefined) {
      const [h, w, c] = this.builtInput() as [number, number, number];
      g = poolGeometry(n, h, w, c, this.poolSize[0], this.poolSize[1], this.strides[0], this.strides[1]);
      this.geometries.set(n, g);
    }
    return g;
  }

  // x [N,H,W,C] -> y [N,OH,OW,C]
  forward(x: Tensor, ctx: RunContext): Tensor {
    const n = this.batchOf(x);
    const g = this.geometry(n);
    const out = this.builtOutput();
    const y = this.ws.tensor('y', n, out);
    const argmax = this.ws.int32('argmax', n, y.size / n);
    ctx.backend.maxPool2dForward(x.data, y.data, argmax, g);
    this.saved = { argmax, g };
    return y;
  }

  /** Windows that do not overlap: the pooling a Conv2D may compute fused with itself (Conv2D.forwardPooled). */
  get nonOverlapping(): boolean {
    return this.poolSize[0] === this.strides[0] && this.poolSize[1] === this.strides[1];
  }

  /**
   * For a Conv2D that computes this pooling fused with its convolution: the output and argmax
   * buffers for a batch of n and the geometry, recorded as forward records them (backward then works as usual).
   */
  fusedForward(n: number): { y: Tensor; argmax: Int32Array; g: PoolGeometry } {
    const g = this.geometry(n);
    const y = this.ws.tensor('y', n, this.builtOutput());
    const argmax = this.ws.int32('argmax', n, y.size / n);
    this.saved = { argmax, g };
    return { y, argmax, g };
  }

  // dy [N,OH,OW,C] -> dx [N,H,W,C]
  backward(dy: Tensor, ctx: RunContext): Tensor {
    if (this.saved === null) throw new DigitsError(`MaxPooling2D "${this.name}": backward called before forward`);
    const { argmax, g } = this.saved;
    this.checkGradShape(dy, g.n);
    const dx = this.ws.tensor('dx', g.n, this.builtInput());
    ctx.backend.maxPool2dBackward(dy.data, argmax, dx.data, g);
    return dx;
  }

  getConfig(): Record<string, unknown> {
    // Key order as TF.js 4.22 writes a MaxPooling2D config.
    return {
      pool_size: [...this.poolSize],
      padding: this.padding,
      strides: [...this.strides],
      data_format: 'channels_last',
      ...this.commonConfig(),
    };
  }
}

registerLayer<MaxPooling2D>({
  className: 'MaxPooling2D',
  fromConfig: (config) => MaxPooling2D.fromConfig(config),
  toOnnx: (layer, g) => {
    g.toNCHW(layer.name);
    g.op('MaxPool', layer.name, [], {
      kernel_shape: { ints: [...layer.poolSize] }, strides: { ints: [...layer.strides] }, pads: { ints: [0, 0, 0, 0] },
    });
  },
});
