/**
 * Chooses between digit gates without looking at bench/not-a-digit.ts's outliers: letters and symbols
 * printed in font files the benchmark does not use (other styles of the same families: obliques,
 * narrow, light, medium and heavy weights; those installed), and MNIST training digits the gate did not
 * train on (rows 50,000-59,999, as the dataset has them). Prints JSON: the share of those digits
 * taken for digits and the share of the glyphs refused, with a model's calibrated confidence and the
 * gate in `--gate`.
 *
 *   node dist/lab/gate-select.js --model runs/seed --gate /tmp/gate-a [--per-kind 300]
 */
import { existsSync } from 'node:fs';
import { Rng } from '../src/engine/rng.js';
import { openPredictor } from '../src/run/predictor.js';
import { preprocessGray } from '../src/preprocess/pixels.js';
import { FONT_FILES, LETTERS, SYMBOLS, renderText } from '../bench/glyphs.js';
import { benchProgram, intArg } from '../bench/options.js';
import { heldOutTrainDigits } from './held-out.js';

const o = benchProgram('gate-select', 'a digit gate on held-out fonts and held-out MNIST training digits')
  .requiredOption('--model <dir>', 'a model folder')
  .requiredOption('--gate <dir>', 'a digit gate folder')
  .option('--per-kind <n>', 'glyphs of each kind', intArg(1), 300)
  .parse()
  .opts<{ model: string; gate: string; perKind: number }>();

const dirs = ['/usr/share/fonts/truetype/dejavu', '/usr/share/fonts/truetype/liberation', '/usr/share/fonts/truetype/lato'];
const styles = ['DejaVuSans-Oblique', 'DejaVuSans-ExtraLight', 'DejaVuSansCondensed-Bold', 'DejaVuSerif-Bold', 'DejaVuSerif-Italic',
  'DejaVuSansMono-Bold', 'LiberationSansNarrow-Regular', 'LiberationSerif-Bold', 'LiberationSans-Italic', 'LiberationMono-Bold',
  'Lato-Light', 'Lato-Medium', 'Lato-Heavy', 'Lato-SemiboldItalic'];
const fonts = styles.flatMap((s) => dirs.map((d) => `${d}/${s}.ttf`)).filter((f) => existsSync(f) && !FONT_FILES.includes(f));
if (fonts.length === 0) throw new Error('none of the held-out fonts is installed (Debian: fonts-dejavu-extra, fonts-liberation, fonts-lato)');

const predictor = await openPredictor({ model: o.model, gate: o.gate }, () => undefined);
const rng = new Rng(11);
const pick = <T>(a: readonly T[]): T => a[rng.int(a.length)]!;
const refused: Record<string, number> = {};
for (const [kind, chars] of [['letters', LETTERS], ['symbols', SYMBOLS]] as const) {
  let r = 0;
  for (let i = 0; i < o.perKind; i++) {
    const p = await predictor.predictField(preprocessGray(renderText(pick([...chars]), pick(fonts), { size: 64 + rng.int(40), stroke: rng.int(3) })).pixels);
    if (!p.isDigit) r++;
  }
  refused[kind] = r / o.perKind;
}
const held = await heldOutTrainDigits();
const accepted = (await predictor.predictBatch(held.images, held.count)).filter((r) => r.isDigit).length / held.count;
console.log(JSON.stringify({ model: o.model, gate: o.gate, fonts: fonts.length, heldOutDigitsAccepted: accepted, glyphsRefused: refused }, null, 2));
