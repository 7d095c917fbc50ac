/**
 * Shared by the model tests: a copy of every weight of a model, keyed
 * `${layer.name}/${param.name}`, that later training does not change.
 */
import type { Sequential } from '../src/nn/index.js';

export const weightsOf = (m: Sequential): Map<string, Float32Array> =>
  new Map(m.namedWeights().map(({ name, tensor }) => [name, new Float32Array(tensor.data)]));
