/**
 * Loss and metric: categorical cross-entropy and accuracy.
 *
 * When the model ends in softmax (the usual case), the model uses the fused,
 * numerically stable `backend.softmaxCrossEntropy` on the last layer's logits
 * and these functions are not involved in the loss. `crossEntropyOnProbs` is
 * the general path for a model whose output is already probabilities from
 * something else (Keras `from_logits=False`): rows are normalised to sum 1,
 * then clipped to [1e-7, 1 - 1e-7] before the log, as Keras/TF do.
 *
 *   probs, targets, dprobs: [rows, cols];  loss = mean over rows of -sum_j t_j log(p_j)
 */
import { DigitsError } from '../errors.js';

export type LossName = 'categoricalCrossentropy';

/** Keras' backend epsilon, the clip bound of its cross-entropy on probabilities. */
export const KERAS_EPSILON = 1e-7;

export function parseLoss(label: string, v: unknown): LossName {
  if (v === 'categoricalCrossentropy' || v === 'categorical_crossentropy') return 'categoricalCrossentropy';
  throw new DigitsError(`${label}: expected "categoricalCrossentropy", got ${JSON.stringify(v)}`);
}

/**
 * Mean categorical cross-entropy of probability rows; writes d(loss)/d(probs)
 * into dprobs when given (zero where the clip is active, as the clip's gradient is).
 */
export function crossEntropyOnProbs(probs: Float32Array, targets: Float32Array, dprobs: Float32Array | null,
  rows: number, cols: number): number {
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += probs[o + j]!;
    if (!(sum > 0)) sum = KERAS_EPSILON; // all-zero row: every q clips to epsilon
    // g_j = dL/dq_j = -t_j / clip(q_j) (0 where clipped); dL/dp_k = (g_k - sum_j g_j q_j) / sum
    let gq = 0;
    for (let j = 0; j < cols; j++) {
      const q = probs[o + j]! / sum;
      const c = Math.min(Math.max(q, KERAS_EPSILON), 1 - KERAS_EPSILON);
      const t = targets[o + j]!;
      if (t !== 0) loss -= t * Math.log(c);
      if (dprobs) {
        const g = c === q ? -t / c : 0;
        dprobs[o + j] = g; // stash g_j, finished below
        gq += g * q;
      }
    }
    if (dprobs) {
      for (let j = 0; j < cols; j++) dprobs[o + j] = (dprobs[o + j]! - gq) / sum / rows;
    }
  }
  return loss / rows;
}

/** Index of the largest value in row r (the first one on ties). */
export function argmaxRow(a: ArrayLike<number>, r: number, cols: number): number {
  const o = r * cols;
  let best = 0;
  for (let j = 1; j < cols; j++) if (a[o + j]! > a[o + best]!) best = j;
  return best;
}

/** Rows whose predicted class (argmax) equals the target class (argmax), as Keras' categorical accuracy. */
export function countCorrect(pred: Float32Array, targets: Float32Array, rows: number, cols: number): number {
  let correct = 0;
  for (let r = 0; r < rows; r++) if (argmaxRow(pred, r, cols) === argmaxRow(targets, r, cols)) correct++;
  return correct;
}
