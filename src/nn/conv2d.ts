/**
 * Conv2D: 2-D convolution (cross-correlation, as TF/Keras), NHWC.
 *
 *   x [N, H, W, C]  kernel [kh, kw, C, K]  bias [K]  ->  y [N, OH, OW, K]
 *   forward:  z = conv(x, kernel) + bias;  y = act(z)
 *   backward: dz = dy * act'(z);  dkernel, dbias from (x, dz);  dx from (dz, kernel)
 *
 * 'valid' padding uses only full windows; 'same' pads with zeros so that
 * OH = ceil(H / stride), the extra row/column going below/right, as TF does.
 */
import { DigitsError } from '../errors.js';
import { convGeometry, type ConvGeometry, type PoolGeometry } from '../engine/backend.js';
import type { Rng } from '../engine/rng.js';
import type { Tensor } from '../engine/tensor.js';
import { paramValue, registerLayer, type FusedStep, type Layer, type Param, type RunContext } from './layer.js';
import { MaxPooling2D } from './pooling.js';
import { activationBackward, parseActivation, type ActivationName, type SoftmaxOutputLayer } from './activations.js';
import { BaseLayer, COMMON_CONFIG_KEYS, parseCommonConfig, requireNull, type CommonLayerOptions } from './base.js';
import { glorotUniformConfig, initialize, applyInitializers, zerosConfig, type InitializerConfig } from './initializers.js';
import { boolean, intPair, knownKeys, mustEqual, oneOf, positiveInt } from './validate.js';

/** 'valid' (no padding) or 'same' (zero padding that keeps the size at stride 1), as TF pads. */
export type Padding = 'valid' | 'same';

/** Options of Conv2D (Keras names): filters, kernelSize, strides, padding, activation, useBias, initializers. */
export interface Conv2DOptions extends CommonLayerOptions {
  filters: number;
  kernelSize: number | readonly [number, number];
  /** default 1 */
  strides?: number | readonly [number, number];
  /** default 'valid' */
  padding?: Padding;
  /** default 'linear' (Keras: None) */
  activation?: ActivationName;
  /** default true */
  useBias?: boolean;
}

const CONFIG_KEYS = [
  ...COMMON_CONFIG_KEYS, 'filters', 'kernel_size', 'strides', 'padding', 'data_format', 'dilation_rate', 'groups',
  'activation', 'use_bias', 'kernel_initializer', 'bias_initializer', 'kernel_regularizer', 'bias_regularizer',
  'activity_regularizer', 'kernel_constraint', 'bias_constraint',
];

/** A 2-D convolution over NHWC images, as Keras' Conv2D: kernel [kh, kw, C, K], 'valid' or 'same' padding, an activation. */
export class Conv2D extends BaseLayer implements SoftmaxOutputLayer {
  readonly className = 'Conv2D';
  readonly defaultName = 'conv2d';
  readonly filters: number;
  readonly kernelSize: readonly [number, number];
  readonly strides: readonly [number, number];
  readonly padding: Padding;
  readonly activation: ActivationName;
  readonly useBias: boolean;
  kernelInitializer: InitializerConfig = glorotUniformConfig();
  biasInitializer: InitializerConfig = zerosConfig();

  private kernel: Param | null = null;
  private bias: Param | null = null;
  /** zeros standing in for the bias when useBias is false, and a sink for its gradient */
  private zeroBias = new Float32Array(0);
  private dbSink = new Float32Array(0);
  private readonly geometries = new Map<number, ConvGeometry>();
  /** what backward needs, written by forward */
  private saved: {
    x: Tensor; z: Tensor; y: Tensor; g: ConvGeometry;
    /** set by forwardPooled: the pool's output (y above is the same tensor), argmax and geometry */
    pooled?: { argmax: Int32Array; p: PoolGeometry; out: readonly number[] };
  } | null = null;

  constructor(opts: Conv2DOptions) {
    super(opts, 'Conv2D');
    knownKeys('Conv2D options', opts as unknown as Record<string, unknown>,
      ['filters', 'kernelSize', 'strides', 'padding', 'activation', 'useBias', 'name', 'inputShape', 'trainable']);
    this.filters = positiveInt('Conv2D.filters', opts.filters);
    this.kernelSize = intPair('Conv2D.kernelSize', opts.kernelSize);
    this.strides = intPair('Conv2D.strides', opts.strides ?? 1);
    this.padding = oneOf('Conv2D.padding', opts.padding ?? 'valid', ['valid', 'same'] as const);
    this.activation = parseActivation('Conv2D.activation', opts.activation ?? 'linear');
    this.useBias = boolean('Conv2D.useBias', opts.useBias ?? true);
  }

  /** Build from a Keras/TF.js config as model.json holds it; unsupported values are DigitsErrors naming the field. */
  static fromConfig(raw: Record<string, unknown>): Conv2D {
    const { label, cfg, common } = parseCommonConfig('Conv2D', raw);
    knownKeys(label, cfg, CONFIG_KEYS);
    mustEqual(`${label}.data_format`, cfg.data_format ?? 'channels_last', 'channels_last', 'Digits is NHWC only');
    const dil = cfg.dilation_rate ?? 1;
    if (!(dil === 1 || (Array.isArray(dil) && dil.length === 2 && dil[0] === 1 && dil[1] === 1))) {
      mustEqual(`${label}.dilation_rate`, dil, [1, 1], 'dilated convolutions are not supported');
    }
    mustEqual(`${label}.groups`, cfg.groups ?? 1, 1, 'grouped convolutions are not supported');
    requireNull(label, cfg, ['kernel_regularizer', 'bias_regularizer', 'activity_regularizer', 'kernel_constraint', 'bias_constraint']);
    const layer = new Conv2D({
      ...common,
      filters: positiveInt(`${label}.filters`, cfg.filters),
      kernelSize: intPair(`${label}.kernel_size`, cfg.kernel_size),
      strides: intPair(`${label}.strides`, cfg.strides ?? 1),
      padding: oneOf(`${label}.padding`, cfg.padding ?? 'valid', ['valid', 'same'] as const),
      activation: parseActivation(`${label}.activation`, cfg.activation ?? 'linear'),
      useBias: boolean(`${label}.use_bias`, cfg.use_bias ?? true),
    });
    applyInitializers(layer, cfg, label);
    return layer;
  }

  protected setup(inputShape: readonly number[], rng: Rng): number[] {
    if (inputShape.length !== 3) {
      throw new DigitsError(`Conv2D "${this.name}": input shape: expected [H, W, C], got [${inputShape.join(', ')}]`);
    }
    const [h, w, c] = inputShape as [number, number, number];
    const [kh, kw] = this.kernelSize;
    const g = convGeometry(1, h, w, c, kh, kw, this.filters, this.strides[0], this.strides[1], this.padding);
    if (g.outH < 1 || g.outW < 1) {
      throw new DigitsError(`Conv2D "${this.name}": kernel ${kh}x${kw} with 'valid' padding does not fit the ${h}x${w} input`);
    }
    this.geometries.clear();
    this.saved = null;
    this.kernel = this.addParam('kernel', [kh, kw, c, this.filters]);
    initialize(this.kernelInitializer, this.kernel.value.data, kh * kw * c, kh * kw * this.filters, rng);
    if (this.useBias) {
      this.bias = this.addParam('bias', [this.filters]);
      initialize(this.biasInitializer, this.bias.value.data, c, this.filters, rng);
    } else {
      this.bias = null;
      this.zeroBias = new Float32Array(this.filters);
      this.dbSink = new Float32Array(this.filters);
    }
    return [g.outH, g.outW, this.filters];
  }

  private geometry(n: number): ConvGeometry {
    let g = this.geometries.get(n);
    if (g === undefined) {
      const [h, w, c] = this.builtInput() as [number, number, number];
      g = convGeometry(n, h, w, c, this.kernelSize[0], this.kernelSize[1], this.filters, this.strides[0], this.strides[1], this.padding);
      this.geometries.set(n, g);
    }
    return g;
  }

  // x [N,H,W,C] -> y [N,OH,OW,K]
  forward(x: Tensor, ctx: RunContext): Tensor {
    const n = this.batchOf(x);
    const g = this.geometry(n);
    const out = this.builtOutput();
    const y = this.ws.tensor('y', n, out);
    const b = this.bias ? this.bias.value.data : this.zeroBias;
    let z = y;
    if (this.activation === 'softmax') {
      z = this.ws.tensor('z', n, out);
      ctx.backend.conv2dForward(x.data, this.kernel!.value.data, b, z.data, g, 'linear');
      ctx.backend.softmax(z.data, y.data, n * g.outH * g.outW, this.filters);
    } else {
      ctx.backend.conv2dForward(x.data, this.kernel!.value.data, b, y.data, g, this.activation);
    }
    this.saved = { x, z, y, g };
    return y;
  }

  // dy [N,OH,OW,K] -> dx [N,H,W,C]; kernel.grad, bias.grad
  backward(dy: Tensor, ctx: RunContext): Tensor {
    const s = this.requireSaved();
    this.checkGradShape(dy, s.g.n);
    const dz = activationBackward(ctx.backend, this.activation, dy, s.y, this.ws.tensor('dz', s.g.n, this.builtOutput()), this.filters);
    return this.backwardFromLogits(dz, ctx);
  }

  /**
   * Whether `pool`, when it directly follows this layer, may be computed fused with it (forwardPooled,
   * backwardPooled): a linear or ReLU activation and non-overlapping pool windows.
   */
  canFusePool(pool: MaxPooling2D): boolean {
    return (this.activation === 'linear' || this.activation === 'relu') && pool.nonOverlapping;
  }

  /** A MaxPooling2D right after this layer runs fused with it (forwardPooled / backwardPooled) when canFusePool allows. */
  fuseWith(next: Layer): FusedStep | null {
    if (!(next instanceof MaxPooling2D) || !this.canFusePool(next)) return null;
    return { forward: (x, ctx) => this.forwardPooled(x, next, ctx), backward: (dy, ctx) => this.backwardPooled(dy, ctx) };
  }

  /**
   * forward of this layer then of `pool` (the next layer) in one kernel: returns the pool's output
   * (a tensor the pool owns) without writing this layer's own output. Only with canFusePool(pool).
   */
  forwardPooled(x: Tensor, pool: MaxPooling2D, ctx: RunContext): Tensor {
    const n = this.batchOf(x);
    const g = this.geometry(n);
    const { y, argmax, g: p } = pool.fusedForward(n);
    const b = this.bias ? this.bias.value.data : this.zeroBias;
    ctx.backend.conv2dMaxPoolForward(x.data, this.kernel!.value.data, b, y.data, argmax, g, p,
      this.activation === 'relu' ? 'relu' : 'linear');
    this.saved = { x, z: y, y, g, pooled: { argmax, p, out: y.shape.slice(1) } };
    return y;
  }

  /** backward of `pool` then of this layer, after forwardPooled: dy is the gradient of the pool's output. */
  backwardPooled(dy: Tensor, ctx: RunContext): Tensor {
    const s = this.requireSaved();
    const pooled = s.pooled;
    if (pooled === undefined) throw new DigitsError(`Conv2D "${this.name}": backwardPooled called after a plain forward`);
    const n = s.g.n;
    if (dy.shape.length !== 4 || dy.shape[0] !== n || pooled.out.some((d, i) => dy.shape[i + 1] !== d)) {
      throw new DigitsError(`Conv2D "${this.name}": backward: expected a pooled output gradient of shape ` +
        `[${n}, ${pooled.out.join(', ')}], got [${dy.shape.join(', ')}] (backward must follow forward on the same batch)`);
    }
    // ReLU: the pooled value is the conv output at the argmax, so its sign gives the derivative there.
    const dzp = activationBackward(ctx.backend, this.activation, dy, s.y, this.ws.tensor('dzp', n, pooled.out), this.filters);
    const db = this.bias ? this.bias.grad.data : this.dbSink;
    ctx.backend.conv2dMaxPoolBackwardFilter(s.x.data, dzp.data, pooled.argmax, this.kernel!.grad.data, db, s.g, pooled.p);
    const dx = this.ws.tensor('dx', n, this.builtInput());
    if (ctx.inputGradient !== false) {
      ctx.backend.conv2dMaxPoolBackwardInput(dzp.data, pooled.argmax, this.kernel!.value.data, dx.data, s.g, pooled.p);
    }
    return dx;
  }

  logits(): Tensor {
    return this.requireSaved().z;
  }

  backwardFromLogits(dz: Tensor, ctx: RunContext): Tensor {
    const s = this.requireSaved();
    if (s.pooled !== undefined) throw new DigitsError(`Conv2D "${this.name}": backward after forwardPooled: use backwardPooled`);
    this.checkGradShape(dz, s.g.n);
    const db = this.bias ? this.bias.grad.data : this.dbSink;
    ctx.backend.conv2dBackwardFilter(s.x.data, dz.data, this.kernel!.grad.data, db, s.g);
    const dx = this.ws.tensor('dx', s.g.n, this.builtInput());
    if (ctx.inputGradient !== false) ctx.backend.conv2dBackwardInput(dz.data, this.kernel!.value.data, dx.data, s.g);
    return dx;
  }

  private requireSaved(): NonNullable<Conv2D['saved']> {
    if (this.saved === null) throw new DigitsError(`Conv2D "${this.name}": backward called before forward`);
    return this.saved;
  }

  getConfig(): Record<string, unknown> {
    // Key order as TF.js 4.22 writes a Conv2D config.
    return {
      filters: this.filters,
      kernel_initializer: structuredClone(this.kernelInitializer),
      kernel_regularizer: null,
      kernel_constraint: null,
      kernel_size: [...this.kernelSize],
      strides: [...this.strides],
      padding: this.padding,
      data_format: 'channels_last',
      dilation_rate: [1, 1],
      activation: this.activation,
      use_bias: this.useBias,
      bias_initializer: structuredClone(this.biasInitializer),
      bias_regularizer: null,
      activity_regularizer: null,
      bias_constraint: null,
      ...this.commonConfig(),
    };
  }
}

/** TF's padding as ONNX pads [top, left, bottom, right]: 'valid' none; 'same' total = max((ceil(in/s) - 1) * s + k - in, 0), the odd one at the end. */
export function tfPads(padding: 'valid' | 'same', inH: number, inW: number, k: readonly [number, number], s: readonly [number, number]): number[] {
  if (padding === 'valid') return [0, 0, 0, 0];
  const total = (size: number, kk: number, ss: number): number => Math.max((Math.ceil(size / ss) - 1) * ss + kk - size, 0);
  const th = total(inH, k[0], s[0]);
  const tw = total(inW, k[1], s[1]);
  return [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
}

/** [kh, kw, C, K] (Keras) -> [K, C, kh, kw] (ONNX Conv W). */
function kernelToOihw(kernel: Float32Array, kh: number, kw: number, c: number, k: number): Float32Array {
  const out = new Float32Array(kernel.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let ci = 0; ci < c; ci++) {
        for (let ko = 0; ko < k; ko++) out[((ko * c + ci) * kh + y) * kw + x] = kernel[((y * kw + x) * c + ci) * k + ko]!;
      }
    }
  }
  return out;
}

registerLayer<Conv2D>({
  className: 'Conv2D',
  fromConfig: (config) => Conv2D.fromConfig(config),
  toOnnx: (layer, g) => {
    const name = layer.name;
    const inShape = layer.inputShape!;
    if (inShape.length !== 3) throw new DigitsError(`ONNX export: Conv2D "${name}": expected an [H, W, C] input, got [${inShape.join(', ')}]`);
    const [h, w, c] = inShape as [number, number, number];
    const [kh, kw] = layer.kernelSize;
    g.toNCHW(name);
    const inputs = [g.floatInit(`${name}/kernel`, [layer.filters, c, kh, kw], kernelToOihw(paramValue(layer, 'kernel')!, kh, kw, c, layer.filters))];
    const bias = paramValue(layer, 'bias');
    if (bias !== null) inputs.push(g.floatInit(`${name}/bias`, [layer.filters], bias));
    g.op('Conv', name, inputs, {
      kernel_shape: { ints: [kh, kw] }, strides: { ints: [...layer.strides] },
      pads: { ints: tfPads(layer.padding, h, w, layer.kernelSize, layer.strides) }, dilations: { ints: [1, 1] }, group: { int: 1 },
    });
    g.activation(layer.activation, name);
  },
});
