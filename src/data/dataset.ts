/**
 * A labelled (or unlabelled) set of images in memory.
 * images: N x H x W x C values scaled to 0..1 (NHWC, row-major), labels 0..9
 * (null for an unlabelled set such as Kaggle's test.csv).
 */
export interface Dataset {
  readonly images: Float32Array;
  readonly labels: Uint8Array | null;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** where it came from, for messages and the report ("MNIST train", a path) */
  readonly source: string;
  /** the name of each class 0..9 when the data gives them (a class-names.txt beside IDX files); else the digits */
  readonly classNames?: readonly string[];
}

/** The file beside IDX files that names their classes: one name per line, class 0 first. */
export const CLASS_NAMES_FILE = 'class-names.txt';

/** The ten digit classes, 0-9. */
export const NUM_CLASSES = 10;
