/**
 * Printed digits and strokes unlike MNIST's: the digits 0-9 printed in every font bench/glyphs.ts
 * finds, at several sizes, from hairline to heavy-marker weights, each read through the same
 * preprocessing as an upload. Prints JSON: the accuracy and the share taken for digits, overall and
 * by weight.
 *
 *   node dist/bench/printed.js --model runs/seed [--no-gate]
 */
import { openPredictor } from '../src/run/predictor.js';
import { preprocessGray } from '../src/preprocess/pixels.js';
import { FONT_FILES, renderText } from './glyphs.js';
import { benchProgram } from './options.js';

const o = benchProgram('printed', 'printed digits across fonts, sizes and stroke weights')
  .requiredOption('--model <dir>', 'a model folder')
  .option('--no-gate', 'decide isDigit by the model\'s calibrated confidence alone')
  .parse()
  .opts<{ model: string; gate: boolean }>();

const predictor = await openPredictor({ model: o.model, ...(o.gate ? {} : { gate: false as const }) }, () => undefined);
/** Extra outline in pixels at a 64-pixel glyph: 0 as printed, up to a heavy marker. */
const WEIGHTS = { printed: 0, bold: 3, marker: 7, heavy: 12 } as const;
const SIZES = [16, 32, 64, 128];
const byWeight: Record<string, { right: number; accepted: number; n: number }> = {};
const byFont: Record<string, number> = {};
const wrong: Record<string, number> = {};
for (const font of FONT_FILES) {
  for (const [name, w] of Object.entries(WEIGHTS)) {
    for (const size of SIZES) {
      for (let d = 0; d <= 9; d++) {
        const p = await predictor.predictField(preprocessGray(renderText(String(d), font, { size, stroke: (w * size) / 64 })).pixels);
        const s = (byWeight[name] ??= { right: 0, accepted: 0, n: 0 });
        s.n++;
        if (p.label === d) s.right++; else wrong[`${d}->${p.label}`] = (wrong[`${d}->${p.label}`] ?? 0) + 1;
        if (p.isDigit) s.accepted++;
        const f = font.split('/').pop()!;
        byFont[f] = (byFont[f] ?? 0) + (p.label === d ? 1 : 0) / (10 * SIZES.length * Object.keys(WEIGHTS).length);
      }
    }
  }
}
const n = Object.values(byWeight).reduce((a, s) => a + s.n, 0);
console.log(JSON.stringify({
  bench: 'printed', model: o.model, fonts: FONT_FILES.length, images: n,
  accuracy: Object.values(byWeight).reduce((a, s) => a + s.right, 0) / n,
  accepted: Object.values(byWeight).reduce((a, s) => a + s.accepted, 0) / n,
  byWeight: Object.fromEntries(Object.entries(byWeight).map(([k, s]) => [k, { accuracy: s.right / s.n, accepted: s.accepted / s.n }])),
  byFont, mostWrong: Object.entries(wrong).sort((a, b) => b[1] - a[1]).slice(0, 10),
}, null, 2));
