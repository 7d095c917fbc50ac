/**
 * The numbers `digits read` gets wrong, as pictures: composes numbers from MNIST train digits as
 * bench/read.ts does and writes each misread one as a PNG (the image, with the digits chosen boxed)
 * and a line of what each chosen candidate read. For tuning the segmentation's costs; from the MNIST
 * training digits the digit gate did not learn as digits (lab/held-out.ts), never from MNIST test.
 *
 *   node dist/lab/read-misses.js --model runs/seed --out /tmp/misses [--numbers 300]
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { composeNumber } from '../src/data/compose.js';
import { Rng } from '../src/engine/rng.js';
import { openPredictor } from '../src/run/predictor.js';
import { chooseDigits, numberFromReadings, segmentGray } from '../src/preprocess/segment.js';
import { benchProgram, intArg } from '../bench/options.js';
import { heldOutTrainDigits } from './held-out.js';

const o = benchProgram('read-misses', 'pictures of misread composed numbers')
  .requiredOption('--model <dir>', 'a model folder')
  .requiredOption('--out <dir>', 'where the PNGs go')
  .option('--numbers <n>', 'numbers to compose', intArg(1), 300)
  .option('--seed <n>', 'seed', intArg(0), 1)
  .parse()
  .opts<{ model: string; out: string; numbers: number; seed: number }>();

await fs.mkdir(o.out, { recursive: true });
const predictor = await openPredictor({ model: o.model }, () => undefined);
const ds = await heldOutTrainDigits();
const rng = new Rng(o.seed);
let written = 0;
for (let k = 0; k < o.numbers; k++) {
  const rows = Array.from({ length: 3 + rng.int(4) }, () => rng.int(ds.count));
  const number = composeNumber(ds, rows, rng);
  const seg = segmentGray(number.image);
  const readings = await predictor.readCandidates(seg);
  const chosen = chooseDigits(seg, readings);
  const { text } = numberFromReadings(seg, readings);
  if (text === number.text) continue;
  const { width, height, gray } = number.image;
  const z = 4; // drawn 4 times larger, to be seen
  const png = new PNG({ width: width * z, height: height * z });
  for (let y = 0; y < height * z; y++) {
    for (let x = 0; x < width * z; x++) {
      const i = y * width * z + x;
      png.data[4 * i] = png.data[4 * i + 1] = png.data[4 * i + 2] = gray[Math.floor(y / z) * width + Math.floor(x / z)]!;
      png.data[4 * i + 3] = 255;
    }
  }
  const mark = (x: number, y: number, rgb: number[]): void => png.data.set(rgb, 4 * (y * width * z + x));
  for (const [k, i] of chosen.entries()) {
    const b = seg.candidates[i]!.box;
    const rgb = k % 2 === 0 ? [255, 0, 0] : [0, 160, 0];
    for (let x = b.x0 * z; x < b.x1 * z; x++) for (const y of [b.y0 * z, b.y1 * z - 1]) mark(x, y, rgb);
    for (let y = b.y0 * z; y < b.y1 * z; y++) for (const x of [b.x0 * z, b.x1 * z - 1]) mark(x, y, rgb);
  }
  const file = path.join(o.out, `${k}-${number.text}-as-${text}.png`);
  await fs.writeFile(file, PNG.sync.write(png));
  console.log(`${path.basename(file)}: pieces ${seg.pieces}; chosen ` +
    chosen.map((i) => `[${seg.candidates[i]!.from},${seg.candidates[i]!.to}) ${readings[i]!.label} ${(readings[i]!.confidence * 100).toFixed(0)}%`).join(', '));
  if (++written >= 20) break;
}
