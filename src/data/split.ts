/**
 * Subsets and the seeded train/validation split.
 *
 * splitDataset(ds, fraction, seed) puts round(count * fraction) images in
 * validation, chosen by a seeded permutation (the same seed gives the same
 * split). With `stratify: true` (the default when the set has labels) each
 * digit keeps its share: class c gets count_c * fraction images, rounded by
 * largest remainder so the quotas sum to the total, so a small validation
 * set is not short of some digit by chance. `stratify: false` draws the
 * validation images from one permutation of the whole set. Both parts
 * keep the original order of the images (fit() shuffles per epoch).
 */
import { invalidParameter } from '../errors.js';
import { Rng } from '../engine/rng.js';
import { NUM_CLASSES, type Dataset } from './dataset.js';

/** The images at `indices` (in that order), copied. */
export function subset(ds: Dataset, indices: ArrayLike<number>, source?: string): Dataset {
  const size = ds.height * ds.width * ds.channels;
  const n = indices.length;
  const images = new Float32Array(n * size);
  const labels = ds.labels ? new Uint8Array(n) : null;
  for (let i = 0; i < n; i++) {
    const j = indices[i]!;
    if (!(Number.isInteger(j) && j >= 0 && j < ds.count)) {
      throw invalidParameter(`indices[${i}]`, `an image index 0..${ds.count - 1}`, j);
    }
    images.set(ds.images.subarray(j * size, (j + 1) * size), i * size);
    if (labels) labels[i] = ds.labels![j]!;
  }
  return { ...ds, images, labels, count: n, source: source ?? ds.source };
}

/** The first `n` images (all of them when n >= count), copied so the rest can be collected. */
export function limit(ds: Dataset, n: number | undefined): Dataset {
  if (n === undefined || n >= ds.count) return ds;
  if (!(Number.isInteger(n) && n >= 1)) throw invalidParameter('limit', 'a whole number >= 1', n);
  const size = ds.height * ds.width * ds.channels;
  return {
    ...ds,
    images: ds.images.slice(0, n * size),
    labels: ds.labels ? ds.labels.slice(0, n) : null,
    count: n,
  };
}

/** Which images go to validation: ascending indices of each part. */
export function splitIndices(
  ds: Dataset,
  fraction: number,
  seed: number,
  opts: { stratify?: boolean } = {},
): { train: Int32Array; validation: Int32Array } {
  if (!(typeof fraction === 'number' && fraction > 0 && fraction < 1)) {
    throw invalidParameter('validation fraction', 'a number between 0 and 1 (exclusive)', fraction);
  }
  const n = ds.count;
  const nVal = Math.round(n * fraction);
  if (nVal < 1 || nVal > n - 1) {
    throw invalidParameter(
      'validation fraction',
      `a fraction leaving at least one image on each side of ${n}`,
      `${fraction} (${nVal} validation images)`,
    );
  }
  const stratify = opts.stratify ?? ds.labels !== null;
  if (stratify && !ds.labels) throw invalidParameter('stratify', 'false for an unlabelled set', true);
  const rng = new Rng(seed);
  const inVal = new Uint8Array(n);
  if (!stratify) {
    const perm = rng.permutation(n);
    for (let i = 0; i < nVal; i++) inVal[perm[i]!] = 1;
  } else {
    const labels = ds.labels!;
    const byClass: number[][] = Array.from({ length: NUM_CLASSES }, () => []);
    for (let i = 0; i < n; i++) byClass[labels[i]!]!.push(i);
    // Largest-remainder quotas: floor(count_c * f) each, the rest to the largest remainders.
    const quota = byClass.map((m) => Math.floor(m.length * fraction));
    let left = nVal - quota.reduce((a, b) => a + b, 0);
    const order = byClass
      .map((m, c) => ({ c, rem: m.length * fraction - quota[c]! }))
      .sort((a, b) => b.rem - a.rem || a.c - b.c);
    for (let k = 0; left > 0; k = (k + 1) % NUM_CLASSES) {
      const c = order[k]!.c;
      if (quota[c]! < byClass[c]!.length) {
        quota[c]!++;
        left--;
      }
    }
    for (let c = 0; c < NUM_CLASSES; c++) {
      const members = byClass[c]!;
      const perm = rng.permutation(members.length);
      for (let i = 0; i < quota[c]!; i++) inVal[members[perm[i]!]!] = 1;
    }
  }
  const train = new Int32Array(n - nVal);
  const validation = new Int32Array(nVal);
  let t = 0;
  let v = 0;
  for (let i = 0; i < n; i++) {
    if (inVal[i]) validation[v++] = i;
    else train[t++] = i;
  }
  return { train, validation };
}

/**
 * A seeded train/validation split: `fraction` of the images (rounded) go to
 * validation. Stratified by label by default when the set has labels.
 */
export function splitDataset(
  ds: Dataset,
  fraction: number,
  seed: number,
  opts: { stratify?: boolean } = {},
): { train: Dataset; validation: Dataset } {
  const { train, validation } = splitIndices(ds, fraction, seed, opts);
  return {
    train: subset(ds, train, `${ds.source} (train part)`),
    validation: subset(ds, validation, `${ds.source} (validation part)`),
  };
}
