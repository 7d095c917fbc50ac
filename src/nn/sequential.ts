/**
 * Sequential: a stack of layers, shaped like Keras' Sequential.
 *
 *   model.add(...); model.build([28, 28, 1], seed); model.compile({optimizer: 'adam', ...})
 *   await model.fit(x, y, {epochs, batchSize, validationSplit, callbacks})
 *   model.evaluate(x, y); model.predict(x)
 *
 * x is [N, ...inputShape] (images NHWC, pixels 0..1), y is one-hot [N, classes].
 *
 * This module is the model: its layers, build, weights, config (save/load
 * through the layer registry), and forward/backward over a batch with the
 * pairs of layers that fuse (Layer.fuseWith) run as one. Training lives in
 * trainer.ts: fit, trainOnBatch, trainingState and the BatchNorm statistics
 * pass are the trainer's, called here for Keras' shape of the API.
 *
 * One seeded Rng (seeded by build, reseeded by fit's `seed`) drives weight
 * initialisation, the validation split, shuffling and dropout. Buffers (the
 * batch, the layers' outputs and gradients) are allocated once per batch size
 * and reused; the engine prints nothing, progress goes through callbacks.
 */
import { DigitsError } from '../errors.js';
import type { Backend } from '../engine/backend.js';
import { ReferenceBackend } from '../engine/reference.js';
import { Rng } from '../engine/rng.js';
import { Tensor, shapeToString } from '../engine/tensor.js';
import { layerFactory, registeredLayerNames, type FusedStep, type Layer, type Param, type RunContext } from './layer.js';
import { isSoftmaxOutputLayer } from './activations.js';
import { checkName } from './base.js';
import type { CallbackModel } from './callbacks.js';
import { countCorrect, crossEntropyOnProbs, parseLoss, type LossName } from './losses.js';
import { getOptimizer, type Optimizer, type WeightUpdate } from './optimizers.js';
import { Workspace } from './workspace.js';
import type { Classifier } from './classifier.js';
import {
  fit, recomputeBatchNormStatistics, trainOnBatch, type FitOptions, type FitRun, type History, type TrainableModel, type TrainingState,
} from './trainer.js';
import { batchInputShape, isObject, knownKeys, positiveInt, shape as checkShape, showValue } from './validate.js';


/** What compile sets, as Keras: the optimizer, the loss and the metrics. */
export interface CompileOptions {
  /** default 'adam' */
  optimizer?: 'adam' | 'sgd' | Optimizer;
  /** default 'categoricalCrossentropy' */
  loss?: 'categoricalCrossentropy';
  /** accuracy is always computed; ['accuracy'] is accepted for Keras familiarity */
  metrics?: 'accuracy'[];
}

export interface SequentialConfig {
  name: string;
  layers: { class_name: string; config: Record<string, unknown> }[];
}

interface Compiled {
  optimizer: Optimizer;
  loss: LossName;
}

/** Layers run in order: one layer, or two that fuse (Layer.fuseWith), as one step. */
interface PlanStep {
  /** index of the step's first layer */
  first: number;
  /** the two layers as one, or null for the single layer `first` */
  fused: FusedStep | null;
}

/**
 * A stack of layers, shaped like Keras' Sequential: add layers, build, compile, then fit, evaluate and
 * predict. It is also what model files, ONNX export and Keras import save and load.
 */
export class Sequential implements CallbackModel, Classifier, TrainableModel {
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
  /** the layers and their names, for add's checks in constant time (a model file of many layers loads in linear time) */
  private readonly layerSet = new Set<Layer>();
  private readonly names = new Set<string>();
  /** per default name stem, the suffix to try first for the next layer of that stem */
  private readonly nextSuffix = new Map<string, number>();
  /** the running (or interrupted) fit, for trainingState() */
  private run: FitRun | null = null;
  private training = false;
  /** the layers as steps, fused pairs as one (null: not planned since the last build) */
  private plan: PlanStep[] | null = null;
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
    if (this.layerSet.has(layer)) throw new DigitsError(`Sequential.add: layer "${layer.name}" is already in model "${this.name}"`);
    const taken = this.names;
    let suffix: { stem: string; next: number } | null = null;
    if ((layer as { nameIsDefault?: boolean }).nameIsDefault === true) {
      const stem = layer.name;
      let name = stem;
      if (taken.has(name)) {
        // the next free suffix, searched from where the last one of this stem was found (names are never freed)
        let i = this.nextSuffix.get(stem) ?? 1;
        while (taken.has(`${stem}_${i}`)) i++;
        name = `${stem}_${i}`;
        suffix = { stem, next: i + 1 };
      }
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
    this.layerSet.add(layer);
    this.names.add(layer.name);
    if (suffix !== null) this.nextSuffix.set(suffix.stem, suffix.next);
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
    this.plan = null;
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

  /** Run on `backend` from now on (not while fit is running). */
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

  /** Set the optimizer (default Adam, Keras' defaults) and the loss (categorical cross-entropy), as Keras' compile. */
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

  /** @internal Gather rows `idx[from..from+n)` of x (and y) into the model's batch buffers. */
  batch(src: Tensor, idx: Int32Array | null, from: number, n: number, key: string): Tensor {
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
   * The layers as steps: a layer and the next run as one where the first says so (Layer.fuseWith: a
   * Conv2D and the MaxPooling2D it pools, a BatchNormalization and the ReLU after it). Forward and
   * backward both run the plan, so a batch runs fused both ways or not at all.
   */
  private steps(): PlanStep[] {
    if (this.plan !== null) return this.plan;
    const plan: PlanStep[] = [];
    const layers = this.layers;
    for (let i = 0; i < layers.length; i++) {
      const fused = i + 1 < layers.length ? layers[i]!.fuseWith?.(layers[i + 1]!) ?? null : null;
      plan.push({ first: i, fused });
      if (fused !== null) i++;
    }
    this.plan = plan;
    return plan;
  }

  private forwardAll(x: Tensor, ctx: RunContext): Tensor {
    let h = x;
    for (const s of this.steps()) h = s.fused !== null ? s.fused.forward(h, ctx) : this.layers[s.first]!.forward(h, ctx);
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
    const plan = this.steps();
    let d = dout;
    for (let k = plan.length - 1; k >= 0; k--) {
      const s = plan[k]!;
      const c = s.first === 0 ? firstCtx : ctx;
      if (s.fused !== null) {
        d = s.fused.backward(d, c);
        continue;
      }
      const layer = layers[s.first]!;
      d = s.first === last && fused && isSoftmaxOutputLayer(layer) ? layer.backwardFromLogits(d, c) : layer.backward(d, c);
    }
  }

  /** @internal the batch through every layer (the trainer's forward) */
  forwardBatch(x: Tensor, training: boolean): Tensor {
    return this.forwardAll(x, training ? this.trainCtx : this.inferCtx);
  }

  /** @internal loss and output gradient of the batch just run forward (the trainer's) */
  lossOnBatch(out: Tensor, y: Tensor, wantGrad: boolean): { loss: number; probs: Tensor; dout: Tensor | null; fused: boolean } {
    return this.lossOf(out, y, wantGrad);
  }

  /** @internal backward through every layer (the trainer's) */
  backwardBatch(dout: Tensor, fused: boolean, training: boolean): void {
    this.backwardAll(dout, fused, training ? this.trainCtx : this.inferCtx);
  }

  /** @internal a scratch tensor of the model's workspace */
  scratch(key: string, n: number, shape: readonly number[]): Tensor {
    return this.ws.tensor(key, n, shape);
  }

  /** @internal every weight tensor, trainable or not */
  allWeights(): Tensor[] {
    return this.weights.map((w) => w.param.value);
  }

  /** whether a fit is running */
  get isTraining(): boolean {
    return this.training;
  }

  /** @internal a fit starts (the trainer's) */
  beginFit(run: FitRun): void {
    this.training = true;
    this.run = run;
  }

  /** @internal the fit ends; an interrupted one keeps its state for trainingState() */
  endFit(keepState: boolean): void {
    this.training = false;
    if (!keepState) this.run = null;
  }

  /** @internal Check x [N, ...inputShape] and y [N, classes]; build from x if needed. */
  checkData(where: string, x: Tensor, y: Tensor | null): number {
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

  /** @internal What the optimizer updates: the trainable weights (their arrays are fixed from build on). */
  trainableUpdates(): WeightUpdate[] {
    return this.weights.filter((w) => w.param.trainable).map((w) => ({ name: w.name, value: w.param.value.data, grad: w.param.grad.data }));
  }

  /**
   * Train (trainer.ts). Per epoch: shuffle (with the Rng), run the batches (forward, loss, backward,
   * optimizer step), report loss/accuracy as the mean over the epoch's samples (as Keras reports
   * them), then validate with evaluate. With `resume`, continue a run from a `trainingState()`;
   * with `signal`, stop cleanly before the next batch once it is aborted.
   */
  fit(x: Tensor, y: Tensor, opts: FitOptions = {}): Promise<History> {
    return fit(this, x, y, opts);
  }

  /**
   * Everything but the weights that a fit needs to go on exactly where it stands: position, Rng
   * states, the epoch's sample order, the epoch's running sums, history, optimizer state and the
   * callbacks' states (copies). Call it from a callback's onBatchEnd/onEpochEnd (at an epoch end the
   * position is the next epoch, not started), or after a fit its signal interrupted. Give it back
   * to fit as `resume`.
   */
  trainingState(): TrainingState {
    if (this.run === null) {
      throw new DigitsError('Sequential.trainingState: no training state (call it from a fit callback, or after a fit that its signal interrupted)');
    }
    return this.run.state();
  }

  /** Keras' train_on_batch: one optimizer step on (x, y) taken whole as a batch; the batch's loss and accuracy (before the update). */
  trainOnBatch(x: Tensor, y: Tensor): { loss: number; accuracy: number } {
    return trainOnBatch(this, x, y);
  }

  /** Mean loss and accuracy over x (dropout off). */
  evaluate(x: Tensor, y: Tensor, opts: { batchSize?: number } = {}): { loss: number; accuracy: number } {
    const total = this.checkData('Sequential.evaluate', x, y);
    const batchSize = positiveInt('Sequential.evaluate: batchSize', opts.batchSize ?? 32);
    let lossSum = 0;
    let correct = 0;
    for (let from = 0; from < total; from += batchSize) {
      const n = Math.min(batchSize, total - from);
      const xb = this.batch(x, null, from, n, 'x');
      const yb = this.batch(y, null, from, n, 'y');
      const out = this.forwardAll(xb, this.inferCtx);
      const { loss, probs } = this.lossOf(out, yb, false);
      lossSum += loss * n;
      correct += countCorrect(probs.data, yb.data, n, probs.size / n);
    }
    return { loss: lossSum / total, accuracy: correct / total };
  }

  /**
   * Recompute every BatchNormalization layer's moving mean and variance from x (trainer.ts), as
   * PyTorch's `torch.optim.swa_utils.update_bn`: the plain mean of the batches' statistics, dropout
   * off. `rows` limits the pass to those rows of x, in that order. Returns the batches run.
   */
  recomputeBatchNormStatistics(x: Tensor, opts: { batchSize?: number; rows?: Int32Array } = {}): number {
    return recomputeBatchNormStatistics(this, x, opts);
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
      const out = this.forwardAll(this.batch(x, null, from, n, 'x'), this.inferCtx);
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
    const xb = this.batch(x, null, 0, n, 'x');
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

