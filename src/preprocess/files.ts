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
  return (await imageInputs(input))?.files ?? null;
}

/**
 * imageInputFiles' files, with what a caller says of them: `names`, each file's name as the user knows
 * it (in the folder, or the file's own), and `skipped`, the folder's other files (not PNG or JPEG by
 * their names; dotfiles aside), from the one reading of the folder.
 */
export async function imageInputs(input: string): Promise<{ files: string[]; names: string[]; skipped: string[] } | null> {
  let stat;
  try {
    stat = await fs.stat(input);
  } catch {
    return null; // loadUnlabelled reports the missing path
  }
  if (stat.isDirectory()) {
    const entries = await fs.readdir(input, { withFileTypes: true });
    const names = entries.filter((e) => isImageName(e.name)).map((e) => e.name);
    if (names.length === 0) return null;
    names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    const skipped = entries.filter((e) => e.isFile() && !isImageName(e.name) && !e.name.startsWith('.')).map((e) => e.name).sort();
    return { files: names.map((n) => path.join(input, n)), names, skipped };
  }
  if (!stat.isFile()) return null;
  const handle = await fs.open(input, 'r');
  try {
    const head = new Uint8Array(8);
    await handle.read(head, 0, 8, 0);
    return sniffImageFormat(head) ? { files: [input], names: [path.basename(input)], skipped: [] } : null;
  } finally {
    await handle.close();
  }
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
