/**
 * Data-parallel training across workers (FitOptions.shard), where the page may share memory (it is
 * cross-origin isolated: COOP and COEP headers). Every replica runs the same fit in its own worker
 * on its share of every batch; at every step each writes its gradients, moving statistics and totals
 * into its region of one SharedArrayBuffer, waits for the others (Atomics), and combines all regions in
 * replica order (nn/shard.ts, combineShards), so every replica's weights stay equal bit for bit.
 *
 * Layout: a control block of 16 Int32 (arrived, generation, stop), then each replica's float32 region
 * (its gradients, then its state), then each replica's three float64 totals (rows, loss sum, correct).
 */
import { DigitsError } from '../errors.js';
import { combineShards, type FitShard, type ShardStep, type ShardTotals } from '../nn/shard.js';

const CONTROL_BYTES = 64;
const ARRIVED = 0, GENERATION = 1, STOP = 2;
/** How long a replica waits for the others at a step before it gives up (one stalled worker must not hang the page). */
const WAIT_MS = 120_000;

/** The sizes of a model's arrays a step exchanges: its gradients' lengths and its state's. */
export interface ShardSizes {
  grads: number[];
  state: number[];
}

const sum = (a: number[]): number => a.reduce((s, v) => s + v, 0);

/** The shared memory for `count` replicas of a model of these sizes. */
export function shardMemory(count: number, sizes: ShardSizes): SharedArrayBuffer {
  const floats = sum(sizes.grads) + sum(sizes.state);
  const floatBytes = Math.ceil((count * floats * 4) / 8) * 8;
  return new SharedArrayBuffer(CONTROL_BYTES + floatBytes + count * 3 * 8);
}

/** Asks every replica waiting at a step (and every one that gets there) to stop: they throw 'training stopped'. */
export function stopShards(sab: SharedArrayBuffer): void {
  const ctl = new Int32Array(sab, 0, CONTROL_BYTES / 4);
  Atomics.store(ctl, STOP, 1);
  Atomics.notify(ctl, GENERATION);
}

/**
 * Replica `index` of `count` over `sab` (shardMemory), for a model of these sizes. `join()` waits until
 * every replica has called it: before the fit, so that none is timed waiting for another's start.
 */
export function sharedShard(sab: SharedArrayBuffer, index: number, count: number, sizes: ShardSizes): FitShard & { join(): void } {
  const ctl = new Int32Array(sab, 0, CONTROL_BYTES / 4);
  const per = sum(sizes.grads) + sum(sizes.state);
  const floats = new Float32Array(sab, CONTROL_BYTES, count * per);
  const totals = new Float64Array(sab, CONTROL_BYTES + Math.ceil((count * per * 4) / 8) * 8, count * 3);
  // every replica's region as views shaped as a ShardStep's arrays
  const regions = Array.from({ length: count }, (_, r) => {
    let at = r * per;
    const view = (n: number): Float32Array => {
      const v = floats.subarray(at, at + n);
      at += n;
      return v;
    };
    return { grads: sizes.grads.map(view), state: sizes.state.map(view) };
  });

  const barrier = (): void => {
    const generation = Atomics.load(ctl, GENERATION);
    if (Atomics.add(ctl, ARRIVED, 1) === count - 1) {
      Atomics.store(ctl, ARRIVED, 0);
      Atomics.add(ctl, GENERATION, 1);
      Atomics.notify(ctl, GENERATION);
    } else {
      while (Atomics.load(ctl, GENERATION) === generation) {
        if (Atomics.load(ctl, STOP) !== 0) break;
        if (Atomics.wait(ctl, GENERATION, generation, WAIT_MS) === 'timed-out') {
          stopShards(sab);
          throw new DigitsError(`training thread ${index + 1}: the other threads stopped answering`);
        }
      }
    }
    if (Atomics.load(ctl, STOP) !== 0) throw new DigitsError('training stopped');
  };

  return {
    index,
    count,
    join: barrier,
    reduce(step: ShardStep): ShardTotals {
      const mine = regions[index]!;
      step.grads.forEach((g, k) => mine.grads[k]!.set(g));
      step.state.forEach((s, k) => mine.state[k]!.set(s));
      totals.set([step.rows, step.lossSum, step.correct], index * 3);
      barrier();
      const parts = regions.map((r, i) => ({ ...r, rows: totals[i * 3]!, lossSum: totals[i * 3 + 1]!, correct: totals[i * 3 + 2]! }));
      const t = combineShards(parts, step); // into this replica's own arrays: the regions stay as written
      barrier(); // no replica writes its next step before all have read this one
      return t;
    },
  };
}
