/**
 * Keras import: a Sequential model in the Keras 2.x HDF5 format (`model.save('model.h5')`),
 * read with h5wasm (the HDF5 C library compiled to WebAssembly, shipped inside its
 * npm package), turned into a Digits model and saved as any other.
 *
 * What Keras 2.x writes, and what is read here:
 *
 *   /                         attrs: model_config (JSON: {"class_name": "Sequential", "config": {"name", "layers": [...]}}),
 *                                    keras_version, backend, training_config (ignored)
 *   /model_weights            attrs: layer_names (every layer, in order), keras_version, backend
 *   /model_weights/<layer>    attrs: weight_names (["<layer>/kernel:0", "<layer>/bias:0"], empty for layers without weights)
 *   /model_weights/<layer>/<weight name>   float32 datasets, shapes as Keras keeps them:
 *                                           conv kernel [kh, kw, C, K], dense kernel [in, out], bias [K]
 *
 * An attribute too large for an HDF5 object header is split by Keras into
 * `name0`, `name1`, ...; those are joined back. Layers are Digits' own
 * (Conv2D, MaxPooling2D, Flatten, Dense, Dropout, Activation, plus a leading
 * InputLayer) with the options Digits implements; anything else is refused
 * with the layer's name and type. Weights go by layer name, then in Keras
 * order (kernel, bias) with every shape checked. Initialiser configs only
 * matter for re-training from scratch: one Digits does not know is dropped
 * with a warning (the weights are loaded anyway).
 */
import h5wasm from 'h5wasm/node';
import { promises as fs } from 'node:fs';
import { DigitsError, describe } from '../errors.js';
import { layerFactory, registeredLayerNames, type Layer } from '../nn/layer.js';
import { Sequential } from '../nn/index.js';
import { parseInitializer } from '../nn/initializers.js';
import { DIGIT_CLASS_NAMES, buildWithinDeclared, makeMetadata, saveModel, type DigitsMetadata } from './model-files.js';

type H5File = InstanceType<typeof h5wasm.File>;
type H5Group = InstanceType<typeof h5wasm.Group>;
type H5Dataset = InstanceType<typeof h5wasm.Dataset>;

/** A Keras .h5 file read: the model, the Keras version that wrote it, and warnings. */
export interface KerasModel {
  model: Sequential;
  /** keras_version attribute of the file (null: absent) */
  kerasVersion: string | null;
  /** things the import dropped or assumed, for the user */
  warnings: string[];
}

/** How importKeras reads a Keras .h5 file: the pixel range the model was trained on. */
export interface KerasImportOptions {
  /**
   * The value of a white pixel in the data the Keras model was trained on: 1
   * (pixels / 255, the default) or 255 (raw 0..255 pixels, as many Kaggle
   * notebooks feed them). Recorded as metadata.inputScale = pixelRange / 255.
   */
  pixelRange?: number;
}

/** What importKeras wrote: the model, its metadata, layer and parameter counts, warnings. */
export interface KerasImportResult extends KerasModel {
  metadata: DigitsMetadata;
  layers: number;
  params: number;
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The HDF5 signature sits at offset 0, 512, 1024, 2048, ... (after a user block). */
async function looksLikeHdf5(file: string): Promise<boolean> {
  const fh = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(2048 + 8);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    for (const off of [0, 512, 1024, 2048]) {
      if (off + 8 <= bytesRead && HDF5_SIGNATURE.every((b, i) => head[off + i] === b)) return true;
    }
    return false;
  } finally {
    await fh.close();
  }
}

/** A string attribute (fixed- or variable-length, or a one-element array of one); null when absent. */
function stringAttr(obj: H5Group, name: string): string | null {
  const attr = obj.attrs[name];
  if (attr === undefined) return null;
  let v: unknown = attr.value;
  if (Array.isArray(v) && v.length === 1) v = v[0];
  if (v instanceof Uint8Array) v = new TextDecoder().decode(v);
  return typeof v === 'string' ? v : null;
}

/** A list-of-strings attribute, joining Keras' chunks (name0, name1, ...) when it was split; null when absent. */
function stringListAttr(obj: H5Group, name: string, where: string): string[] | null {
  const read = (key: string): string[] => {
    const v: unknown = obj.attrs[key]!.value;
    // h5py stores an empty Python list as an empty float64 array: Keras' weight_names of a layer without weights
    const empty = ArrayBuffer.isView(v) && (v as unknown as ArrayLike<unknown>).length === 0;
    const list = typeof v === 'string' ? [v] : Array.isArray(v) ? v : empty ? [] : null;
    if (list === null || !list.every((s) => typeof s === 'string')) {
      throw new DigitsError(`${where}: attribute ${key}: expected a list of strings, got ${describe(v)}`);
    }
    return list as string[];
  };
  const keys = Object.keys(obj.attrs);
  if (keys.includes(name)) return read(name);
  if (!keys.includes(`${name}0`)) return null;
  const out: string[] = [];
  for (let i = 0; keys.includes(`${name}${i}`); i++) out.push(...read(`${name}${i}`));
  return out;
}

/** Read and check a Keras 2.x HDF5 model file; the model comes back built, with the file's weights. */
export async function readKerasH5(file: string): Promise<KerasModel> {
  const st = await fs.stat(file).catch(() => null);
  if (st === null) throw new DigitsError(`${file}: no such file`);
  if (!st.isFile()) throw new DigitsError(`${file}: expected a Keras .h5 file, found a folder`);
  if (!(await looksLikeHdf5(file))) {
    throw new DigitsError(`${file}: not an HDF5 file (expected a Keras 2.x model saved with model.save("model.h5"); ` +
      'a Keras 3 .keras file is a zip archive: save it with model.save("model.h5") instead)');
  }
  await h5wasm.ready;
  let f: H5File;
  try {
    f = new h5wasm.File(file, 'r');
  } catch (err) {
    throw new DigitsError(`${file}: cannot open as HDF5 (${(err as Error).message})`);
  }
  try {
    return readOpenFile(f, file);
  } finally {
    f.close();
  }
}

function readOpenFile(f: H5File, file: string): KerasModel {
  const warnings: string[] = [];
  const configText = stringAttr(f, 'model_config');
  if (configText === null) {
    throw new DigitsError(`${file}: no model_config attribute: this holds weights only (model.save_weights) or is not a Keras model; ` +
      'save the whole model with model.save("model.h5")');
  }
  let config: unknown;
  try {
    config = JSON.parse(configText);
  } catch (err) {
    throw new DigitsError(`${file}: model_config: not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(config)) throw new DigitsError(`${file}: model_config: expected a JSON object, got ${describe(config)}`);
  if (config.class_name !== 'Sequential') {
    throw new DigitsError(`${file}: model_config.class_name: expected "Sequential" (Digits imports Sequential models), ` +
      `got ${describe(config.class_name)}`);
  }
  const inner = config.config;
  const rawLayers = Array.isArray(inner) ? inner : isObject(inner) ? inner.layers : undefined; // Keras <= 2.1: a bare list
  const modelName = isObject(inner) && typeof inner.name === 'string' && !inner.name.includes('/') ? inner.name : 'sequential';
  if (!Array.isArray(rawLayers)) {
    throw new DigitsError(`${file}: model_config.config.layers: expected an array of layers, got ${describe(rawLayers)}`);
  }

  // Refuse every layer Digits does not have, naming each, before building anything.
  const entries: { className: string; config: Record<string, unknown>; at: string }[] = [];
  const unsupported: string[] = [];
  let inputShape: number[] | null = null;
  rawLayers.forEach((l: unknown, i: number) => {
    const at = `model_config layer ${i}`;
    if (!isObject(l) || typeof l.class_name !== 'string' || !isObject(l.config)) {
      throw new DigitsError(`${file}: ${at}: expected {"class_name": string, "config": object}, got ${describe(l)}`);
    }
    const name = typeof l.config.name === 'string' ? l.config.name : `#${i}`;
    if (l.class_name === 'InputLayer') {
      if (entries.length > 0) throw new DigitsError(`${file}: layer "${name}" (InputLayer): expected only before the first layer`);
      inputShape = batchShape(l.config, `${file}: layer "${name}" (InputLayer)`);
      if (inputShape === null) throw new DigitsError(`${file}: layer "${name}" (InputLayer): expected batch_input_shape [null, H, W, C]`);
      return;
    }
    if (layerFactory(l.class_name) === undefined) {
      unsupported.push(`"${name}" (type ${l.class_name})`);
      return;
    }
    if (entries.length === 0 && inputShape === null) inputShape = batchShape(l.config, `${file}: layer "${name}" (${l.class_name})`);
    entries.push({ className: l.class_name, config: l.config, at: `layer "${name}" (${l.class_name})` });
  });
  if (unsupported.length > 0) {
    const supported = [...registeredLayerNames(), 'InputLayer'].join(', ');
    throw new DigitsError(`${file}: cannot import: ${unsupported.length === 1 ? 'layer' : 'layers'} ${unsupported.join(', ')} ` +
      `${unsupported.length === 1 ? 'is' : 'are'} not supported by Digits (supported layers: ${supported})`);
  }
  if (entries.length === 0) throw new DigitsError(`${file}: model_config has no layers`);
  if (inputShape === null) {
    throw new DigitsError(`${file}: model_config: no input shape (expected batch_input_shape on the first layer or an InputLayer)`);
  }

  const layers: Layer[] = entries.map((e) => {
    const cfg = { ...e.config };
    for (const key of ['kernel_initializer', 'bias_initializer']) {
      if (cfg[key] === undefined || cfg[key] === null) continue;
      try {
        parseInitializer(key, cfg[key]);
      } catch {
        const cls = isObject(cfg[key]) ? (cfg[key] as Record<string, unknown>).class_name : cfg[key];
        warnings.push(`${e.at}: ${key} ${describe(cls)} is not one Digits knows; using Digits' default (it only matters when re-initialised)`);
        delete cfg[key];
      }
    }
    try {
      const layer = layerFactory(e.className)!(cfg);
      if (typeof cfg.name === 'string') layer.name = cfg.name;
      return layer;
    } catch (err) {
      throw new DigitsError(`${file}: ${e.at}: ${(err as Error).message}`);
    }
  });
  let model: Sequential;
  try {
    model = new Sequential({ name: modelName, layers });
    // the weights the file holds bound what building may allocate
    buildWithinDeclared(model, inputShape, storedWeightValues(f), file, 'model_weights');
  } catch (err) {
    if (err instanceof DigitsError && err.message.startsWith(`${file}: `)) throw err;
    throw new DigitsError(`${file}: cannot build the model for input [${(inputShape as number[]).join(', ')}]: ${(err as Error).message}`);
  }
  readWeights(f, file, model);
  return { model, kerasVersion: stringAttr(f, 'keras_version'), warnings };
}

/** Values of every dataset under model_weights, from their shapes (no data is read); 0 without the group. */
function storedWeightValues(f: H5File): number {
  let total = 0;
  const walk = (g: H5Group): void => {
    for (const key of g.keys()) {
      const child = g.get(key);
      if (child instanceof h5wasm.Group) walk(child);
      else if (child instanceof h5wasm.Dataset) total += (child.shape ?? []).reduce((a, b) => a * b, 1);
    }
  };
  const mw = f.get('model_weights');
  if (mw instanceof h5wasm.Group) walk(mw);
  return total;
}

function batchShape(cfg: Record<string, unknown>, where: string): number[] | null {
  for (const key of ['batch_input_shape', 'batch_shape']) {
    const v = cfg[key];
    if (v === undefined || v === null) continue;
    if (!Array.isArray(v) || v.length < 2 || !v.slice(1).every((d) => Number.isInteger(d) && (d as number) > 0)) {
      throw new DigitsError(`${where}.${key}: expected [null, H, W, C] with positive sizes, got ${JSON.stringify(v)}`);
    }
    return v.slice(1) as number[];
  }
  return null;
}

/** Copy the file's weights into `model`, by layer name, kernel then bias, shapes checked. */
function readWeights(f: H5File, file: string, model: Sequential): void {
  const mw = f.get('model_weights');
  if (!(mw instanceof h5wasm.Group)) {
    throw new DigitsError(`${file}: no model_weights group (a model saved without its weights?)`);
  }
  const layerNames = stringListAttr(mw, 'layer_names', `${file}: model_weights`) ?? mw.keys();
  const modelLayers = new Map(model.layers.map((l) => [l.name, l]));
  // A layer of the file that holds weights must be a layer of the model that has them.
  for (const name of layerNames) {
    const g = mw.get(name);
    if (!(g instanceof h5wasm.Group)) continue;
    const wn = stringListAttr(g, 'weight_names', `${file}: model_weights/${name}`) ?? [];
    if (wn.length > 0 && !modelLayers.has(name)) {
      throw new DigitsError(`${file}: model_weights/${name} holds weights (${wn.join(', ')}) for a layer model_config does not have`);
    }
  }
  const map = new Map<string, Float32Array>();
  for (const layer of model.layers) {
    const params = layer.params();
    if (params.length === 0) continue;
    const where = `${file}: model_weights/${layer.name}`;
    const g = mw.get(layer.name);
    if (!(g instanceof h5wasm.Group)) throw new DigitsError(`${where}: missing: the weights of layer "${layer.name}" (${layer.className}) are not in the file`);
    const names = stringListAttr(g, 'weight_names', where);
    if (names === null || names.length !== params.length) {
      throw new DigitsError(`${where}: weight_names: expected ${params.length} weights (${params.map((p) => p.name).join(', ')}), ` +
        `got ${names === null ? 'none' : `${names.length} (${names.join(', ')})`}`);
    }
    // Keras' order is the layer's own (kernel, bias); names ending in the param name confirm it.
    const base = (n: string): string => n.split('/').pop()!.replace(/:\d+$/, '');
    const byName = params.every((p) => names.some((n) => base(n) === p.name));
    params.forEach((p, i) => {
      const wname = byName ? names.find((n) => base(n) === p.name)! : names[i]!;
      const ds = g.get(wname);
      if (!(ds instanceof h5wasm.Dataset)) throw new DigitsError(`${where}/${wname}: missing dataset (listed in weight_names)`);
      map.set(`${layer.name}/${p.name}`, datasetValues(ds, `${where}/${wname}`, p.value.shape));
    });
  }
  model.setNamedWeights(map);
}

function datasetValues(ds: H5Dataset, where: string, want: readonly number[]): Float32Array {
  const shape = ds.shape ?? [];
  if (shape.length !== want.length || shape.some((d, i) => d !== want[i])) {
    throw new DigitsError(`${where}: shape: expected [${want.join(', ')}] (as the layer config implies), got [${shape.join(', ')}]`);
  }
  const v = ds.value;
  if (v instanceof Float32Array) return v;
  if (v instanceof Float64Array) return Float32Array.from(v);
  throw new DigitsError(`${where}: dtype: expected float32 or float64 values, got ${JSON.stringify(ds.dtype)}`);
}

/** Read `file` (Keras .h5) and save it as a Digits model folder `outDir`. */
export async function importKeras(file: string, outDir: string, opts: KerasImportOptions = {}): Promise<KerasImportResult> {
  const range = opts.pixelRange ?? 1;
  if (typeof range !== 'number' || !Number.isFinite(range) || !(range > 0)) {
    throw new DigitsError(`--input-scale: expected a positive number (1: pixels / 255, 255: raw 0..255 pixels), got ${describe(range)}`);
  }
  const read = await readKerasH5(file);
  const { model } = read;
  const out = model.outputShape!;
  const units = out[out.length - 1]!;
  const metadata = makeMetadata(model, {
    inputScale: range / 255,
    classNames: units === DIGIT_CLASS_NAMES.length ? [...DIGIT_CLASS_NAMES] : Array.from({ length: units }, (_, i) => String(i)),
  });
  await saveModel(model, outDir, metadata);
  return { ...read, metadata, layers: model.layers.length, params: model.countParams() };
}
