/**
 * `digits train --ensemble N`: N runs of `train` with consecutive seeds, each
 * a full run in out/model-i (model, metrics, report), then ensemble.json, the
 * ensemble's own evaluation, submission.csv, ensemble-metrics.json and
 * report.html in out/. And the --tta / --no-tta options of the commands that
 * predict.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Option } from 'commander';
import { loadMnist, loadTestData, resolveDataSpec, writeSubmission } from '../../data/index.js';
import { DEFAULT_TTA, Ensemble, getPreset } from '../../nn/index.js';
import { Interrupted } from '../../errors.js';
import { findCheckpoint } from '../../io/checkpoint.js';
import { MODEL_JSON } from '../../io/model-files.js';
import { dataSpecForCheckpoint } from './checkpoint.js';
import { loadClassifier, writeEnsembleJson } from '../../io/ensemble.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { argmaxRows, classificationReport, formatConfusionMatrix } from '../../report/metrics.js';
import type { ReportEvaluation } from '../../report/report.js';
import { ensureWritableDir, modelInput, pickBackend, predictWithProgress, train, type TrainOpts } from '../commands.js';
import {
  ENSEMBLE_METRICS, num, readArtifactRun, readRunInfo, runTrainingData, seconds, validationEvaluation, writeRunReport,
} from './report.js';

export const TTA_HELP = 'test-time augmentation: average over the image and its four 1-pixel shifts ' +
  '(an ensemble trained with --tta uses them unless --no-tta is given)';

export function ttaOption(): Option {
  return new Option('--tta', TTA_HELP);
}

export function noTtaOption(): Option {
  return new Option('--no-tta', 'no test-time augmentation, even for an ensemble trained with --tta');
}

const pct = (v: number): string => `${(v * 100).toFixed(2)}%`;

/** One member's run; an interruption tells how to go on with the whole ensemble, not just this member. */
async function trainMember(member: TrainOpts, o: TrainOpts, n: number): Promise<void> {
  try {
    await train(member);
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
    throw new Interrupted(err.message.replace(/resume with: .*$/,
      `resume with the same command (digits train --ensemble ${n} ... --out ${o.out}): finished members are kept, this one resumes`), err.exitCode);
  }
}

/** Whether `dir` holds a finished run of this member's settings (a model and its metrics.json with the same recipe, weight averaging, BatchNorm pass and seed). */
async function finishedMember(dir: string, member: TrainOpts): Promise<boolean> {
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

export async function trainEnsemble(o: TrainOpts): Promise<void> {
  const started = Date.now();
  const n = o.ensemble!;
  await ensureWritableDir(o.out, '--out');
  const names = Array.from({ length: n }, (_, i) => `model-${i}`);
  const members: { name: string; seed: number; trainSeconds?: number; wallSeconds?: number; testAccuracy?: number; valAccuracy?: number }[] = [];
  for (let i = 0; i < n; i++) {
    const dir = path.join(o.out, names[i]!);
    const member: TrainOpts = { ...o, ensemble: undefined, tta: undefined, seed: o.seed + i, out: dir };
    // The same command run again after an interruption loses nothing: finished members are kept, the interrupted one resumes.
    if (await findCheckpoint(dir) !== null) {
      process.stderr.write(`ensemble member ${i + 1}/${n} (seed ${member.seed}): resuming its interrupted run in ${dir}\n`);
      await trainMember({ ...member, resume: dir }, o, n);
    } else if (await finishedMember(dir, member)) {
      process.stderr.write(`ensemble member ${i + 1}/${n} (seed ${member.seed}): already trained in ${dir}, kept\n`);
    } else {
      process.stderr.write(`ensemble member ${i + 1}/${n} (seed ${member.seed}) into ${dir}\n`);
      await trainMember(member, o, n);
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
  ens.setBackend(pickBackend(o));

  // The ensemble on the test set when the data has one, else on the rows every member held out for validation.
  const spec = await resolveDataSpec(o.data);
  let evaluation: ReportEvaluation | null = null;
  let accuracyPlain: number | undefined;
  let submission: string | null = null;
  if (spec.kind === 'mnist' || spec.kind === 'idx-dir') {
    const test = spec.kind === 'mnist' ? await loadMnist('test', { limit: o.testLimit }) : await loadTestData(o.data, { limit: o.testLimit });
    const x = modelInput(test, loaded.metadata, ens.inputShape);
    if (tta.length > 0) {
      ens.tta = [];
      accuracyPlain = classificationReport(test.labels!, argmaxRows(predictWithProgress(ens, x, 'predicting test images (no TTA)'))).accuracy;
      ens.tta = tta;
    }
    const probs = predictWithProgress(ens, x, 'predicting test images');
    evaluation = { kind: 'test', source: test.source, dataset: test, labels: test.labels!, probs };
    submission = path.join(o.out, 'submission.csv');
    await writeSubmission(submission, argmaxRows(probs));
  } else {
    const m0 = (await readRunInfo(path.join(o.out, names[0]!))).metrics;
    const data = await runTrainingData(m0);
    if (data) evaluation = validationEvaluation(ens, loaded.metadata, data, num(m0?.validationSplit) ?? 0, members.map((m) => m.seed));
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
    training: await runTrainingData(run.metrics), evaluation, settings: run.settings, seed: run.seed,
    generator: 'digits train --ensemble',
  });

  // the summary: one row per member, then the ensemble
  const out = (line = ''): void => {
    process.stdout.write(line + '\n');
  };
  out('');
  out(`ensemble of ${n} (class probabilities averaged${tta.length > 0 ? `, test-time augmentation: ${tta.length} views` : ''}):`);
  out(['member', 'seed', 'train time', 'test accuracy', 'val accuracy'].map((h) => h.padEnd(15)).join('').trimEnd());
  for (const m of members) {
    out([m.name, String(m.seed), m.trainSeconds !== undefined ? seconds(m.trainSeconds) : '-',
      m.testAccuracy !== undefined ? pct(m.testAccuracy) : '-', m.valAccuracy !== undefined ? pct(m.valAccuracy) : '-']
      .map((c) => c.padEnd(15)).join('').trimEnd());
  }
  if (result) {
    const set = evaluation!.kind === 'test' ? 'test set' : 'validation rows held out by every member';
    out(`confusion matrix of the ensemble, ${set} (${result.total.toLocaleString('en-US')} images):`);
    out(formatConfusionMatrix(result.confusion));
  }
  if (report) out(`report: ${path.resolve(report.html)} (and ${report.pngs.length} PNG figures beside it; each member's own in its folder)`);
  out('');
  const written = ['ensemble.json', ...names.map((m) => `${m}/`), ENSEMBLE_METRICS, ...(submission ? ['submission.csv'] : []),
    ...(report ? ['report.html'] : [])].join(', ');
  const acc = !result ? 'no labelled test set'
    : evaluation!.kind === 'test'
      ? `ensemble test accuracy ${pct(result.accuracy)}` + (accuracyPlain !== undefined ? ` (without TTA ${pct(accuracyPlain)})` : '') +
        ` on ${result.total.toLocaleString('en-US')} test images`
      : `ensemble validation accuracy ${pct(result.accuracy)} on ${result.total.toLocaleString('en-US')} rows no member trained on`;
  out(`${acc}; ${n} members trained in ${seconds(metrics.trainSeconds)}, wall time ${seconds(wallSeconds)}; outputs in ${path.resolve(o.out)} (${written})`);
}
