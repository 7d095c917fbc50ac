/** Reading numbers from image files with a saved model: what `digits read` does (preprocess/segment.ts has the method). */
import { promises as fs } from 'node:fs';
import { DigitsError } from '../errors.js';
import { imageInputs } from '../preprocess/files.js';
import { ImageError } from '../preprocess/pixels.js';
import type { NumberRead } from '../preprocess/segment.js';
import type { BackendOpts } from './backend.js';
import { warnOnStderr, type OnRunEvent } from './events.js';
import { openPredictor, type Predictor } from './predictor.js';

/** A saved model, how to run it, and the images to read. */
export interface ReadOptions extends Partial<BackendOpts> {
  model: string;
  /** a PNG or JPEG file, or a folder of them */
  input: string;
  /** a digit gate folder other than the package's, or false for none (isDigit by the model's confidence alone) */
  gate?: string | false;
  /** a line reader folder other than the package's, or false for none (candidates read by the model and the gate alone) */
  lineReader?: string | false;
}

/** One image read: its file, and the number (null with `error` when the image could not be read). */
export interface FileRead {
  file: string;
  name: string;
  number: NumberRead | null;
  /** why the image was not read (blank, not an image, too large), one line naming the file */
  error?: string;
}

/** The numbers in the images of `o.input`, one by one; an image that cannot be read is reported as such, not thrown. */
export async function readRun(o: ReadOptions, onEvent: OnRunEvent = warnOnStderr): Promise<{ predictor: Predictor; reads: FileRead[] }> {
  const inputs = await imageInputs(o.input);
  if (inputs === null) {
    const exists = await fs.stat(o.input).then(() => true, () => false);
    throw new DigitsError(`--input ${o.input}: ${exists ? 'not a PNG or JPEG image, nor a folder holding any' : 'no such file or folder'}`);
  }
  const predictor = await openPredictor(o, onEvent);
  const reads: FileRead[] = [];
  for (const [i, file] of inputs.files.entries()) {
    const name = inputs.names[i]!;
    try {
      reads.push({ file, name, number: await predictor.readImage(await fs.readFile(file), file) });
    } catch (err) {
      if (!(err instanceof ImageError)) throw err;
      reads.push({ file, name, number: null, error: err.message });
    }
    onEvent({ type: 'count', label: 'reading', done: i + 1, total: inputs.files.length });
  }
  onEvent({ type: 'countEnd', label: 'reading' });
  return { predictor, reads };
}
