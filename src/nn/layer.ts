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
 * A layer class registers itself once (registerLayer): its class name, how
 * to make it from a config (model files, Keras import) and how it writes
 * itself into an ONNX graph (ONNX export).
 *
 * Fusion: a layer that can run as one step with the layer after it (a Conv2D
 * with the MaxPooling2D it pools, a BatchNormalization with the ReLU after
 * it) says so with `fuseWith`; the model asks every adjacent pair once and
 * runs fused pairs both ways, forward and backward.
 */
import type { Backend } from '../engine/backend.js';
import type { Rng } from '../engine/rng.js';
import type { Tensor } from '../engine/tensor.js';

/** A layer's weight tensor, its gradient, and whether the optimizer trains it. */
export interface Param {
  /** 'kernel', 'bias', ... (Keras weight name, without the layer prefix) */
  readonly name: string;
  readonly value: Tensor;
  readonly grad: Tensor;
  readonly trainable: boolean;
}

/** What a layer runs with: the backend, the random stream, training or inference. */
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

/** A layer: built once for an input shape, then run forward and backward on batches; see the module comment for the contract. */
export interface Layer {
  readonly className: string;
  /** unique within a model; Keras-style default names: conv2d, conv2d_1, dense, ... */
  name: string;
  /** set by build: input and output shape without the batch dimension */
  readonly inputShape: readonly number[] | null;
  readonly outputShape: readonly number[] | null;
  /** Create the weights for inputs of `inputShape` (no batch dimension), initialised from `rng`; sets inputShape and outputShape. */
  build(inputShape: readonly number[], rng: Rng): void;
  /** The output for a batch x [N, ...inputShape]; in training, saves what backward needs. The tensor is the layer's, valid until its next call. */
  forward(x: Tensor, ctx: RunContext): Tensor;
  /** From the gradient of the last forward's output: writes each parameter's gradient and returns the gradient of the input. */
  backward(dy: Tensor, ctx: RunContext): Tensor;
  /** The weights in Keras order (kernel, then bias; moving statistics last), as model files store them. */
  params(): Param[];
  /** The Keras layer config (what a TF.js model.json holds under `config`). */
  getConfig(): Record<string, unknown>;
  /** a random stream of the layer's own (Dropout with a seed), saved and restored with the training state */
  readonly ownRng?: Rng | null;
  /**
   * This layer and `next` (the layer right after it) as one step, or null when they do not fuse.
   * Asked once per pair after the model is built; a fused pair always runs fused, both ways.
   */
  fuseWith?(next: Layer): FusedStep | null;
}

/** Two adjacent layers run as one: forward from the first's input to the second's output, and back. */
export interface FusedStep {
  /** forward through both layers: from the first's input to the second's output. */
  forward(x: Tensor, ctx: RunContext): Tensor;
  /** dy: the gradient of the second layer's output; returns that of the first layer's input */
  backward(dy: Tensor, ctx: RunContext): Tensor;
}

/** A layer made from the `config` object of a model file (TF.js model.json, a Keras .h5 model_config). */
export type LayerFactory = (config: Record<string, unknown>) => Layer;

/**
 * The ONNX graph a layer writes itself into (io/onnx.ts builds it). The running value starts as the
 * model's NHWC input; each op takes it (plus `inputs`) and its output becomes the running value.
 */
export interface OnnxGraph {
  /** rank of the running value, batch included */
  readonly rank: number;
  /** transpose the running value to NCHW (no-op when it is) */
  toNCHW(name: string): void;
  /** transpose the running value to NHWC (no-op when it is) */
  toNHWC(name: string): void;
  /** append an op on the running value; returns its output's name */
  op(opType: string, name: string, inputs?: string[], attributes?: OnnxAttributes): string;
  /** a float32 constant (copied); returns its name */
  floatInit(name: string, dims: number[], values: Float32Array): string;
  /** the ops of a Keras activation ('linear' adds none) */
  activation(activation: string, name: string): void;
}

/** ONNX node attributes by name: a list of ints, an int or a float. */
export type OnnxAttributes = Record<string, { ints: number[] } | { int: number } | { float: number }>;

/** What a layer class registers once: it serves loading, Keras import and ONNX export. */
export interface LayerRegistration<L extends Layer = Layer> {
  /** the Keras/TF.js class name, as model files spell it */
  className: string;
  /** the layer from its Keras config */
  fromConfig: LayerFactory;
  /** write the built layer, at inference, into an ONNX graph (absent: ONNX export refuses models with it) */
  toOnnx?(layer: L, graph: OnnxGraph): void;
}

/** The values of the layer's parameter `name` ('kernel', 'bias', ...), or null when it has none of that name. */
export function paramValue(layer: Layer, name: string): Float32Array | null {
  const p = layer.params().find((q) => q.name === name);
  return p === undefined ? null : p.value.data;
}

const registry = new Map<string, LayerRegistration>();

/** Register a layer class (once, from the module that defines it) for loading, Keras import and ONNX export. */
export function registerLayer<L extends Layer>(registration: LayerRegistration<L>): void {
  registry.set(registration.className, registration as unknown as LayerRegistration);
}

/** The class names of every registered layer, sorted. */
export function registeredLayerNames(): string[] {
  return [...registry.keys()].sort();
}

/** What `className` registered, or undefined for a class Digits does not know. */
export function layerRegistration(className: string): LayerRegistration | undefined {
  return registry.get(className);
}

/** How to make a layer of class `className` from its config, or undefined for a class Digits does not know. */
export function layerFactory(className: string): LayerFactory | undefined {
  return registry.get(className)?.fromConfig;
}
