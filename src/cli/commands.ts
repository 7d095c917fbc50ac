/**
 * The CLI's subcommands. Each is a thin face over nn, data and io: it
 * validates, wires progress to the terminal and prints results. Results go to
 * stdout, progress and warnings to stderr.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DigitsError } from '../errors.js';
import type { Backend } from '../engine/backend.js';
import { Tensor } from '../engine/tensor.js';
import type { Dataset } from '../data/dataset.js';
import {
  loadMnist, loadTestData, loadTrainingData, loadUnlabelled, prepareKaggle, resolveDataSpec, scoreSubmission, writeSubmission,
} from '../data/index.js';
import { buildPreset, getPreset, presetAfterFit, presetCallbacks, presetFitOptions, ProgressCallback, oneHot, type Callback, type Classifier, type Sequential } from '../nn/index.js';
import { saveModel, unitPixelFactor, type DigitsMetadata } from '../io/model-files.js';
import { loadClassifier, type LoadedClassifier } from '../io/ensemble.js';
import { writeFileAtomic } from '../util/atomic.js';
import { checkOutputFolder, writeFailure } from '../util/disk.js';
import { Interrupted } from '../errors.js';
import { findCheckpoint, removeCheckpoint, type LoadedCheckpoint } from '../io/checkpoint.js';
import {
  Checkpointer, catchInterrupts, checkResumedData, dataSpecForCheckpoint, interruptExitCode, labelsDigest, resumeOptions, runBytes,
  type RunOptions, type RunSettings,
} from './commands/checkpoint.js';
import type { Command } from 'commander';
import {
  argmaxRows, classificationReport, formatConfusionMatrix, formatPerClass, mostConfusedPairs,
} from '../report/metrics.js';
import { CountProgress, TrainingProgress } from './progress.js';
import { VERSION } from '../version.js';
import { runSettings, validationEvaluation, writeEvaluationReport, writeRunReport } from './commands/report.js';
import type { ReportEvaluation } from '../report/report.js';
import { describeAveraging, formatEpochTable } from '../report/text.js';
import { imageInputFiles, loadImageFiles } from '../preprocess/files.js';
import { trainEnsemble } from './commands/ensemble.js';

import { pickBackend, withPresetPrecision, type BackendOpts } from './options.js';

export { pickBackend, type BackendOpts };

/** The model or ensemble folder `o.model` (with `o.tta`), on the backend the options pick: what the predicting commands start with. */
export async function openClassifier(o: BackendOpts & { model: string; tta?: boolean }): Promise<LoadedClassifier> {
  const loaded = await loadClassifier(o.model, { tta: o.tta });
  loaded.model.setBackend(pickBackend(withPresetPrecision(o, loaded.metadata?.preset)));
  return loaded;
}

const out = (line = ''): void => {
  process.stdout.write(line + '\n');
};
const info = (line: string): void => {
  process.stderr.write(line + '\n');
};

/**
 * Check early that `dir` can be created and written (and, given `needBytes`,
 * that its file system has room), before any long work.
 */
export async function ensureWritableDir(dir: string, option: string, needBytes = 0, needFor = ''): Promise<void> {
  await checkOutputFolder(dir, `${option} ${dir}`, { needBytes, needFor });
}

/** Images as the model expects them: data is raw/255; the model wants raw * inputScale. */
export function modelInput(ds: Dataset, metadata: DigitsMetadata | null, inputShape: readonly number[] | null): Tensor {
  const shape = inputShape ?? [ds.height, ds.width, ds.channels];
  const want = shape.reduce((a, b) => a * b, 1);
  const per = ds.height * ds.width * ds.channels;
  if (want !== per) {
    throw new DigitsError(
      `${ds.source}: images are ${ds.height}x${ds.width}x${ds.channels} but the model expects [${shape.join(', ')}]`,
    );
  }
  const factor = unitPixelFactor(metadata);
  let images = ds.images;
  if (Math.abs(factor - 1) > 1e-9) {
    images = new Float32Array(ds.images.length);
    for (let i = 0; i < images.length; i++) images[i] = ds.images[i]! * factor;
  }
  return new Tensor([ds.count, ...shape], images);
}

export function predictWithProgress(model: Classifier, x: Tensor, label: string): Float32Array {
  const n = x.shape[0]!;
  const chunk = 5000;
  if (n <= chunk) return model.predict(x, { batchSize: 500 }).data.slice();
  const probs = new Float32Array(n * 10);
  const bar = new CountProgress(label);
  const per = x.size / n;
  for (let start = 0; start < n; start += chunk) {
    const end = Math.min(n, start + chunk);
    const part = new Tensor([end - start, ...x.shape.slice(1)], x.data.subarray(start * per, end * per));
    probs.set(model.predict(part, { batchSize: 500 }).data.subarray(0, (end - start) * 10), start * 10);
    bar.update(end, n);
  }
  bar.stop();
  return probs;
}

function formatSeconds(s: number): string {
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

// ------------------------------------------------------------------------------------------- train

export interface TrainOpts extends RunOptions {
  /** train N members (seeds seed..seed+N-1) into out/model-i and write out/ensemble.json */
  ensemble?: number;
  /** with --ensemble: the ensemble averages over test-time augmentation views by default (recorded in ensemble.json) */
  tta?: boolean;
  /** continue the interrupted run whose --out folder this is (its settings come from the checkpoint) */
  resume?: string;
}

export async function train(o: TrainOpts, cmd?: Command): Promise<void> {
  if (o.resume !== undefined) {
    const { opts, checkpoint } = await resumeOptions(o.resume, { ...o }, cmd);
    return runTraining(opts, checkpoint);
  }
  // --precision auto: the preset's own precision where it has one (fast: fp32); the checkpoint records the
  // precision chosen, so that --resume keeps it
  o = withPresetPrecision(o, o.preset);
  if (o.ensemble !== undefined && o.ensemble > 1) return trainEnsemble(o); // src/cli/commands/ensemble.ts
  if (o.tta) throw new DigitsError('--tta on train needs --ensemble N (N >= 2): it is recorded in ensemble.json; for one model, use --tta on evaluate, predict or serve');
  return runTraining(o, null);
}

/** One training run (a fresh one, or the rest of an interrupted one), then its evaluation, model, report and summary. */
async function runTraining(o: RunOptions, resume: LoadedCheckpoint | null): Promise<void> {
  const started = Date.now();
  const { model, training } = buildPreset(o.preset, o.seed);
  const epochs = o.epochs ?? training.epochs;
  const batchSize = o.batchSize ?? training.batchSize;
  const validationSplit = o.validationSplit ?? training.validationSplit;
  await ensureWritableDir(o.out, '--out', runBytes(model.countParams(), o.limit ?? 60000), 'the model, its checkpoints and the report');
  if (resume === null) {
    const stale = await findCheckpoint(o.out);
    if (stale !== null) {
      info(`digits: warning: ${stale} is the checkpoint of an interrupted run; this new run replaces it ` +
        `(to continue that run instead: digits train --resume ${o.out})`);
    }
  }
  const backend = pickBackend(o);
  model.setBackend(backend);

  const spec = await resolveDataSpec(o.data);
  const readBar = new CountProgress('reading training data');
  const data = await loadTrainingData(o.data, { limit: o.limit, onProgress: (rows) => readBar.update(rows, o.limit ?? 60000) });
  readBar.stop();
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
    info(`resuming ${o.out} from ${resume.dir} (written ${resume.writtenAt}) at ` +
      (p.epoch >= p.epochs ? 'the end of training' : `epoch ${p.epoch + 1}/${p.epochs}, batch ${p.batch}/${p.steps}`));
  }
  info(`training preset ${o.preset} on ${data.count.toLocaleString('en-US')} images from ${data.source}` +
    ` (${Math.round((1 - validationSplit) * 100)}/${Math.round(validationSplit * 100)} train/validation split, seed ${o.seed}),` +
    ` ${epochs} epochs, batch ${batchSize}, ${backend.name} backend${backend.threads > 1 ? ` (${backend.threads} threads)` : ''}` +
    (backend.precision === 'bf16' ? ', bf16 convolutions' : ''));

  const x = modelInput(data, null, model.inputShape);
  const y = oneHot(data.labels);
  const progress = new TrainingProgress();
  const trainStart = Date.now();
  const elapsed = (): { trainSeconds: number; wallSeconds: number } => ({
    trainSeconds: before.trainSeconds + (Date.now() - trainStart) / 1000,
    wallSeconds: before.wallSeconds + (Date.now() - started) / 1000,
  });
  // The checkpointer comes after the callbacks whose state it saves, and before the progress
  // callback: an epoch's line is printed once its checkpoint is on disk.
  const checkpointer = new Checkpointer(o.out, settings, elapsed);
  if (resume !== null) checkpointer.last = { epoch: resume.state.epoch, batch: resume.state.batch };
  const callbacks: Callback[] = [
    ...presetCallbacks(training, { validation: validationSplit > 0 }),
    checkpointer,
    new ProgressCallback((e) => {
      if (e.type === 'batch') {
        progress.batch({
          epoch: e.epoch + 1, epochs: e.epochs, batch: e.batch, batches: e.batches,
          loss: e.loss, accuracy: e.accuracy, imagesPerSec: e.imagesPerSecond,
        });
      } else if (e.type === 'epoch') {
        const l = e.logs;
        const parts = [`epoch ${e.epoch + 1}/${e.epochs}`, `loss ${l.loss.toFixed(4)}`, `acc ${l.accuracy.toFixed(4)}`];
        if (l.val_loss !== undefined) parts.push(`val_loss ${l.val_loss.toFixed(4)}`, `val_acc ${l.val_accuracy!.toFixed(4)}`);
        parts.push(formatSeconds(e.seconds), `${Math.round(e.imagesPerSecond).toLocaleString('en-US')} img/s`);
        progress.epochEnd(parts.join('  '));
      }
    }),
  ];
  const interrupts = catchInterrupts((sig) => {
    progress.stop();
    info(`\ndigits: ${sig === 'SIGINT' ? 'Ctrl-C' : sig}: finishing the current batch, then writing a checkpoint ` +
      '(Ctrl-C again quits at once; the last checkpoint stays)');
  });
  let history: Awaited<ReturnType<Sequential['fit']>>;
  try {
    history = await model.fit(x, y, {
      epochs, batchSize, validationSplit, shuffle: true, seed: o.seed, callbacks, ...presetFitOptions(training),
      signal: interrupts.signal, ...(resume !== null ? { resume: resume.state } : {}),
    });
    progress.stop();
    if (history.interrupted) {
      await checkpointer.write(model.trainingState());
      const { epoch, batch } = history.interrupted;
      const steps = Math.ceil(Math.floor(data.count * (1 - validationSplit)) / batchSize);
      const at = batch === 0 ? `after epoch ${epoch} of ${epochs}` : `at epoch ${epoch + 1}, batch ${batch}/${steps}`;
      const sig = interrupts.caught() ?? 'SIGINT';
      throw new Interrupted(`interrupted ${at}: checkpoint written to ${checkpointer.dir}; resume with: digits train --resume ${o.out}`,
        interruptExitCode(sig));
    }
    const passStart = Date.now();
    const passRows = presetAfterFit(model, x, training, { batchSize, validationSplit, seed: o.seed });
    if (passRows > 0) {
      info(`BatchNorm statistics recomputed over the ${passRows.toLocaleString('en-US')} training images (${formatSeconds((Date.now() - passStart) / 1000)})`);
    }
  } finally {
    interrupts.dispose();
  }
  const trainSeconds = elapsed().trainSeconds;
  try {
    await finishRun(o, { model, backend, spec, data, epochs, batchSize, validationSplit, history, trainSeconds, started: Date.now() - elapsed().wallSeconds * 1000 });
  } catch (err) {
    if (err instanceof DigitsError || typeof (err as NodeJS.ErrnoException)?.code !== 'string') throw err;
    throw new DigitsError(`cannot write the outputs in ${o.out}: ${writeFailure(err)}; training is done and ${checkpointer.whatIsLeft()}`);
  }
  await removeCheckpoint(o.out);
}

interface FinishedRun {
  model: Sequential;
  backend: Backend;
  spec: Awaited<ReturnType<typeof resolveDataSpec>>;
  data: Dataset;
  epochs: number;
  batchSize: number;
  validationSplit: number;
  history: Awaited<ReturnType<Sequential['fit']>>;
  trainSeconds: number;
  /** Date.now() when the run (its first part, if resumed) started */
  started: number;
}

/** After training: test evaluation, the model and its files, the report and the terminal summary. */
async function finishRun(o: RunOptions, r: FinishedRun): Promise<void> {
  const { model, backend, spec, data, epochs, batchSize, validationSplit, history, trainSeconds, started } = r;
  // Evaluate on the held-out test set when the data has one (bundled MNIST, an IDX folder with t10k files).
  let testAccuracy: number | undefined;
  let testReport: ReturnType<typeof classificationReport> | undefined;
  let submissionPath: string | undefined;
  let evaluation: ReportEvaluation | null = null; // for the report: the test set, else the validation split
  if (spec.kind === 'mnist' || spec.kind === 'idx-dir') {
    const test = spec.kind === 'mnist' ? await loadMnist('test', { limit: o.testLimit }) : await loadTestData(o.data, { limit: o.testLimit });
    const probs = predictWithProgress(model, modelInput(test, null, model.inputShape), 'predicting test images');
    const predicted = argmaxRows(probs);
    testReport = classificationReport(test.labels!, predicted);
    testAccuracy = testReport.accuracy;
    submissionPath = path.join(o.out, 'submission.csv');
    await writeSubmission(submissionPath, predicted);
    evaluation = { kind: 'test', source: test.source, dataset: test, labels: test.labels!, probs };
  } else {
    evaluation = validationEvaluation(model, null, data, validationSplit, o.seed);
  }
  // With weight averaging or a BatchNorm pass the saved model is not any epoch's weights (the
  // history's figures): its validation accuracy is measured again.
  const presetTraining = getPreset(o.preset).training;
  const averaging = presetTraining.averaging ?? null;
  const batchNormPass = presetTraining.batchNormPass === true;
  const modelDescription = describeAveraging(averaging, history.epoch.length, batchNormPass) ?? null;
  let modelValAccuracy: number | undefined;
  if (modelDescription !== null) {
    const v = evaluation?.kind === 'validation' ? evaluation : validationEvaluation(model, null, data, validationSplit, o.seed);
    if (v !== null) modelValAccuracy = classificationReport(v.labels, argmaxRows(v.probs)).accuracy;
  }

  const metadata: DigitsMetadata = {
    version: VERSION,
    inputScale: 1 / 255,
    inputShape: [...model.inputShape!],
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    seed: o.seed,
    preset: o.preset,
    history: history.history as Record<string, number[]>,
    ...(testAccuracy !== undefined ? { testAccuracy } : {}),
    trainedAt: new Date().toISOString(),
    backend: backend.name,
  };
  await saveModel(model, o.out, metadata);
  await writeFileAtomic(path.join(o.out, 'history.json'), JSON.stringify(history, null, 2) + '\n');
  const last = (k: string): number | undefined => {
    const arr = (history.history as Record<string, number[] | undefined>)[k];
    const idx = history.bestEpoch !== undefined ? history.bestEpoch : (arr?.length ?? 0) - 1;
    return arr?.[idx];
  };
  const metrics = {
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
    ...(testAccuracy !== undefined ? { testAccuracy, testImages: testReport!.total } : {}),
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
    averaging: modelDescription,
    settings: runSettings(metrics, metadata), seed: o.seed, generator: 'digits train',
  });

  // The compact summary: epochs, final accuracies, the confusion matrix, where the report is.
  const pct = (v: number): string => `${(v * 100).toFixed(2)}%`;
  out('');
  out(formatEpochTable(history.history, history.bestEpoch));
  out('');
  if (modelDescription === null) {
    out(`final accuracy (weights of epoch ${metrics.bestEpoch}): ` + [
      metrics.accuracy !== undefined ? `training ${pct(metrics.accuracy)}` : '',
      metrics.valAccuracy !== undefined ? `validation ${pct(metrics.valAccuracy)}` : '',
      testReport ? `test ${pct(testReport.accuracy)}` : '',
    ].filter(Boolean).join(', '));
  } else {
    const scores = [modelValAccuracy !== undefined ? `validation ${pct(modelValAccuracy)}` : '', testReport ? `test ${pct(testReport.accuracy)}` : ''].filter(Boolean);
    out(`final model (${modelDescription})${scores.length > 0 ? `: ${scores.join(', ')}` : ''}`);
  }
  const shown = testReport ?? report?.metrics;
  if (shown) {
    out(`confusion matrix, ${testReport ? 'test' : 'validation'} set (${shown.total.toLocaleString('en-US')} images):`);
    out(formatConfusionMatrix(shown.confusion));
  }
  if (report) out(`report: ${path.resolve(report.html)} (and ${report.pngs.length} PNG figures beside it, ${report.seconds.toFixed(1)} s)`);
  out('');
  const where = path.resolve(o.out);
  const written = ['model.json', 'history.json', 'metrics.json', ...(submissionPath ? ['submission.csv'] : []),
    ...(report ? ['report.html'] : [])].join(', ');
  if (testAccuracy !== undefined) {
    out(`test accuracy ${(testAccuracy * 100).toFixed(2)}% on ${testReport!.total.toLocaleString('en-US')} test images ` +
      `in ${formatSeconds(metrics.wallSeconds)}; outputs in ${where} (${written})`);
  } else {
    out(`trained in ${formatSeconds(metrics.wallSeconds)}; outputs in ${where} (${written})`);
  }
}

// ---------------------------------------------------------------------------------------- evaluate

interface EvaluateOpts extends BackendOpts {
  model: string;
  data: string;
  limit?: number;
  json?: boolean;
  tta?: boolean;
}

export async function evaluate(o: EvaluateOpts): Promise<void> {
  const loaded = await openClassifier(o);
  const { model, metadata } = loaded;
  const data = await loadTestData(o.data, { limit: o.limit });
  if (data.labels === null) throw new DigitsError(`--data ${o.data}: evaluation needs labelled data`);
  const probs = predictWithProgress(model, modelInput(data, metadata, model.inputShape), 'predicting');
  const report = classificationReport(data.labels, argmaxRows(probs));
  const written = await writeEvaluationReport(o.model, loaded, data, probs, o.data);
  if (written) info(`report: ${path.resolve(written.html)} (and ${written.pngs.length} PNG figures beside it)`);
  if (o.json) {
    out(JSON.stringify({
      data: data.source, kind: loaded.kind, members: loaded.members.length, tta: loaded.tta.length,
      ...report, mostConfused: mostConfusedPairs(report.confusion),
    }, null, 2));
    return;
  }
  out(`${describeLoaded(loaded)} ${path.resolve(o.model)} on ${data.count.toLocaleString('en-US')} images from ${data.source}`);
  out(`accuracy ${(report.accuracy * 100).toFixed(2)}% (${report.correct}/${report.total}), macro F1 ${report.macroF1.toFixed(4)}`);
  out('');
  out(formatPerClass(report.perClass));
  out('');
  out(formatConfusionMatrix(report.confusion));
  const pairs = mostConfusedPairs(report.confusion);
  if (pairs.length > 0) {
    out('');
    out('most confused: ' + pairs.map((p) => `${p.actual}→${p.predicted} (${p.count})`).join(', '));
  }
}

/** "model", "ensemble of 3 models", "... with test-time augmentation (5 views)" */
function describeLoaded(l: Awaited<ReturnType<typeof loadClassifier>>): string {
  return (l.kind === 'ensemble' ? `ensemble of ${l.members.length} models` : 'model') +
    (l.tta.length > 0 ? ` with test-time augmentation (${l.tta.length} views)` : '');
}

// ----------------------------------------------------------------------------------------- predict

interface PredictOpts extends BackendOpts {
  model: string;
  input: string;
  out: string;
  probabilities?: boolean;
  tta?: boolean;
}

export async function predict(o: PredictOpts): Promise<void> {
  const loaded = await openClassifier(o); // a model or an ensemble folder
  const { model, metadata } = loaded;
  const readBar = new CountProgress('reading');
  const imageFiles = await imageInputFiles(o.input); // PNG/JPEG file or folder: the server's preprocessing
  const data = imageFiles ? await loadImageFiles(imageFiles)
    : await loadUnlabelled(o.input, { onProgress: (rows) => readBar.update(rows, Math.max(rows, 28000)) });
  readBar.stop();
  const probs = predictWithProgress(model, modelInput(data, metadata, model.inputShape), 'predicting');
  const labels = argmaxRows(probs);
  await writeSubmission(o.out, labels, o.probabilities ? { probabilities: probs } : {});
  const counts = new Array<number>(10).fill(0);
  for (const l of labels) counts[l]! += 1;
  out(`predicted ${data.count.toLocaleString('en-US')} images from ${data.source} with the ${describeLoaded(loaded)}; wrote ${path.resolve(o.out)}`);
  out('labels: ' + counts.map((c, d) => `${d}:${c}`).join(' '));
}

// ----------------------------------------------------------------------------------------- prepare

export async function prepare(o: { kaggle: string }): Promise<void> {
  await ensureWritableDir(o.kaggle, '--kaggle');
  const r = await prepareKaggle(o.kaggle);
  out(`wrote ${r.train} (${r.trainRows.toLocaleString('en-US')} rows), ${r.test} (${r.testRows.toLocaleString('en-US')} rows) and ${r.testLabels}`);
}

// ------------------------------------------------------------------------------------------- score

export async function score(submission: string, o: { labels: string }): Promise<void> {
  const r = await scoreSubmission(submission, o.labels);
  out(`accuracy ${(r.accuracy * 100).toFixed(2)}% (${r.correct}/${r.total})`);
}

// ----------------------------------------------------------------------------------------- summary

export async function summary(o: { model?: string; preset?: string }): Promise<void> {
  if ((o.model === undefined) === (o.preset === undefined)) {
    throw new DigitsError('summary: give exactly one of --model DIR or --preset NAME');
  }
  if (o.preset !== undefined) {
    out(buildPreset(o.preset, 0).model.summary());
    return;
  }
  const { model, metadata } = await loadClassifier(o.model!);
  out(model.summary());
  if (metadata?.testAccuracy !== undefined) out(`test accuracy ${(metadata.testAccuracy * 100).toFixed(2)}%`);
}

// ------------------------------------------------------------------------------------------- bench

interface BenchOpts extends BackendOpts {
  batchSize: number;
  steps: number;
  inferBatch: number;
  json?: boolean;
}

/**
 * Throughput of the seed model, measured as the PyTorch peer measures it
 * (../shared/bench/pytorch_peer.py): training steps (forward, backward, Adam)
 * on batches of MNIST training images after a warm-up of 10 steps, then
 * inference over the 10,000 test images in batches of --infer-batch.
 */
export async function bench(o: BenchOpts): Promise<void> {
  const backend = pickBackend(o);
  const { model } = buildPreset('seed', 0);
  model.setBackend(backend);
  const trainSet = await loadMnist('train');
  const testSet = await loadMnist('test');
  const x = modelInput(trainSet, null, model.inputShape);
  const y = oneHot(trainSet.labels!);
  const per = x.size / x.shape[0]!;
  const perm = model.rng.permutation(trainSet.count);
  const xb = new Tensor([o.batchSize, ...x.shape.slice(1)]);
  const yb = new Tensor([o.batchSize, 10]);
  const load = (step: number): void => {
    const j = (step * o.batchSize) % (trainSet.count - o.batchSize);
    for (let r = 0; r < o.batchSize; r++) {
      const i = perm[j + r]!;
      xb.data.set(x.data.subarray(i * per, (i + 1) * per), r * per);
      yb.data.set(y.data.subarray(i * 10, (i + 1) * 10), r * 10);
    }
  };
  for (let i = 0; i < 10; i++) {
    load(i);
    model.trainOnBatch(xb, yb);
  }
  const t0 = performance.now();
  for (let i = 0; i < o.steps; i++) {
    load(i);
    model.trainOnBatch(xb, yb);
  }
  const trainImagesPerSec = (o.steps * o.batchSize) / ((performance.now() - t0) / 1000);

  const xt = modelInput(testSet, null, model.inputShape);
  model.predict(new Tensor([o.inferBatch, ...xt.shape.slice(1)], xt.data.subarray(0, o.inferBatch * per)), { batchSize: o.inferBatch });
  const t1 = performance.now();
  model.predict(xt, { batchSize: o.inferBatch });
  const inferImagesPerSec = testSet.count / ((performance.now() - t1) / 1000);

  // single-image latency, in process
  const one = new Tensor([1, ...xt.shape.slice(1)], xt.data.subarray(0, per));
  for (let i = 0; i < 20; i++) model.predict(one, { batchSize: 1 });
  const lat: number[] = [];
  for (let i = 0; i < 200; i++) {
    const s = performance.now();
    model.predict(new Tensor([1, ...xt.shape.slice(1)], xt.data.subarray(i * per, (i + 1) * per)), { batchSize: 1 });
    lat.push(performance.now() - s);
  }
  lat.sort((a, b) => a - b);

  const result = {
    system: `digits ${VERSION}`,
    model: 'seed',
    backend: backend.name,
    batchSize: o.batchSize,
    threads: backend.threads,
    trainImagesPerSec: Math.round(trainImagesPerSec * 10) / 10,
    inferImagesPerSec: Math.round(inferImagesPerSec * 10) / 10,
    latencyMs: { p50: +lat[100]!.toFixed(3), p99: +lat[198]!.toFixed(3) },
  };
  if (o.json) {
    out(JSON.stringify(result));
  } else {
    out(`seed model on the ${backend.name} backend (${backend.threads} thread${backend.threads > 1 ? 's' : ''})`);
    out(`training  ${result.trainImagesPerSec.toLocaleString('en-US')} images/s (batch ${o.batchSize}, ${o.steps} steps)`);
    out(`inference ${result.inferImagesPerSec.toLocaleString('en-US')} images/s (batch ${o.inferBatch})`);
    out(`latency   ${result.latencyMs.p50} ms median, ${result.latencyMs.p99} ms p99 (one image)`);
  }
}
