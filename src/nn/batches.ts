/**
 * Tensors from data for a model: one-hot targets, a dataset as [N, H, W, C]
 * and its targets, rows picked out of a tensor, and the seeded validation split
 * that fit holds out.
 */
import { DigitsError } from '../errors.js';
import { Rng } from '../engine/rng.js';
import { Tensor } from '../engine/tensor.js';
import { NUM_CLASSES, type Dataset } from '../data/dataset.js';
import { positiveInt, showValue } from './validate.js';

/** A new tensor of the rows idx of t. */
export function takeRows(t: Tensor, idx: Int32Array): Tensor {
  const per = t.size / t.shape[0]!;
  const out = new Tensor([idx.length, ...t.shape.slice(1)]);
  for (let r = 0; r < idx.length; r++) out.data.set(t.data.subarray(idx[r]! * per, (idx[r]! + 1) * per), r * per);
  return out;
}

/**
 * The rows fit holds out with `validationSplit`: `rng` permutes 0..total-1,
 * the first floor(total × (1 − split)) train, the rest validate. fit calls it
 * with the model's Rng (seeded with fit's `seed`); given that seed as a
 * number instead, it finds the same rows again (the report, the preset's
 * BatchNorm pass).
 */
export function validationSplitIndices(total: number, split: number, rng: Rng | number): { train: Int32Array; validation: Int32Array } {
  const perm = (typeof rng === 'number' ? new Rng(rng) : rng).permutation(total);
  const nTrain = Math.floor(total * (1 - split));
  if (nTrain < 1 || nTrain === total) {
    throw new DigitsError(`Sequential.fit: validationSplit ${split} of ${total} samples leaves ` +
      `${nTrain} for training and ${total - nTrain} for validation; both need at least one`);
  }
  return { train: perm.slice(0, nTrain), validation: perm.slice(nTrain) };
}

/** One-hot rows [N, classes] for integer labels 0..classes-1. */
export function oneHot(labels: Uint8Array | readonly number[], classes = NUM_CLASSES): Tensor {
  positiveInt('oneHot: classes', classes);
  const t = new Tensor([labels.length, classes]);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (!Number.isInteger(l) || l < 0 || l >= classes) {
      throw new DigitsError(`oneHot: labels[${i}]: expected an integer from 0 to ${classes - 1}, got ${showValue(l)}`);
    }
    t.data[i * classes + l] = 1;
  }
  return t;
}

/**
 * A dataset as model inputs: x [N, H, W, C] sharing the dataset's memory, and
 * y one-hot [N, 10] (null for an unlabelled set such as Kaggle's test.csv).
 */
export function datasetToTensors(ds: Dataset, classes = NUM_CLASSES): { x: Tensor; y: Tensor | null } {
  const x = new Tensor([ds.count, ds.height, ds.width, ds.channels], ds.images);
  const y = ds.labels === null ? null : oneHot(ds.labels, classes);
  return { x, y };
}
