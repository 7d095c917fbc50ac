/**
 * PNG/JPEG files (one file, or a folder of them) as an unlabelled Dataset for
 * `digits predict`, through the same preprocessing as the server.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { DigitsError } from '../errors.js';
import { FIELD, preprocessImage, sniffImageFormat } from './image.js';

/** The file extensions read as images: .png, .jpg, .jpeg. */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(name).toLowerCase());
}

/**
 * The image files `input` stands for, or null when it is not an image input
 * (then it is CSV/IDX data for loadUnlabelled): a PNG/JPEG file (by its first
 * bytes), or a folder holding .png/.jpg/.jpeg files, sorted by name with
 * numbers in natural order (2.png before 10.png).
 */
export async function imageInputFiles(input: string): Promise<string[] | null> {
  let stat;
  try {
    stat = await fs.stat(input);
  } catch {
    return null; // loadUnlabelled reports the missing path
  }
  if (stat.isDirectory()) {
    const names = (await fs.readdir(input)).filter(isImageName);
    if (names.length === 0) return null;
    names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    return names.map((n) => path.join(input, n));
  }
  if (!stat.isFile()) return null;
  const handle = await fs.open(input, 'r');
  try {
    const head = new Uint8Array(8);
    await handle.read(head, 0, 8, 0);
    return sniffImageFormat(head) ? [input] : null;
  } finally {
    await handle.close();
  }
}

/** The files of folder `input` that are not PNG or JPEG images by their names (what imageInputFiles leaves out); [] for a file. */
export async function skippedInputFiles(input: string): Promise<string[]> {
  const stat = await fs.stat(input).catch(() => null);
  if (stat === null || !stat.isDirectory()) return [];
  const entries = await fs.readdir(input, { withFileTypes: true });
  return entries.filter((e) => e.isFile() && !isImageName(e.name) && !e.name.startsWith('.')).map((e) => e.name).sort();
}

/** The images, preprocessed to 28×28 and scaled 0..1 as every Dataset is; ImageId i+1 is files[i]. */
export async function loadImageFiles(files: string[]): Promise<Dataset> {
  if (files.length === 0) throw new DigitsError('no image files given');
  const per = FIELD * FIELD;
  const images = new Float32Array(files.length * per);
  for (let i = 0; i < files.length; i++) {
    const bytes = await fs.readFile(files[i]!);
    const { pixels } = preprocessImage(bytes, files[i]!);
    for (let j = 0; j < per; j++) images[i * per + j] = pixels[j]! / 255;
  }
  const source = files.length === 1 ? files[0]! : `${files.length} images in ${path.dirname(files[0]!)} (ImageId in file-name order)`;
  return { images, labels: null, count: files.length, height: FIELD, width: FIELD, channels: 1, source };
}
