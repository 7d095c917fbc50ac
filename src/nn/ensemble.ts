/**
 * Ensemble: N models with the same input and output shapes whose softmax
 * probabilities are averaged (optionally over test-time augmentations too).
 * It implements Classifier, as Sequential does, so code that only predicts
 * takes either.
 *
 *   x [N, ...inputShape] -> mean over members m (and TTA views v) of member_m(view_v(x))   [N, classes]
 *
 * Saving/loading as one artifact (a folder of members + ensemble.json) is in io/ensemble.ts.
 */
import { DigitsError } from '../errors.js';
import type { Backend } from '../engine/backend.js';
import { Tensor, shapeToString } from '../engine/tensor.js';
import { affineParams } from './augment.js';
import { countCorrect, crossEntropyOnProbs } from './losses.js';
import type { Sequential } from './sequential.js';
import type { Classifier } from './classifier.js';
import { isObject } from './validate.js';

/** A test-time view: a small shift (pixels) and rotation (degrees) of every image. */
export interface TtaView {
  dx: number;
  dy: number;
  rotation: number;
}

/** The default TTA views: the image itself and 1-pixel shifts in the four directions. */
export const DEFAULT_TTA: readonly TtaView[] = [
  { dx: 0, dy: 0, rotation: 0 }, { dx: 1, dy: 0, rotation: 0 }, { dx: -1, dy: 0, rotation: 0 },
  { dx: 0, dy: 1, rotation: 0 }, { dx: 0, dy: -1, rotation: 0 },
];

/** One line for TTA views: "none" or "5 views (...)". */
export function describeTta(views: readonly TtaView[]): string {
  if (views.length === 0) return 'none';
  const one = (v: TtaView): string => (v.dx === 0 && v.dy === 0 && v.rotation === 0 ? 'the image'
    : [v.dx !== 0 ? `dx ${v.dx}` : '', v.dy !== 0 ? `dy ${v.dy}` : '', v.rotation !== 0 ? `${v.rotation}°` : ''].filter(Boolean).join(' '));
  return `${views.length} view${views.length === 1 ? '' : 's'} averaged (${views.map(one).join(', ')})`;
}

/** TTA views from JSON (ensemble.json "tta"); `where` names the field in messages. */
export function parseTtaViews(raw: unknown, where: string): TtaView[] {
  if (!Array.isArray(raw)) throw new DigitsError(`${where}: expected an array of views [{"dx", "dy", "rotation"}, ...], got ${JSON.stringify(raw)}`);
  return raw.map((v, i) => {
    const ok = isObject(v) && (['dx', 'dy', 'rotation'] as const).every((k) => typeof v[k] === 'number' && Math.abs(v[k] as number) <= 30);
    if (!ok) throw new DigitsError(`${where}[${i}]: expected {"dx": pixels, "dy": pixels, "rotation": degrees} (numbers, at most 30 in size), got ${JSON.stringify(v)}`);
    const w = v as unknown as TtaView;
    return { dx: w.dx, dy: w.dy, rotation: w.rotation };
  });
}

/** Several models as one classifier: their class probabilities averaged, optionally over test-time augmentation views. */
export class Ensemble implements Classifier {
  readonly members: Sequential[];
  /** test-time views averaged over (default: none, the images as they are) */
  tta: readonly TtaView[];

  constructor(members: Sequential[], opts: { tta?: readonly TtaView[] } = {}) {
    if (!Array.isArray(members) || members.length === 0) throw new DigitsError('Ensemble: expected at least one member model');
    const s0 = members[0]!.inputShape;
    const o0 = members[0]!.outputShape;
    members.forEach((m, i) => {
      if (!m.built) throw new DigitsError(`Ensemble: member ${i} is not built`);
      if (shapeToString(m.inputShape!) !== shapeToString(s0!) || shapeToString(m.outputShape!) !== shapeToString(o0!)) {
        throw new DigitsError(`Ensemble: member ${i} maps ${shapeToString(m.inputShape!)} -> ${shapeToString(m.outputShape!)}, ` +
          `member 0 maps ${shapeToString(s0!)} -> ${shapeToString(o0!)} (all members need the same shapes)`);
      }
    });
    this.members = members;
    this.tta = opts.tta ?? [];
  }

  get inputShape(): readonly number[] | null {
    return this.members[0]!.inputShape;
  }

  get outputShape(): readonly number[] | null {
    return this.members[0]!.outputShape;
  }

  get built(): boolean {
    return true;
  }

  /** Run every member on `backend` from now on. */
  setBackend(backend: Backend): void {
    for (const m of this.members) m.setBackend(backend);
  }

  get backend(): Backend {
    return this.members[0]!.backend;
  }

  countParams(): number {
    return this.members.reduce((s, m) => s + m.countParams(), 0);
  }

  /** Mean probabilities of the members (over the TTA views when set); a new tensor [N, classes]. */
  predict(x: Tensor, opts: { batchSize?: number } = {}): Tensor {
    const views = this.tta.length === 0 ? [null] : this.tta;
    let sum: Tensor | null = null;
    for (const view of views) {
      const xv = view === null ? x : this.viewOf(x, view);
      for (const m of this.members) {
        const p = m.predict(xv, opts);
        if (sum === null) sum = p;
        else for (let i = 0; i < p.size; i++) sum.data[i] += p.data[i]!;
      }
    }
    const k = 1 / (views.length * this.members.length);
    for (let i = 0; i < sum!.size; i++) sum!.data[i] *= k;
    return sum!;
  }

  /** Mean cross-entropy and accuracy of the averaged probabilities. */
  evaluate(x: Tensor, y: Tensor, opts: { batchSize?: number } = {}): { loss: number; accuracy: number } {
    const probs = this.predict(x, opts);
    const n = x.shape[0]!;
    const classes = probs.size / n;
    return { loss: crossEntropyOnProbs(probs.data, y.data, null, n, classes), accuracy: countCorrect(probs.data, y.data, n, classes) / n };
  }

  /** The members (and TTA) in one line each, then member 0's layer table (and whether the others share it). */
  summary(): string {
    const int = (v: number): string => v.toLocaleString('en-US');
    const lines = [`Ensemble of ${this.members.length} model${this.members.length === 1 ? '' : 's'}, probabilities averaged; ` +
      `test-time augmentation: ${describeTta(this.tta)}`];
    this.members.forEach((m, i) => lines.push(`  member ${i}: "${m.name}", ${int(m.countParams())} params`));
    lines.push(`Total params: ${int(this.countParams())}`, '');
    const same = this.sameArchitecture();
    lines.push(same ? `Layers of every member (${this.members.length === 2 ? 'both share' : `all ${this.members.length} share`} them):` : 'Layers of member 0 (the others differ):');
    lines.push(this.members[0]!.summary());
    return lines.join('\n');
  }

  /** Do all members have member 0's layer configuration? */
  sameArchitecture(): boolean {
    const key = (m: Sequential): string => JSON.stringify(m.getConfig().layers);
    const k0 = key(this.members[0]!);
    return this.members.every((m) => key(m) === k0);
  }

  private viewOf(x: Tensor, v: TtaView): Tensor {
    return viewImages(this.backend, x, v);
  }
}

/** Images [N, H, W, C] seen through a view (and a zoom: 1, none), as a new tensor: bilinear, zero outside. */
export function viewImages(backend: Backend, x: Tensor, v: TtaView, zoom = 1): Tensor {
  if (x.shape.length !== 4) throw new DigitsError(`Ensemble: test-time augmentation needs images [N, H, W, C], got ${shapeToString(x.shape)}`);
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const params = new Float32Array(n * 6);
  for (let i = 0; i < n; i++) affineParams(h, w, v.rotation, zoom, v.dx, v.dy, params, i * 6);
  const out = new Tensor([n, h, w, c]);
  backend.affineResample(x.data, params, out.data, n, h, w, c);
  return out;
}
