/**
 * Activation: applies 'linear', 'relu' or 'softmax' (over the last axis) on
 * its own, as Keras' Activation layer.
 *
 *   x [N, ..., C] -> y [N, ..., C]
 *   linear: y = x (the input itself);  relu: y = max(x, 0);  softmax: y = softmax(x) per row of C
 *   backward: dx = dy * act'(x), through y
 *
 * With softmax the input is the logits, so the fused softmax-cross-entropy
 * hands its gradient straight back as this layer's input gradient.
 */
import { DigitsError } from '../errors.js';
import type { Rng } from '../engine/rng.js';
import type { Tensor } from '../engine/tensor.js';
import { registerLayer, type RunContext } from './layer.js';
import { activationBackward, parseActivation, type ActivationName, type SoftmaxOutputLayer } from './activations.js';
import { BaseLayer, COMMON_CONFIG_KEYS, parseCommonConfig, type CommonLayerOptions } from './base.js';
import { knownKeys } from './validate.js';

/** Options of Activation: the activation's name. */
export interface ActivationOptions extends CommonLayerOptions {
  activation: ActivationName;
}

/** A layer that applies an activation ('relu', 'softmax' or 'linear') to its input, as Keras' Activation. */
export class Activation extends BaseLayer implements SoftmaxOutputLayer {
  readonly className = 'Activation';
  readonly defaultName = 'activation';
  readonly activation: ActivationName;
  private zeros = new Float32Array(0);
  private cols = 0;
  /** what backward needs, written by forward */
  private saved: { x: Tensor; y: Tensor; n: number } | null = null;

  constructor(opts: ActivationOptions) {
    super(opts, 'Activation');
    knownKeys('Activation options', opts as unknown as Record<string, unknown>, ['activation', 'name', 'inputShape', 'trainable']);
    this.activation = parseActivation('Activation.activation', opts.activation);
  }

  /** The layer from its Keras config; unsupported values are DigitsErrors naming the field. */
  static fromConfig(raw: Record<string, unknown>): Activation {
    const { label, cfg, common } = parseCommonConfig('Activation', raw);
    knownKeys(label, cfg, [...COMMON_CONFIG_KEYS, 'activation']);
    return new Activation({ ...common, activation: parseActivation(`${label}.activation`, cfg.activation) });
  }

  protected setup(inputShape: readonly number[], _rng: Rng): number[] {
    this.cols = inputShape[inputShape.length - 1]!;
    this.zeros = new Float32Array(this.cols);
    this.saved = null;
    return [...inputShape];
  }

  forward(x: Tensor, ctx: RunContext): Tensor {
    const n = this.batchOf(x);
    let y = x;
    if (this.activation !== 'linear') {
      y = this.ws.tensor('y', n, this.builtOutput());
      const rows = x.size / this.cols;
      if (this.activation === 'relu') {
        y.data.set(x.data);
        ctx.backend.biasActivation(y.data, this.zeros, rows, this.cols, 'relu');
      } else {
        ctx.backend.softmax(x.data, y.data, rows, this.cols);
      }
    }
    this.saved = { x, y, n };
    return y;
  }

  backward(dy: Tensor, ctx: RunContext): Tensor {
    const s = this.requireSaved();
    this.checkGradShape(dy, s.n);
    return activationBackward(ctx.backend, this.activation, dy, s.y, this.ws.tensor('dx', s.n, this.builtInput()), this.cols);
  }

  logits(): Tensor {
    return this.requireSaved().x;
  }

  backwardFromLogits(dlogits: Tensor, _ctx: RunContext): Tensor {
    const s = this.requireSaved();
    this.checkGradShape(dlogits, s.n);
    return dlogits;
  }

  private requireSaved(): NonNullable<Activation['saved']> {
    if (this.saved === null) throw new DigitsError(`Activation "${this.name}": backward called before forward`);
    return this.saved;
  }

  getConfig(): Record<string, unknown> {
    return { activation: this.activation, ...this.commonConfig() };
  }
}

registerLayer<Activation>({
  className: 'Activation',
  fromConfig: (config) => Activation.fromConfig(config),
  toOnnx: (layer, g) => g.activation(layer.activation, layer.name),
});
