/**
 * Activations a layer can end with: 'linear', 'relu' (done by the backend's
 * fused bias+activation kernels) and 'softmax' over the last axis.
 *
 * Softmax keeps the pre-activation logits: when it ends the model and the
 * loss is categorical cross-entropy, training skips the softmax backward and
 * uses the fused `backend.softmaxCrossEntropy` on the logits (stable, and the
 * gradient is simply probs - targets).
 */
import type { Backend } from '../engine/backend.js';
import type { Tensor } from '../engine/tensor.js';
import type { Layer, RunContext } from './layer.js';
import { oneOf } from './validate.js';

/** An activation by its Keras name. */
export type ActivationName = 'linear' | 'relu' | 'softmax';
export const ACTIVATIONS: readonly ActivationName[] = ['linear', 'relu', 'softmax'];

export function parseActivation(label: string, v: unknown): ActivationName {
  return oneOf(label, v, ACTIVATIONS);
}

/**
 * A layer whose output is softmax(logits): the model reads the logits after
 * forward and, for the fused loss, enters backward with the logits' gradient.
 */
export interface SoftmaxOutputLayer extends Layer {
  readonly activation: ActivationName;
  /** the pre-softmax values of the last forward call [N, ..., classes] */
  logits(): Tensor;
  /** backward starting from d(loss)/d(logits) instead of d(loss)/d(output) */
  backwardFromLogits(dlogits: Tensor, ctx: RunContext): Tensor;
}

export function isSoftmaxOutputLayer(layer: Layer): layer is SoftmaxOutputLayer {
  const l = layer as Partial<SoftmaxOutputLayer>;
  return l.activation === 'softmax' && typeof l.logits === 'function' && typeof l.backwardFromLogits === 'function';
}

/**
 * dz[rows,cols] = y * (dy - sum_j(dy * y)) per row: the softmax backward when
 * softmax is not fused with the loss (a softmax inside the model, or a loss
 * computed on probabilities). The Backend has no kernel for it: it runs on
 * rows x classes values, far off the hot path, so it stays here in plain
 * TypeScript (float64 row sums). dz may alias dy.
 */
export function softmaxBackward(dy: Float32Array, y: Float32Array, dz: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += dy[o + j]! * y[o + j]!;
    for (let j = 0; j < cols; j++) dz[o + j] = y[o + j]! * (dy[o + j]! - dot);
  }
}

/**
 * Apply a non-fused activation backward: dz = dy * act'(.), given the
 * activation's output y. 'linear' returns dy itself (no copy).
 */
export function activationBackward(backend: Backend, act: ActivationName, dy: Tensor, y: Tensor, dz: Tensor, cols: number): Tensor {
  if (act === 'linear') return dy;
  if (act === 'relu') {
    backend.activationBackward(dy.data, y.data, dz.data, 'relu');
    return dz;
  }
  softmaxBackward(dy.data, y.data, dz.data, dy.size / cols, cols);
  return dz;
}
