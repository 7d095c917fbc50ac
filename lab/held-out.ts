/**
 * The MNIST training digits the digit gate does not learn as digits: rows 50,000-59,999 (`npm run
 * gate` learns the first 50,000; it sees other rows only inside its outliers, two digits run
 * together or part of one). The lab chooses the gate and the segmentation's costs on these, never
 * on MNIST test.
 */
import type { Dataset } from '../src/data/dataset.js';
import { loadMnist } from '../src/data/mnist.js';
import { subset } from '../src/data/split.js';
import { GATE_DIGITS } from '../src/run/gate.js';
import { num, readRunInfo, validationRows } from '../src/run/artifacts.js';

/**
 * MNIST training rows GATE_DIGITS to the end, as a dataset; with `unseenBy` (a model folder), only
 * those its training held out for validation too (from its metrics.json), so that neither the gate,
 * nor the line reader, nor the model learned them.
 */
export async function heldOutTrainDigits(unseenBy?: string): Promise<Dataset> {
  const train = await loadMnist('train');
  const rows = Array.from({ length: train.count - GATE_DIGITS }, (_, i) => GATE_DIGITS + i);
  if (unseenBy === undefined) return subset(train, rows, 'MNIST train rows 50,000-59,999');
  const { metrics } = await readRunInfo(unseenBy);
  const split = num(metrics?.validationSplit), seed = num(metrics?.seed);
  if (metrics?.dataSpec !== 'mnist' || num(metrics?.trainImages) !== train.count || !split || seed === undefined) {
    throw new Error(`${unseenBy}: not a model trained on MNIST train with a validation split (its metrics.json)`);
  }
  const held = new Set(validationRows(train.count, split, seed));
  return subset(train, rows.filter((r) => held.has(r)), `MNIST train rows 50,000-59,999 ${unseenBy} held out`);
}
