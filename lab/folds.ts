/**
 * The k-fold partition of the training images that recipe selection holds out (lab/best-select.ts --folds)
 * and that lab/tta-select.ts finds again.
 */
import { Rng } from '../src/engine/rng.js';

/** The seed of the k-fold partition: fixed, so that every candidate and seed is held out on the same folds. */
export const FOLD_SEED = 20261124;

/** Fold i of a partition of rows 0..total-1 into k nearly equal parts, by a fixed permutation; both lists sorted. */
export function foldRows(total: number, k: number, i: number): { train: Int32Array; validation: Int32Array } {
  const perm = new Rng(FOLD_SEED).permutation(total);
  const from = Math.floor((i * total) / k);
  const to = Math.floor(((i + 1) * total) / k);
  const held = new Uint8Array(total);
  for (let r = from; r < to; r++) held[perm[r]!] = 1;
  const train: number[] = [];
  const validation: number[] = [];
  for (let r = 0; r < total; r++) (held[r] ? validation : train).push(r);
  return { train: Int32Array.from(train), validation: Int32Array.from(validation) };
}

/** What is wrong with the options --folds K --fold I as given (they go together; I is 0 to K - 1), or null. */
export function foldOptionsError(folds: number | undefined, fold: number | undefined): string | null {
  if ((folds === undefined) !== (fold === undefined)) return 'error: --folds and --fold go together';
  if (folds !== undefined && fold! >= folds) return `error: --fold ${fold}: expected 0 to ${folds - 1} (--folds ${folds})`;
  return null;
}
