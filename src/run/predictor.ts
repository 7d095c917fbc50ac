/**
 * A loaded model to embed in a server (Digits' own, or any other): single
 * predictions micro-batched, batches in chunks that give the event loop back
 * between them. `openPredictor` opens a model or ensemble folder as one.
 *
 * Why no worker thread: the native backend predicts one image in ~0.2 ms, so
 * a single prediction inline costs about as much as the HTTP handling around
 * it, and a worker round trip (postMessage + structured clone) would cost more
 * than the work.
 *
 * Single predictions are micro-batched (`predict`): the requests whose bodies
 * arrive in the same turn of the event loop are queued, and one setImmediate
 * later they run as ONE forward pass (up to CHUNK images; the remainder waits
 * for the next turn). Under load that is several images per pass, which the
 * GEMM kernels do for much less than one pass each; alone, a request waits
 * for nothing but the end of the current turn.
 *
 * A batch is capped (MAX_BATCH images, ~100 ms of work at 1,000) and run
 * CHUNK images at a time (~3 ms each on the native backend) with a
 * setImmediate between chunks, so other requests (a page drawing live, /health)
 * are served in between and no request blocks the loop for more than a chunk.
 * Inputs: pixels 0..255 (white on black), [N, 28, 28, 1] after scaling by the
 * model's inputScale.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { DigitsError } from '../errors.js';
import { Tensor } from '../engine/tensor.js';
import { Sequential, describeTta, type Classifier } from '../nn/index.js';
import { calibrationOf, unitPixelFactor, type DigitsMetadata } from '../io/model-files.js';
import { readProbabilities, type Calibration, type Reading } from '../nn/calibration.js';
import { gatedReadings, withoutGateSay, type Gate, type GateSay } from '../nn/gate.js';
import type { LoadedClassifier } from '../io/ensemble.js';
import { decodeImage, preprocessImage } from '../preprocess/image.js';
import { candidateBatch, lineBatch, numberFromReadings, segmentGray, type NumberRead, type Segmentation } from '../preprocess/segment.js';
import type { BackendOpts } from './backend.js';
import { warnOnStderr, type OnRunEvent } from './events.js';
import { openClassifier } from './predict.js';
import { gateFor } from './gate.js';
import { lineReaderFor } from './line-reader.js';
import { inLine, lineProbabilities, type LineSay } from '../nn/line-reader.js';

/** Images per chunk of a batch between event-loop yields. */
export const CHUNK = 32;
/** Largest batch accepted by /api/predict/batch. */
export const MAX_BATCH = 1000;

/** A served model's id (folder name and a hash of its files) and test accuracy. */
export interface ModelInfo {
  id: string;
  accuracy: number | null;
}

/**
 * A digit read: the label, its calibrated confidence, whether the input is a digit at all, and the
 * ten calibrated class probabilities (nn/calibration.ts).
 */
export type Prediction = Reading;

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A loaded model to embed in a server: single predictions micro-batched, batches in chunks that give the event loop back (see the module comment). */
export class Predictor {
  readonly info: ModelInfo;
  readonly pixelsPerImage: number;
  private readonly scale: number;
  private readonly shape: number[];
  /** How this model's probabilities are read: its calibration (temperature, not-a-digit threshold). */
  readonly calibration: Calibration;

  /**
   * `fingerprint`: the text of the files defining the model (model.json; an ensemble's ensemble.json
   * and members' model.json), hashed into the id. `loaded`: what loadClassifier said of the artifact
   * (members, TTA) for /api/model; without it, the model is taken as one network.
   */
  constructor(
    readonly model: Classifier,
    readonly metadata: DigitsMetadata | null,
    readonly modelDir: string,
    fingerprint: string,
    readonly loaded: Pick<LoadedClassifier, 'kind' | 'members' | 'tta'> | null = null,
    /** the digit gate (nn/gate.ts): an input it refuses is not a digit, whatever the model says; null: the model's confidence alone decides */
    readonly gate: Gate | null = null,
    /** the line reader (nn/line-reader.ts): reads a number's candidates in their line beside the model; null: the model and the gate alone */
    readonly lineReader: Sequential | null = null,
  ) {
    const shape = model.inputShape;
    if (!shape || shape.length !== 3 || shape[0] !== 28 || shape[1] !== 28 || shape[2] !== 1) {
      throw new DigitsError(`${modelDir}: the server needs a model with a 28×28×1 input, this one takes [${shape?.join(', ') ?? 'unknown'}]`);
    }
    if (model.outputShape?.length !== 1 || model.outputShape[0] !== 10) {
      throw new DigitsError(`${modelDir}: the server needs a model with 10 outputs (digits 0-9), this one has [${model.outputShape?.join(', ')}]`);
    }
    this.shape = [...shape];
    this.pixelsPerImage = 28 * 28;
    this.scale = unitPixelFactor(metadata);
    this.calibration = calibrationOf(metadata);
    const hash = createHash('sha256').update(fingerprint).digest('hex').slice(0, 12);
    this.info = { id: `${path.basename(path.resolve(modelDir))}-${hash}`, accuracy: metadata?.testAccuracy ?? null };
    // warm-up: the model's buffers grow to the largest pass (CHUNK images) now, not during a request
    model.predict(new Tensor([CHUNK, ...this.shape]), { batchSize: CHUNK });
  }

  /** x01: N images of 784 values 0..1 back to back → model input tensor. */
  private tensor(x01: Float32Array, n: number): Tensor {
    const data = new Float32Array(n * this.pixelsPerImage);
    for (let i = 0; i < data.length; i++) data[i] = x01[i]! * this.scale;
    return new Tensor([n, ...this.shape], data);
  }

  /** n inputs (values 0..1) read: the model's calibrated answer, and the gate's say on whether each is a digit. */
  private read(x01: Float32Array, n: number): (Prediction & GateSay)[] {
    const probs = this.model.predict(this.tensor(x01, n), { batchSize: n }).data;
    return gatedReadings(readProbabilities(probs.subarray(0, n * 10), 10, this.calibration), this.gate, x01);
  }

  /** One image, values 0..1 (784, row-major, white on black). Synchronous: ~0.2 ms on the native backend. */
  predictOne(x01: Float32Array): Prediction {
    return withoutGateSay(this.read(x01, 1)[0]!);
  }

  /**
   * The digit in a PNG or JPEG image of any size and either polarity, made MNIST-like as `digits serve`
   * does (preprocessImage). The decode runs inline, on this thread; a bad image rejects with an ImageError naming `where`.
   */
  async predictImage(bytes: Uint8Array, where = 'image'): Promise<Prediction> {
    return this.predictField(preprocessImage(bytes, where).pixels);
  }

  /**
   * The number written in a PNG or JPEG image (one or more digits in a row, any size, either polarity):
   * its text and each digit's reading and box (preprocess/segment.ts). The decode runs inline; a bad
   * image rejects with an ImageError naming `where`.
   */
  async readImage(bytes: Uint8Array, where = 'image'): Promise<NumberRead> {
    return this.readSegmentation(segmentGray(decodeImage(bytes, where), where));
  }

  /** The number an image's segmentation holds: every candidate read (in chunks, as a batch), then the best digits chosen. */
  async readSegmentation(seg: Pick<Segmentation, 'pieces' | 'boundaries' | 'candidates'>): Promise<NumberRead> {
    return numberFromReadings(seg, await this.readCandidates(seg), this.metadata?.classNames);
  }

  /** Every candidate of a segmentation read, with the gate's say on each and the line reader's: what numberFromReadings chooses from. */
  async readCandidates(seg: Pick<Segmentation, 'candidates'>): Promise<(Prediction & GateSay & Partial<LineSay>)[]> {
    const n = seg.candidates.length;
    const readings = await this.readBatch(candidateBatch(seg), n);
    if (this.lineReader === null || n === 0) return readings;
    return inLine(readings, lineProbabilities(this.lineReader, lineBatch(seg), n));
  }

  /** One preprocessed 28×28 field of 0..255 values (what preprocessImage gives), micro-batched as predict. */
  predictField(pixels: Float32Array): Promise<Prediction> {
    const x01 = new Float32Array(pixels.length);
    for (let i = 0; i < x01.length; i++) x01[i] = pixels[i]! / 255;
    return this.predict(x01);
  }

  private queue: { x01: Float32Array; resolve: (p: Prediction) => void; reject: (e: unknown) => void }[] = [];
  private flushScheduled = false;

  /** One image, values 0..1: micro-batched with the other single predictions of this event-loop turn. */
  predict(x01: Float32Array): Promise<Prediction> {
    return new Promise((resolve, reject) => {
      this.queue.push({ x01, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const jobs = this.queue.splice(0, CHUNK);
    if (this.queue.length > 0) setImmediate(() => this.flush());
    else this.flushScheduled = false;
    const per = this.pixelsPerImage;
    const x = new Float32Array(jobs.length * per);
    jobs.forEach((j, i) => x.set(j.x01, i * per));
    try {
      this.read(x, jobs.length).forEach((p, i) => jobs[i]!.resolve(withoutGateSay(p)));
    } catch (err) {
      for (const j of jobs) j.reject(err);
    }
  }

  /** n images, values 0..1, in chunks of CHUNK with the event loop free between them. */
  async predictBatch(x01: Float32Array, n: number): Promise<Prediction[]> {
    return (await this.readBatch(x01, n)).map((r) => withoutGateSay(r));
  }

  private async readBatch(x01: Float32Array, n: number): Promise<(Prediction & GateSay)[]> {
    const per = this.pixelsPerImage;
    const out: (Prediction & GateSay)[] = [];
    for (let from = 0; from < n; from += CHUNK) {
      if (from > 0) await yieldToLoop();
      const m = Math.min(CHUNK, n - from);
      out.push(...this.read(x01.subarray(from * per, (from + m) * per), m));
    }
    return out;
  }

  /** GET /api/model: a model's layers; an ensemble's members (each with its layers), how they combine, TTA. */
  describe(): Record<string, unknown> {
    const md = this.metadata;
    const network = (m: Sequential): Record<string, unknown> => ({
      name: m.name,
      layers: m.layers.map((l) => ({
        name: l.name,
        className: l.className,
        outputShape: l.outputShape ? [null, ...l.outputShape] : null,
        parameters: l.params().reduce((s, p) => s + p.value.size, 0),
      })),
      architecture: m.getConfig(),
    });
    const members = this.loaded?.members ?? (this.model instanceof Sequential ? [{ name: '.', model: this.model, metadata: md }] : []);
    const tta = this.loaded?.tta ?? [];
    const common = {
      id: this.info.id,
      kind: this.loaded?.kind ?? 'model',
      inputShape: this.shape,
      inputScale: md?.inputScale ?? 1 / 255,
      classNames: md?.classNames ?? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
      parameters: this.model.countParams(),
      testAccuracy: md?.testAccuracy ?? null,
      trainedAt: md?.trainedAt ?? null,
      preset: md?.preset ?? null,
      backend: this.model.backend.name,
      precision: this.model.backend.precision,
      digitsVersion: md?.version ?? null,
      calibration: { ...this.calibration, fitted: this.calibration.images > 0 },
      tta: { views: tta.length, description: describeTta(tta) },
    };
    if (this.loaded?.kind !== 'ensemble') return { ...common, ...(members[0] ? network(members[0].model) : {}), seed: md?.seed ?? null };
    return {
      ...common,
      combine: 'mean of the members\' class probabilities',
      members: members.map((m) => ({
        folder: m.name,
        seed: m.metadata?.seed ?? null,
        parameters: m.model.countParams(),
        testAccuracy: m.metadata?.testAccuracy ?? null,
        ...network(m.model),
      })),
    };
  }
}

/** The model or ensemble folder `o.model` as a Predictor, on the backend the options choose (default: auto). */
export async function openPredictor(o: Partial<BackendOpts> & { model: string; tta?: boolean; gate?: string | false; lineReader?: string | false },
  onEvent: OnRunEvent = warnOnStderr): Promise<Predictor> {
  const loaded = await openClassifier({ ...o, backend: o.backend ?? 'auto', precision: o.precision ?? 'auto' }, onEvent);
  const gate = await gateFor(loaded.metadata, loaded.model.backend, o.gate);
  const lineReader = await lineReaderFor(loaded.metadata, loaded.model.backend, o.lineReader);
  return new Predictor(loaded.model, loaded.metadata, o.model, loaded.fingerprint, loaded, gate, lineReader);
}
