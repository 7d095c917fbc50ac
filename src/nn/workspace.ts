/**
 * Buffers owned by a layer or a model, allocated once per batch size and
 * reused (STYLE point 7). A buffer is grown when a larger batch comes and
 * never shrunk; smaller batches (the last, short batch of an epoch) get a view
 * of its first rows. Views are cached per batch size, so the steady state
 * allocates nothing, not even the small Tensor objects.
 */
import { Tensor, sizeOf } from '../engine/tensor.js';

interface Slot<T> {
  capacity: number; // batch rows the backing array holds
  per: number; // values per batch row
  backing: T;
  views: Map<number, unknown>;
}

/** Most distinct batch sizes whose views are kept (training, its short tail, evaluation, ...). */
const MAX_VIEWS = 8;

export class Workspace {
  private readonly floats = new Map<string, Slot<Float32Array>>();
  private readonly ints = new Map<string, Slot<Int32Array>>();

  /** A tensor [n, ...perSample] for `key`, its values left as they were (callers overwrite). */
  tensor(key: string, n: number, perSample: readonly number[]): Tensor {
    const per = sizeOf(perSample);
    const slot = this.slot(this.floats, key, n, per, (len) => new Float32Array(len));
    let view = slot.views.get(n) as Tensor | undefined;
    if (view === undefined || view.shape.length !== perSample.length + 1 || view.shape.some((d, i) => i > 0 && d !== perSample[i - 1])) {
      view = new Tensor([n, ...perSample], slot.backing.subarray(0, n * per));
      if (slot.views.size >= MAX_VIEWS) slot.views.clear();
      slot.views.set(n, view);
    }
    return view;
  }

  /** An Int32Array of n * per values for `key` (pooling argmax). */
  int32(key: string, n: number, per: number): Int32Array {
    const slot = this.slot(this.ints, key, n, per, (len) => new Int32Array(len));
    let view = slot.views.get(n) as Int32Array | undefined;
    if (view === undefined || view.length !== n * per) {
      view = slot.backing.subarray(0, n * per);
      if (slot.views.size >= MAX_VIEWS) slot.views.clear();
      slot.views.set(n, view);
    }
    return view;
  }

  /** Drop every buffer (after a rebuild, when per-sample shapes change). */
  clear(): void {
    this.floats.clear();
    this.ints.clear();
  }

  private slot<T extends Float32Array | Int32Array>(map: Map<string, Slot<T>>, key: string, n: number, per: number,
    make: (len: number) => T): Slot<T> {
    let slot = map.get(key);
    if (slot === undefined || slot.per !== per || n > slot.capacity) {
      slot = { capacity: n, per, backing: make(n * per), views: new Map() };
      map.set(key, slot);
    }
    return slot;
  }
}
