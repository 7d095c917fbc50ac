/**
 * BatchNormalization over the last (channel) axis, as Keras' BatchNormalization(axis=-1).
 *
 *   x [N, ..., C] -> y [N, ..., C], viewed as [rows, C] with rows = N * H * W
 *   training:  mean, var = batch statistics of x per channel (biased variance)
 *              y = gamma * (x - mean) / sqrt(var + epsilon) + beta
 *              moving_mean = momentum * moving_mean + (1 - momentum) * mean   (same for moving_variance)
 *   inference: y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta
 *   backward (training): through the batch statistics (kernel batchNormBackward);
 *   backward (inference): y is affine in x: dx = dy * gamma / sqrt(moving_variance + epsilon)
 *
 * statistics pass (beginStatisticsPass … endStatisticsPass, PyTorch's update_bn): every forward
 *              normalizes with the batch statistics, as training does, and the moving statistics
 *              become the plain mean of the batches' (moving = batch statistics of the first, then
 *              the k-th folded in with weight 1/k); the momentum is not used.
 *
 * Weights in Keras/TF.js order: gamma, beta (trainable), moving_mean,
 * moving_variance (non-trainable: saved with the model, never touched by the optimizer).
 */
import { DigitsError } from '../errors.js';
import type { Rng } from '../engine/rng.js';
import type { Tensor } from '../engine/tensor.js';
import { Activation } from './activation-layer.js';
import { paramValue, registerLayer, type FusedStep, type Layer, type Param, type RunContext } from './layer.js';
import { BaseLayer, COMMON_CONFIG_KEYS, parseCommonConfig, requireNull, type CommonLayerOptions } from './base.js';
import { parseInitializer } from './initializers.js';
import { boolean, knownKeys, numberInRange, positiveNumber, showValue } from './validate.js';

/** Options of BatchNormalization (Keras names): momentum, epsilon, center, scale. */
export interface BatchNormalizationOptions extends CommonLayerOptions {
  /** weight of the old value in the moving averages (default 0.99, as Keras) */
  momentum?: number;
  /** added to the variance before the square root (default 1e-3, as Keras) */
  epsilon?: number;
}

/** Batch normalization over the last axis, as Keras: batch statistics while training, moving statistics at inference. */
export class BatchNormalization extends BaseLayer {
  readonly className = 'BatchNormalization';
  readonly defaultName = 'batch_normalization';
  readonly momentum: number;
  readonly epsilon: number;
  private cols = 0;
  private gamma: Param | null = null;
  private beta: Param | null = null;
  private movingMean: Param | null = null;
  private movingVar: Param | null = null;
  private batchMean = new Float32Array(0);
  private batchVar = new Float32Array(0);
  /** what backward needs, written by forward */
  private saved: { x: Tensor; n: number; training: boolean; reluY: Tensor | null } | null = null;
  /** batches folded into the moving statistics during a statistics pass; null outside one */
  private passBatches: number | null = null;

  constructor(opts: BatchNormalizationOptions = {}) {
    super(opts, 'BatchNormalization');
    knownKeys('BatchNormalization options', opts as unknown as Record<string, unknown>, ['momentum', 'epsilon', 'name', 'inputShape', 'trainable']);
    this.momentum = numberInRange('BatchNormalization.momentum', opts.momentum ?? 0.99, 0, 1);
    this.epsilon = positiveNumber('BatchNormalization.epsilon', opts.epsilon ?? 1e-3);
  }

  /** The layer from its Keras config; unsupported values are DigitsErrors naming the field. */
  static fromConfig(raw: Record<string, unknown>): BatchNormalization {
    const { label, cfg, common } = parseCommonConfig('BatchNormalization', raw);
    knownKeys(label, cfg, [...COMMON_CONFIG_KEYS, 'axis', 'momentum', 'epsilon', 'center', 'scale', 'beta_initializer',
      'gamma_initializer', 'moving_mean_initializer', 'moving_variance_initializer', 'beta_regularizer', 'gamma_regularizer',
      'beta_constraint', 'gamma_constraint', 'synchronized', 'renorm', 'renorm_clipping', 'renorm_momentum', 'fused',
      'virtual_batch_size', 'adjustment']);
    requireNull(label, cfg, ['beta_regularizer', 'gamma_regularizer', 'beta_constraint', 'gamma_constraint', 'renorm_clipping',
      'virtual_batch_size', 'adjustment']);
    for (const key of ['center', 'scale'] as const) {
      if (cfg[key] !== undefined && !boolean(`${label}.${key}`, cfg[key])) {
        throw new DigitsError(`${label}.${key}: expected true (Digits implements BatchNormalization with both gamma and beta), got false`);
      }
    }
    for (const key of ['synchronized', 'renorm'] as const) {
      if (cfg[key] !== undefined && cfg[key] !== false) throw new DigitsError(`${label}.${key}: expected false, got ${showValue(cfg[key])}`);
    }
    for (const key of ['beta_initializer', 'gamma_initializer', 'moving_mean_initializer', 'moving_variance_initializer'] as const) {
      if (cfg[key] !== undefined) parseInitializer(`${label}.${key}`, cfg[key]); // weights come from the file; only check the form
    }
    const layer = new BatchNormalization({
      ...common,
      momentum: numberInRange(`${label}.momentum`, cfg.momentum ?? 0.99, 0, 1),
      epsilon: positiveNumber(`${label}.epsilon`, cfg.epsilon ?? 1e-3),
    });
    layer.configAxis = cfg.axis ?? -1;
    layer.axisLabel = `${label}.axis`;
    return layer;
  }

  /** the axis a model file gave (checked against the input rank at build: only the last axis is supported) */
  private configAxis: unknown = -1;
  private axisLabel = 'BatchNormalization.axis';

  protected setup(inputShape: readonly number[], _rng: Rng): number[] {
    const rank = inputShape.length + 1; // with the batch axis
    let axis = this.configAxis;
    if (Array.isArray(axis) && axis.length === 1) axis = axis[0];
    if (axis !== -1 && axis !== rank - 1) {
      throw new DigitsError(`${this.axisLabel}: expected -1 or ${rank - 1} (Digits normalises the last, channel axis), got ${showValue(this.configAxis)}`);
    }
    this.cols = inputShape[inputShape.length - 1]!;
    this.gamma = this.addParam('gamma', [this.cols]);
    this.beta = this.addParam('beta', [this.cols]);
    this.movingMean = this.addParam('moving_mean', [this.cols], true);
    this.movingVar = this.addParam('moving_variance', [this.cols], true);
    this.gamma.value.data.fill(1);
    this.movingVar.value.data.fill(1);
    this.batchMean = new Float32Array(this.cols);
    this.batchVar = new Float32Array(this.cols);
    this.saved = null;
    return [...inputShape];
  }

  forward(x: Tensor, ctx: RunContext): Tensor {
    return this.run(x, ctx, false);
  }

  /**
   * forward of this layer then of a ReLU after it (Sequential: BatchNormalization followed by
   * Activation('relu')), in one pass: returns relu(BN(x)) in this layer's output buffer.
   */
  forwardRelu(x: Tensor, ctx: RunContext): Tensor {
    return this.run(x, ctx, true);
  }

  /** A ReLU Activation right after this layer runs fused with it (forwardRelu / backwardRelu). */
  fuseWith(next: Layer): FusedStep | null {
    if (!(next instanceof Activation) || next.activation !== 'relu') return null;
    return { forward: (x, ctx) => this.forwardRelu(x, ctx), backward: (dy, ctx) => this.backwardRelu(dy, ctx) };
  }

  private run(x: Tensor, ctx: RunContext, relu: boolean): Tensor {
    const act = relu ? 'relu' : 'linear';
    const n = this.batchOf(x);
    const rows = x.size / this.cols;
    const y = this.ws.tensor('y', n, this.builtOutput());
    const g = this.gamma!.value.data;
    const b = this.beta!.value.data;
    const mm = this.movingMean!.value.data;
    const mv = this.movingVar!.value.data;
    if (ctx.training || this.passBatches !== null) {
      ctx.backend.batchNormStats(x.data, this.batchMean, this.batchVar, rows, this.cols);
      ctx.backend.batchNormForward(x.data, this.batchMean, this.batchVar, g, b, this.epsilon, y.data, rows, this.cols, act);
      // in a statistics pass the k-th batch (0-based) keeps k / (k + 1) of the mean so far: a plain mean
      const m = this.passBatches === null ? this.momentum : this.passBatches / (this.passBatches + 1);
      for (let c = 0; c < this.cols; c++) {
        mm[c] = m * mm[c]! + (1 - m) * this.batchMean[c]!;
        mv[c] = m * mv[c]! + (1 - m) * this.batchVar[c]!;
      }
      if (this.passBatches !== null) this.passBatches++;
    } else {
      ctx.backend.batchNormForward(x.data, mm, mv, g, b, this.epsilon, y.data, rows, this.cols, act);
    }
    this.saved = { x, n, training: ctx.training, reluY: relu ? y : null };
    return y;
  }

  /**
   * Start a statistics pass: the forwards that follow, in either mode, normalize with their batch's
   * statistics and make the moving mean and variance the plain mean of those batches' (see the top).
   */
  beginStatisticsPass(): void {
    if (this.movingMean === null) throw new DigitsError(`BatchNormalization "${this.name}": statistics pass before build`);
    this.passBatches = 0;
  }

  /** End a statistics pass: forwards use the mode they are run in again. */
  endStatisticsPass(): void {
    this.passBatches = null;
  }

  backward(dy: Tensor, ctx: RunContext): Tensor {
    if (this.saved?.reluY) throw new DigitsError(`BatchNormalization "${this.name}": backward after forwardRelu: use backwardRelu`);
    return this.backwardImpl(dy, ctx);
  }

  /** backward of the ReLU then of this layer, after forwardRelu: dy is the gradient of the ReLU's output. */
  backwardRelu(dy: Tensor, ctx: RunContext): Tensor {
    if (this.saved !== null && this.saved.reluY === null) {
      throw new DigitsError(`BatchNormalization "${this.name}": backwardRelu after a plain forward`);
    }
    return this.backwardImpl(dy, ctx);
  }

  private backwardImpl(dy: Tensor, ctx: RunContext): Tensor {
    if (this.saved === null) throw new DigitsError(`BatchNormalization "${this.name}": backward called before forward`);
    const { x, n, training, reluY } = this.saved;
    this.checkGradShape(dy, n);
    const rows = x.size / this.cols;
    const dx = this.ws.tensor('dx', n, this.builtInput());
    const g = this.gamma!.value.data;
    const dgamma = this.gamma!.grad.data;
    const dbeta = this.beta!.grad.data;
    if (training) {
      ctx.backend.batchNormBackward(x.data, dy.data, this.batchMean, this.batchVar, g, this.epsilon, dx.data, dgamma, dbeta,
        rows, this.cols, reluY?.data);
    } else {
      if (reluY !== null) { // the ReLU's backward first (not on the training path)
        const masked = this.ws.tensor('dyRelu', n, this.builtOutput());
        ctx.backend.activationBackward(dy.data, reluY.data, masked.data, 'relu');
        dy = masked;
      }
      // inference mode: an affine map per channel (reference arithmetic; not on the training path)
      const mm = this.movingMean!.value.data;
      const mv = this.movingVar!.value.data;
      dgamma.fill(0);
      dbeta.fill(0);
      for (let c = 0; c < this.cols; c++) {
        const istd = 1 / Math.sqrt(mv[c]! + this.epsilon);
        let sdy = 0;
        let sdyx = 0;
        for (let r = 0; r < rows; r++) {
          const i = r * this.cols + c;
          sdy += dy.data[i]!;
          sdyx += dy.data[i]! * (x.data[i]! - mm[c]!) * istd;
          dx.data[i] = dy.data[i]! * g[c]! * istd;
        }
        dgamma[c] = sdyx;
        dbeta[c] = sdy;
      }
    }
    this.movingMean!.grad.data.fill(0);
    this.movingVar!.grad.data.fill(0);
    return dx;
  }

  getConfig(): Record<string, unknown> {
    // Key order as TF.js 4.22 writes a BatchNormalization config.
    const init = (name: string): Record<string, unknown> => ({ class_name: name, config: {} });
    return {
      axis: -1, momentum: this.momentum, epsilon: this.epsilon, center: true, scale: true,
      beta_initializer: init('Zeros'), gamma_initializer: init('Ones'),
      moving_mean_initializer: init('Zeros'), moving_variance_initializer: init('Ones'),
      beta_regularizer: null, gamma_regularizer: null, beta_constraint: null, gamma_constraint: null,
      ...this.commonConfig(),
    };
  }
}

registerLayer<BatchNormalization>({
  className: 'BatchNormalization',
  fromConfig: (config) => BatchNormalization.fromConfig(config),
  toOnnx: (layer, g) => {
    const name = layer.name;
    const gamma = paramValue(layer, 'gamma')!;
    const beta = paramValue(layer, 'beta')!;
    const mean = paramValue(layer, 'moving_mean')!;
    const variance = paramValue(layer, 'moving_variance')!;
    const c = gamma.length;
    if (g.rank === 4 || g.rank === 2) {
      if (g.rank === 4) g.toNCHW(name); // channels on axis 1, as ONNX BatchNormalization wants
      g.op('BatchNormalization', name, [
        g.floatInit(`${name}/gamma`, [c], gamma), g.floatInit(`${name}/beta`, [c], beta),
        g.floatInit(`${name}/moving_mean`, [c], mean), g.floatInit(`${name}/moving_variance`, [c], variance),
      ], { epsilon: { float: layer.epsilon } });
    } else {
      // y = x * a + b per channel (last axis), a = gamma / sqrt(var + eps), b = beta - mean * a
      g.toNHWC(name);
      const a = new Float32Array(c);
      const b = new Float32Array(c);
      for (let i = 0; i < c; i++) {
        a[i] = gamma[i]! / Math.sqrt(variance[i]! + layer.epsilon);
        b[i] = beta[i]! - mean[i]! * a[i]!;
      }
      g.op('Mul', name, [g.floatInit(`${name}/scale`, [c], a)]);
      g.op('Add', name, [g.floatInit(`${name}/shift`, [c], b)]);
    }
  },
});
