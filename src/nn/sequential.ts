/**
 * Sequential: a stack of layers, shaped like Keras' Sequential.
 *
 *   model.add(...); model.build([28, 28, 1], seed); model.compile({optimizer: 'adam', ...})
 *   await model.fit(x, y, {epochs, batchSize, validationSplit, callbacks})
 *   model.evaluate(x, y); model.predict(x)
 *
 * x is [N, ...inputShape] (images NHWC, pixels 0..1), y is one-hot [N, classes].
 *
 * One seeded Rng (seeded by build, reseeded by fit's `seed`) drives weight
 * initialisation, the validation split, shuffling and dropout, so a seed
 * fixes a run on a given backend. Buffers (the batch, the layers' outputs and
 * gradients) are allocated once per batch size and reused; the engine prints
 * nothing, progress goes through callbacks.
 *
 * A fit can be stopped between batches (its `signal`) and continued later
 * from `trainingState()` (its `resume` option), ending with the same weights
 * as an uninterrupted fit: see io/checkpoint.ts for the files.
 */
import { DigitsError } from '../errors.js';
import type { Backend } from '../engine/backend.js';
import { ReferenceBackend } from '../engine/reference.js';
import { Rng } from '../engine/rng.js';
import { Tensor, shapeToString } from '../engine/tensor.js';
import type { Dataset } from '../data/dataset.js';
import { NUM_CLASSES } from '../data/dataset.js';
import { layerFactory, registeredLayerNames, type Layer, type Param, type RunContext } from './layer.js';
import { isSoftmaxOutputLayer } from './activations.js';
import { checkName } from './base.js';
import { EarlyStopping, type Callback, type CallbackModel, type EpochLogs } from './callbacks.js';
import { countCorrect, crossEntropyOnProbs, parseLoss, type LossName } from './losses.js';
import { getOptimizer, type Optimizer, type WeightUpdate } from './optimizers.js';
import { Workspace } from './workspace.js';
import { parseAugment, randomAffineParams, randomElasticNoise, type AugmentOptions, type AugmentSettings } from './augment.js';
import type { Classifier } from './classifier.js';
// The built-in layers register their classes for fromConfig when loaded.
import { Activation } from './activation-layer.js';
import { BatchNormalization } from './batchnorm.js';
import { Conv2D } from './conv2d.js';
import './dense.js';
import './dropout.js';
import './flatten.js';
import { MaxPooling2D } from './pooling.js';
import { batchInputShape, isObject, knownKeys, numberInRange, positiveInt, nonNegativeInt, shape as checkShape, showValue, boolean } from './validate.js';

export interface CompileOptions {
  /** default 'adam' */
  optimizer?: 'adam' | 'sgd' | Optimizer;
  /** default 'categoricalCrossentropy' */
  loss?: 'categoricalCrossentropy';
  /** accuracy is always computed; ['accuracy'] is accepted for Keras familiarity */
  metrics?: 'accuracy'[];
}

export interface FitOptions {
  /** default 1 */
  epochs?: number;
  /** default 32 */
  batchSize?: number;
  /** fraction held out for validation, chosen at random with the Rng (not Keras' "last fraction") */
  validationSplit?: number;
  /** explicit validation set; takes precedence over validationSplit (as Keras) */
  validationData?: [Tensor, Tensor];
  /** shuffle the training samples every epoch (default true) */
  shuffle?: boolean;
  /** reseed the model's Rng (split, shuffling, dropout) for this run */
  seed?: number;
  callbacks?: Callback[];
  /** random rotation/zoom/shift of each training batch (images [N, H, W, C]); validation data is never augmented */
  augment?: AugmentOptions;
  /** train on targets y * (1 - s) + s / classes (default 0) */
  labelSmoothing?: number;
  /**
   * Sharpness-aware minimization (Foret et al. 2021), with this radius rho (default 0: off). Every step
   * takes its gradient at the weights moved by rho along the batch's own normalized gradient, the
   * worst nearby point to first order, so training prefers flat minima. Each step costs two
   * forward and backward passes; the second pass leaves BatchNorm's moving statistics untouched.
   */
  sam?: number;
  /**
   * Continue a run from where `trainingState()` left it: same x, y, options
   * and callbacks (in the same order), and the model's weights as they were
   * when the state was taken. The run then ends with exactly the weights of
   * an uninterrupted one (same backend and threads).
   */
  resume?: TrainingState;
  /**
   * Checked before every batch: once aborted, fit stops at once (no epoch
   * end, no onTrainEnd) and resolves with `interrupted` set;
   * `trainingState()` then gives the state to resume from.
   */
  signal?: AbortSignal;
}

export interface History {
  /** 0-based epoch numbers that ran */
  epoch: number[];
  history: { loss: number[]; accuracy: number[]; val_loss?: number[]; val_accuracy?: number[] };
  /** 0-based epoch at which EarlyStopping stopped training (absent: it ran all epochs) */
  stoppedEpoch?: number;
  /** 0-based epoch with EarlyStopping's best monitored value (absent without EarlyStopping) */
  bestEpoch?: number;
  /** set when fit's signal stopped it: the 0-based epoch and the batches of it done */
  interrupted?: { epoch: number; batch: number };
}

/**
 * Where a fit stands, enough to continue it bit for bit (see
 * `Sequential.trainingState`). The weights travel separately (a model file).
 */
export interface TrainingState {
  /** 0-based epoch to continue with */
  epoch: number;
  /** batches of that epoch already done (0: it has not started) */
  batch: number;
  epochs: number;
  batchSize: number;
  /** batches per epoch */
  steps: number;
  /** the model's Rng, and the own Rngs of layers that have one (Dropout with a seed), by layer name */
  rng: number[];
  layerRngs: Record<string, number[]>;
  /** the training rows in the current epoch's order (the next epoch's shuffle starts from it) */
  order: Int32Array;
  /** running sums of the unfinished epoch */
  lossSum: number;
  correct: number;
  seen: number;
  history: { epoch: number[]; history: History['history'] };
  stopTraining: boolean;
  optimizer: { className: string; learningRate: number; iterations: number; slots: { name: string; data: Float32Array }[] };
  /** each callback's class name and getState() (null without one), in fit's order */
  callbacks: { className: string; state: unknown }[];
  /**
   * the fit options that change what a batch trains on: augmentation (null: none), label smoothing and
   * SAM's radius (absent in states written before they were recorded: then not checked on resume)
   */
  fitOptions?: TrainingFitOptions;
}

/** What TrainingState.fitOptions records. */
export interface TrainingFitOptions {
  augment: AugmentSettings | null;
  labelSmoothing: number;
  sam: number;
}

/** The live position of a fit, read by trainingState(). */
interface RunPosition {
  epoch: number;
  batch: number;
  epochs: number;
  batchSize: number;
  steps: number;
  order: Int32Array;
  lossSum: number;
  correct: number;
  seen: number;
  history: History;
  callbacks: Callback[];
  fitOptions: TrainingFitOptions;
}

export interface SequentialConfig {
  name: string;
  layers: { class_name: string; config: Record<string, unknown> }[];
}

interface Compiled {
  optimizer: Optimizer;
  loss: LossName;
}

export class Sequential implements CallbackModel, Classifier {
  name: string;
  readonly layers: Layer[] = [];
  /** set by a callback (or anyone) to end fit after the current batch */
  stopTraining = false;

  private _backend: Backend = new ReferenceBackend();
  private readonly _rng = new Rng(0);
  private _inputShape: readonly number[] | null = null;
  private compiled: Compiled | null = null;
  /** every weight with its manifest name, set by build */
  private weights: { name: string; param: Param }[] = [];
  private readonly ws = new Workspace();
  private training = false;
  /** SAM's copy of every weight while its second pass runs (allocated on first use) */
  private samSaved: Float32Array[] | null = null;
  /** the running (or interrupted) fit's position, for trainingState() */
  private run: RunPosition | null = null;
  private trainCtx: RunContext;
  private inferCtx: RunContext;

  constructor(opts: { name?: string; layers?: Layer[] } = {}) {
    if (!isObject(opts)) throw new DigitsError(`Sequential: expected an options object {name?, layers?}, got ${showValue(opts)}`);
    knownKeys('Sequential options', opts, ['name', 'layers']);
    this.name = opts.name === undefined ? 'sequential' : checkName('Sequential.name', opts.name);
    this.trainCtx = { backend: this._backend, rng: this._rng, training: true };
    this.inferCtx = { backend: this._backend, rng: this._rng, training: false };
    if (opts.layers !== undefined) {
      if (!Array.isArray(opts.layers)) throw new DigitsError(`Sequential.layers: expected an array of layers, got ${showValue(opts.layers)}`);
      for (const l of opts.layers) this.add(l);
    }
  }

  // -------------------------------------------------------------------------------------------
  // structure

  /** Append a layer; a layer without a name of its own gets the next free Keras default (dense, dense_1, ...). */
  add(layer: Layer): this {
    if (!isObject(layer) || typeof (layer as Layer).forward !== 'function' || typeof (layer as Layer).build !== 'function') {
      throw new DigitsError(`Sequential.add: expected a layer (new Conv2D({...}), new Dense({...}), ...), got ${showValue(layer)}`);
    }
    if (this.layers.includes(layer)) throw new DigitsError(`Sequential.add: layer "${layer.name}" is already in model "${this.name}"`);
    const taken = new Set(this.layers.map((l) => l.name));
    if ((layer as { nameIsDefault?: boolean }).nameIsDefault === true) {
      const stem = layer.name;
      let name = stem;
      for (let i = 1; taken.has(name); i++) name = `${stem}_${i}`;
      layer.name = name;
    } else if (taken.has(layer.name)) {
      throw new DigitsError(`Sequential.add: model "${this.name}" already has a layer named "${layer.name}" (layer names must be unique)`);
    }
    if (this._inputShape !== null) {
      // a built model builds the new layer at once (on failure the model is left as it was)
      const prev = this.layers.length > 0 ? this.layers[this.layers.length - 1]!.outputShape! : this._inputShape;
      layer.build(prev, this._rng);
      this.layers.push(layer);
      this.afterBuild();
    } else {
      this.layers.push(layer);
    }
    return this;
  }

  /**
   * Create and initialise every layer's weights for inputs of `inputShape`
   * (without the batch dimension; default: the first layer's inputShape
   * option). `seed` (default 0) seeds the model's Rng first. Building again
   * re-initialises the weights.
   */
  build(inputShape?: readonly number[], seed = 0): void {
    if (this.layers.length === 0) throw new DigitsError(`Sequential.build: model "${this.name}" has no layers (add some first)`);
    if (!Number.isInteger(seed)) throw new DigitsError(`Sequential.build: seed: expected an integer, got ${showValue(seed)}`);
    const first = this.layers[0] as Layer & { declaredInputShape?: readonly number[] | null };
    let s = inputShape ?? first.declaredInputShape ?? null;
    if (s === null) {
      throw new DigitsError(`Sequential.build: no input shape: call build([28, 28, 1]) or give the first layer an inputShape option`);
    }
    s = checkShape('Sequential.build: inputShape', s);
    // TF.js readers learn the input shape from the first layer's batch_input_shape: keep it there.
    if (first.declaredInputShape !== undefined) first.declaredInputShape = [...s];
    this._rng.seed(seed);
    let cur: readonly number[] = s;
    for (const layer of this.layers) {
      try {
        layer.build(cur, this._rng);
      } catch (err) {
        if (err instanceof DigitsError) throw err;
        throw new DigitsError(`Sequential.build: layer "${layer.name}" (${layer.className}) with input ${shapeToString(cur)}: ${(err as Error).message}`);
      }
      cur = layer.outputShape!;
    }
    this._inputShape = [...s];
    this.afterBuild();
  }

  private afterBuild(): void {
    this.ws.clear();
    this.weights = [];
    this.samSaved = null;
    for (const layer of this.layers) for (const p of layer.params()) this.weights.push({ name: `${layer.name}/${p.name}`, param: p });
  }

  get built(): boolean {
    return this._inputShape !== null;
  }

  get inputShape(): readonly number[] | null {
    return this._inputShape;
  }

  get outputShape(): readonly number[] | null {
    if (this._inputShape === null) return null;
    return this.layers[this.layers.length - 1]!.outputShape;
  }

  /** The Rng behind initialisation, splits, shuffling and dropout (its state can be saved for checkpoints). */
  get rng(): Rng {
    return this._rng;
  }

  setBackend(backend: Backend): void {
    if (!isObject(backend) || typeof (backend as Backend).conv2dForward !== 'function') {
      throw new DigitsError(`Sequential.setBackend: expected a Backend (createBackend(...).backend), got ${showValue(backend)}`);
    }
    if (this.training) throw new DigitsError('Sequential.setBackend: cannot change the backend while fit is running');
    this._backend = backend;
    this.trainCtx = { backend, rng: this._rng, training: true };
    this.inferCtx = { backend, rng: this._rng, training: false };
  }

  get backend(): Backend {
    return this._backend;
  }

  get optimizer(): Optimizer | null {
    return this.compiled?.optimizer ?? null;
  }

  compile(opts: CompileOptions = {}): void {
    if (!isObject(opts as unknown)) throw new DigitsError(`Sequential.compile: expected {optimizer, loss, metrics}, got ${showValue(opts)}`);
    knownKeys('Sequential.compile options', opts as Record<string, unknown>, ['optimizer', 'loss', 'metrics']);
    const optimizer = getOptimizer('Sequential.compile: optimizer', opts.optimizer ?? 'adam');
    const loss = parseLoss('Sequential.compile: loss', opts.loss ?? 'categoricalCrossentropy');
    const metrics: unknown = opts.metrics ?? [];
    if (!Array.isArray(metrics) || !metrics.every((m) => m === 'accuracy' || m === 'acc')) {
      throw new DigitsError(`Sequential.compile: metrics: expected ["accuracy"] or [], got ${showValue(metrics)}`);
    }
    this.compiled = { optimizer, loss };
  }

  // -------------------------------------------------------------------------------------------
  // weights

  /** `${layer.name}/${param.name}` and the live weight tensor, in layer order, kernel before bias (the TF.js manifest order). */
  namedWeights(): { name: string; tensor: Tensor }[] {
    this.requireBuilt('namedWeights');
    const out: { name: string; tensor: Tensor }[] = [];
    for (const layer of this.layers) for (const p of layer.params()) out.push({ name: `${layer.name}/${p.name}`, tensor: p.value });
    return out;
  }

  /** Copy weights in by name; every weight must be given, with the right length, and no others. */
  setNamedWeights(map: Map<string, Float32Array>): void {
    const named = this.namedWeights();
    if (!(map instanceof Map)) throw new DigitsError(`Sequential.setNamedWeights: expected a Map of name -> Float32Array, got ${showValue(map)}`);
    const known = new Set(named.map((w) => w.name));
    for (const key of map.keys()) {
      if (!known.has(key)) {
        throw new DigitsError(`Sequential.setNamedWeights: model "${this.name}" has no weight "${key}" (its weights: ${[...known].join(', ')})`);
      }
    }
    for (const { name, tensor } of named) {
      const v = map.get(name);
      if (v === undefined) throw new DigitsError(`Sequential.setNamedWeights: missing weight "${name}" (shape ${shapeToString(tensor.shape)})`);
      if (!(v instanceof Float32Array) || v.length !== tensor.size) {
        throw new DigitsError(`Sequential.setNamedWeights: weight "${name}": expected ${tensor.size} float32 values ` +
          `(shape ${shapeToString(tensor.shape)}), got ${v instanceof Float32Array ? `${v.length} values` : showValue(v)}`);
      }
    }
    for (const { name, tensor } of named) tensor.data.set(map.get(name)!);
  }

  countParams(): number {
    this.requireBuilt('countParams');
    let n = 0;
    for (const layer of this.layers) for (const p of layer.params()) n += p.value.size;
    return n;
  }

  /** A Keras-like table: Layer (type), Output Shape, Param #, then the totals. */
  summary(): string {
    this.requireBuilt('summary');
    const rows = this.layers.map((l) => {
      const n = l.params().reduce((s, p) => s + p.value.size, 0);
      return [`${l.name} (${l.className})`, `(None, ${l.outputShape!.join(', ')})`, n.toLocaleString('en-US')];
    });
    const head = ['Layer (type)', 'Output Shape', 'Param #'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)) + 3);
    const width = widths.reduce((a, b) => a + b, 0);
    const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('').trimEnd();
    let trainable = 0;
    let frozen = 0;
    for (const l of this.layers) for (const p of l.params()) (p.trainable ? (trainable += p.value.size) : (frozen += p.value.size));
    const out = [`Model: "${this.name}"`, '_'.repeat(width), line(head), '='.repeat(width)];
    rows.forEach((r, i) => {
      out.push(line(r));
      if (i < rows.length - 1) out.push('_'.repeat(width));
    });
    out.push('='.repeat(width));
    out.push(`Total params: ${(trainable + frozen).toLocaleString('en-US')}`);
    out.push(`Trainable params: ${trainable.toLocaleString('en-US')}`);
    out.push(`Non-trainable params: ${frozen.toLocaleString('en-US')}`);
    out.push('_'.repeat(width));
    return out.join('\n');
  }

  /** The Keras/TF.js Sequential config: {name, layers: [{class_name, config}]}, the first layer carrying batch_input_shape. */
  getConfig(): SequentialConfig {
    return {
      name: this.name,
      layers: this.layers.map((l) => ({ class_name: l.className, config: { ...l.getConfig(), name: l.name } })),
    };
  }

  /**
   * A model from a Sequential config as TF.js writes it ({name, layers}, or
   * the bare array of older files, with an optional leading InputLayer),
   * through the layer registry. Built with the input shape the config
   * declares (and `seed`), if it declares one.
   */
  static fromConfig(config: unknown, seed = 0): Sequential {
    let name: string | undefined;
    let raw: unknown = config;
    if (isObject(config)) {
      if (config.name !== undefined) name = checkName('Sequential config.name', config.name);
      raw = config.layers;
    }
    if (!Array.isArray(raw)) throw new DigitsError(`Sequential config.layers: expected an array of {class_name, config}, got ${showValue(raw)}`);
    let inputShape: number[] | null = null;
    const layers: Layer[] = [];
    raw.forEach((entry: unknown, i: number) => {
      const at = `Sequential config.layers[${i}]`;
      if (!isObject(entry) || typeof entry.class_name !== 'string' || !isObject(entry.config)) {
        throw new DigitsError(`${at}: expected {"class_name": string, "config": object}, got ${showValue(entry)}`);
      }
      if (entry.class_name === 'InputLayer') {
        if (layers.length > 0) throw new DigitsError(`${at}: an InputLayer may only come first`);
        const shapeField = entry.config.batch_input_shape ?? entry.config.batch_shape;
        inputShape = batchInputShape(`${at}.config.batch_input_shape`, shapeField);
        return;
      }
      layers.push(layerFromConfig(entry.class_name, entry.config, at));
    });
    if (layers.length === 0) throw new DigitsError('Sequential config.layers: expected at least one layer, got none');
    const model = new Sequential({ ...(name !== undefined ? { name } : {}), layers });
    const declared = inputShape ?? (layers[0] as { declaredInputShape?: readonly number[] | null }).declaredInputShape ?? null;
    if (declared !== null) model.build(declared, seed);
    return model;
  }

  // -------------------------------------------------------------------------------------------
  // running

  /** Gather rows `idx[from..from+n)` of x (and y) into the model's batch buffers. */
  private gather(src: Tensor, idx: Int32Array | null, from: number, n: number, key: string): Tensor {
    const per = src.size / src.shape[0]!;
    const dst = this.ws.tensor(key, n, src.shape.slice(1));
    if (idx === null) {
      dst.data.set(src.data.subarray(from * per, (from + n) * per));
    } else {
      for (let r = 0; r < n; r++) {
        const i = idx[from + r]!;
        dst.data.set(src.data.subarray(i * per, (i + 1) * per), r * per);
      }
    }
    return dst;
  }

  /**
   * Whether layers i and i + 1 run as one: a Conv2D and the MaxPooling2D it computes fused with itself
   * (Conv2D.forwardPooled: the conv's own output is never written), or a BatchNormalization and the
   * ReLU Activation after it (BatchNormalization.forwardRelu: one pass instead of three). Forward and
   * backward both ask, so a batch runs fused both ways or not at all.
   */
  private fusedPair(i: number): FusedPair {
    const a = this.layers[i];
    const b = this.layers[i + 1];
    if (a instanceof Conv2D && b instanceof MaxPooling2D && a.canFusePool(b)) return FusedPair.ConvPool;
    if (a instanceof BatchNormalization && b instanceof Activation && b.activation === 'relu') return FusedPair.BatchNormRelu;
    return FusedPair.None;
  }

  private forwardAll(x: Tensor, ctx: RunContext): Tensor {
    let h = x;
    const layers = this.layers;
    for (let i = 0; i < layers.length; i++) {
      const pair = this.fusedPair(i);
      if (pair === FusedPair.ConvPool) {
        h = (layers[i] as Conv2D).forwardPooled(h, layers[i + 1] as MaxPooling2D, ctx);
        i++;
      } else if (pair === FusedPair.BatchNormRelu) {
        h = (layers[i] as BatchNormalization).forwardRelu(h, ctx);
        i++;
      } else {
        h = layers[i]!.forward(h, ctx);
      }
    }
    return h;
  }

  /**
   * Loss of the batch just run forward; writes d(loss)/d(output) — or, for a
   * softmax last layer, d(loss)/d(logits) — when `grad` is set. Returns the
   * probabilities used for accuracy too.
   */
  private lossOf(out: Tensor, y: Tensor, wantGrad: boolean): { loss: number; probs: Tensor; dout: Tensor | null; fused: boolean } {
    const n = out.shape[0]!;
    const classes = out.size / n;
    const last = this.layers[this.layers.length - 1]!;
    if (isSoftmaxOutputLayer(last)) {
      const probs = this.ws.tensor('probs', n, [classes]);
      const dlogits = this.ws.tensor('dlogits', n, out.shape.slice(1));
      const loss = this._backend.softmaxCrossEntropy(last.logits().data, y.data, probs.data, dlogits.data, n, classes);
      return { loss, probs, dout: wantGrad ? dlogits : null, fused: true };
    }
    const dout = wantGrad ? this.ws.tensor('dout', n, out.shape.slice(1)) : null;
    const loss = crossEntropyOnProbs(out.data, y.data, dout?.data ?? null, n, classes);
    return { loss, probs: out, dout, fused: false };
  }

  private backwardAll(dout: Tensor, fused: boolean, ctx: RunContext): void {
    const layers = this.layers;
    const last = layers.length - 1;
    // the first layer's input gradient is not needed (unless it is the only layer, as before)
    const firstCtx = layers.length > 1 ? { ...ctx, inputGradient: false } : ctx;
    let d = dout;
    for (let i = last; i >= 0; i--) {
      const pair = i >= 1 ? this.fusedPair(i - 1) : FusedPair.None;
      if (pair !== FusedPair.None) {
        const c = i - 1 === 0 ? firstCtx : ctx;
        d = pair === FusedPair.ConvPool ? (layers[i - 1] as Conv2D).backwardPooled(d, c)
          : (layers[i - 1] as BatchNormalization).backwardRelu(d, c);
        i--;
        continue;
      }
      const layer = layers[i]!;
      const c = i === 0 ? firstCtx : ctx;
      d = i === last && fused && isSoftmaxOutputLayer(layer) ? layer.backwardFromLogits(d, c) : layer.backward(d, c);
    }
  }

  /** Check x [N, ...inputShape] and y [N, classes]; build from x if needed. */
  private checkData(where: string, x: Tensor, y: Tensor | null): number {
    if (!(x instanceof Tensor)) throw new DigitsError(`${where}: x: expected a Tensor [N, ...inputShape], got ${showValue(x)}`);
    if (x.shape.length < 2 || x.shape[0] === 0) {
      throw new DigitsError(`${where}: x: expected a non-empty batch [N, ...inputShape], got shape ${shapeToString(x.shape)}`);
    }
    if (!this.built) {
      // a declared input shape wins (x is then checked against it); else the model takes x's shape
      const declared = (this.layers[0] as { declaredInputShape?: readonly number[] | null } | undefined)?.declaredInputShape;
      this.build(declared ?? x.shape.slice(1));
    }
    const s = this._inputShape!;
    if (x.shape.length !== s.length + 1 || s.some((d, i) => x.shape[i + 1] !== d)) {
      throw new DigitsError(`${where}: x: expected shape [N, ${s.join(', ')}], got ${shapeToString(x.shape)}`);
    }
    const n = x.shape[0]!;
    if (y !== null) {
      if (!(y instanceof Tensor)) throw new DigitsError(`${where}: y: expected a one-hot Tensor [N, classes], got ${showValue(y)}`);
      const out = this.outputShape!;
      if (out.length !== 1) {
        throw new DigitsError(`${where}: categorical cross-entropy needs a model output of shape [classes], ` +
          `but model "${this.name}" outputs ${shapeToString(out)} (add Flatten/Dense)`);
      }
      if (y.shape.length !== 2 || y.shape[0] !== n || y.shape[1] !== out[0]) {
        throw new DigitsError(`${where}: y: expected one-hot targets of shape [${n}, ${out[0]}] (one row per x, one column per class), ` +
          `got ${shapeToString(y.shape)}`);
      }
    }
    return n;
  }

  private requireBuilt(what: string): void {
    if (!this.built) {
      throw new DigitsError(`Sequential.${what}: model "${this.name}" is not built yet (call build(inputShape) or fit first)`);
    }
  }

  /** What the optimizer updates: the trainable weights (their arrays are fixed from build on). */
  private trainableUpdates(): WeightUpdate[] {
    return this.weights.filter((w) => w.param.trainable).map((w) => ({ name: w.name, value: w.param.value.data, grad: w.param.grad.data }));
  }

  /**
   * Train. Per epoch: shuffle (with the Rng), run the batches (forward,
   * loss, backward, optimizer step), report loss/accuracy as the mean over the
   * epoch's samples (as Keras reports them), then validate with evaluate.
   * With `resume`, continue a run from a `trainingState()`; with `signal`,
   * stop cleanly before the next batch once it is aborted.
   */
  async fit(x: Tensor, y: Tensor, opts: FitOptions = {}): Promise<History> {
    if (this.training) throw new DigitsError('Sequential.fit: this model is already training (one fit at a time)');
    if (!isObject(opts as unknown)) throw new DigitsError(`Sequential.fit: options: expected an object, got ${showValue(opts)}`);
    knownKeys('Sequential.fit options', opts as Record<string, unknown>,
      ['epochs', 'batchSize', 'validationSplit', 'validationData', 'shuffle', 'seed', 'callbacks', 'augment', 'labelSmoothing', 'sam', 'resume', 'signal']);
    if (this.compiled === null) throw new DigitsError(`Sequential.fit: model "${this.name}" is not compiled (call compile({optimizer, loss, metrics}) first)`);
    const epochs = nonNegativeInt('Sequential.fit: epochs', opts.epochs ?? 1);
    const batchSize = positiveInt('Sequential.fit: batchSize', opts.batchSize ?? 32);
    const shuffle = boolean('Sequential.fit: shuffle', opts.shuffle ?? true);
    const split = numberInRange('Sequential.fit: validationSplit', opts.validationSplit ?? 0, 0, 1);
    const callbacks = opts.callbacks ?? [];
    if (!Array.isArray(callbacks)) throw new DigitsError(`Sequential.fit: callbacks: expected an array, got ${showValue(callbacks)}`);
    if (opts.seed !== undefined) {
      if (!Number.isInteger(opts.seed)) throw new DigitsError(`Sequential.fit: seed: expected an integer, got ${showValue(opts.seed)}`);
    }
    const augment = opts.augment === undefined ? null : parseAugment('Sequential.fit: augment', opts.augment);
    const smoothing = numberInRange('Sequential.fit: labelSmoothing', opts.labelSmoothing ?? 0, 0, 1);
    const sam = numberInRange('Sequential.fit: sam', opts.sam ?? 0, 0, 10);
    const signal = opts.signal ?? null;
    const total = this.checkData('Sequential.fit', x, y);
    if (augment !== null && x.shape.length !== 4) {
      throw new DigitsError(`Sequential.fit: augment needs images [N, H, W, C], got x of shape ${shapeToString(x.shape)}`);
    }
    if (opts.seed !== undefined) this._rng.seed(opts.seed);

    // Validation: given data, or a seeded random fraction of x held out.
    let trainIdx: Int32Array;
    let valX: Tensor | null = null;
    let valY: Tensor | null = null;
    if (opts.validationData !== undefined) {
      const vd = opts.validationData;
      if (!Array.isArray(vd) || vd.length !== 2) throw new DigitsError(`Sequential.fit: validationData: expected [x, y], got ${showValue(vd)}`);
      this.checkData('Sequential.fit: validationData', vd[0], vd[1]);
      [valX, valY] = vd;
      trainIdx = identity(total);
    } else if (split > 0) {
      const parts = validationSplitIndices(total, split, this._rng);
      trainIdx = parts.train;
      const valIdx = parts.validation;
      valX = takeRows(x, valIdx);
      valY = takeRows(y, valIdx);
    } else {
      trainIdx = identity(total);
    }

    const nTrain = trainIdx.length;
    const steps = Math.ceil(nTrain / batchSize);
    const fitOptions: TrainingFitOptions = { augment, labelSmoothing: smoothing, sam };
    const { optimizer } = this.compiled;
    const updates = this.trainableUpdates();
    let history: History = { epoch: [], history: { loss: [], accuracy: [] } };
    if (valX !== null) {
      history.history.val_loss = [];
      history.history.val_accuracy = [];
    }
    const resume = opts.resume ?? null;
    if (resume !== null) {
      checkResume(resume, { epochs, batchSize, steps, total, trainIdx, callbacks, optimizer, layers: this.layers, fitOptions });
      trainIdx = new Int32Array(resume.order);
      history = { epoch: [...resume.history.epoch], history: copyHistory(resume.history.history) };
    }
    const early = callbacks.filter((c): c is EarlyStopping => c instanceof EarlyStopping);
    const run: RunPosition = {
      epoch: resume?.epoch ?? 0, batch: resume?.batch ?? 0, epochs, batchSize, steps, order: trainIdx,
      lossSum: resume?.lossSum ?? 0, correct: resume?.correct ?? 0, seen: resume?.seen ?? 0, history, callbacks, fitOptions,
    };

    this.training = true;
    this.run = run;
    this.stopTraining = false;
    let interrupted = false;
    try {
      for (const cb of callbacks) cb.setModel?.(this);
      for (const cb of callbacks) await cb.onTrainBegin?.({
        epochs, batchSize, samples: nTrain, validationSamples: valX?.shape[0] ?? 0, stepsPerEpoch: steps,
      });
      if (resume !== null) this.restoreState(resume, optimizer);
      for (; run.epoch < epochs && !this.stopTraining; run.epoch++) {
        const epoch = run.epoch;
        if (run.batch === 0) {
          // an epoch starts here (a resumed mid-epoch had its start before the state was taken)
          if (signal?.aborted) {
            interrupted = true;
            break;
          }
          for (const cb of callbacks) await cb.onEpochBegin?.(epoch);
          if (shuffle) this._rng.shuffle(trainIdx);
          run.lossSum = 0;
          run.correct = 0;
          run.seen = 0;
        }
        while (run.batch < steps) {
          if (signal?.aborted) {
            interrupted = true;
            break;
          }
          const b = run.batch;
          const from = b * batchSize;
          const n = Math.min(batchSize, nTrain - from);
          let xb = this.gather(x, trainIdx, from, n, 'x');
          const yb = this.gather(y, trainIdx, from, n, 'y');
          if (augment !== null) xb = this.augmentBatch(xb, augment);
          if (smoothing > 0) smoothTargets(yb.data, yb.shape[1]!, smoothing);
          const { loss, correct: c } = this.step(xb, yb, optimizer, updates, sam);
          if (!Number.isFinite(loss)) {
            throw new DigitsError(`Sequential.fit: the loss became ${loss} at epoch ${epoch + 1}, batch ${b + 1} ` +
              '(training diverged: try a smaller learning rate)');
          }
          run.lossSum += loss * n;
          run.correct += c;
          run.seen += n;
          run.batch++;
          for (const cb of callbacks) await cb.onBatchEnd?.(b, { loss, accuracy: c / n, size: n });
          // Let timers and signal handlers run between batches (fit is async for a reason).
          await yieldToEventLoop();
          if (this.stopTraining) break;
        }
        if (interrupted) break;
        const logs: EpochLogs = { loss: run.lossSum / run.seen, accuracy: run.correct / run.seen };
        if (valX !== null && valY !== null) {
          const v = this.evaluate(valX, valY, { batchSize });
          logs.val_loss = v.loss;
          logs.val_accuracy = v.accuracy;
        }
        history.epoch.push(epoch);
        history.history.loss.push(logs.loss);
        history.history.accuracy.push(logs.accuracy);
        if (logs.val_loss !== undefined) {
          history.history.val_loss!.push(logs.val_loss);
          history.history.val_accuracy!.push(logs.val_accuracy!);
        }
        // the position callbacks see at the epoch's end: the next epoch, not started
        run.epoch++;
        run.batch = 0;
        try {
          for (const cb of callbacks) await cb.onEpochEnd?.(epoch, logs);
        } finally {
          run.epoch--;
        }
      }
      if (interrupted) {
        history.interrupted = { epoch: run.epoch, batch: run.batch };
      } else {
        for (const cb of callbacks) await cb.onTrainEnd?.({ epochs: history.epoch.length });
      }
    } finally {
      this.training = false;
      if (!interrupted) this.run = null;
    }
    for (const es of early) {
      if (es.stoppedEpoch !== null) history.stoppedEpoch = es.stoppedEpoch;
      if (es.bestEpoch >= 0) history.bestEpoch = es.bestEpoch;
    }
    return history;
  }

  /**
   * Everything but the weights that a fit needs to go on exactly where it
   * stands: position, Rng states, the epoch's sample order, the epoch's
   * running sums, history, optimizer state and the callbacks' states (copies).
   * Call it from a callback's onBatchEnd/onEpochEnd (at an epoch end the
   * position is the next epoch, not started), or after a fit its signal
   * interrupted. Give it back to fit as `resume`.
   */
  trainingState(): TrainingState {
    const r = this.run;
    if (r === null || this.compiled === null) {
      throw new DigitsError('Sequential.trainingState: no training state (call it from a fit callback, or after a fit that its signal interrupted)');
    }
    const opt = this.compiled.optimizer;
    const layerRngs: Record<string, number[]> = {};
    for (const l of this.layers) if (l.ownRng) layerRngs[l.name] = l.ownRng.getState();
    return {
      epoch: r.epoch,
      batch: r.batch,
      epochs: r.epochs,
      batchSize: r.batchSize,
      steps: r.steps,
      rng: this._rng.getState(),
      layerRngs,
      order: new Int32Array(r.order),
      lossSum: r.lossSum,
      correct: r.correct,
      seen: r.seen,
      history: { epoch: [...r.history.epoch], history: copyHistory(r.history.history) },
      stopTraining: this.stopTraining,
      optimizer: { className: opt.className, learningRate: opt.learningRate, ...opt.getState() },
      callbacks: r.callbacks.map((cb) => ({ className: cb.constructor.name, state: cb.getState?.() ?? null })),
      fitOptions: structuredClone(r.fitOptions),
    };
  }

  /** The non-weight state of a resumed run, after onTrainBegin (which resets what callbacks keep). */
  private restoreState(s: TrainingState, optimizer: Optimizer): void {
    this._rng.setState(s.rng);
    for (const l of this.layers) if (l.ownRng) l.ownRng.setState(s.layerRngs[l.name]!);
    this.run!.callbacks.forEach((cb, i) => {
      const st = s.callbacks[i]!.state;
      if (st !== null) cb.setState?.(st);
    });
    // last: schedules set the rate from their restored step; the saved one is what the run had
    optimizer.setState({ iterations: s.optimizer.iterations, slots: s.optimizer.slots });
    optimizer.learningRate = s.optimizer.learningRate;
    this.stopTraining = s.stopTraining;
  }

  /**
   * A randomly rotated/zoomed/shifted (and, if asked, elastically distorted) copy of the image batch
   * xb [N, H, W, C] (parameters from the model's Rng).
   */
  private augmentBatch(xb: Tensor, a: AugmentSettings): Tensor {
    const [n, h, w, c] = xb.shape as [number, number, number, number];
    const params = this.ws.tensor('augParams', n, [6]);
    randomAffineParams(this._rng, n, h, w, a, params.data);
    let disp: Float32Array | null = null;
    if (a.elastic) {
      const noise = this.ws.tensor('augNoise', n, [h, w, 2]);
      randomElasticNoise(this._rng, n, h, w, noise.data);
      disp = this.ws.tensor('augField', n, [h, w, 2]).data;
      this._backend.elasticField(noise.data, disp, n, h, w, a.elastic.sigma, a.elastic.alpha);
    }
    const out = this.ws.tensor('xAug', n, [h, w, c]);
    this._backend.affineResample(xb.data, params.data, out.data, n, h, w, c, disp);
    return out;
  }

  /**
   * One training step on a batch: forward (training mode), loss, backward,
   * optimizer update. The first layer's input gradient is not computed:
   * nothing needs it. With `sam` > 0 the gradient the optimizer gets is
   * sharpness-aware (see FitOptions.sam); loss and accuracy stay the batch's
   * at the weights as they were.
   */
  private step(xb: Tensor, yb: Tensor, optimizer: Optimizer, updates: WeightUpdate[], sam = 0): { loss: number; correct: number } {
    const n = xb.shape[0]!;
    const out = this.forwardAll(xb, this.trainCtx);
    const { loss, probs, dout, fused } = this.lossOf(out, yb, true);
    if (!Number.isFinite(loss)) return { loss, correct: 0 };
    const correct = countCorrect(probs.data, yb.data, n, probs.size / n);
    this.backwardAll(dout!, fused, this.trainCtx);
    if (sam > 0) {
      const perturbed = this.sharpnessAwareGradients(xb, yb, updates, sam);
      if (!Number.isFinite(perturbed)) return { loss: perturbed, correct: 0 };
    }
    optimizer.step(updates, this._backend);
    return { loss, correct };
  }

  /**
   * SAM's second pass: move every trainable weight by rho * g / |g| (g: the gradients
   * backward just left, |g| their norm over all weights), run forward and backward again
   * there, and put the weights back; the gradients are then those at the moved point.
   * The moving statistics (and any other weight the optimizer does not train) are kept
   * as the first pass left them. Returns the loss at the moved point.
   */
  private sharpnessAwareGradients(xb: Tensor, yb: Tensor, updates: WeightUpdate[], rho: number): number {
    let sq = 0;
    for (const u of updates) for (let i = 0; i < u.grad.length; i++) sq += u.grad[i]! * u.grad[i]!;
    const norm = Math.sqrt(sq);
    if (!(norm > 0)) return 0; // a zero gradient: no direction to climb, the plain step stands
    const scale = rho / norm;
    if (this.samSaved === null) this.samSaved = this.weights.map((w) => new Float32Array(w.param.value.size));
    this.weights.forEach((w, k) => this.samSaved![k]!.set(w.param.value.data));
    for (const u of updates) for (let i = 0; i < u.value.length; i++) u.value[i]! += scale * u.grad[i]!;
    let loss: number;
    try {
      const out = this.forwardAll(xb, this.trainCtx);
      const second = this.lossOf(out, yb, true);
      loss = second.loss;
      if (Number.isFinite(loss)) this.backwardAll(second.dout!, second.fused, this.trainCtx);
    } finally {
      this.weights.forEach((w, k) => w.param.value.data.set(this.samSaved![k]!));
    }
    return loss;
  }

  /**
   * Keras' train_on_batch: one optimizer step on (x, y) taken whole as a
   * batch. Returns the batch's loss and accuracy (before the update).
   */
  trainOnBatch(x: Tensor, y: Tensor): { loss: number; accuracy: number } {
    if (this.training) throw new DigitsError('Sequential.trainOnBatch: not while fit is running');
    if (this.compiled === null) throw new DigitsError(`Sequential.trainOnBatch: model "${this.name}" is not compiled (call compile first)`);
    const n = this.checkData('Sequential.trainOnBatch', x, y);
    const { loss, correct } = this.step(this.gather(x, null, 0, n, 'x'), this.gather(y, null, 0, n, 'y'),
      this.compiled.optimizer, this.trainableUpdates());
    if (!Number.isFinite(loss)) {
      throw new DigitsError(`Sequential.trainOnBatch: the loss became ${loss} (training diverged: try a smaller learning rate)`);
    }
    return { loss, accuracy: correct / n };
  }

  /** Mean loss and accuracy over x (dropout off). */
  evaluate(x: Tensor, y: Tensor, opts: { batchSize?: number } = {}): { loss: number; accuracy: number } {
    const total = this.checkData('Sequential.evaluate', x, y);
    const batchSize = positiveInt('Sequential.evaluate: batchSize', opts.batchSize ?? 32);
    let lossSum = 0;
    let correct = 0;
    for (let from = 0; from < total; from += batchSize) {
      const n = Math.min(batchSize, total - from);
      const xb = this.gather(x, null, from, n, 'x');
      const yb = this.gather(y, null, from, n, 'y');
      const out = this.forwardAll(xb, this.inferCtx);
      const { loss, probs } = this.lossOf(out, yb, false);
      lossSum += loss * n;
      correct += countCorrect(probs.data, yb.data, n, probs.size / n);
    }
    return { loss: lossSum / total, accuracy: correct / total };
  }

  /**
   * Recompute every BatchNormalization layer's moving mean and variance from x, as PyTorch's
   * `torch.optim.swa_utils.update_bn`: x runs forward in batches, each BatchNormalization
   * normalizing with its batch's statistics as in training, and its moving statistics become the
   * plain mean of the batches' (not a momentum average). Dropout is off, as at inference, so the
   * statistics are those of what inference feeds each layer. For weights that no training step
   * produced, such as an average of weights (WeightAveraging), whose moving statistics are averages
   * of statistics that belonged to other weights. Nothing else changes. Returns the batches run.
   * `rows` (0-based row numbers of x, in the order to batch them) limits the pass to those rows,
   * e.g. the training rows of a split, without copying them out of x.
   */
  recomputeBatchNormStatistics(x: Tensor, opts: { batchSize?: number; rows?: Int32Array } = {}): number {
    const who = 'Sequential.recomputeBatchNormStatistics';
    if (this.training) throw new DigitsError(`${who}: not while fit is running`);
    const count = this.checkData(who, x, null);
    const batchSize = positiveInt(`${who}: batchSize`, opts.batchSize ?? 64);
    const rows = opts.rows ?? null;
    if (rows !== null) {
      if (rows.length === 0) throw new DigitsError(`${who}: rows is empty; expected at least one row of x`);
      const bad = rows.findIndex((r) => !(r >= 0 && r < count));
      if (bad >= 0) throw new DigitsError(`${who}: rows[${bad}] = ${rows[bad]} is not a row of x (expected 0..${count - 1})`);
    }
    const total = rows?.length ?? count;
    const bns = this.layers.filter((l): l is BatchNormalization => l instanceof BatchNormalization);
    if (bns.length === 0) throw new DigitsError(`${who}: model "${this.name}" has no BatchNormalization layer`);
    for (const bn of bns) bn.beginStatisticsPass();
    let batches = 0;
    try {
      for (let from = 0; from < total; from += batchSize) {
        this.forwardAll(this.gather(x, rows, from, Math.min(batchSize, total - from), 'x'), this.inferCtx);
        batches++;
      }
    } finally {
      for (const bn of bns) bn.endStatisticsPass();
    }
    return batches;
  }

  /** The model's output for x (probabilities [N, classes] for a softmax model); a new tensor. */
  predict(x: Tensor, opts: { batchSize?: number } = {}): Tensor {
    const total = this.checkData('Sequential.predict', x, null);
    const batchSize = positiveInt('Sequential.predict: batchSize', opts.batchSize ?? 32);
    const outShape = this.outputShape!;
    const result = new Tensor([total, ...outShape]);
    const per = result.size / total;
    for (let from = 0; from < total; from += batchSize) {
      const n = Math.min(batchSize, total - from);
      const out = this.forwardAll(this.gather(x, null, from, n, 'x'), this.inferCtx);
      result.data.set(out.data.subarray(0, n * per), from * per);
    }
    return result;
  }

  /**
   * Loss of (x, y) as one batch and the gradient of every weight, keyed
   * `${layer.name}/${param.name}` (copies). training: true (default) runs
   * dropout with the model's Rng; false turns it off. Weights are not changed.
   */
  lossAndGradients(x: Tensor, y: Tensor, opts: { training?: boolean } = {}): { loss: number; grads: Map<string, Float32Array> } {
    if (this.training) throw new DigitsError('Sequential.lossAndGradients: not while fit is running');
    const n = this.checkData('Sequential.lossAndGradients', x, y);
    const ctx = (opts.training ?? true) ? this.trainCtx : this.inferCtx;
    const xb = this.gather(x, null, 0, n, 'x');
    const out = this.forwardAll(xb, ctx);
    const { loss, dout, fused } = this.lossOf(out, y, true);
    this.backwardAll(dout!, fused, ctx);
    const grads = new Map<string, Float32Array>();
    for (const layer of this.layers) {
      for (const p of layer.params()) grads.set(`${layer.name}/${p.name}`, new Float32Array(p.grad.data));
    }
    return { loss, grads };
  }
}

// ---------------------------------------------------------------------------------------------
// helpers

/** A layer from its registered class name and Keras config (DigitsError for an unknown class). */
export function layerFromConfig(className: string, config: Record<string, unknown>, where = 'layer'): Layer {
  const factory = layerFactory(className);
  if (factory === undefined) {
    throw new DigitsError(`${where}: unknown layer class ${JSON.stringify(className)} (supported: ${registeredLayerNames().join(', ')})`);
  }
  return factory(config);
}

/** Label smoothing in place on one-hot (or probability) rows: t = t * (1 - s) + s / classes. */
function smoothTargets(t: Float32Array, classes: number, s: number): void {
  const add = s / classes;
  for (let i = 0; i < t.length; i++) t[i] = t[i]! * (1 - s) + add;
}

function copyHistory(h: History['history']): History['history'] {
  const out: History['history'] = { loss: [...h.loss], accuracy: [...h.accuracy] };
  if (h.val_loss !== undefined) out.val_loss = [...h.val_loss];
  if (h.val_accuracy !== undefined) out.val_accuracy = [...h.val_accuracy];
  return out;
}

/** A resume state must belong to this run: same settings, fit options, callbacks, optimizer, layers' Rngs and training rows. */
function checkResume(s: TrainingState, run: {
  epochs: number; batchSize: number; steps: number; total: number; trainIdx: Int32Array;
  callbacks: Callback[]; optimizer: Optimizer; layers: readonly Layer[]; fitOptions: TrainingFitOptions;
}): void {
  const where = 'Sequential.fit: resume';
  if (!isObject(s as unknown) || !(s.order instanceof Int32Array) || !Array.isArray(s.callbacks) || !isObject(s.optimizer as unknown)) {
    throw new DigitsError(`${where}: expected a state from trainingState(), got ${showValue(s)}`);
  }
  const same = (field: string, want: unknown, got: unknown): void => {
    if (want !== got) throw new DigitsError(`${where}: ${field}: the run has ${showValue(want)}, the state ${showValue(got)} (resume with the settings it was taken with)`);
  };
  same('epochs', run.epochs, s.epochs);
  same('batchSize', run.batchSize, s.batchSize);
  same('training samples', run.trainIdx.length, s.order.length);
  same('steps per epoch', run.steps, s.steps);
  if (s.fitOptions !== undefined) {
    const f = s.fitOptions as unknown;
    if (!isObject(f)) throw new DigitsError(`${where}: fitOptions: expected {augment, labelSmoothing, sam}, got ${showValue(f)}`);
    same('augment', augmentKey(run.fitOptions.augment), augmentKey(f.augment as AugmentSettings | null | undefined));
    same('labelSmoothing', run.fitOptions.labelSmoothing, f.labelSmoothing);
    same('sam', run.fitOptions.sam, f.sam);
  }
  if (!Number.isInteger(s.epoch) || s.epoch < 0 || s.epoch > run.epochs || !Number.isInteger(s.batch) || s.batch < 0 ||
      s.batch >= run.steps || (s.epoch === run.epochs && s.batch !== 0)) {
    throw new DigitsError(`${where}: position: expected epoch 0..${run.epochs} and batch 0..${run.steps - 1}, got epoch ${showValue(s.epoch)}, batch ${showValue(s.batch)}`);
  }
  same('callbacks', run.callbacks.map((c) => c.constructor.name).join(', '), s.callbacks.map((c) => c.className).join(', '));
  same('optimizer', run.optimizer.className, s.optimizer.className);
  same('layers with their own Rng', run.layers.filter((l) => l.ownRng).map((l) => l.name).join(', '), Object.keys(s.layerRngs).join(', '));
  // the order must be a permutation of this run's training rows (the same data and validation split)
  const member = new Uint8Array(run.total);
  for (const i of run.trainIdx) member[i] = 1;
  for (const i of s.order) {
    if (!(i >= 0 && i < run.total) || member[i] !== 1) {
      throw new DigitsError(`${where}: its training rows differ from this run's (different data, seed or validation split)`);
    }
    member[i] = 2;
  }
}

/** Augment settings as one string, the same whatever the order of their keys (null/undefined: "none"). */
function augmentKey(a: AugmentSettings | null | undefined): string {
  if (!isObject(a)) return 'none';
  const e = isObject(a.elastic) ? `, elastic alpha ${a.elastic.alpha} sigma ${a.elastic.sigma}` : '';
  return `rotation ${a.rotation}, zoom ${a.zoom}, shift ${a.shift}${e}`;
}

function identity(n: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}

/** A new tensor of the rows idx of t. */
export function takeRows(t: Tensor, idx: Int32Array): Tensor {
  const per = t.size / t.shape[0]!;
  const out = new Tensor([idx.length, ...t.shape.slice(1)]);
  for (let r = 0; r < idx.length; r++) out.data.set(t.data.subarray(idx[r]! * per, (idx[r]! + 1) * per), r * per);
  return out;
}

/** setImmediate in Node; a zero timeout where it does not exist (the drawing page runs the engine in a browser). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));
}

/**
 * The rows fit holds out with `validationSplit`: `rng` permutes 0..total-1,
 * the first floor(total × (1 − split)) train, the rest validate. fit calls it
 * with the model's Rng (seeded with fit's `seed`); given that seed as a
 * number instead, it finds the same rows again (the report, the preset's
 * BatchNorm pass).
 */
export function validationSplitIndices(total: number, split: number, rng: Rng | number): { train: Int32Array; validation: Int32Array } {
  const perm = (typeof rng === 'number' ? new Rng(rng) : rng).permutation(total);
  const nTrain = Math.floor(total * (1 - split));
  if (nTrain < 1 || nTrain === total) {
    throw new DigitsError(`Sequential.fit: validationSplit ${split} of ${total} samples leaves ` +
      `${nTrain} for training and ${total - nTrain} for validation; both need at least one`);
  }
  return { train: perm.slice(0, nTrain), validation: perm.slice(nTrain) };
}

/** One-hot rows [N, classes] for integer labels 0..classes-1. */
export function oneHot(labels: Uint8Array | readonly number[], classes = NUM_CLASSES): Tensor {
  positiveInt('oneHot: classes', classes);
  const t = new Tensor([labels.length, classes]);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (!Number.isInteger(l) || l < 0 || l >= classes) {
      throw new DigitsError(`oneHot: labels[${i}]: expected an integer from 0 to ${classes - 1}, got ${showValue(l)}`);
    }
    t.data[i * classes + l] = 1;
  }
  return t;
}

/**
 * A dataset as model inputs: x [N, H, W, C] sharing the dataset's memory, and
 * y one-hot [N, 10] (null for an unlabelled set such as Kaggle's test.csv).
 */
export function datasetToTensors(ds: Dataset, classes = NUM_CLASSES): { x: Tensor; y: Tensor | null } {
  const x = new Tensor([ds.count, ds.height, ds.width, ds.channels], ds.images);
  const y = ds.labels === null ? null : oneHot(ds.labels, classes);
  return { x, y };
}

/** Adjacent layers that Sequential runs as one (see fusedPair). */
const enum FusedPair { None, ConvPool, BatchNormRelu }
