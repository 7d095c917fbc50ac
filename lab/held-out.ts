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

/** MNIST training rows GATE_DIGITS to the end, as a dataset. */
export async function heldOutTrainDigits(): Promise<Dataset> {
  const train = await loadMnist('train');
  return subset(train, Array.from({ length: train.count - GATE_DIGITS }, (_, i) => GATE_DIGITS + i), 'MNIST train rows 50,000-59,999');
}
