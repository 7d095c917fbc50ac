/**
 * The pages' worker: the WebAssembly kernels (digits.wasm beside the pages), a model loaded from the
 * site or trained here, and the work on it, so that drawing and the page's controls never wait on
 * it. The engine is Digits' own (src/nn over the wasm backend); the drawing is made MNIST-like by the
 * same code as `digits serve` and `digits predict` (preprocess/pixels.ts).
 */
import type { Addon } from '../engine/addon-backend.js';
import { instantiateWasmKernels, wasmBackend } from '../engine/wasm-kernels.js';
import { Tensor } from '../engine/tensor.js';
import { DigitsError } from '../errors.js';
import { calibrationOf, fromModelJson, unitPixelFactor, type DigitsMetadata } from '../io/model-format.js';
import { fitCalibration, readProbabilities, type Reading } from '../nn/calibration.js';
import { gatedReadings, withoutGateSay, type Gate, type GateSay } from '../nn/gate.js';
import { candidateBatch, lineBatch, numberFromReadings, segmentGray, type Segmentation } from '../preprocess/segment.js';
import { inLine, lineProbabilities } from '../nn/line-reader.js';
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, bytesToUnit, parseIdx } from '../data/idx-format.js';
import { ImageError, grayFromRgba, preprocessGray } from '../preprocess/pixels.js';
import { ProgressCallback } from '../nn/callbacks.js';
import { buildPreset, presetAfterFit, presetCallbacks, presetFitOptions } from '../nn/presets.js';
import { oneHot, validationSplitIndices } from '../nn/batches.js';
import { shardArrays } from '../nn/shard.js';
import { shardMemory, sharedShard, stopShards } from './shards.js';
import type { Sequential } from '../nn/sequential.js';
import type { Answer, ModelFacts, Reply, Request, TrainOutcome } from './protocol.js';

interface WorkerScope {
  postMessage(message: Reply): void;
  onmessage: ((e: MessageEvent<Request>) => void) | null;
  location: { href: string };
}
const scope = self as unknown as WorkerScope;

let kernels: Promise<Addon> | null = null;
let current: { model: Sequential; metadata: DigitsMetadata | null; facts: ModelFacts } | null = null;
let gate: Gate | null = null;
let lineReader: Sequential | null = null;
let training: AbortController | null = null;
/** the shared memory of the data-parallel fit under way (null: none, or alone) */
let shared: SharedArrayBuffer | null = null;

/** The kernels, compiled once (digits.wasm sits beside the worker's script). */
function loadKernels(): Promise<Addon> {
  kernels ??= (async () => {
    const url = new URL('digits.wasm', scope.location.href);
    const bytes = await fetchBytes(url.href, 'the WebAssembly kernels');
    return instantiateWasmKernels(await WebAssembly.compile(bytes));
  })();
  return kernels;
}

async function fetchBytes(url: string, what: string): Promise<Uint8Array<ArrayBuffer>> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new DigitsError(`${url}: cannot fetch ${what} (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!res.ok) throw new DigitsError(`${url}: cannot fetch ${what} (HTTP ${res.status})`);
  return new Uint8Array(await res.arrayBuffer());
}

/** A gzipped file's bytes, decompressed by the browser. */
async function fetchGzip(url: string, what: string): Promise<Uint8Array<ArrayBuffer>> {
  const packed = await fetchBytes(url, what);
  const stream = new Blob([packed]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function facts(model: Sequential, metadata: DigitsMetadata | null, id: string): ModelFacts {
  return {
    id, parameters: model.countParams(), testAccuracy: metadata?.testAccuracy ?? null, trainedAt: metadata?.trainedAt ?? null,
    classNames: metadata?.classNames ?? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  };
}

/** A model.json and its shards, from the site. */
async function fetchModel(url: string, what: string): Promise<{ model: Sequential; metadata: DigitsMetadata | null }> {
  const json = JSON.parse(new TextDecoder().decode(await fetchBytes(url, what))) as unknown;
  return fromModelJson(json, url, (file) => fetchBytes(new URL(file, url).href, 'a weight shard'));
}

/** The digit gate (nn/gate.ts), loaded once when the site has one; train.html's model uses it too. */
async function loadGateModel(gateUrl: string, addon: Addon): Promise<void> {
  const { model, metadata } = await fetchModel(gateUrl, 'the digit gate');
  model.setBackend(wasmBackend(addon, 'fp32'));
  gate = { model, threshold: metadata?.calibration?.threshold ?? 0.5 };
}

/** The line reader (nn/line-reader.ts), loaded once when the site has one; train.html's model uses it too. */
async function loadLineReaderModel(url: string, addon: Addon): Promise<void> {
  const { model } = await fetchModel(url, 'the line reader');
  model.setBackend(wasmBackend(addon, 'fp32'));
  lineReader = model;
}

/** The site's digit gate and line reader, those it has and that are not loaded yet. */
async function loadHelpers(addon: Addon, gateUrl?: string, lineReaderUrl?: string): Promise<void> {
  await Promise.all([
    gateUrl !== undefined && gate === null ? loadGateModel(gateUrl, addon) : null,
    lineReaderUrl !== undefined && lineReader === null ? loadLineReaderModel(lineReaderUrl, addon) : null,
  ]);
}

async function load(modelUrl: string, gateUrl?: string, lineReaderUrl?: string): Promise<ModelFacts> {
  const addon = await loadKernels();
  const [{ model, metadata }] = await Promise.all([fetchModel(modelUrl, 'the model'), loadHelpers(addon, gateUrl, lineReaderUrl)]);
  // as the server runs it: bf16 only for a model trained so (run/backend.ts, modelPrecision)
  model.setBackend(wasmBackend(addon, metadata?.precision === 'bf16' ? 'bf16' : 'fp32'));
  const id = `${metadata?.preset ?? 'exported'}, running in this page`;
  current = { model, metadata, facts: facts(model, metadata, id) };
  return current.facts;
}

function predict(rgba: Uint8ClampedArray, width: number, height: number): Answer | null {
  if (current === null) throw new DigitsError('no model is loaded yet');
  const started = performance.now();
  let pixels: Float32Array;
  let seg: Segmentation;
  try {
    const img = grayFromRgba(rgba, width, height);
    pixels = preprocessGray(img, 'the drawing').pixels;
    seg = segmentGray(img, 'the drawing');
  } catch (err) {
    if (err instanceof ImageError) return null; // blank: nothing to read yet
    throw err;
  }
  // the whole drawing as one digit (its bars and 28×28 image), then each candidate digit in it, in one batch
  const x01 = new Float32Array((1 + seg.candidates.length) * 784);
  for (let i = 0; i < 784; i++) x01[i] = pixels[i]! / 255;
  x01.set(candidateBatch(seg), 784);
  const readings = readAll(x01, 1 + seg.candidates.length);
  const candidates = lineReader === null || seg.candidates.length === 0 ? readings.slice(1)
    : inLine(readings.slice(1), lineProbabilities(lineReader, lineBatch(seg), seg.candidates.length));
  const number = numberFromReadings(seg, candidates, current.facts.classNames);
  const reading = withoutGateSay(readings[0]!);
  return {
    ...reading, number, preprocessed: { width: 28, height: 28, pixels: Array.from(pixels, Math.round) },
    ms: performance.now() - started,
  };
}

/** n fields (values 0..1) read by the current model, with the gate's say on each when the site has a gate. */
function readAll(x01: Float32Array, n: number): (Reading & GateSay)[] {
  const { model, metadata } = current!;
  const factor = unitPixelFactor(metadata);
  const x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++) x[i] = x01[i]! * factor;
  const probs = model.predict(new Tensor([n, ...(model.inputShape ?? [28, 28, 1])], x), { batchSize: Math.min(n, 64) }).data;
  return gatedReadings(readProbabilities(probs, 10, calibrationOf(metadata)), gate, x01);
}

async function train(r: Extract<Request, { type: 'train' }>, progress: (e: Reply) => void): Promise<TrainOutcome> {
  const status = (message: string): void => progress({ id: r.id, type: 'status', message });
  status('loading the WebAssembly kernels and MNIST');
  const [addon, trainImages, trainLabels, testImages, testLabels] = await Promise.all([
    loadKernels().then(async (addon) => {
      await loadHelpers(addon, r.gateUrl, r.lineReaderUrl);
      return addon;
    }),
    fetchGzip(r.data.trainImages, 'the training images'), fetchGzip(r.data.trainLabels, 'the training labels'),
    fetchGzip(r.data.testImages, 'the test images'), fetchGzip(r.data.testLabels, 'the test labels'),
  ]);
  const images = parseIdx(r.data.trainImages, trainImages, { expectMagic: IDX_IMAGES_MAGIC, ...(r.limit ? { limit: r.limit } : {}) });
  const labels = parseIdx(r.data.trainLabels, trainLabels, { expectMagic: IDX_LABELS_MAGIC, ...(r.limit ? { limit: r.limit } : {}) });
  const tImages = parseIdx(r.data.testImages, testImages, { expectMagic: IDX_IMAGES_MAGIC, ...(r.testLimit ? { limit: r.testLimit } : {}) });
  const tLabels = parseIdx(r.data.testLabels, testLabels, { expectMagic: IDX_LABELS_MAGIC, ...(r.testLimit ? { limit: r.testLimit } : {}) });
  const n = images.dims[0]!;
  const nTest = tImages.dims[0]!;

  const { model, training: t } = buildPreset(r.preset, r.seed);
  model.setBackend(wasmBackend(addon, 'fp32'));
  const x = new Tensor([n, 28, 28, 1], bytesToUnit(images.data));
  const y = oneHot(labels.data);
  const validationSplit = t.validationSplit;

  // data-parallel: the lead makes the shared memory (its size is the model's) and hands it out
  const arrays = shardArrays(model);
  const sizes = { grads: arrays.grads.map((g) => g.length), state: arrays.state.map((s) => s.length) };
  let place = r.shard ?? null;
  if (place === null && (r.threads ?? 1) > 1) {
    place = { index: 0, count: r.threads!, sab: shardMemory(r.threads!, sizes) };
    progress({ id: r.id, type: 'shards', sab: place.sab });
  }
  shared = place?.sab ?? null;
  const lead = place === null || place.index === 0;

  training = new AbortController();
  const shard = place !== null ? sharedShard(place.sab, place.index, place.count, sizes) : null;
  let history;
  let started = 0;
  try {
    if (shard !== null) {
      status(`waiting for the other ${shard.count - 1} training threads to load MNIST`);
      shard.join();
    }
    status(shard === null ? 'training' : `training on ${shard.count} threads`);
    started = performance.now();
    history = await model.fit(x, y, {
      epochs: t.epochs, batchSize: t.batchSize, validationSplit, shuffle: true, seed: r.seed, signal: training.signal,
      callbacks: [
        ...presetCallbacks(t, { validation: validationSplit > 0 }),
        ...(lead ? [new ProgressCallback((event) => progress({ id: r.id, type: 'progress', event }))] : []),
      ],
      ...presetFitOptions(t),
      ...(shard !== null ? { shard } : {}),
    });
  } catch (err) {
    if (shared !== null) stopShards(shared); // the other replicas stop too, rather than wait
    throw err;
  } finally {
    training = null;
    shared = null;
  }
  presetAfterFit(model, x, t, { batchSize: t.batchSize, validationSplit, seed: r.seed });
  const trainSeconds = (performance.now() - started) / 1000;
  if (history.interrupted) {
    if (place !== null) stopShards(place.sab);
    throw new DigitsError('training stopped');
  }
  const trainRows = Math.floor(n * (1 - validationSplit));
  const steps = Math.ceil(trainRows / t.batchSize) * t.epochs;
  const threads = place?.count ?? 1;
  if (!lead) return { testAccuracy: NaN, testImages: 0, trainSeconds, trainImages: trainRows, steps, threads, model: facts(model, null, 'helper') };

  status('testing');
  const probs = model.predict(new Tensor([nTest, 28, 28, 1], bytesToUnit(tImages.data)), { batchSize: 500 }).data;
  let correct = 0;
  for (let i = 0; i < nTest; i++) {
    let best = 0;
    for (let d = 1; d < 10; d++) if (probs[i * 10 + d]! > probs[i * 10 + best]!) best = d;
    if (best === tLabels.data[i]) correct++;
  }
  const testAccuracy = correct / nTest;
  // the page's model reads its probabilities as a model `digits train` saves does: calibrated on the validation split
  const rows = validationSplitIndices(n, validationSplit, r.seed).validation;
  const vx = new Float32Array(rows.length * 784);
  const vLabels = new Uint8Array(rows.length);
  rows.forEach((row, i) => {
    vx.set(x.data.subarray(row * 784, (row + 1) * 784), i * 784);
    vLabels[i] = labels.data[row]!;
  });
  const calibration = rows.length > 0
    ? fitCalibration(model.predict(new Tensor([rows.length, 28, 28, 1], vx), { batchSize: 500 }).data, vLabels) : undefined;
  const metadata: DigitsMetadata = {
    version: 'page', inputScale: 1 / 255, inputShape: [28, 28, 1], classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    seed: r.seed, preset: r.preset, testAccuracy, trainedAt: new Date().toISOString(), backend: 'wasm',
    ...(calibration !== undefined ? { calibration } : {}),
  };
  current = { model, metadata, facts: facts(model, metadata, `${r.preset}, trained in this page`) };
  return { testAccuracy, testImages: nTest, trainSeconds, trainImages: trainRows, steps, threads, model: current.facts };
}

scope.onmessage = (e: MessageEvent<Request>): void => {
  const r = e.data;
  const reply = (m: Reply): void => scope.postMessage(m);
  const fail = (err: unknown): void => reply({ id: r.id, type: 'error', message: err instanceof Error ? err.message : String(err) });
  try {
    switch (r.type) {
      case 'load':
        load(r.modelUrl, r.gateUrl, r.lineReaderUrl).then((result) => reply({ id: r.id, type: 'done', result }), fail);
        break;
      case 'predict':
        reply({ id: r.id, type: 'done', result: predict(r.rgba, r.width, r.height) });
        break;
      case 'train':
        if (training !== null) throw new DigitsError('already training');
        train(r, reply).then((result) => reply({ id: r.id, type: 'done', result }), (err: unknown) => {
          training = null;
          fail(err);
        });
        break;
      case 'stop':
        training?.abort();
        if (shared !== null) stopShards(shared);
        reply({ id: r.id, type: 'done' });
        break;
    }
  } catch (err) {
    fail(err);
  }
};
