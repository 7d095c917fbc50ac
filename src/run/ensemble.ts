/**
 * An ensemble trained as one run: N training runs with consecutive seeds, each
 * a full run in out/model-i (model, metrics, report), then ensemble.json, the
 * ensemble's own evaluation, submission.csv, ensemble-metrics.json and
 * report.html in out/. Running it again after an interruption keeps the
 * finished members and resumes the interrupted one.
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { loadMnist, loadTestData, resolveDataSpec, writeSubmission } from '../data/index.js';
import { DEFAULT_TTA, Ensemble, buildPreset, getPreset } from '../nn/index.js';
import { DigitsError, Interrupted } from '../errors.js';
import { findCheckpoint } from '../io/checkpoint.js';
import { MODEL_JSON } from '../io/model-files.js';
import { dataSpecForCheckpoint, resumeOptions, runBytes, type RunOptions } from './checkpoint.js';
import { loadClassifier, writeEnsembleJson, type LoadedClassifier } from '../io/ensemble.js';
import { removeLeftovers, writeFileAtomic } from '../util/atomic.js';
import { lockRunFolder } from './lock.js';
import { checkOutputFolder } from '../util/disk.js';
import { argmaxRows, classificationReport, type ClassificationReport } from '../report/metrics.js';
import type { ReportEvaluation, ReportResult } from '../report/report.js';
import { ENSEMBLE_METRICS, num, readArtifactRun, readRunInfo, runTrainingData, validationEvaluation, writeRunReport } from './artifacts.js';
import { chooseBackend } from './backend.js';
import { warnOnStderr, type OnRunEvent } from './events.js';
import { modelInput, predictProbabilities } from './predict.js';
import { refuseToReplace, trainRun, type TrainHooks } from './train.js';

/** Most members an ensemble run trains. */
export const MAX_ENSEMBLE = 50;

/** The options of an ensemble run: one training run's, the number of members and test-time augmentation. */
export interface EnsembleOptions extends RunOptions {
  /** members, with seeds seed..seed+N-1 */
  ensemble: number;
  /** the ensemble averages over test-time augmentation views by default (recorded in ensemble.json) */
  tta?: boolean;
}

/** One member of a trained ensemble, as its metrics.json says. */
export interface EnsembleMemberResult {
  name: string;
  seed: number;
  trainSeconds?: number;
  wallSeconds?: number;
  testAccuracy?: number;
  valAccuracy?: number;
}

/** A finished ensemble run. */
export interface EnsembleResult {
  out: string;
  loaded: LoadedClassifier;
  members: EnsembleMemberResult[];
  /** the views test-time augmentation averages (empty: none) */
  tta: readonly unknown[];
  /** the ensemble on the test set, else on the rows every member held out (null: neither could be had) */
  evaluation: ReportEvaluation | null;
  metrics: ClassificationReport | null;
  /** test accuracy without test-time augmentation, when it has some */
  accuracyWithoutTta?: number;
  /** all members' training seconds */
  trainSeconds: number;
  wallSeconds: number;
  report: ReportResult | null;
  /** the files and folders written into `out`, by name */
  files: string[];
}

/** One member's run; an interruption tells how to go on with the whole ensemble, not just this member. */
async function trainMember(member: RunOptions, o: EnsembleOptions, n: number, hooks: TrainHooks): Promise<void> {
  try {
    await trainRun(member, { ...hooks, replace: true }); // a member folder is this ensemble's own
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
    throw new Interrupted(err.message.replace(/resume with: .*$/,
      `resume with the same command (npx digits train --ensemble ${n} ... --out ${o.out}): finished members are kept, this one resumes`), err.exitCode);
  }
}

/** Whether `dir` holds a finished run of this member's settings (a model and its metrics.json with the same recipe, weight averaging, BatchNorm pass and seed). */
async function finishedMember(dir: string, member: RunOptions): Promise<boolean> {
  const m = (await readRunInfo(dir)).metrics;
  if (m === null || !(await fs.stat(path.join(dir, MODEL_JSON)).then((st) => st.isFile(), () => false))) return false;
  const t = getPreset(member.preset).training;
  return m.preset === member.preset && m.seed === member.seed &&
    dataSpecForCheckpoint(String(m.dataSpec)) === dataSpecForCheckpoint(member.data) &&
    m.epochs === (member.epochs ?? t.epochs) && m.batchSize === (member.batchSize ?? t.batchSize) &&
    m.validationSplit === (member.validationSplit ?? t.validationSplit) &&
    (member.limit === undefined || m.trainImages === member.limit) &&
    // a member saved before the preset kept a weight average (or with another) is not this recipe's model
    JSON.stringify(m.averaging ?? null) === JSON.stringify(t.averaging ?? null) &&
    (m.batchNormPass === true) === (t.batchNormPass === true);
}

/**
 * Train an ensemble (or go on with an interrupted one in the same folder). `hooks.backend`, when given,
 * is every member's backend and the ensemble's; `hooks.resume` is not taken (each member finds its own).
 */
export async function trainEnsemble(o: EnsembleOptions, hooks: Omit<TrainHooks, 'resume'> = {}): Promise<EnsembleResult> {
  const onEvent = hooks.onEvent ?? warnOnStderr;
  const started = Date.now();
  const n = o.ensemble;
  if (!Number.isInteger(n) || n < 1 || n > MAX_ENSEMBLE) {
    throw new DigitsError(`--ensemble: expected a whole number from 1 to ${MAX_ENSEMBLE} members, got ${n}`);
  }
  // room for every member's model, checkpoints and report, checked before the first one trains
  const perMember = runBytes(buildPreset(o.preset, o.seed).model.countParams(), o.limit ?? 60000);
  // a plain model there is never replaced by an ensemble without --force (an ensemble there is this command's to resume)
  if (existsSync(path.join(o.out, MODEL_JSON))) await refuseToReplace(o.out, hooks.replace);
  await checkOutputFolder(o.out, `--out ${o.out}`, { needBytes: n * perMember, needFor: `the ${n} members' models, checkpoints and reports` });
  const lock = await lockRunFolder(o.out, `digits train --ensemble ${n} --out ${o.out}`);
  try {
    await removeLeftovers(o.out);
    return await trainEnsembleLocked(o, hooks, onEvent, started);
  } finally {
    await lock.release();
  }
}

/** trainEnsemble's work once it holds the ensemble folder (each member's run holds its own). */
async function trainEnsembleLocked(o: EnsembleOptions, hooks: Omit<TrainHooks, 'resume'>, onEvent: OnRunEvent, started: number):
  Promise<EnsembleResult> {
  const n = o.ensemble;
  const names = Array.from({ length: n }, (_, i) => `model-${i}`);
  const members: { name: string; seed: number; trainSeconds?: number; wallSeconds?: number; testAccuracy?: number; valAccuracy?: number }[] = [];
  for (let i = 0; i < n; i++) {
    const dir = path.join(o.out, names[i]!);
    const { ensemble: _n, tta: _tta, ...run } = o;
    const member: RunOptions = { ...run, seed: o.seed + i, out: dir };
    // The same command run again after an interruption loses nothing: finished members are kept, the interrupted one resumes.
    if (await findCheckpoint(dir) !== null) {
      onEvent({ type: 'info', message: `ensemble member ${i + 1}/${n} (seed ${member.seed}): resuming its interrupted run in ${dir}` });
      // the member's options must agree with its checkpoint, which then gives the run's settings
      const resumed = await resumeOptions(dir, { ...member });
      await trainMember(resumed.opts, o, n, { ...hooks, resume: resumed.checkpoint });
    } else if (await finishedMember(dir, member)) {
      onEvent({ type: 'info', message: `ensemble member ${i + 1}/${n} (seed ${member.seed}): already trained in ${dir}, kept` });
    } else {
      onEvent({ type: 'info', message: `ensemble member ${i + 1}/${n} (seed ${member.seed}) into ${dir}` });
      await trainMember(member, o, n, hooks);
    }
    const m = (await readRunInfo(dir)).metrics;
    members.push({
      name: names[i]!, seed: o.seed + i, trainSeconds: num(m?.trainSeconds), wallSeconds: num(m?.wallSeconds),
      testAccuracy: num(m?.testAccuracy), valAccuracy: num(m?.valAccuracy),
    });
  }
  const tta = o.tta ? DEFAULT_TTA : [];
  const trainedAt = new Date().toISOString();
  await writeEnsembleJson(o.out, names, { tta, trainedAt });
  const loaded = await loadClassifier(o.out);
  const ens = loaded.model as Ensemble;
  ens.setBackend(hooks.backend ?? chooseBackend(o, onEvent));

  // The ensemble on the test set when the data has one, else on the rows every member held out for validation.
  const spec = await resolveDataSpec(o.data);
  let evaluation: ReportEvaluation | null = null;
  let accuracyPlain: number | undefined;
  const files = ['ensemble.json', ...names.map((m) => `${m}/`), ENSEMBLE_METRICS];
  if (spec.kind === 'mnist' || spec.kind === 'idx-dir') {
    const test = spec.kind === 'mnist' ? await loadMnist('test', { limit: o.testLimit }) : await loadTestData(o.data, { limit: o.testLimit });
    const x = modelInput(test, loaded.metadata, ens.inputShape);
    if (tta.length > 0) {
      ens.tta = [];
      accuracyPlain = classificationReport(test.labels!, argmaxRows(predictProbabilities(ens, x, 'predicting test images (no TTA)', onEvent))).accuracy;
      ens.tta = tta;
    }
    const probs = predictProbabilities(ens, x, 'predicting test images', onEvent);
    evaluation = { kind: 'test', source: test.source, dataset: test, labels: test.labels!, probs };
    await writeSubmission(path.join(o.out, 'submission.csv'), argmaxRows(probs));
    files.push('submission.csv');
  } else {
    const m0 = (await readRunInfo(path.join(o.out, names[0]!))).metrics;
    const data = await runTrainingData(m0, onEvent);
    if (data) evaluation = validationEvaluation(ens, loaded.metadata, data, num(m0?.validationSplit) ?? 0, members.map((m) => m.seed), onEvent);
  }
  const result = evaluation ? classificationReport(evaluation.labels, argmaxRows(evaluation.probs)) : null;
  if (result && evaluation?.kind === 'test') {
    await writeEnsembleJson(o.out, names, { tta, trainedAt, testAccuracy: result.accuracy });
  }

  const wallSeconds = (Date.now() - started) / 1000;
  const metrics = {
    members, seeds: members.map((m) => m.seed), tta: tta.length > 0,
    ...(evaluation?.kind === 'test' && result ? {
      testImages: result.total,
      testAccuracy: result.accuracy,
      ...(accuracyPlain !== undefined ? { testAccuracyWithoutTta: accuracyPlain } : {}),
    } : {}),
    ...(evaluation?.kind === 'validation' && result ? { validationImages: result.total, validationAccuracy: result.accuracy } : {}),
    trainSeconds: members.reduce((s, m) => s + (m.trainSeconds ?? 0), 0),
    wallSeconds,
  };
  await writeFileAtomic(path.join(o.out, ENSEMBLE_METRICS), JSON.stringify(metrics, null, 2) + '\n');

  const final = await loadClassifier(o.out); // with its test accuracy in the metadata now
  const run = await readArtifactRun(final, o.out, o.out);
  const report = await writeRunReport(o.out, {
    modelDir: o.out, model: ens, metadata: final.metadata, history: null, members: run.members,
    training: await runTrainingData(run.metrics, onEvent), evaluation, settings: run.settings, seed: run.seed,
    generator: 'digits train --ensemble',
  }, onEvent);
  if (report) files.push('report.html');
  final.model.setBackend(ens.backend);
  return {
    out: o.out, loaded: final, members, tta, evaluation, metrics: result,
    ...(accuracyPlain !== undefined ? { accuracyWithoutTta: accuracyPlain } : {}),
    trainSeconds: metrics.trainSeconds, wallSeconds, report, files,
  };
}
