/**
 * The digit gate (nn/gate.ts) trained, saved and loaded. `trainGate` is what `npm run gate` runs to
 * make the gate the package ships (models/gate); `loadGate` opens it (or another) for predicting.
 */
import { fileURLToPath } from 'node:url';
import { DigitsError } from '../errors.js';
import { Rng } from '../engine/rng.js';
import { Tensor } from '../engine/tensor.js';
import type { Backend } from '../engine/backend.js';
import { loadMnist } from '../data/mnist.js';
import { digitFields, outlierFields } from '../data/outliers.js';
import { GATE_ACCEPT_MISS, GATE_CLASSES, NOT_A_DIGIT, buildGate, gateScores, type Gate } from '../nn/gate.js';
import { acceptanceThreshold } from '../nn/calibration.js';
import { DIGIT_CLASS_NAMES, loadModel, makeMetadata, saveModel, type DigitsMetadata } from '../io/model-files.js';
import { warnOnStderr, type OnRunEvent } from './events.js';

/** Where the package keeps its gate. */
export const GATE_DIR = fileURLToPath(new URL('../../../models/gate/', import.meta.url));

/** How the gate is trained. */
export interface TrainGateOptions {
  out: string;
  /** MNIST training digits it learns from (the rest of the 60,000 choose its threshold); default GATE_DIGITS */
  digits?: number;
  /** held-out training digits (and as many outliers) that choose the threshold and measure it; default all the rest */
  check?: number;
  epochs?: number;
  seed?: number;
  backend: Backend;
}

/**
 * MNIST training digits the gate learns as digits by default: rows 0 to this; the rest choose its
 * threshold (its outliers, pairs and fragments of digits, are made of any row).
 */
export const GATE_DIGITS = 50_000;

/** What training the gate measured on digits and outliers it did not train on. */
export interface GateTraining {
  threshold: number;
  /** share of held-out MNIST training digits accepted */
  digitsAccepted: number;
  /** share of held-out generated outliers refused */
  outliersRefused: number;
  seconds: number;
}

/**
 * Trains the gate on `digits` MNIST training digits against as many generated outliers, chooses its
 * threshold on the remaining training digits (all but GATE_ACCEPT_MISS accepted), and saves it in `out`.
 */
export async function trainGate(o: TrainGateOptions, onEvent: OnRunEvent = warnOnStderr): Promise<GateTraining> {
  const started = Date.now();
  const digits = o.digits ?? GATE_DIGITS;
  const seed = o.seed ?? 0;
  const all = await loadMnist('train');
  if (!(digits > 0 && digits < all.count)) throw new DigitsError(`digits: expected 1 to ${all.count - 1}, got ${digits}`);
  const rng = new Rng(seed);
  const rows = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
  onEvent({ type: 'info', message: `making ${digits.toLocaleString('en-US')} digit fields and as many outliers` });
  const n = 2 * digits;
  const x = new Tensor([n, 28, 28, 1]);
  x.data.set(digitFields(all, rows(0, digits), rng), 0);
  x.data.set(outlierFields(all, digits, rng), digits * 784);
  const y = new Tensor([n, GATE_CLASSES]);
  for (let i = 0; i < n; i++) y.data[i * GATE_CLASSES + (i < digits ? all.labels![i]! : NOT_A_DIGIT)] = 1;
  const model = buildGate(seed);
  model.setBackend(o.backend);
  await model.fit(x, y, { epochs: o.epochs ?? 8, batchSize: 64, shuffle: true, seed });
  // the threshold and the figures, on digits and outliers it never saw
  const held = Math.min(o.check ?? all.count - digits, all.count - digits);
  const gate = { model, threshold: 0 };
  const heldDigits = gateScores(gate, digitFields(all, rows(digits, digits + held), rng), held);
  const threshold = acceptanceThreshold(heldDigits, GATE_ACCEPT_MISS);
  const heldOutliers = gateScores(gate, outlierFields(all, held, rng), held);
  const share = (v: Float32Array, f: (s: number) => boolean): number => v.filter(f).length / v.length;
  await saveModel(model, o.out, makeMetadata(model, { classNames: [...DIGIT_CLASS_NAMES, 'not a digit'], seed, preset: 'gate', trainedAt: new Date().toISOString(),
    backend: o.backend.name, calibration: { temperature: 1, threshold, images: held } }));
  return {
    threshold, digitsAccepted: share(heldDigits, (s) => s >= threshold), outliersRefused: share(heldOutliers, (s) => s < threshold),
    seconds: (Date.now() - started) / 1000,
  };
}

/** The gate in `dir` (default: the package's), on `backend`; its threshold is the one saved with it. */
export async function loadGate(backend: Backend, dir = GATE_DIR): Promise<Gate> {
  const { model, metadata } = await loadModel(dir);
  if (model.outputShape?.[0] !== GATE_CLASSES) throw new DigitsError(`${dir}: not a digit gate (it has ${model.outputShape?.[0]} outputs, a gate has ${GATE_CLASSES})`);
  model.setBackend(backend);
  return { model, threshold: metadata?.calibration?.threshold ?? 0.5 };
}


/** Whether a model reads digits: its classes are 0-9 (or it does not say). The gate judges digits only. */
export function readsDigits(metadata: Pick<DigitsMetadata, 'classNames'> | null): boolean {
  return metadata === null || metadata.classNames.join(',') === DIGIT_CLASS_NAMES.join(',');
}

/**
 * The gate a model reads with: the one in `dir` (default the package's) for a model of digits, none
 * for a model of other classes (Fashion-MNIST's clothes are all "not a digit" to it), or when `dir` is false.
 */
export async function gateFor(metadata: Pick<DigitsMetadata, 'classNames'> | null, backend: Backend, dir: string | false = GATE_DIR): Promise<Gate | null> {
  return dir === false || !readsDigits(metadata) ? null : loadGate(backend, dir);
}
