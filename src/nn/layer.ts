/**
 * The layer interface: small and uniform. A layer is built once for an input
 * shape (without the batch dimension), then runs forward and backward on
 * batches. Forward saves what backward needs inside the layer; backward
 * returns the gradient for the layer's input and writes its parameters'
 * gradients into `Param.grad` (overwrite, one batch at a time).
 *
 * Memory: a layer allocates its output and gradient buffers once per batch
 * size and reuses them; tensors returned by forward/backward are owned by the
 * layer and valid until its next call. Users never free anything.
 *
 * Save/load: `className` is the Keras/TF.js class name ('Conv2D', 'Dense', ...),
 * `getConfig()` returns the Keras layer config (the `config` object in a
 * TF.js `model.json`), and `params()` lists weights in Keras order
 * (kernel, then bias), stored in the manifest as `${name}/${param.name}`.
 * A layer class registers `fromConfig` under its class name so that a model
 * file can be turned back into layers.
 */
import type { Backend } from '../engine/backend.js';
import type { Rng } from '../engine/rng.js';
import type { Tensor } from '../engine/tensor.js';

export interface Param {
  /** 'kernel', 'bias', ... (Keras weight name, without the layer prefix) */
  readonly name: string;
  readonly value: Tensor;
  readonly grad: Tensor;
  readonly trainable: boolean;
}

export interface RunContext {
  readonly backend: Backend;
  readonly rng: Rng;
  /** training mode: dropout active, forward saves what backward needs */
  readonly training: boolean;
  /**
   * false when nobody needs the gradient of this layer's input (the model's
   * first layer): backward may then skip computing it, and the tensor it
   * returns holds unspecified values. Default: true.
   */
  readonly inputGradient?: boolean;
}

export interface Layer {
  readonly className: string;
  /** unique within a model; Keras-style default names: conv2d, conv2d_1, dense, ... */
  name: string;
  /** set by build: input and output shape without the batch dimension */
  readonly inputShape: readonly number[] | null;
  readonly outputShape: readonly number[] | null;
  build(inputShape: readonly number[], rng: Rng): void;
  forward(x: Tensor, ctx: RunContext): Tensor;
  backward(dy: Tensor, ctx: RunContext): Tensor;
  params(): Param[];
  getConfig(): Record<string, unknown>;
  /** a random stream of the layer's own (Dropout with a seed), saved and restored with the training state */
  readonly ownRng?: Rng | null;
}

export type LayerFactory = (config: Record<string, unknown>) => Layer;

const registry = new Map<string, LayerFactory>();

export function registerLayer(className: string, factory: LayerFactory): void {
  registry.set(className, factory);
}

export function registeredLayerNames(): string[] {
  return [...registry.keys()].sort();
}

export function layerFactory(className: string): LayerFactory | undefined {
  return registry.get(className);
}
