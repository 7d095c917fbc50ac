/**
 * The runs that use a saved model (a model folder or an ensemble folder):
 * evaluating it on labelled data, predicting unlabelled images into a Kaggle
 * submission, and writing its report again. Each returns what it measured;
 * progress and warnings go to `onEvent`.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DigitsError } from '../errors.js';
import type { Dataset } from '../data/dataset.js';
import { loadTestData, loadUnlabelled, resolveDataSpec, writeSubmission } from '../data/index.js';
import { imageInputs, loadImageFiles } from '../preprocess/files.js';
import type { LoadedClassifier } from '../io/ensemble.js';
import { calibrationOf } from '../io/model-files.js';
import { gateFor } from './gate.js';
import { gatedReadings, withoutGateSay } from '../nn/gate.js';
import { readProbabilities, type Reading } from '../nn/calibration.js';
import { calibrationBeforeAfter, rejectionCurve, type CalibrationFigures, type RejectionPoint } from '../report/calibration.js';
import { argmaxRows, classificationReport, type ClassificationReport } from '../report/metrics.js';
import type { ReportEvaluation, ReportInput, ReportResult } from '../report/report.js';
import { describePrecision, type BackendOpts } from './backend.js';
import { warnOnStderr, type OnRunEvent } from './events.js';
import { modelInput, openClassifier, predictProbabilities } from './predict.js';
import { num, readArtifactRun, runDataSpec, runTrainingData, validationEvaluation, writeEvaluationReport } from './artifacts.js';

/** A saved model, how to run it, and the labelled data to evaluate it on. */
export interface EvaluateOptions extends BackendOpts {
  /** model folder or ensemble folder */
  model: string;
  /** "mnist" (its 10,000 test images), a folder of IDX files, or a labelled CSV */
  data: string;
  /** only the first N images */
  limit?: number;
  /** test-time augmentation: true or false override what the folder records */
  tta?: boolean;
}

/** An evaluation: the model, the data, the probabilities, the metrics and the report written. */
export interface EvaluateResult {
  loaded: LoadedClassifier;
  data: Dataset;
  /** class probabilities, [data.count, 10] row after row */
  probs: Float32Array;
  metrics: ClassificationReport;
  /** how the confidence means what it says: expected calibration error before and after the model's calibration */
  calibration: { temperature: number; before: CalibrationFigures; after: CalibrationFigures };
  /** accuracy on what is kept when the least confident images are refused (calibrated) */
  rejection: RejectionPoint[];
  /** share of the images the model takes for digits (isDigit) */
  acceptedAsDigits: number;
  /** the report written into the model folder (null: it could not be written, said as a warning) */
  report: ReportResult | null;
}

/** Accuracy, per-class figures and the confusion matrix of a saved model on labelled data; rewrites its report.html. */
export async function evaluateRun(o: EvaluateOptions, onEvent: OnRunEvent = warnOnStderr): Promise<EvaluateResult> {
  const loaded = await openClassifier(o, onEvent);
  const { model, metadata } = loaded;
  const data = await loadTestData(o.data, { limit: o.limit });
  if (data.labels === null) throw new DigitsError(`--data ${o.data}: evaluation needs labelled data`);
  const probs = predictProbabilities(model, modelInput(data, metadata, model.inputShape), 'predicting', onEvent);
  const metrics = classificationReport(data.labels, argmaxRows(probs));
  const cal = calibrationOf(metadata);
  const readings = gatedReadings(readProbabilities(probs, 10, cal), await gateFor(metadata, model.backend), data.images);
  const calibrated = Float32Array.from(readings.flatMap((r) => r.probabilities));
  const calibration = { temperature: cal.temperature, ...calibrationBeforeAfter(probs, data.labels, cal) };
  const rejection = rejectionCurve(calibrated, data.labels);
  const acceptedAsDigits = readings.filter((r) => r.isDigit).length / Math.max(1, readings.length);
  const report = await writeEvaluationReport(o.model, loaded, data, probs, o.data, onEvent);
  return { loaded, data, probs, metrics, calibration, rejection, acceptedAsDigits, report };
}

/** A saved model, how to run it, the unlabelled images and where the submission goes. */
export interface PredictOptions extends BackendOpts {
  model: string;
  /** a Kaggle test.csv, IDX images, or PNG/JPEG images (a file or a folder of them) */
  input: string;
  /** the submission file (ImageId,Label) */
  out: string;
  /** add the ten class probabilities p0..p9 (calibrated) as columns */
  probabilities?: boolean;
  /** add each image's calibrated confidence and whether it looks like a digit at all as columns Confidence,IsDigit */
  confidence?: boolean;
  tta?: boolean;
  /** false: an existing `out` is refused (checked once the model is open, before the images are read); default true */
  replace?: boolean;
}

/** A prediction run: the model, the images, the probabilities and the predicted digits. */
export interface PredictResult {
  loaded: LoadedClassifier;
  data: Dataset;
  probs: Float32Array;
  /** the predicted digit of each image */
  labels: Uint8Array;
  /** each image read with the model's calibration: label, confidence, isDigit, calibrated probabilities */
  readings: Reading[];
}

/** Labels for unlabelled images, written as a Kaggle submission. */
export async function predictRun(o: PredictOptions, onEvent: OnRunEvent = warnOnStderr): Promise<PredictResult> {
  const loaded = await openClassifier(o, onEvent); // a model or an ensemble folder
  const { model, metadata } = loaded;
  if (o.replace === false && await fs.stat(o.out).then(() => true, () => false)) {
    throw new DigitsError(`${path.resolve(o.out)} already exists: name the file to write with --out (for example --out ` +
      `${o.probabilities ? 'probabilities.csv' : 'submission-2.csv'}), or pass --force to replace it`);
  }
  const images = await imageInputs(o.input); // PNG/JPEG file or folder: the server's preprocessing
  const skipped = images?.skipped ?? [];
  if (skipped.length > 0) {
    onEvent({ type: 'warning', message: `${o.input}: skipped ${skipped.length} ${skipped.length === 1 ? 'file that is' : 'files that are'} not a PNG or JPEG ` +
      `image by its name: ${skipped.slice(0, 5).join(', ')}${skipped.length > 5 ? `, and ${skipped.length - 5} more` : ''}` });
  }
  const data = images ? await loadImageFiles(images.files)
    : await loadUnlabelled(o.input, { onProgress: (rows) => onEvent({ type: 'count', label: 'reading', done: rows, total: null }) });
  onEvent({ type: 'countEnd', label: 'reading' });
  const probs = predictProbabilities(model, modelInput(data, metadata, model.inputShape), 'predicting', onEvent);
  const labels = argmaxRows(probs);
  const readings = gatedReadings(readProbabilities(probs, 10, calibrationOf(metadata)), await gateFor(metadata, model.backend), data.images).map((r) => withoutGateSay(r));
  await writeSubmission(o.out, labels, {
    ...(o.probabilities ? { probabilities: Float32Array.from(readings.flatMap((r) => r.probabilities)) } : {}),
    ...(o.confidence ? { readings } : {}),
    // images from files: which file each row is (ImageId follows the names in natural order)
    ...(images !== null ? { files: images.names } : {}),
  });
  return { loaded, data, probs, labels, readings };
}

/** A saved model, how to run it, and what its report is made from. */
export interface ReportOptions extends BackendOpts {
  model: string;
  /** labelled evaluation data (default: the data the model trained on) */
  data?: string;
  limit?: number;
  /** also predict an unlabelled set and show a grid of its predictions */
  input?: string;
  /** output folder (default: the model folder) */
  out?: string;
  tta?: boolean;
}

/** A report written again, and what it evaluated on. */
export interface ReportRunResult {
  report: ReportResult;
  /** what the report evaluated on */
  evaluation: ReportEvaluation;
}

/** report.html (self-contained, with a PNG of each figure beside it) for a saved model, written again. */
export async function reportRun(o: ReportOptions, onEvent: OnRunEvent = warnOnStderr): Promise<ReportRunResult> {
  const loaded = await openClassifier(o, onEvent);
  const { model, metadata } = loaded;
  const outDir = o.out ?? o.model;
  const run = await readArtifactRun(loaded, o.model, outDir);
  const trainSpec = runDataSpec(run.metrics);
  const training = await runTrainingData(run.metrics, onEvent);

  // Evaluate on: --data, else the run's own data. A folder (or MNIST) has a test set; a CSV that the
  // run trained on gives its validation split back; any other CSV is labelled data to evaluate on.
  const evalSpec = o.data ?? trainSpec ?? 'mnist';
  const kind = (await resolveDataSpec(evalSpec)).kind;
  let evaluation: ReportEvaluation | null = null;
  const sameAsTraining = trainSpec !== null && path.resolve(evalSpec) === path.resolve(trainSpec);
  if (kind === 'csv' && sameAsTraining && training) {
    const split = num(run.metrics?.validationSplit) ?? 0;
    evaluation = validationEvaluation(model, metadata, training, split, run.validationSeeds, onEvent);
    if (!evaluation && loaded.kind === 'ensemble') {
      throw new DigitsError(`--data ${evalSpec}: no row of it was held out by every member (each trained on the others' ` +
        'validation rows), so the ensemble has no unseen rows there; pass --data with other labelled data');
    }
  }
  if (!evaluation) {
    const limit = o.limit ?? (sameAsTraining ? num(run.metrics?.testLimit) : undefined);
    const ds = await loadTestData(evalSpec, { limit });
    if (!ds.labels) throw new DigitsError(`--data ${evalSpec}: the report's evaluation needs labelled data`);
    const probs = predictProbabilities(model, modelInput(ds, metadata, model.inputShape), 'predicting', onEvent);
    evaluation = { kind: kind === 'csv' ? 'labelled' : 'test', source: ds.source, dataset: ds, labels: ds.labels, probs };
  }

  let unlabelled: ReportInput['unlabelled'] = null;
  if (o.input !== undefined) {
    const ds = await loadUnlabelled(o.input);
    unlabelled = { dataset: ds, probs: predictProbabilities(model, modelInput(ds, metadata, model.inputShape), 'predicting', onEvent) };
  }

  const { writeReport } = await import('../report/report.js');
  const report = await writeReport(outDir, {
    modelDir: o.model, model, metadata, history: run.history, members: run.members, training, evaluation, unlabelled,
    averaging: run.averaging,
    settings: [...run.settings, ['scored in', describePrecision(model.backend.precision)]], seed: run.seed,
    generator: 'digits report',
  });
  return { report, evaluation };
}
