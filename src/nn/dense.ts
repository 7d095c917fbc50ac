/**
 * Dense: fully connected layer on the last axis (Keras: any rank, the kernel
 * applies to the last dimension).
 *
 *   x [N, ..., in]  kernel [in, units]  bias [units]  ->  y [N, ..., units]
 *   (rows = N * prod of the middle dims)
 *   forward:  z = x @ kernel + bias;  y = act(z)
 *   backward: dz = dy * act'(z);  dkernel = x^T @ dz;  dbias = sum_rows dz;  dx = dz @ kernel^T
 */
import { DigitsError } from '../errors.js';
import type { Rng } from '../engine/rng.js';
import type { Tensor } from '../engine/tensor.js';
import { paramValue, registerLayer, type Param, type RunContext } from './layer.js';
import { activationBackward, parseActivation, type ActivationName, type SoftmaxOutputLayer } from './activations.js';
import { BaseLayer, COMMON_CONFIG_KEYS, parseCommonConfig, requireNull, type CommonLayerOptions } from './base.js';
import { glorotUniformConfig, initialize, applyInitializers, zerosConfig, type InitializerConfig } from './initializers.js';
import { boolean, knownKeys, positiveInt } from './validate.js';

/** Options of Dense (Keras names): units, activation, useBias, initializers. */
export interface DenseOptions extends CommonLayerOptions {
  units: number;
  /** default 'linear' (Keras: None) */
  activation?: ActivationName;
  /** default true */
  useBias?: boolean;
}

const CONFIG_KEYS = [
  ...COMMON_CONFIG_KEYS, 'units', 'activation', 'use_bias', 'kernel_initializer', 'bias_initializer',
  'kernel_regularizer', 'bias_regularizer', 'activity_regularizer', 'kernel_constraint', 'bias_constraint',
];

/** A fully connected layer over the last axis, as Keras' Dense: kernel [in, units], a bias, an activation. */
export class Dense extends BaseLayer implements SoftmaxOutputLayer {
  readonly className = 'Dense';
  readonly defaultName = 'dense';
  readonly units: number;
  readonly activation: ActivationName;
  readonly useBias: boolean;
  kernelInitializer: InitializerConfig = glorotUniformConfig();
  biasInitializer: InitializerConfig = zerosConfig();

  private kernel: Param | null = null;
  private bias: Param | null = null;
  private zeroBias = new Float32Array(0);
  private inUnits = 0;
  /** what backward needs, written by forward */
  private saved: { x: Tensor; z: Tensor; y: Tensor; n: number; rows: number } | null = null;

  constructor(opts: DenseOptions) {
    super(opts, 'Dense');
    knownKeys('Dense options', opts as unknown as Record<string, unknown>, ['units', 'activation', 'useBias', 'name', 'inputShape', 'trainable']);
    this.units = positiveInt('Dense.units', opts.units);
    this.activation = parseActivation('Dense.activation', opts.activation ?? 'linear');
    this.useBias = boolean('Dense.useBias', opts.useBias ?? true);
  }

  /** The layer from its Keras config; unsupported values are DigitsErrors naming the field. */
  static fromConfig(raw: Record<string, unknown>): Dense {
    const { label, cfg, common } = parseCommonConfig('Dense', raw);
    knownKeys(label, cfg, CONFIG_KEYS);
    requireNull(label, cfg, ['kernel_regularizer', 'bias_regularizer', 'activity_regularizer', 'kernel_constraint', 'bias_constraint']);
    const layer = new Dense({
      ...common,
      units: positiveInt(`${label}.units`, cfg.units),
      activation: parseActivation(`${label}.activation`, cfg.activation ?? 'linear'),
      useBias: boolean(`${label}.use_bias`, cfg.use_bias ?? true),
    });
    applyInitializers(layer, cfg, label);
    return layer;
  }

  protected setup(inputShape: readonly number[], rng: Rng): number[] {
    const inUnits = inputShape[inputShape.length - 1]!;
    this.inUnits = inUnits;
    this.saved = null;
    this.kernel = this.addParam('kernel', [inUnits, this.units]);
    initialize(this.kernelInitializer, this.kernel.value.data, inUnits, this.units, rng);
    if (this.useBias) {
      this.bias = this.addParam('bias', [this.units]);
      initialize(this.biasInitializer, this.bias.value.data, inUnits, this.units, rng);
    } else {
      this.bias = null;
      this.zeroBias = new Float32Array(this.units);
    }
    return [...inputShape.slice(0, -1), this.units];
  }

  // x [rows, in] -> y [rows, units]
  forward(x: Tensor, ctx: RunContext): Tensor {
    const n = this.batchOf(x);
    const rows = x.size / this.inUnits;
    const out = this.builtOutput();
    const y = this.ws.tensor('y', n, out);
    const b = this.bias ? this.bias.value.data : this.zeroBias;
    const z = this.activation === 'softmax' ? this.ws.tensor('z', n, out) : y;
    ctx.backend.matmul(x.data, this.kernel!.value.data, z.data, rows, this.units, this.inUnits, false, false, false);
    if (this.activation === 'softmax') {
      ctx.backend.biasActivation(z.data, b, rows, this.units, 'linear');
      ctx.backend.softmax(z.data, y.data, rows, this.units);
    } else {
      ctx.backend.biasActivation(y.data, b, rows, this.units, this.activation);
    }
    this.saved = { x, z, y, n, rows };
    return y;
  }

  // dy [rows, units] -> dx [rows, in]; kernel.grad, bias.grad
  backward(dy: Tensor, ctx: RunContext): Tensor {
    const s = this.requireSaved();
    this.checkGradShape(dy, s.n);
    const dz = activationBackward(ctx.backend, this.activation, dy, s.y, this.ws.tensor('dz', s.n, this.builtOutput()), this.units);
    return this.backwardFromLogits(dz, ctx);
  }

  logits(): Tensor {
    return this.requireSaved().z;
  }

  backwardFromLogits(dz: Tensor, ctx: RunContext): Tensor {
    const s = this.requireSaved();
    this.checkGradShape(dz, s.n);
    const be = ctx.backend;
    // dkernel[in, units] = x^T @ dz: x is stored [rows, in], i.e. op(a) = x^T with transA
    be.matmul(s.x.data, dz.data, this.kernel!.grad.data, this.inUnits, this.units, s.rows, true, false, false);
    if (this.bias) be.biasGrad(dz.data, this.bias.grad.data, s.rows, this.units);
    // dx[rows, in] = dz @ kernel^T: kernel is stored [in, units], i.e. op(b) = kernel^T with transB
    const dx = this.ws.tensor('dx', s.n, this.builtInput());
    if (ctx.inputGradient !== false) be.matmul(dz.data, this.kernel!.value.data, dx.data, s.rows, this.inUnits, this.units, false, true, false);
    return dx;
  }

  private requireSaved(): NonNullable<Dense['saved']> {
    if (this.saved === null) throw new DigitsError(`Dense "${this.name}": backward called before forward`);
    return this.saved;
  }

  getConfig(): Record<string, unknown> {
    // Key order as TF.js 4.22 writes a Dense config.
    return {
      units: this.units,
      activation: this.activation,
      use_bias: this.useBias,
      kernel_initializer: structuredClone(this.kernelInitializer),
      bias_initializer: structuredClone(this.biasInitializer),
      kernel_regularizer: null,
      bias_regularizer: null,
      activity_regularizer: null,
      kernel_constraint: null,
      bias_constraint: null,
      ...this.commonConfig(),
    };
  }
}

registerLayer<Dense>({
  className: 'Dense',
  fromConfig: (config) => Dense.fromConfig(config),
  toOnnx: (layer, g) => {
    const name = layer.name;
    g.toNHWC(name); // Dense works on the last axis: the channels
    const inUnits = layer.inputShape![layer.inputShape!.length - 1]!;
    g.op('MatMul', name, [g.floatInit(`${name}/kernel`, [inUnits, layer.units], paramValue(layer, 'kernel')!)]);
    const bias = paramValue(layer, 'bias');
    if (bias !== null) g.op('Add', name, [g.floatInit(`${name}/bias`, [layer.units], bias)]);
    g.activation(layer.activation, name);
  },
});
