/**
 * Candidate architectures that recipe selection tried for `best` and its ensemble partners and did not
 * take (lab/best-preset.md): An et al.'s M3 and M7, siblings of the M5 that `best` uses, and the VGG-like
 * model `best` had before M5.
 */
import { BatchNormalization } from '../src/nn/batchnorm.js';
import { Dense } from '../src/nn/dense.js';
import { Dropout } from '../src/nn/dropout.js';
import { Flatten } from '../src/nn/flatten.js';
import type { Layer } from '../src/nn/layer.js';
import { MaxPooling2D } from '../src/nn/pooling.js';
import { Activation } from '../src/nn/activation-layer.js';
import { convBnRelu } from '../src/nn/presets.js';

/** M3's conv widths (An et al.): ten 3x3 convs, 32 to 176 filters in steps of 16, 28 -> 26 -> ... -> 8. */
export const M3_WIDTHS: readonly number[] = [32, 48, 64, 80, 96, 112, 128, 144, 160, 176];

/** M7's conv widths (An et al.): four 7x7 convs, 28 -> 22 -> 16 -> 10 -> 4. */
export const M7_WIDTHS: readonly number[] = [48, 96, 144, 192];

/**
 * The model `best` had before M5 (lab/best-preset.md, rows 1-19 and the folds before M5): 2x (conv 3x3 32
 * same + BatchNorm + ReLU), pool, 2x (conv 64 ...), pool, dense 256 (no bias) + BatchNorm + ReLU, dropout 0.4,
 * dense 10 softmax; 871,978 weights.
 */
export function vggLayers(): Layer[] {
  return [
    ...convBnRelu(32, { inputShape: [28, 28, 1], momentum: 0.9 }),
    ...convBnRelu(32, { momentum: 0.9 }),
    new MaxPooling2D({ poolSize: 2 }),
    ...convBnRelu(64, { momentum: 0.9 }),
    ...convBnRelu(64, { momentum: 0.9 }),
    new MaxPooling2D({ poolSize: 2 }),
    new Flatten(),
    new Dense({ units: 256, activation: 'linear', useBias: false }),
    new BatchNormalization({ momentum: 0.9 }),
    new Activation({ activation: 'relu' }),
    new Dropout({ rate: 0.4 }),
    new Dense({ units: 10, activation: 'softmax' }),
  ];
}
