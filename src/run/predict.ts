/** Predicting with a saved model: opening it on a backend, shaping a dataset as it expects, and the probabilities. */
import { DigitsError } from '../errors.js';
import { Tensor } from '../engine/tensor.js';
import type { Dataset } from '../data/dataset.js';
import type { Classifier } from '../nn/classifier.js';
import { unitPixelFactor, type DigitsMetadata } from '../io/model-files.js';
import { loadClassifier, type LoadedClassifier } from '../io/ensemble.js';
import { chooseBackend, describePrecision, modelPrecision, type BackendOpts } from './backend.js';
import { warnOnStderr, type OnRunEvent } from './events.js';

/** The model the predicting commands use when none is named: the folder `npm start` trains. */
export const DEFAULT_MODEL_DIR = 'runs/seed';

/**
 * The model or ensemble folder `o.model` (test-time augmentation as `o.tta` says, else as the folder
 * records), on the backend the options choose: what every predicting face starts with. Its arithmetic
 * is modelPrecision's: float32 unless asked otherwise or the model records it was trained in bf16.
 */
export async function openClassifier(o: BackendOpts & { model: string; tta?: boolean }, onEvent: OnRunEvent = warnOnStderr): Promise<LoadedClassifier> {
  const loaded = await loadClassifier(o.model, { tta: o.tta });
  loaded.model.setBackend(chooseBackend({ ...o, precision: modelPrecision(o.precision, loaded.metadata) }, onEvent));
  return loaded;
}

/** Images as the model expects them: data is raw/255; the model wants raw * inputScale. */
export function modelInput(ds: Dataset, metadata: DigitsMetadata | null, inputShape: readonly number[] | null): Tensor {
  const shape = inputShape ?? [ds.height, ds.width, ds.channels];
  const want = shape.reduce((a, b) => a * b, 1);
  const per = ds.height * ds.width * ds.channels;
  if (want !== per) {
    throw new DigitsError(
      `${ds.source}: images are ${ds.height}x${ds.width}x${ds.channels} but the model expects [${shape.join(', ')}]`,
    );
  }
  const factor = unitPixelFactor(metadata);
  let images = ds.images;
  if (Math.abs(factor - 1) > 1e-9) {
    images = new Float32Array(ds.images.length);
    for (let i = 0; i < images.length; i++) images[i] = ds.images[i]! * factor;
  }
  return new Tensor([ds.count, ...shape], images);
}

/**
 * Class probabilities of every image of x ([N, 10], row after row), in chunks of 5,000 images whose
 * progress is reported as a count named `label`.
 */
export function predictProbabilities(model: Classifier, x: Tensor, label: string, onEvent: OnRunEvent = warnOnStderr): Float32Array {
  const n = x.shape[0]!;
  const chunk = 5000;
  if (n <= chunk) return model.predict(x, { batchSize: 500 }).data.slice();
  const probs = new Float32Array(n * 10);
  const per = x.size / n;
  for (let start = 0; start < n; start += chunk) {
    const end = Math.min(n, start + chunk);
    const part = new Tensor([end - start, ...x.shape.slice(1)], x.data.subarray(start * per, end * per));
    probs.set(model.predict(part, { batchSize: 500 }).data.subarray(0, (end - start) * 10), start * 10);
    onEvent({ type: 'count', label, done: end, total: n });
  }
  onEvent({ type: 'countEnd', label });
  return probs;
}

/** "model in float32", "ensemble of 3 models with test-time augmentation (5 views) in bf16 convolutions" */
export function describeLoaded(l: LoadedClassifier): string {
  return (l.kind === 'ensemble' ? `ensemble of ${l.members.length} models` : 'model') +
    (l.tta.length > 0 ? ` with test-time augmentation (${l.tta.length} views)` : '') +
    ` in ${describePrecision(l.model.backend.precision)}`;
}
