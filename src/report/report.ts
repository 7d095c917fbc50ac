/**
 * The run report: report.html (self-contained) and one PNG per figure beside
 * it. The caller gathers what a run knows (model, history, data, the
 * predictions on the evaluation set); this module draws and writes it.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import type { Dataset } from '../data/dataset.js';
import { Ensemble, Sequential, describeTta, type Classifier } from '../nn/index.js';
import { calibrationOf, type DigitsMetadata } from '../io/model-files.js';
import { writeFileAtomic } from '../util/atomic.js';
import { argmaxRows, classificationReport, mostConfusedPairs, type ClassificationReport } from './metrics.js';
import { confusionMatrixSpec, digitGridSpec, labelDistributionSpec, learningCurveSpec, perClassSpec, rejectionSpec, reliabilitySpec } from './charts.js';
import { calibrationBeforeAfter, rejectionCurve } from './calibration.js';
import { applyTemperature, readProbabilities } from '../nn/calibration.js';
import { digitPng, pngDataUri, samplePick, type DigitTile } from './digits.js';
import { escapeHtml, figureHtml, galleryHtml, pageHtml, tableHtml, type Section } from './html.js';
import { svgToPng, vegaLiteToSvg } from './render.js';
import { KEPT_EPOCH_NOTE, epochTableCells } from './text.js';


export const REPORT_FILE = 'report.html';

/** Ids of the report's sections, in page order (tests check each is there). */
export const REPORT_SECTIONS = [
  'label-distribution', 'training-digits', 'learning-curves', 'confusion-matrix', 'per-class', 'most-confused',
  'calibration', 'correct-digits', 'incorrect-digits', 'unlabelled-predictions', 'model-summary', 'settings',
] as const;

/** Predictions on labelled images: the test set, the run's validation split, or other labelled data. */
export interface ReportEvaluation {
  kind: 'test' | 'validation' | 'labelled';
  /** where the images came from ("MNIST test", a path) */
  source: string;
  /** the images; `rows` says which of them were evaluated (all, in order, when absent) */
  dataset: Dataset;
  rows?: Int32Array;
  /** true label of each evaluated row */
  labels: Uint8Array;
  /** class probabilities, rows × classes */
  probs: Float32Array;
}

/** A member of an ensemble as the report shows it (facts from its own metrics.json, when there is one). */
export interface ReportMember {
  /** its folder inside the ensemble, e.g. "model-0" */
  name: string;
  seed: number | null;
  testAccuracy?: number;
  valAccuracy?: number;
  epochsRun?: number;
  /** the epoch whose weights were kept, 1-based */
  bestEpoch?: number;
  trainSeconds?: number;
  /** its own report.html as a link relative to the report being written; null when it has none */
  report: string | null;
}

export interface ReportInput {
  /** the model folder, for the title */
  modelDir: string;
  /** a Sequential, or an Ensemble (then `members` says who its members are) */
  model: Classifier;
  metadata: DigitsMetadata | null;
  /** an ensemble's members, in the order of `model.members` */
  members?: ReportMember[] | null;
  /**
   * what the saved weights are when training averaged them or recomputed their BatchNorm statistics
   * (describeAveraging: "the weights' moving average, decay 0.999, BatchNorm statistics recomputed");
   * the history's figures are then those of the weights as trained
   */
  averaging?: string | null;
  /** per-epoch history and the 0-based epoch early stopping kept */
  history?: { history: Record<string, number[] | undefined>; bestEpoch?: number } | null;
  /** labelled training data (label distribution, sample digits) */
  training?: Dataset | null;
  evaluation?: ReportEvaluation | null;
  /** predictions on an unlabelled set (a Kaggle test.csv) */
  unlabelled?: { dataset: Dataset; probs: Float32Array } | null;
  /** a submission file written beside the report, of the evaluation's images (train on MNIST writes one) */
  submission?: string | null;
  /** the run's settings, in display order */
  settings: [string, string][];
  /** seeds the choice of sample digits */
  seed?: number;
  /** what wrote the report ("digits train", ...) */
  generator: string;
}

export interface ReportResult {
  /** path of report.html */
  html: string;
  /** paths of the PNGs written beside it */
  pngs: string[];
  /** each PNG with the size of the SVG it was drawn from (the PNG is PNG_SCALE times larger) */
  figures: { file: string; width: number; height: number }[];
  seconds: number;
  /** the evaluation's metrics, when there was one */
  metrics: ClassificationReport | null;
}

const GRID_SIZE = 30;
/** PNGs are drawn at twice the SVG's size: sharp on high-density screens and in slides. */
export const PNG_SCALE = 2;

function svgSize(svg: string): { width: number; height: number } {
  const open = /<svg\b[^>]*>/.exec(svg)?.[0] ?? '';
  const attr = (name: string): number => Number(new RegExp(`\\s${name}="([\\d.]+)"`).exec(open)?.[1] ?? NaN);
  return { width: attr('width'), height: attr('height') };
}
const pct = (v: number, digits = 2): string => `${(v * 100).toFixed(digits)}%`;
const int = (v: number): string => v.toLocaleString('en-US');
/** A confidence as a percentage; one that rounds to 100% is shown as ">99.9%" (the model is never that sure). */
const confidencePct = (v: number): string => (v >= 0.9995 ? '>99.9%' : pct(v, 1));

/** Write `report.html` and its PNGs into `outDir`. */
export async function writeReport(outDir: string, input: ReportInput): Promise<ReportResult> {
  const started = performance.now();
  await fs.mkdir(outDir, { recursive: true });
  const pngs: string[] = [];
  const figures: ReportResult['figures'] = [];
  /** Write the PNG of a chart's SVG beside the report. */
  const writePng = async (id: string, svg: string): Promise<string> => {
    const file = `${id}.png`;
    const target = path.join(outDir, file);
    await writeFileAtomic(target, svgToPng(svg, PNG_SCALE));
    pngs.push(target);
    const size = svgSize(svg);
    figures.push({ file: target, width: size.width, height: size.height });
    return file;
  };
  const seed = input.seed ?? input.metadata?.seed ?? 0;
  const classes = input.metadata?.classNames.length ?? 10;
  /** class c's name: the model's (from its data), else the digit */
  const name = (c: number): string => input.metadata?.classNames[c] ?? String(c);
  const digitClasses = Array.from({ length: classes }, (_, c) => name(c)).every((n, c) => n === String(c));
  /** what the images are: digits, or images of other classes (Fashion-MNIST) */
  const things = digitClasses ? 'digits' : 'images';

  /** Render one chart: inline SVG for the page, PNG beside it. */
  const figure = async (id: string, spec: TopLevelSpec, caption?: string): Promise<string> => {
    const svg = await vegaLiteToSvg(spec);
    return figureHtml(svg, id, await writePng(id, svg), caption);
  };
  /** A gallery of digits on the page (reflows on a phone), and the same grid as a PNG. */
  const digits = async (id: string, tiles: DigitTile[], title: string, columns: number): Promise<string> => {
    const file = await writePng(id, await vegaLiteToSvg(digitGridSpec(tiles, columns, title)));
    return galleryHtml(tiles) + `<p class="note"><a class="png" href="${file}">${file}</a></p>`;
  };
  const note = (text: string): string => `<p class="note">${escapeHtml(text)}</p>`;
  const sections: Section[] = [];

  // -- training data
  const train = input.training?.labels ? input.training : null;
  if (train) {
    const counts = new Array<number>(classes).fill(0);
    for (const l of train.labels!) counts[l]! += 1;
    sections.push({
      id: 'label-distribution', title: 'Label distribution',
      body: note(`${int(train.count)} training images from ${train.source}, before the validation split.`) +
        `<div class="figs">${await figure('label-distribution', labelDistributionSpec(counts, 'Training images per label', counts.map((_, c) => name(c))))}</div>`,
    });
    const pick = samplePick(train.count, 40, seed);
    const tiles = pick.map((i) => ({ uri: pngDataUri(digitPng(train, i)), title: `Label ${name(train.labels![i]!)}` }));
    sections.push({
      id: 'training-digits', title: `Training ${things}`,
      body: note(`${tiles.length} training images picked at random (seed ${seed}), with their labels.`) +
        await digits('training-digits', tiles, `Random training ${things}`, 10),
    });
  } else {
    sections.push({ id: 'label-distribution', title: 'Label distribution', body: note('The training data is not available for this model.') });
    sections.push({ id: 'training-digits', title: `Training ${things}`, body: note('The training data is not available for this model.') });
  }

  // -- learning curves
  const h = input.history?.history ?? input.metadata?.history;
  const bestEpoch = input.history?.bestEpoch;
  if (h?.loss && h.loss.length > 0) {
    const kept = bestEpoch !== undefined ? bestEpoch + 1 : undefined;
    const figs = [
      await figure('learning-curves-accuracy', learningCurveSpec('accuracy', h.accuracy ?? [], h.val_accuracy, kept)),
      await figure('learning-curves-loss', learningCurveSpec('loss', h.loss, h.val_loss, kept)),
    ];
    sections.push({
      id: 'learning-curves', title: 'Learning curves',
      body: note(kept !== undefined
        ? `Early stopping kept the weights of epoch ${kept} (lowest validation loss); the dashed line marks it.`
        : input.averaging
          ? `Training ran every epoch. The curves follow the weights as they trained; the model is ${input.averaging}, not the last epoch's weights.`
          : 'Training ran every epoch; the last epoch\'s weights are the model.') +
        `<div class="figs">${figs.join('')}</div>${epochTableHtml(h, bestEpoch)}`,
    });
  } else if (input.members && input.members.length > 0) {
    sections.push({ id: 'learning-curves', title: 'Learning curves', body: membersCurvesHtml(input.members) });
  } else {
    sections.push({ id: 'learning-curves', title: 'Learning curves', body: note('This model carries no training history (it was not trained by Digits).') });
  }

  // -- evaluation
  const ev = input.evaluation ?? null;
  let metrics: ClassificationReport | null = null;
  if (ev && ev.labels.length > 0) {
    const predicted = argmaxRows(ev.probs, classes);
    metrics = classificationReport(ev.labels, predicted, classes);
    const setName = ev.kind === 'test' ? 'test set' : ev.kind === 'validation' ? 'validation set' : 'labelled data';
    const about = `${int(metrics.total)} images of the ${setName} (${ev.source})` +
      (ev.kind === 'validation' ? ', as no labelled test set was given' : '');
    sections.push({
      id: 'confusion-matrix', title: 'Confusion matrix',
      body: note(`${about}: accuracy ${pct(metrics.accuracy)} (${int(metrics.correct)} of ${int(metrics.total)} right). ` +
        'Rows are the true class, columns the prediction; the diagonal holds the right answers. ' +
        'The darker a cell, the more images it holds (on a logarithmic scale, so that a few mistakes still show).') +
        `<div class="figs">${await figure('confusion-matrix', confusionMatrixSpec(metrics.confusion, `Confusion matrix, ${setName}`, metrics.confusion.map((_, c) => name(c))))}</div>`,
    });
    const worstF1 = Math.min(...metrics.perClass.map((m) => m.f1));
    const rows: (string | { html: string; cls?: string })[][] = metrics.perClass.map((m) => [
      name(m.label),
      ...[m.precision, m.recall, m.f1].map((v) => ({ html: v.toFixed(4), cls: m.f1 === worstF1 && v === m.f1 ? 'low' : undefined })),
      int(m.support),
    ]);
    rows.push(['macro avg', ...[
      metrics.perClass.reduce((s, m) => s + m.precision, 0) / classes,
      metrics.perClass.reduce((s, m) => s + m.recall, 0) / classes,
      metrics.macroF1,
    ].map((v) => ({ html: v.toFixed(4) })), int(metrics.total)]);
    const pairs = mostConfusedPairs(metrics.confusion, 8);
    sections.push({
      id: 'per-class', title: 'Precision, recall and F1 per class',
      body: `<div class="figs"><div style="flex:1 1 300px">${tableHtml(['class', 'precision', 'recall', 'F1', 'support'], rows)}</div>` +
        `${await figure('per-class', perClassSpec(metrics.perClass, metrics.perClass.map((m) => name(m.label))))}</div>` +
        `<h3 id="most-confused">Most confused pairs</h3>` +
        (pairs.length === 0
          ? note('No mistakes.')
          : `<ul class="pairs">${pairs.map((p) => `<li>class ${escapeHtml(name(p.actual))} taken for ${escapeHtml(name(p.predicted))}: ${int(p.count)} ` +
            `image${p.count === 1 ? '' : 's'} (${pct(p.count / Math.max(1, metrics!.perClass[p.actual]!.support), 1)} of the ` +
            `${digitClasses ? `${p.actual}s` : `${escapeHtml(name(p.actual))} images`})</li>`).join('')}</ul>`),
    });

    const cal = calibrationOf(input.metadata);
    const { before, after } = calibrationBeforeAfter(ev.probs, ev.labels, cal, classes);
    const calibrated = applyTemperature(ev.probs, classes, cal.temperature);
    const rejection = rejectionCurve(calibrated, ev.labels, classes, [0, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2]);
    const accepted = readProbabilities(ev.probs, classes, cal).filter((r) => r.isDigit).length;
    sections.push({
      id: 'calibration', title: 'Confidence: calibration and refusal',
      body: note(`Expected calibration error ${pct(before.ece, 2)} as the network says, ${pct(after.ece, 2)} calibrated ` +
        (cal.images > 0 ? `(temperature ${cal.temperature.toFixed(3)}, fitted on ${int(cal.images)} validation images)` :
          '(this model carries no calibration: its probabilities are read as they are)') +
        `. By its confidence, ${int(accepted)} of the ${int(ev.labels.length)} images (${pct(accepted / Math.max(1, ev.labels.length), 2)}) are ` +
        `taken for digits; the rest (confidence under ${pct(cal.threshold, 1)}) read as "not a digit", as do those the digit gate refuses. ` +
        'Left: each confidence bin\'s accuracy (a calibrated model lies on the dashed diagonal). Right: the accuracy on what is kept ' +
        'when the least confident images are refused.') +
        `<div class="figs">${await figure('reliability', reliabilitySpec(before.bins, after.bins, 'Reliability diagram'))}` +
        `${await figure('rejection', rejectionSpec(rejection, 'Accuracy when refusing the least sure'))}</div>`,
    });

    const rowOf = (r: number): number => (ev.rows ? ev.rows[r]! : r);
    const confidence = (r: number): number => ev.probs[r * classes + predicted[r]!]!;
    const tile = (r: number): DigitTile => ({
      uri: pngDataUri(digitPng(ev.dataset, rowOf(r))),
      title: `Predicted ${name(predicted[r]!)}, Class ${name(ev.labels[r]!)}`,
      subtitle: `confidence ${confidencePct(confidence(r))}`,
      wrong: predicted[r] !== ev.labels[r],
    });
    const right: number[] = [];
    const wrong: number[] = [];
    for (let r = 0; r < ev.labels.length; r++) (predicted[r] === ev.labels[r] ? right : wrong).push(r);
    const rightPick = samplePick(right, GRID_SIZE, seed + 1);
    sections.push({
      id: 'correct-digits', title: `Correctly classified ${things}`,
      body: rightPick.length === 0
        ? note('No image was classified correctly.')
        : note(`${rightPick.length} of the ${int(right.length)} right answers, picked at random.`) +
          await digits('correct-digits', rightPick.map(tile), 'Correctly classified', 6),
    });
    // the most confident mistakes first: those are the ones worth a look
    const wrongPick = [...wrong].sort((a, b) => confidence(b) - confidence(a)).slice(0, GRID_SIZE);
    sections.push({
      id: 'incorrect-digits', title: `Misclassified ${things}`,
      body: wrongPick.length === 0
        ? note('No mistakes.')
        : note(wrongPick.length === wrong.length
          ? `All ${int(wrong.length)} mistakes, the most confident first.`
          : `The ${wrongPick.length} most confident of the ${int(wrong.length)} mistakes.`) +
          await digits('incorrect-digits', wrongPick.map(tile), 'Misclassified (most confident first)', 6),
    });
  } else {
    for (const [id, title] of [['confusion-matrix', 'Confusion matrix'], ['per-class', 'Precision, recall and F1 per class'],
      ['calibration', 'Confidence: calibration and refusal'],
      ['correct-digits', `Correctly classified ${things}`], ['incorrect-digits', `Misclassified ${things}`]] as const) {
      sections.push({
        id, title,
        body: (id === 'per-class' ? '<span id="most-confused"></span>' : '') + note('No labelled evaluation data was given.'),
      });
    }
  }

  // -- unlabelled predictions
  const un = input.unlabelled ?? null;
  if (un && un.dataset.count > 0) {
    const predicted = argmaxRows(un.probs, classes);
    const counts = new Array<number>(classes).fill(0);
    for (const p of predicted) counts[p]! += 1;
    const pick = samplePick(un.dataset.count, GRID_SIZE, seed + 2);
    const tiles = pick.map((i) => ({
      uri: pngDataUri(digitPng(un.dataset, i)),
      title: `Predicted ${name(predicted[i]!)}`,
      subtitle: `#${i + 1}, confidence ${confidencePct(un.probs[i * classes + predicted[i]!]!)}`,
    }));
    sections.push({
      id: 'unlabelled-predictions', title: 'Predictions on the unlabelled test set',
      body: note(`${int(un.dataset.count)} images from ${un.dataset.source}; ${tiles.length} picked at random (# is the ImageId). ` +
        `Predicted labels: ${counts.map((c, d) => `${name(d)}: ${int(c)}`).join(', ')}.`) +
        await digits('unlabelled-predictions', tiles, 'Predictions on unlabelled images', 6),
    });
  } else {
    const written = input.submission && input.evaluation
      ? `<p class="note"><code>${escapeHtml(input.submission)}</code> beside this report holds the predicted label of each of the ` +
        `${input.evaluation.labels.length.toLocaleString('en-US')} images scored above (ImageId,Label, as a Kaggle submission). `
      : '<p class="note">';
    sections.push({
      id: 'unlabelled-predictions', title: 'Predictions on the unlabelled test set',
      body: `${written}No unlabelled test set was predicted: <code>npx digits report --model DIR --input test.csv</code> adds it here.</p>`,
    });
  }

  // -- model and settings
  sections.push({ id: 'model-summary', title: 'Model summary', body: classifierSummaryHtml(input.model, input.members ?? null) });
  sections.push({ id: 'settings', title: 'Run settings', body: tableHtml(['setting', 'value'], input.settings, 'kv') });

  const cards: { k: string; v: string }[] = [];
  if (metrics) cards.push({ k: `${ev!.kind === 'labelled' ? '' : ev!.kind + ' '}accuracy`, v: pct(metrics.accuracy) }, { k: 'macro F1', v: metrics.macroF1.toFixed(4) });
  if (h?.val_accuracy && h.val_accuracy.length > 0) {
    const i = bestEpoch ?? h.val_accuracy.length - 1;
    if (h.val_accuracy[i] !== undefined && ev?.kind !== 'validation') cards.push({ k: 'validation accuracy', v: pct(h.val_accuracy[i]!) });
  }
  if (h?.loss) cards.push({ k: 'epochs run', v: String(h.loss.length) });
  if (input.model instanceof Ensemble && input.members) cards.push({ k: 'members', v: String(input.model.members.length) });
  cards.push({ k: 'parameters', v: int(input.model.countParams()) });
  const wall = input.settings.find(([k]) => k === 'wall time');
  if (wall) cards.push({ k: 'wall time', v: wall[1] });

  const html = pageHtml({
    title: `Digits report: ${path.basename(path.resolve(input.modelDir))}`,
    subtitle: `${input.members ? 'Ensemble' : 'Model'} ${path.resolve(input.modelDir)}` +
      (input.metadata?.preset ? `, preset ${input.metadata.preset}` : '') +
      (input.metadata?.trainedAt ? `, trained ${input.metadata.trainedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}` : ''),
    cards,
    sections,
    footer: `Written by ${escapeHtml(input.generator)} on ${new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}. ` +
      'Self-contained: it opens offline; the PNG beside it are the same figures.',
  });
  const target = path.join(outDir, REPORT_FILE);
  await writeFileAtomic(target, html);
  return { html: target, pngs, figures, seconds: (performance.now() - started) / 1000, metrics };
}

/** An ensemble has no curves of its own: say so, and give each member's training facts and a link to its report. */
function membersCurvesHtml(members: ReportMember[]): string {
  const opt = (v: number | undefined, f: (v: number) => string): string => (v === undefined ? '-' : f(v));
  const rows = members.map((m) => [
    m.name, m.seed === null ? '-' : String(m.seed), opt(m.epochsRun, String), opt(m.bestEpoch, String),
    opt(m.valAccuracy, (v) => pct(v)), opt(m.testAccuracy, (v) => pct(v)), opt(m.trainSeconds, (v) => `${v.toFixed(1)} s`),
    m.report === null ? '-' : { html: `<a href="${escapeHtml(m.report)}">${escapeHtml(m.report)}</a>` },
  ]);
  return `<p class="note">This is an ensemble of ${members.length} models trained separately: it has no learning curves of its own. ` +
    'Each member has its own (accuracy and loss per epoch, training vs validation) in its own report, linked below.</p>' +
    tableHtml(['member', 'seed', 'epochs run', 'kept epoch', 'val accuracy', 'test accuracy', 'training time', 'report'], rows);
}

/** The model section: the layer table of a model; for an ensemble its members, TTA and the members' layers. */
export function classifierSummaryHtml(model: Classifier, members: ReportMember[] | null): string {
  if (model instanceof Sequential) return modelSummaryHtml(model);
  if (!(model instanceof Ensemble)) return `<p class="note">${int(model.countParams())} parameters.</p>`;
  const tta = `Test-time augmentation: ${escapeHtml(describeTta(model.tta))}.`;
  if (!members) return `<p class="note">One model used with test-time augmentation. ${tta}</p>` + modelSummaryHtml(model.members[0]!);
  const rows = model.members.map((m, i) => [
    members[i]?.name ?? `member ${i}`, members[i]?.seed === null || members[i] === undefined ? '-' : String(members[i]!.seed),
    int(m.countParams()), members[i]?.testAccuracy === undefined ? '-' : pct(members[i]!.testAccuracy!),
  ]);
  rows.push(['Total', '', int(model.countParams()), '']);
  return `<p class="note">Ensemble of ${model.members.length} models: the prediction is the mean of their class probabilities. ${tta}</p>` +
    tableHtml(['member', 'seed', 'parameters', 'test accuracy (alone)'], rows) +
    `<h3>${model.sameArchitecture() ? `Layers of each member (${model.members.length === 2 ? 'both have' : `all ${model.members.length} have`} the same)` : 'Layers of the first member (the others differ)'}</h3>` +
    modelSummaryHtml(model.members[0]!);
}

/** The Keras-like layer table as HTML. */
export function modelSummaryHtml(model: Sequential): string {
  const rows: (string | { html: string })[][] = model.layers.map((l) => [
    `${l.name} (${l.className})`,
    `(None, ${(l.outputShape ?? []).join(', ')})`,
    int(l.params().reduce((s, p) => s + p.value.size, 0)),
  ]);
  let trainable = 0;
  let frozen = 0;
  for (const l of model.layers) for (const p of l.params()) (p.trainable ? (trainable += p.value.size) : (frozen += p.value.size));
  rows.push([{ html: '<strong>Total</strong>' }, '', int(trainable + frozen)]);
  return `<p class="note">Model "${escapeHtml(model.name)}", input (None, ${(model.inputShape ?? []).join(', ')}); ` +
    `${int(trainable)} trainable and ${int(frozen)} non-trainable parameters.</p>` +
    tableHtml(['Layer (type)', 'Output shape', 'Param #'], rows);
}

/** The epoch table as an HTML table (it wraps on a phone, where the terminal's text table would scroll): the kept epoch marked. */
function epochTableHtml(history: Record<string, (number | null)[] | undefined>, bestEpoch?: number): string {
  const { columns, rows } = epochTableCells(history);
  const numbered = rows.map((cells, e) => [e === bestEpoch ? `${e + 1} *` : String(e + 1), ...cells]);
  return tableHtml(['epoch', ...columns], numbered) + (bestEpoch !== undefined ? `<p class="note">${escapeHtml(KEPT_EPOCH_NOTE)}</p>` : '');
}
