/**
 * What the pages and their worker (worker.ts) say to each other. Every long piece of work (loading
 * the kernels and a model, reading a drawing, training) runs in the worker, so the page never freezes.
 */
import type { ProgressEvent } from '../nn/callbacks.js';
import type { NumberRead } from '../preprocess/segment.js';

/** site.json, beside the pages: where the drawing page gets its predictions, and what the site carries. */
export interface SiteConfig {
  /** 'page': the model runs in the page (a web export); 'server': POST /api/predict (digits serve) */
  predict: 'page' | 'server';
  /** the model folder's model.json, relative to the site (predict: 'page') */
  model?: string;
  /** the digit gate's model.json, relative to the site (predict: 'page'; absent: isDigit by the model's confidence alone) */
  gate?: string;
  /** the line reader's model.json, relative to the site (predict: 'page'; absent: numbers read by the model and the gate alone) */
  lineReader?: string;
  /** MNIST as gzipped IDX files, relative to the site, for train.html */
  data?: { trainImages: string; trainLabels: string; testImages: string; testLabels: string };
}

/** What the drawing page shows for a drawing. */
export interface Answer {
  label: number;
  /** the calibrated probability of `label` */
  confidence: number;
  /** false: the drawing does not look like a digit */
  isDigit: boolean;
  probabilities: number[];
  /** the 28×28 image the model saw, 0..255 */
  preprocessed: { width: number; height: number; pixels: number[] };
  /** milliseconds the worker took to preprocess and predict (in the page only) */
  ms?: number;
  /** the drawing read as a number: one or more digits in a row, each with its box on the canvas (POST /api/read) */
  number?: NumberRead;
}

/** About the model, for the page's footer (the fields of GET /api/model it shows). */
export interface ModelFacts {
  id: string;
  parameters: number;
  testAccuracy: number | null;
  trainedAt: string | null;
  classNames: string[];
  /** an ensemble's member count (digits serve) */
  members?: number;
}

export type Request =
  | { id: number; type: 'load'; modelUrl: string; gateUrl?: string; lineReaderUrl?: string }
  | { id: number; type: 'predict'; rgba: Uint8ClampedArray; width: number; height: number }
  | {
    id: number; type: 'train'; data: NonNullable<SiteConfig['data']>; preset: string; seed: number; limit?: number; testLimit?: number;
    /** the site's digit gate and line reader, which the trained model's readings use */
    gateUrl?: string;
    lineReaderUrl?: string;
    /** the lead replica of a data-parallel fit over this many workers (1: alone); it answers 'shards' with the memory */
    threads?: number;
    /** a helper replica: its place, and the memory the lead made */
    shard?: { index: number; count: number; sab: SharedArrayBuffer };
  }
  | { id: number; type: 'stop' };

export type Reply =
  | { id: number; type: 'done'; result?: unknown }
  | { id: number; type: 'error'; message: string }
  | { id: number; type: 'progress'; event: ProgressEvent }
  | { id: number; type: 'status'; message: string }
  /** the lead's shared memory for its helpers (a 'train' with threads > 1) */
  | { id: number; type: 'shards'; sab: SharedArrayBuffer };

/** What a finished training run reports (the 'done' of a 'train' request). */
export interface TrainOutcome {
  /** accuracy on the held-out test images, 0..1 */
  testAccuracy: number;
  testImages: number;
  /** seconds in fit (data loading and testing excluded) */
  trainSeconds: number;
  trainImages: number;
  steps: number;
  /** the workers that trained */
  threads: number;
  model: ModelFacts;
}
