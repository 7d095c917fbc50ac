/**
 * Data-parallel training's arithmetic (FitOptions.shard): what every replica's FitShard.reduce leaves,
 * computed from all replicas' parts in the order of their index, so that every replica computes the
 * same values and their weights stay equal bit for bit. How the parts travel between replicas (shared
 * memory between workers, promises in one thread) is the caller's.
 */
import { DigitsError } from '../errors.js';
import type { Tensor } from '../engine/tensor.js';
import type { WeightUpdate } from './optimizers.js';

/** One replica of a data-parallel fit (FitOptions.shard). */
export interface FitShard {
  /** this replica, 0 .. count - 1 */
  index: number;
  /** the replicas, at least 1 */
  count: number;
  /**
   * Called by every replica after its backward pass, before the optimizer steps: it must leave the
   * same values in every replica, in `grads` the gradients over the whole batch (each replica's
   * weighted by its rows) and in `state` the mean over the replicas (BatchNorm's moving statistics,
   * updated from each replica's rows), and return the batch's totals. Then the replicas' weights stay
   * equal, bit for bit, for the optimizer computes the same update from the same values in each.
   * It may block (Atomics.wait in a worker) or return a promise (replicas in one thread).
   */
  reduce(step: ShardStep): ShardTotals | Promise<ShardTotals>;
}

/** A batch's totals over all replicas, which FitShard.reduce returns. */
export interface ShardTotals {
  lossSum: number;
  correct: number;
  rows: number;
}

/** What a replica hands FitShard.reduce. */
export interface ShardStep {
  /** the trainable weights' gradients: on entry the mean over this replica's rows */
  grads: Float32Array[];
  /** the weights the optimizer does not train (moving statistics), as this replica's rows left them */
  state: Float32Array[];
  /** this replica's rows of the batch (0 when the batch has fewer rows than replicas) */
  rows: number;
  /** the summed loss over this replica's rows, and how many of them it predicted right */
  lossSum: number;
  correct: number;
}

/**
 * The arrays a step of a data-parallel fit exchanges, in the order reduce gets them: the trainable
 * weights' gradients, and the weights the optimizer does not train (BatchNorm's moving statistics).
 */
export function shardArrays(model: { trainableUpdates(): WeightUpdate[]; allWeights(): Tensor[] }): Pick<ShardStep, 'grads' | 'state'> {
  const updates = model.trainableUpdates();
  const trained = new Set(updates.map((u) => u.value));
  return { grads: updates.map((u) => u.grad), state: model.allWeights().map((w) => w.data).filter((d) => !trained.has(d)) };
}

/**
 * Writes into `out` (one replica's arrays, shaped as the parts') the gradient over the whole batch,
 * each replica's mean weighted by its rows, and the mean of the replicas' state; returns the batch's
 * totals. `parts` are every replica's, in index order (`out` may be one of them).
 */
export function combineShards(parts: readonly ShardStep[], out: Pick<ShardStep, 'grads' | 'state'>): ShardTotals {
  const count = parts.length;
  if (count === 0) throw new DigitsError('combineShards: expected the parts of at least one replica');
  let rows = 0, lossSum = 0, correct = 0;
  for (const p of parts) {
    rows += p.rows;
    lossSum += p.lossSum;
    correct += p.correct;
  }
  if (rows === 0) throw new DigitsError('combineShards: the replicas hold no rows of the batch');
  out.grads.forEach((g, k) => {
    for (let i = 0; i < g.length; i++) {
      let acc = 0;
      for (let r = 0; r < count; r++) acc += parts[r]!.grads[k]![i]! * parts[r]!.rows;
      g[i] = acc / rows;
    }
  });
  out.state.forEach((s, k) => {
    for (let i = 0; i < s.length; i++) {
      let acc = 0;
      for (let r = 0; r < count; r++) acc += parts[r]!.state[k]![i]!;
      s[i] = acc / count;
    }
  });
  return { lossSum, correct, rows };
}
