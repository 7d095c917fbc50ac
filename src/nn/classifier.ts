/**
 * Classifier: what predicting code needs from a model, whatever it is inside.
 * Sequential (one network) and Ensemble (several, probabilities averaged)
 * both implement it, so `predict`, `evaluate`, `report` and `serve` take
 * either without special cases.
 *
 *   predict: x [N, ...inputShape] -> probabilities [N, ...outputShape]
 */
import type { Backend } from '../engine/backend.js';
import type { Tensor } from '../engine/tensor.js';

/** What predicting code needs from a model, whatever it is inside: a Sequential or an Ensemble. */
export interface Classifier {
  readonly inputShape: readonly number[] | null;
  readonly outputShape: readonly number[] | null;
  readonly backend: Backend;
  /** Run on `backend` from now on. */
  setBackend(backend: Backend): void;
  /** class probabilities, a new tensor [N, classes] */
  predict(x: Tensor, opts?: { batchSize?: number }): Tensor;
  /** mean cross-entropy and accuracy against one-hot labels y */
  evaluate(x: Tensor, y: Tensor, opts?: { batchSize?: number }): { loss: number; accuracy: number };
  /** number of weights (an ensemble: all members') */
  countParams(): number;
  /** a plain-text description: the layer table (an ensemble: its members, then the layers) */
  summary(): string;
}
