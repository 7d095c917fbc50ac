/**
 * The report's charts as Vega-Lite specs. Each function takes plain numbers
 * and returns a spec; render.ts turns specs into SVG and PNG.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { DigitTile } from './digits.js';

const BLUE = '#2563eb';
const ORANGE = '#ea580c';
const RED = '#dc2626';

/** Bars of how many images each label has, with the count over each bar. */
export function labelDistributionSpec(counts: number[], title: string, names: readonly string[] = counts.map((_, d) => String(d))): TopLevelSpec {
  const total = counts.reduce((a, b) => a + b, 0);
  const values = counts.map((n, d) => ({ label: names[d] ?? String(d), count: n, share: total === 0 ? 0 : n / total }));
  return {
    title,
    width: 480,
    height: 240,
    data: { values },
    encoding: {
      x: { field: 'label', type: 'ordinal', title: 'label', sort: [...names], axis: { labelAngle: names.some((n) => n.length > 2) ? -40 : 0 } },
      y: { field: 'count', type: 'quantitative', title: 'images' },
    },
    layer: [
      { mark: { type: 'bar', color: BLUE, cornerRadiusEnd: 2 } },
      { mark: { type: 'text', dy: -6, fontSize: 11, color: '#111827' }, encoding: { text: { field: 'count', type: 'quantitative', format: ',' } } },
    ],
  };
}

/**
 * One learning curve (accuracy or loss) per epoch, training vs validation,
 * with a dashed rule and a label at the epoch early stopping kept (1-based).
 */
export function learningCurveSpec(
  metric: 'accuracy' | 'loss',
  train: number[],
  validation: number[] | undefined,
  bestEpoch: number | undefined,
): TopLevelSpec {
  const values: { epoch: number; value: number | null; set: string }[] = [];
  train.forEach((v, i) => values.push({ epoch: i + 1, value: finite(v), set: 'training' }));
  validation?.forEach((v, i) => values.push({ epoch: i + 1, value: finite(v), set: 'validation' }));
  const epochs = train.length;
  const layers: object[] = [
    {
      mark: { type: 'line', point: { size: 50 }, strokeWidth: 2 },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch', scale: { domain: [1, Math.max(2, epochs)] }, axis: { tickMinStep: 1, format: 'd' } },
        y: { field: 'value', type: 'quantitative', title: metric, scale: { zero: false } },
        color: {
          field: 'set', type: 'nominal', title: null,
          scale: { domain: ['training', 'validation'], range: [BLUE, ORANGE] },
          legend: { orient: 'bottom' },
        },
      },
    },
  ];
  if (bestEpoch !== undefined) {
    layers.push(
      {
        data: { values: [{ epoch: bestEpoch, text: `kept: epoch ${bestEpoch}` }] },
        mark: { type: 'rule', strokeDash: [4, 4], color: '#6b7280' },
        encoding: { x: { field: 'epoch', type: 'quantitative' } },
      },
      {
        data: { values: [{ epoch: bestEpoch, text: `kept: epoch ${bestEpoch}` }] },
        mark: { type: 'text', align: bestEpoch > epochs / 2 ? 'right' : 'left', dx: bestEpoch > epochs / 2 ? -4 : 4, y: 8, fontSize: 11, color: '#374151' },
        encoding: { x: { field: 'epoch', type: 'quantitative' }, text: { field: 'text' } },
      },
    );
  }
  return {
    title: metric === 'accuracy' ? 'Accuracy per epoch' : 'Loss per epoch',
    width: 400,
    height: 240,
    data: { values },
    layer: layers,
  } as TopLevelSpec;
}

/** The confusion matrix as a heat map (rows: actual class, columns: predicted), each cell with its count. */
export function confusionMatrixSpec(confusion: number[][], title: string, names: readonly string[] = confusion.map((_, i) => String(i))): TopLevelSpec {
  const values: { actual: string; predicted: string; count: number; share: number }[] = [];
  let max = 0;
  confusion.forEach((row, a) => {
    const support = row.reduce((s, v) => s + v, 0);
    row.forEach((count, p) => {
      values.push({ actual: names[a] ?? String(a), predicted: names[p] ?? String(p), count, share: support === 0 ? 0 : count / support });
      max = Math.max(max, count);
    });
  });
  const classes = confusion.map((_, i) => names[i] ?? String(i));
  return {
    title,
    width: 400,
    height: 400,
    data: { values },
    encoding: {
      x: { field: 'predicted', type: 'ordinal', sort: classes, title: 'predicted class', axis: { orient: 'top', labelAngle: 0 } },
      y: { field: 'actual', type: 'ordinal', sort: classes, title: 'actual class' },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: {
          // symmetric log: the small off-diagonal counts stay visible beside the large diagonal; no legend, as
          // every cell says its count (the caption says what the shade means)
          color: {
            condition: { test: 'datum.count === 0', value: '#f9fafb' },
            field: 'count', type: 'quantitative', legend: null, scale: { type: 'symlog', scheme: 'blues', domain: [0, Math.max(1, max)] },
          },
        },
      },
      {
        // large enough to read when the figure is shrunk to a phone's width
        mark: { type: 'text', fontSize: 14 },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: `datum.count > ${Math.max(1, max) * 0.3}`, value: 'white' }, value: '#111827' },
        },
      },
    ],
  } as TopLevelSpec;
}

/** Precision, recall and F1 per class as bars side by side, on an axis from a little below the lowest. */
export function perClassSpec(perClass: { label: number; precision: number; recall: number; f1: number }[],
  names: readonly string[] = perClass.map((m) => String(m.label))): TopLevelSpec {
  const values = perClass.flatMap((m, i) => [
    { label: names[i] ?? String(m.label), metric: 'precision', value: m.precision },
    { label: names[i] ?? String(m.label), metric: 'recall', value: m.recall },
    { label: names[i] ?? String(m.label), metric: 'F1', value: m.f1 },
  ]);
  const lowest = Math.min(...values.map((v) => v.value));
  return {
    title: 'Precision, recall and F1 per class',
    width: 480,
    height: 220,
    data: { values },
    mark: { type: 'bar', clip: true },
    encoding: {
      x: { field: 'label', type: 'ordinal', title: 'class', sort: [...names], axis: { labelAngle: names.some((n) => n.length > 2) ? -40 : 0 } },
      xOffset: { field: 'metric', type: 'nominal', sort: ['precision', 'recall', 'F1'] },
      y: { field: 'value', type: 'quantitative', title: null, scale: { domain: [Math.max(0, Math.floor(lowest * 20) / 20 - 0.05), 1], zero: false }, axis: { format: '.0%' } },
      color: {
        field: 'metric', type: 'nominal', title: null, sort: ['precision', 'recall', 'F1'],
        scale: { domain: ['precision', 'recall', 'F1'], range: [BLUE, ORANGE, '#16a34a'] },
        legend: { orient: 'bottom' },
      },
    },
  } as TopLevelSpec;
}

/**
 * A grid of digit images with a caption above each (mistakes in red), laid
 * out by Vega-Lite on identity scales: each tile's position is computed here,
 * the image and its captions are marks.
 */
export function digitGridSpec(tiles: DigitTile[], columns: number, title: string, imageSize = 56): TopLevelSpec {
  const hasSub = tiles.some((t) => t.subtitle);
  const captionH = hasSub ? 30 : 16;
  const cellH = imageSize + captionH + 12;
  const widest = Math.max(8, ...tiles.map((t) => Math.max(t.title.length, (t.subtitle ?? '').length)));
  const cellW = Math.max(imageSize + 12, Math.ceil(widest * 6.6) + 12);
  const cols = Math.max(1, Math.min(columns, tiles.length));
  const rows = Math.max(1, Math.ceil(tiles.length / cols));
  const width = cols * cellW;
  const height = rows * cellH;
  const values = tiles.map((t, i) => {
    const cx = (i % cols) * cellW + cellW / 2;
    const top = Math.floor(i / cols) * cellH + 2;
    return {
      cx, titleY: top, subY: top + 14, imageY: top + captionH + 2,
      url: t.uri, title: t.title, subtitle: t.subtitle ?? '', wrong: t.wrong ? 1 : 0,
    };
  });
  const px = (field: string, size: number): object => ({
    field, type: 'quantitative', axis: null, scale: { domain: [0, size], range: [0, size], nice: false, zero: false },
  });
  return {
    title,
    width,
    height,
    data: { values },
    layer: [
      {
        mark: { type: 'image', width: imageSize, height: imageSize, align: 'center', baseline: 'top', smooth: false },
        encoding: { x: px('cx', width), y: px('imageY', height), url: { field: 'url', type: 'nominal' } },
      },
      {
        mark: { type: 'text', fontSize: 11, baseline: 'top', align: 'center' },
        encoding: {
          x: px('cx', width), y: px('titleY', height), text: { field: 'title' },
          color: { condition: { test: 'datum.wrong', value: RED }, value: '#111827' },
        },
      },
      ...(hasSub
        ? [{
            mark: { type: 'text', fontSize: 10, baseline: 'top', align: 'center', color: '#4b5563' },
            encoding: { x: px('cx', width), y: px('subY', height), text: { field: 'subtitle' } },
          }]
        : []),
    ],
  } as TopLevelSpec;
}

function finite(v: number | null): number | null {
  return v === null || !Number.isFinite(v) ? null : v;
}

/**
 * The reliability diagram: each confidence bin's accuracy as a bar against the diagonal a calibrated
 * model would lie on, before (the network's own) and after calibration.
 */
export function reliabilitySpec(before: { confidence: number; accuracy: number; count: number }[],
  after: { confidence: number; accuracy: number; count: number }[], title: string): TopLevelSpec {
  const values = [
    ...before.filter((b) => b.count > 0).map((b) => ({ ...b, set: 'uncalibrated' })),
    ...after.filter((b) => b.count > 0).map((b) => ({ ...b, set: 'calibrated' })),
  ];
  return {
    title,
    width: 320,
    height: 320,
    layer: [
      {
        data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] },
        mark: { type: 'line', strokeDash: [4, 4], color: '#6b7280' },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
      },
      {
        data: { values },
        mark: { type: 'line', point: true, strokeWidth: 2 },
        encoding: {
          x: { field: 'confidence', type: 'quantitative', title: 'confidence (mean of the bin)', scale: { domain: [0, 1] } },
          y: { field: 'accuracy', type: 'quantitative', title: 'accuracy in the bin', scale: { domain: [0, 1] } },
          color: { field: 'set', type: 'nominal', title: null, scale: { domain: ['uncalibrated', 'calibrated'], range: [ORANGE, BLUE] },
            legend: { orient: 'bottom' } },
          tooltip: [{ field: 'count', type: 'quantitative', title: 'images' }],
        },
      },
    ],
  } as TopLevelSpec;
}

/** The rejection curve: accuracy on the images kept against the share refused, the least confident first. */
export function rejectionSpec(points: { refused: number; accuracy: number }[], title: string): TopLevelSpec {
  return {
    title,
    width: 320,
    height: 240,
    data: { values: points },
    mark: { type: 'line', point: true, color: BLUE, strokeWidth: 2 },
    encoding: {
      x: { field: 'refused', type: 'quantitative', title: 'share refused (least confident first)', axis: { format: '.0%' } },
      y: { field: 'accuracy', type: 'quantitative', title: 'accuracy on the rest', scale: { zero: false }, axis: { format: '.1%' } },
    },
  } as TopLevelSpec;
}
