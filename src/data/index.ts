/**
 * Where images come from. A data spec is one of:
 *   'mnist' (or nothing)   the bundled MNIST (train: 60,000; test: 10,000)
 *   a folder               IDX files as MNIST ships them: train-* for training,
 *                          t10k-* for testing (plain or .gz)
 *   a .csv file            a Kaggle train.csv (labelled) or test.csv (for predict)
 *   an IDX file            (predict input only) an images file, plain or .gz
 * The word 'mnist' always means the bundled set, even if a file of that name exists.
 */
import { promises as fs } from 'node:fs';
import { DigitsError } from '../errors.js';
import type { Dataset } from './dataset.js';
import { readKaggleCsv } from './csv.js';
import { findIdxFile, idxFileNames, isGzip, loadIdxDirectory, readIdxImages } from './idx.js';
import { loadMnist } from './mnist.js';

export * from './dataset.js';
export * from './idx.js';
export * from './mnist.js';
export * from './csv.js';
export * from './kaggle.js';
export * from './split.js';

/** Options of the data loaders: the first `limit` rows, and progress as rows are read. */
export interface LoadOptions {
  /** keep only the first `limit` images */
  limit?: number;
  /** rows read so far (CSV input) */
  onProgress?(rows: number): void;
}

/** What a data spec names: the bundled MNIST, a folder of IDX files, one IDX file, or a CSV. */
export type DataKind = 'mnist' | 'idx-dir' | 'idx-file' | 'csv';

const SPEC_HELP = "expected 'mnist', a folder of IDX files or a Kaggle .csv file";

/** What a data spec names, looking at the path (and a file's first bytes). */
export async function resolveDataSpec(spec: string | undefined): Promise<{ kind: DataKind; path: string }> {
  if (spec === undefined || spec === '' || spec.toLowerCase() === 'mnist') return { kind: 'mnist', path: 'mnist' };
  let stat;
  try {
    stat = await fs.stat(spec);
  } catch {
    throw new DigitsError(`${spec}: no such file or directory (${SPEC_HELP})`);
  }
  if (stat.isDirectory()) return { kind: 'idx-dir', path: spec };
  if (!stat.isFile()) throw new DigitsError(`${spec}: not a regular file or folder (${SPEC_HELP})`);
  const head = new Uint8Array(4);
  const handle = await fs.open(spec, 'r');
  try {
    await handle.read(head, 0, 4, 0);
  } finally {
    await handle.close();
  }
  const csvName = /\.csv(\.gz)?$/i.test(spec);
  // a file named .csv is read as CSV whatever it holds (its reader says what is wrong with it)
  if (csvName || isGzip(head)) return { kind: csvName ? 'csv' : 'idx-file', path: spec };
  if (head[0] === 0 && head[1] === 0 && stat.size >= 4) return { kind: 'idx-file', path: spec };
  return { kind: 'csv', path: spec };
}

/** Labelled training data: MNIST train, an IDX folder's train-* files, or a train.csv. */
export async function loadTrainingData(spec: string | undefined, opts: LoadOptions = {}): Promise<Dataset> {
  const r = await resolveDataSpec(spec);
  switch (r.kind) {
    case 'mnist':
      return loadMnist('train', { limit: opts.limit });
    case 'idx-dir':
      return loadIdxDirectory(r.path, 'train', { limit: opts.limit });
    case 'csv':
      return readKaggleCsv(r.path, { labelled: true, limit: opts.limit, onProgress: opts.onProgress });
    case 'idx-file':
      throw singleIdxFile(r.path, 'train');
  }
}

/** Labelled evaluation data: MNIST test, an IDX folder's t10k-* files, or a labelled CSV. */
export async function loadTestData(spec: string | undefined, opts: LoadOptions = {}): Promise<Dataset> {
  const r = await resolveDataSpec(spec);
  switch (r.kind) {
    case 'mnist':
      return loadMnist('test', { limit: opts.limit });
    case 'idx-dir':
      return loadIdxDirectory(r.path, 'test', { limit: opts.limit });
    case 'csv':
      return readKaggleCsv(r.path, { labelled: true, limit: opts.limit, onProgress: opts.onProgress });
    case 'idx-file':
      throw singleIdxFile(r.path, 'test');
  }
}

/**
 * Images to predict (labels always null): a test.csv (a labelled train.csv
 * also works; its labels are dropped), an IDX images file, a folder's
 * t10k-images file, or 'mnist' for the MNIST test images.
 */
export async function loadUnlabelled(spec: string | undefined, opts: LoadOptions = {}): Promise<Dataset> {
  const r = await resolveDataSpec(spec);
  let ds: Dataset;
  switch (r.kind) {
    case 'mnist':
      ds = await loadMnist('test', { limit: opts.limit });
      break;
    case 'idx-dir': {
      const file = await findIdxFile(r.path, 'test', 'images');
      if (!file) {
        throw new DigitsError(
          `${r.path}: no ${idxFileNames('test', 'images')[0]}[.gz] in this folder (expected IDX test images as MNIST ships them)`,
        );
      }
      ds = await readIdxImages(file, { limit: opts.limit });
      break;
    }
    case 'idx-file':
      ds = await readIdxImages(r.path, { limit: opts.limit });
      break;
    case 'csv':
      ds = await readKaggleCsv(r.path, { labelled: 'auto', limit: opts.limit, onProgress: opts.onProgress });
      break;
  }
  return ds.labels ? { ...ds, labels: null } : ds;
}

function singleIdxFile(file: string, split: 'train' | 'test'): DigitsError {
  const names = [idxFileNames(split, 'images')[0], idxFileNames(split, 'labels')[0]];
  return new DigitsError(
    `${file}: a single IDX file holds images or labels, not both; pass the folder holding ${names.join(' and ')} (or .gz)`,
  );
}
