/**
 * A training run end to end: the data and its split, the preset's model and
 * fit (checkpointed at every epoch end, resumable bit for bit), the test
 * evaluation, and the files a run leaves in its folder: the model
 * (model.json + weights), history.json, metrics.json, submission.csv (when
 * the data has a labelled test set) and report.html. Progress goes to
 * `onEvent`; nothing is printed.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DigitsError, Interrupted, signalExitCode } from '../errors.js';
import type { Backend } from '../engine/backend.js';
import type { Dataset } from '../data/dataset.js';
import { loadMnist, loadTestData, loadTrainingData, resolveDataSpec, writeSubmission } from '../data/index.js';
import {
  buildPreset, getPreset, presetAfterFit, presetCallbacks, presetFitOptions, ProgressCallback, oneHot, type Callback, type History, type Sequential,
} from '../nn/index.js';
import { MODEL_JSON, saveModel, type DigitsMetadata } from '../io/model-files.js';
import { ENSEMBLE_JSON } from '../io/ensemble.js';
import { checkOutputFolder, writeFailure } from '../util/disk.js';
import { removeLeftovers, writeFileAtomic } from '../util/atomic.js';
import { lockRunFolder } from './lock.js';
import { findCheckpoint, removeCheckpoint, type LoadedCheckpoint } from '../io/checkpoint.js';
import { argmaxRows, classificationReport, type ClassificationReport } from '../report/metrics.js';
import type { ReportEvaluation, ReportResult } from '../report/report.js';
import { describeAveraging, formatSeconds } from '../report/text.js';
import { VERSION } from '../version.js';
import { fitCalibration } from '../nn/calibration.js';
import { Checkpointer, checkResumedData, dataSpecForCheckpoint, labelsDigest, runBytes, type RunOptions, type RunSettings } from './checkpoint.js';
import { runSettings, validationEvaluation, writeRunReport } from './artifacts.js';
import { chooseBackend } from './backend.js';
import { warnOnStderr, type OnRunEvent } from './events.js';
import { modelInput, predictProbabilities } from './predict.js';

/** How a training run is carried out, beside its options. */
export interface TrainHooks {
  /** the backend to train on (default: the one the options name) */
  backend?: Backend;
  /** progress, steps and warnings (default: dropped) */
  onEvent?: OnRunEvent;
  /** aborting it finishes the current batch, writes a checkpoint and rejects with Interrupted (its reason: the signal's name, for the exit code) */
  signal?: AbortSignal;
  /** the checkpoint of the interrupted run to go on with (resumeOptions gives it with the options) */
  resume?: LoadedCheckpoint | null;
  /** replace a model or an ensemble the output folder already holds (`--force`); without it such a folder is refused */
  replace?: boolean;
}

/**
 * Refuses an output folder that already holds a finished model or ensemble (a model.json or an
 * ensemble.json), naming it and its test accuracy, unless `replace`: a new run never silently
 * destroys a result.
 */
export async function refuseToReplace(out: string, replace: boolean | undefined): Promise<void> {
  if (replace === true) return;
  for (const file of [MODEL_JSON, ENSEMBLE_JSON]) {
    const text = await fs.readFile(path.join(out, file), 'utf8').catch(() => null);
    if (text === null) continue;
    const accuracy = /"testAccuracy":\s*([\d.eE+-]+)/.exec(text)?.[1];
    const what = file === MODEL_JSON ? 'a model' : 'an ensemble';
    throw new DigitsError(`--out ${out} already holds ${what} (${file}${accuracy !== undefined ? `, test accuracy ${(Number(accuracy) * 100).toFixed(2)}%` : ''}): ` +
      'pick another folder, or pass --force to replace it');
  }
}

/** What a run's metrics.json holds. */
export interface RunMetrics {
  preset: string;
  data: string;
  dataSpec: string;
  limit?: number;
  testLimit?: number;
  trainImages: number;
  validationSplit: number;
  epochs: number;
  batchSize: number;
  epochsRun: number;
  /** 1-based epoch whose weights were kept */
  bestEpoch: number;
  loss?: number;
  accuracy?: number;
  valLoss?: number;
  valAccuracy?: number;
  averaging?: unknown;
  batchNormPass?: boolean;
  /** validation accuracy of the saved model, when averaging or a BatchNorm pass made it other than an epoch's weights */
  modelValAccuracy?: number;
  testAccuracy?: number;
  testImages?: number;
  seed: number;
  backend: string;
  threads: number;
  precision: string;
  trainSeconds: number;
  wallSeconds: number;
  trainImagesPerSec: number;
}

/** A finished run: its model, what it measured and the files it wrote. */
export interface TrainResult {
  /** the run's folder */
  out: string;
  model: Sequential;
  history: History;
  metrics: RunMetrics;
  /** the evaluation on the data's labelled test set, when it has one */
  testReport: ClassificationReport | null;
  /** what the saved weights are when averaging or a BatchNorm pass made them (null: the weights of an epoch) */
  modelDescription: string | null;
  report: ReportResult | null;
  /** the files written into `out`, by name */
  files: string[];
}

/** One training run (a fresh one, or the rest of an interrupted one given as `hooks.resume`), then its evaluation, model, files and report. */
export async function trainRun(o: RunOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const onEvent = hooks.onEvent ?? warnOnStderr;
  const resume = hooks.resume ?? null;
  const started = Date.now();
  const { model, training } = buildPreset(o.preset, o.seed);
  const epochs = o.epochs ?? training.epochs;
  const batchSize = o.batchSize ?? training.batchSize;
  const validationSplit = o.validationSplit ?? training.validationSplit;
  if (resume === null) await refuseToReplace(o.out, hooks.replace);
  const existed = await fs.stat(o.out).then(() => true, () => false);
  await checkOutputFolder(o.out, `--out ${o.out}`, {
    needBytes: runBytes(model.countParams(), o.limit ?? 60000), needFor: 'the model, its checkpoints and the report',
  });
  // the folder is this run's until it ends: a second run into it is refused, and what a killed run
  // left half-written (staging files and folders) is cleared
  const lock = await lockRunFolder(o.out, resume === null ? `digits train --out ${o.out}` : `digits train --resume ${o.out}`);
  let finished = false;
  try {
    const cleared = await removeLeftovers(o.out);
    if (cleared.length > 0) onEvent({ type: 'info', message: `removed what an interrupted run left half-written in ${o.out}: ${cleared.join(', ')}` });
    const result = await trainLocked(o, hooks, { model, training, epochs, batchSize, validationSplit, started });
    finished = true;
    return result;
  } finally {
    await lock.release();
    // a run that failed before writing anything leaves no empty folder behind (rmdir removes only an empty one)
    if (!finished && !existed) await fs.rmdir(o.out).catch(() => undefined);
  }
}

/** trainRun's work once it holds the run folder. */
async function trainLocked(o: RunOptions, hooks: TrainHooks, p: {
  model: Sequential; training: ReturnType<typeof buildPreset>['training']; epochs: number; batchSize: number; validationSplit: number;
  started: number;
}): Promise<TrainResult> {
  const onEvent = hooks.onEvent ?? warnOnStderr;
  const resume = hooks.resume ?? null;
  const { model, training, epochs, batchSize, validationSplit, started } = p;
  if (resume === null) {
    const stale = await findCheckpoint(o.out);
    if (stale !== null) {
      onEvent({ type: 'warning', message: `${stale} is the checkpoint of an interrupted run; this new run replaces it ` +
        `(to continue that run instead: npx digits train --resume ${o.out})` });
    }
  }
  const backend = hooks.backend ?? chooseBackend(o, onEvent);
  model.setBackend(backend);

  const spec = await resolveDataSpec(o.data);
  const reading = 'reading training data';
  const data = await loadTrainingData(o.data, {
    limit: o.limit, onProgress: (rows) => onEvent({ type: 'count', label: reading, done: rows, total: o.limit ?? 60000 }),
  });
  onEvent({ type: 'countEnd', label: reading });
  if (data.labels === null) throw new DigitsError(`--data ${o.data}: training data must be labelled`);

  const settings: RunSettings = {
    preset: o.preset, data: dataSpecForCheckpoint(o.data), epochs, batchSize, validationSplit, seed: o.seed,
    limit: o.limit ?? null, testLimit: o.testLimit ?? null, backend: backend.name as RunSettings['backend'], threads: backend.threads,
    precision: backend.precision,
    trainImages: data.count, labelsSha256: labelsDigest(data.labels),
  };
  const before = { trainSeconds: 0, wallSeconds: 0 };
  if (resume !== null) {
    checkResumedData(resume.settings as unknown as RunSettings, data.count, data.labels, o.out);
    const weights = new Map(resume.model.namedWeights().map((w) => [w.name, w.tensor.data]));
    model.setNamedWeights(weights);
    for (const k of ['trainSeconds', 'wallSeconds'] as const) {
      const v = resume.extra?.[k];
      if (typeof v === 'number' && Number.isFinite(v)) before[k] = v;
    }
    const p = resume.state;
    onEvent({ type: 'info', message: `resuming ${o.out} from ${resume.dir} (written ${resume.writtenAt}) at ` +
      (p.epoch >= p.epochs ? 'the end of training' : `epoch ${p.epoch + 1}/${p.epochs}, batch ${p.batch}/${p.steps}`) });
  }
  onEvent({ type: 'info', message: `training preset ${o.preset} on ${data.count.toLocaleString('en-US')} images from ${data.source}` +
    ` (${Math.round((1 - validationSplit) * 100)}/${Math.round(validationSplit * 100)} train/validation split, seed ${o.seed}),` +
    ` ${epochs} epochs, batch ${batchSize}, ${backend.name} backend${backend.threads > 1 ? ` (${backend.threads} threads)` : ''}` +
    (backend.precision === 'bf16' ? ', bf16 convolutions' : '') });

  const x = modelInput(data, null, model.inputShape);
  const y = oneHot(data.labels);
  const trainStart = Date.now();
  const elapsed = (): { trainSeconds: number; wallSeconds: number } => ({
    trainSeconds: before.trainSeconds + (Date.now() - trainStart) / 1000,
    wallSeconds: before.wallSeconds + (Date.now() - started) / 1000,
  });
  // The checkpointer comes after the callbacks whose state it saves, and before the progress
  // callback: an epoch's progress is reported once its checkpoint is on disk.
  const checkpointer = new Checkpointer(o.out, settings, elapsed);
  if (resume !== null) checkpointer.last = { epoch: resume.state.epoch, batch: resume.state.batch };
  const callbacks: Callback[] = [
    ...presetCallbacks(training, { validation: validationSplit > 0 }),
    checkpointer,
    new ProgressCallback((progress) => onEvent({ type: 'training', progress })),
  ];
  const history = await model.fit(x, y, {
    epochs, batchSize, validationSplit, shuffle: true, seed: o.seed, callbacks, ...presetFitOptions(training),
    ...(hooks.signal !== undefined ? { signal: hooks.signal } : {}), ...(resume !== null ? { resume: resume.state } : {}),
  });
  if (history.interrupted) {
    await checkpointer.write(model.trainingState());
    const { epoch, batch } = history.interrupted;
    const steps = Math.ceil(Math.floor(data.count * (1 - validationSplit)) / batchSize);
    const at = batch === 0 ? `after epoch ${epoch} of ${epochs}` : `at epoch ${epoch + 1}, batch ${batch}/${steps}`;
    throw new Interrupted(`interrupted ${at}: checkpoint written to ${checkpointer.dir}; resume with: npx digits train --resume ${o.out}`,
      signalExitCode(hooks.signal?.reason));
  }
  const passStart = Date.now();
  const passRows = presetAfterFit(model, x, training, { batchSize, validationSplit, seed: o.seed });
  if (passRows > 0) {
    onEvent({ type: 'info', message: `BatchNorm statistics recomputed over the ${passRows.toLocaleString('en-US')} training images ` +
      `(${formatSeconds((Date.now() - passStart) / 1000)})` });
  }
  onEvent({ type: 'trained' });
  const trainSeconds = elapsed().trainSeconds;
  let result: TrainResult;
  try {
    result = await finishRun(o, {
      model, backend, spec, data, epochs, batchSize, validationSplit, history, trainSeconds,
      started: Date.now() - elapsed().wallSeconds * 1000,
    }, onEvent);
  } catch (err) {
    if (err instanceof DigitsError || typeof (err as NodeJS.ErrnoException)?.code !== 'string') throw err;
    throw new DigitsError(`cannot write the outputs in ${o.out}: ${writeFailure(err)}; training is done and ${checkpointer.whatIsLeft()}`);
  }
  await removeCheckpoint(o.out);
  return result;
}

interface FinishedRun {
  model: Sequential;
  backend: Backend;
  spec: Awaited<ReturnType<typeof resolveDataSpec>>;
  data: Dataset;
  epochs: number;
  batchSize: number;
  validationSplit: number;
  history: History;
  trainSeconds: number;
  /** Date.now() when the run (its first part, if resumed) started */
  started: number;
}

/** After training: test evaluation, the model and its files, the report. */
async function finishRun(o: RunOptions, r: FinishedRun, onEvent: OnRunEvent): Promise<TrainResult> {
  const { model, backend, spec, data, epochs, batchSize, validationSplit, history, trainSeconds, started } = r;
  // Evaluate on the held-out test set when the data has one (bundled MNIST, an IDX folder with t10k files).
  let testReport: ClassificationReport | null = null;
  let evaluation: ReportEvaluation | null = null; // for the report: the test set, else the validation split
  const files = ['model.json', 'history.json', 'metrics.json'];
  if (spec.kind === 'mnist' || spec.kind === 'idx-dir') {
    const test = spec.kind === 'mnist' ? await loadMnist('test', { limit: o.testLimit }) : await loadTestData(o.data, { limit: o.testLimit });
    const probs = predictProbabilities(model, modelInput(test, null, model.inputShape), 'predicting test images', onEvent);
    const predicted = argmaxRows(probs);
    testReport = classificationReport(test.labels!, predicted);
    await writeSubmission(path.join(o.out, 'submission.csv'), predicted);
    files.push('submission.csv');
    evaluation = { kind: 'test', source: test.source, dataset: test, labels: test.labels!, probs };
  } else {
    evaluation = validationEvaluation(model, null, data, validationSplit, o.seed, onEvent);
  }
  const testAccuracy = testReport?.accuracy;
  // With weight averaging or a BatchNorm pass the saved model is not any epoch's weights (the
  // history's figures): its validation accuracy is measured again.
  const presetTraining = getPreset(o.preset).training;
  const averaging = presetTraining.averaging ?? null;
  const batchNormPass = presetTraining.batchNormPass === true;
  const modelDescription = describeAveraging(averaging, history.epoch.length, batchNormPass) ?? null;
  // the validation split: the saved model's accuracy there, and what its probabilities are read with
  const validation = evaluation?.kind === 'validation' ? evaluation : validationEvaluation(model, null, data, validationSplit, o.seed, onEvent);
  let modelValAccuracy: number | undefined;
  if (modelDescription !== null && validation !== null) modelValAccuracy = classificationReport(validation.labels, argmaxRows(validation.probs)).accuracy;
  const calibration = validation !== null ? fitCalibration(validation.probs, validation.labels) : undefined;
  if (calibration !== undefined) {
    onEvent({ type: 'info', message: `calibrated on ${calibration.images.toLocaleString('en-US')} validation images: temperature ` +
      `${calibration.temperature.toFixed(3)}, not a digit under ${(calibration.threshold * 100).toFixed(1)}% confidence` });
  }

  const metadata: DigitsMetadata = {
    version: VERSION,
    inputScale: 1 / 255,
    inputShape: [...model.inputShape!],
    classNames: [...(data.classNames ?? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])],
    seed: o.seed,
    preset: o.preset,
    history: history.history as Record<string, number[]>,
    ...(testAccuracy !== undefined ? { testAccuracy } : {}),
    trainedAt: new Date().toISOString(),
    backend: backend.name,
    precision: backend.precision,
    ...(calibration !== undefined ? { calibration } : {}),
  };
  await saveModel(model, o.out, metadata);
  await writeFileAtomic(path.join(o.out, 'history.json'), JSON.stringify(history, null, 2) + '\n');
  const last = (k: string): number | undefined => {
    const arr = (history.history as Record<string, number[] | undefined>)[k];
    const idx = history.bestEpoch !== undefined ? history.bestEpoch : (arr?.length ?? 0) - 1;
    return arr?.[idx];
  };
  const metrics: RunMetrics = {
    preset: o.preset,
    data: data.source,
    dataSpec: o.data,
    ...(o.limit !== undefined ? { limit: o.limit } : {}),
    ...(o.testLimit !== undefined ? { testLimit: o.testLimit } : {}),
    trainImages: data.count,
    validationSplit,
    epochs,
    batchSize,
    epochsRun: history.epoch.length,
    bestEpoch: history.bestEpoch !== undefined ? history.bestEpoch + 1 : history.epoch.length,
    loss: last('loss'),
    accuracy: last('accuracy'),
    valLoss: last('val_loss'),
    valAccuracy: last('val_accuracy'),
    ...(averaging !== null ? { averaging } : {}),
    ...(batchNormPass ? { batchNormPass } : {}),
    ...(modelValAccuracy !== undefined ? { modelValAccuracy } : {}),
    ...(testReport !== null ? { testAccuracy: testReport.accuracy, testImages: testReport.total } : {}),
    seed: o.seed,
    backend: backend.name,
    threads: backend.threads,
    precision: backend.precision,
    trainSeconds,
    wallSeconds: (Date.now() - started) / 1000,
    trainImagesPerSec: (history.epoch.length * Math.round(data.count * (1 - validationSplit))) / trainSeconds,
  };
  await writeFileAtomic(path.join(o.out, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');

  const report = await writeRunReport(o.out, {
    modelDir: o.out, model, metadata, history, training: data, evaluation,
    submission: files.includes('submission.csv') ? 'submission.csv' : null,
    averaging: modelDescription,
    settings: runSettings(metrics as unknown as Record<string, unknown>, metadata), seed: o.seed, generator: 'digits train',
  }, onEvent);
  if (report) files.push('report.html');
  return { out: o.out, model, history, metrics, testReport, modelDescription, report, files };
}
