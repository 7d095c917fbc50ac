/**
 * What a run leaves in its folder, read back (metrics.json, history.json, an
 * ensemble's members), and its report: the settings table, the evaluation on
 * the validation rows when the data has no test set, and report.html.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { validationSplitIndices } from '../nn/index.js';
import type { Dataset } from '../data/dataset.js';
import { loadTrainingData, resolveDataSpec } from '../data/index.js';
import type { DigitsMetadata } from '../io/model-files.js';
import type { LoadedClassifier } from '../io/ensemble.js';
import type { Classifier } from '../nn/classifier.js';
import { describeTta } from '../nn/index.js';
// report.js pulls in Vega and resvg: imported when a report is written, not on every `digits` start
import type { ReportEvaluation, ReportInput, ReportMember, ReportResult } from '../report/report.js';
import { describeAveraging, formatSeconds } from '../report/text.js';
import { warnOnStderr, type OnRunEvent } from './events.js';
import { describePrecision } from './backend.js';
import { modelInput, predictProbabilities } from './predict.js';

/** What a training run left beside its model: metrics.json and history.json (each may be missing). */
export interface RunInfo {
  metrics: Record<string, unknown> | null;
  history: { history: Record<string, number[] | undefined>; bestEpoch?: number } | null;
}

async function readJson(file: string): Promise<Record<string, unknown> | null> {
  try {
    const v = JSON.parse(await fs.readFile(file, 'utf8')) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The metrics.json and history.json a training run left in `modelDir` (each null when missing or unreadable). */
export async function readRunInfo(modelDir: string): Promise<RunInfo> {
  const metrics = await readJson(path.join(modelDir, 'metrics.json'));
  const h = await readJson(path.join(modelDir, 'history.json'));
  const history = h && typeof h.history === 'object' && h.history !== null
    ? { history: h.history as Record<string, number[]>, ...(typeof h.bestEpoch === 'number' ? { bestEpoch: h.bestEpoch } : {}) }
    : null;
  return { metrics, history };
}

export const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** What a run's saved weights are, from its metrics.json, when training averaged them or ran a BatchNorm pass. */
function runAveraging(m: Record<string, unknown> | null): string | undefined {
  return describeAveraging(m?.averaging, num(m?.epochsRun), m?.batchNormPass);
}

/** The settings table of a run, from its metrics.json (train writes it) and the model's metadata. */
export function runSettings(m: Record<string, unknown> | null, meta: DigitsMetadata | null): [string, string][] {
  const rows: [string, string][] = [];
  const add = (k: string, v: string | undefined): void => {
    if (v !== undefined && v !== '') rows.push([k, v]);
  };
  add('preset', str(m?.preset) ?? meta?.preset ?? undefined);
  add('training data', str(m?.data));
  const images = num(m?.trainImages);
  // as validationSplitIndices splits: the training rows are floor(images × (1 − split))
  const split = num(m?.validationSplit) ?? 0;
  const held = images !== undefined && split > 0 ? images - Math.floor(images * (1 - split)) : 0;
  add('training images', images === undefined ? undefined : held > 0
    ? `${(images - held).toLocaleString('en-US')} trained on, ${held.toLocaleString('en-US')} held out for validation (of ${images.toLocaleString('en-US')})`
    : images.toLocaleString('en-US'));
  add('validation split', num(m?.validationSplit) !== undefined ? `${Math.round(num(m?.validationSplit)! * 100)}%` : undefined);
  add('seed', String(num(m?.seed) ?? meta?.seed ?? 'unknown'));
  add('epochs', num(m?.epochs) !== undefined ? `${num(m?.epochsRun) ?? '?'} run of ${num(m?.epochs)}` : num(m?.epochsRun)?.toString());
  add('best epoch', num(m?.bestEpoch)?.toString());
  const averaged = runAveraging(m);
  if (averaged !== undefined) {
    const v = num(m?.modelValAccuracy);
    add('the model', `${averaged}${v !== undefined ? ` (validation accuracy ${(v * 100).toFixed(2)}%)` : ''}`);
  }
  add('batch size', num(m?.batchSize)?.toString());
  add('backend', [str(m?.backend) ?? meta?.backend ?? undefined, num(m?.threads) ? `${num(m?.threads)} threads` : undefined]
    .filter(Boolean).join(', ') || undefined);
  add('convolutions', str(m?.precision) === 'bf16' ? 'bfloat16 operands, float32 sums' : str(m?.precision) === 'fp32' ? 'float32' : undefined);
  add('training throughput', num(m?.trainImagesPerSec) !== undefined ? `${Math.round(num(m?.trainImagesPerSec)!).toLocaleString('en-US')} images/s` : undefined);
  add('training time', num(m?.trainSeconds) !== undefined ? formatSeconds(num(m?.trainSeconds)!) : undefined);
  add('wall time', num(m?.wallSeconds) !== undefined ? formatSeconds(num(m?.wallSeconds)!) : undefined);
  add('test images', num(m?.testImages)?.toLocaleString('en-US'));
  add('trained at', meta?.trainedAt ?? undefined);
  add('Digits version', meta?.version);
  return rows;
}

/**
 * What the report says about an artifact's training. A model: its metrics.json and history.json.
 * An ensemble: its members' metrics.json (the data facts of member 0, which all share), its
 * ensemble-metrics.json (wall time), one row per member, no history of its own.
 */
export interface ArtifactRun extends RunInfo {
  members: ReportMember[] | null;
  settings: [string, string][];
  /** seed of the report's sample picks */
  seed: number;
  /** seeds whose validation splits the run held out (an ensemble: every member's) */
  validationSeeds: number[];
  /** what the saved weights are when training averaged them or ran a BatchNorm pass (a model's describeAveraging; null: neither, or an ensemble) */
  averaging: string | null;
}

export async function readArtifactRun(loaded: LoadedClassifier, modelDir: string, outDir: string): Promise<ArtifactRun> {
  if (loaded.kind === 'model') {
    const run = await readRunInfo(modelDir);
    const settings = runSettings(run.metrics, loaded.metadata);
    if (loaded.tta.length > 0) settings.push(['test-time augmentation', describeTta(loaded.tta)]);
    const seed = num(run.metrics?.seed) ?? loaded.metadata?.seed ?? 0;
    const averaging = runAveraging(run.metrics) ?? null;
    return { ...run, members: null, settings, seed, validationSeeds: [seed], averaging };
  }
  const runs = await Promise.all(loaded.members.map((m) => readRunInfo(m.dir)));
  const members: ReportMember[] = await Promise.all(loaded.members.map(async (m, i) => {
    const mm = runs[i]!.metrics;
    const own = path.join(m.dir, 'report.html');
    const hasReport = await fs.stat(own).then((st) => st.isFile(), () => false);
    return {
      name: m.name, seed: num(mm?.seed) ?? m.metadata?.seed ?? null,
      testAccuracy: num(mm?.testAccuracy) ?? m.metadata?.testAccuracy, valAccuracy: num(mm?.valAccuracy),
      epochsRun: num(mm?.epochsRun), bestEpoch: num(mm?.bestEpoch), trainSeconds: num(mm?.trainSeconds),
      report: hasReport ? path.relative(path.resolve(outDir), path.resolve(own)).split(path.sep).join('/') : null,
    };
  }));
  const ens = await readJson(path.join(modelDir, ENSEMBLE_METRICS));
  const base = runSettings(runs[0]!.metrics, loaded.metadata)
    .filter(([k]) => !['seed', 'epochs', 'best epoch', 'training throughput', 'training time', 'wall time', 'trained at'].includes(k));
  const epochs = num(runs[0]!.metrics?.epochs);
  if (epochs !== undefined) base.push(['epochs', `${epochs} per member (each member's epochs run are in the learning curves section)`]);
  const seeds = members.map((m) => m.seed);
  const trainSeconds = members.reduce((s, m) => s + (m.trainSeconds ?? NaN), 0);
  const settings: [string, string][] = [
    ['ensemble', `${members.length} models (${members.map((m) => m.name).join(', ')}), class probabilities averaged`],
    ['seeds', seeds.map((v) => (v === null ? '?' : String(v))).join(', ')],
    ['test-time augmentation', describeTta(loaded.tta)],
    ...base,
  ];
  if (Number.isFinite(trainSeconds)) settings.push(['training time', `${formatSeconds(trainSeconds)} (all members)`]);
  const wall = num(ens?.wallSeconds);
  if (wall !== undefined) settings.push(['wall time', formatSeconds(wall)]);
  if (loaded.metadata?.trainedAt) settings.push(['trained at', loaded.metadata.trainedAt]);
  const seed = seeds[0] ?? 0;
  return {
    metrics: runs[0]!.metrics, history: null, members, settings, seed,
    validationSeeds: seeds.map((v) => v ?? 0), averaging: null,
  };
}

/** train --ensemble writes this beside ensemble.json: members' seeds, train seconds, test accuracy, the total wall time. */
export const ENSEMBLE_METRICS = 'ensemble-metrics.json';

/** The rows `Sequential.fit` held out for validation with `validationSplit` and `seed` (its own split function). */
export function validationRows(count: number, split: number, seed: number): Int32Array {
  return validationSplitIndices(count, split, seed).validation;
}

/**
 * The data spec a run trained on, from its metrics.json: `dataSpec` (written
 * since the report exists), 'mnist' for older runs on the bundled MNIST, null
 * when unknown (no metrics.json: a model TF.js or Keras saved).
 */
export function runDataSpec(m: Record<string, unknown> | null): string | null {
  return str(m?.dataSpec) ?? (str(m?.data) === 'MNIST train' ? 'mnist' : null);
}

/** Labelled training data of a run, as it trained (same spec and limit); null when unknown or not readable now. */
export async function runTrainingData(m: Record<string, unknown> | null, onEvent: OnRunEvent = warnOnStderr): Promise<Dataset | null> {
  const spec = runDataSpec(m);
  if (spec === null) return null;
  try {
    const ds = await loadTrainingData(spec, { limit: num(m?.limit) });
    return ds.labels ? ds : null;
  } catch (err) {
    onEvent({ type: 'warning', message: `report: training data ${spec} not readable, its sections are left out (${(err as Error).message})` });
    return null;
  }
}

/**
 * Rows every one of the seeds' validation splits held out, in order: an ensemble's members each
 * trained on all other rows, so only these are unseen by all of them.
 */
function heldOutByAll(count: number, split: number, seeds: number[]): Int32Array {
  const hits = new Uint16Array(count);
  for (const s of new Set(seeds)) for (const r of validationRows(count, split, s)) hits[r]! += 1;
  const need = new Set(seeds).size;
  const rows: number[] = [];
  for (let r = 0; r < count; r++) if (hits[r] === need) rows.push(r);
  return Int32Array.from(rows);
}

/** Probabilities for some rows of a dataset. */
function predictRows(model: Classifier, meta: DigitsMetadata | null, ds: Dataset, rows: Int32Array, onEvent: OnRunEvent): Float32Array {
  const per = ds.height * ds.width * ds.channels;
  const images = new Float32Array(rows.length * per);
  rows.forEach((r, i) => images.set(ds.images.subarray(r * per, (r + 1) * per), i * per));
  const sub: Dataset = { ...ds, images, labels: null, count: rows.length };
  return predictProbabilities(model, modelInput(sub, meta, model.inputShape), 'predicting validation images', onEvent);
}

/**
 * The validation split of a run whose data has no labelled test set (a Kaggle
 * train.csv): its rows, their labels and the model's probabilities.
 */
export function validationEvaluation(
  model: Classifier, meta: DigitsMetadata | null, train: Dataset, split: number, seed: number | number[], onEvent: OnRunEvent = warnOnStderr,
): ReportEvaluation | null {
  if (!(split > 0) || !train.labels) return null;
  const rows = heldOutByAll(train.count, split, typeof seed === 'number' ? [seed] : seed);
  if (rows.length === 0) return null;
  const labels = new Uint8Array(rows.length);
  rows.forEach((r, i) => (labels[i] = train.labels![r]!));
  return { kind: 'validation', source: train.source, dataset: train, rows, labels, probs: predictRows(model, meta, train, rows, onEvent) };
}

/** Write the report; a failure is a warning (the run's real outputs are already saved). */
export async function writeRunReport(outDir: string, input: ReportInput, onEvent: OnRunEvent = warnOnStderr): Promise<ReportResult | null> {
  try {
    const { writeReport } = await import('../report/report.js');
    return await writeReport(outDir, input);
  } catch (err) {
    onEvent({ type: 'warning', message: `could not write ${path.join(outDir, 'report.html')}: ${(err as Error).message}` });
    return null;
  }
}

/** The folder of a model folder where `evaluate` writes its report. */
export const EVALUATION_DIR = 'evaluation';

/**
 * `digits evaluate`'s report, into the model folder's `evaluation/` (beside the training's report,
 * which it leaves alone): the run's own training sections, evaluated on `data`.
 */
export async function writeEvaluationReport(
  modelDir: string, loaded: LoadedClassifier, data: Dataset, probs: Float32Array, dataSpec: string, onEvent: OnRunEvent = warnOnStderr,
): Promise<ReportResult | null> {
  // beside the training's own report, never over it: the evaluation may be on other data or fewer images
  const outDir = path.join(modelDir, EVALUATION_DIR);
  const run = await readArtifactRun(loaded, modelDir, outDir);
  const kind = (await resolveDataSpec(dataSpec)).kind === 'csv' ? 'labelled' : 'test';
  return writeRunReport(outDir, {
    modelDir, model: loaded.model, metadata: loaded.metadata, history: run.history, members: run.members, averaging: run.averaging,
    training: await runTrainingData(run.metrics, onEvent),
    evaluation: { kind, source: data.source, dataset: data, labels: data.labels!, probs },
    settings: [...run.settings, ['scored in', describePrecision(loaded.model.backend.precision)]], seed: run.seed,
    generator: 'digits evaluate',
  }, onEvent);
}
