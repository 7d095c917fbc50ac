/**
 * Tensor: a Float32Array and a shape, row-major. Images are NHWC.
 *
 * Shape legend used across the engine:
 *   N  batch            H, W  height and width       C  channels in
 *   K  channels out     kh, kw  kernel height/width  OH, OW  output height/width
 *   conv kernel [kh, kw, C, K] (Keras/TF.js layout), dense kernel [in, out].
 */
export class Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;

  constructor(shape: readonly number[], data?: Float32Array) {
    const size = sizeOf(shape);
    if (data !== undefined && data.length !== size) {
      throw new Error(`Tensor: data has ${data.length} values but shape [${shape.join(', ')}] needs ${size}`);
    }
    this.shape = [...shape];
    this.data = data ?? new Float32Array(size);
  }

  get size(): number {
    return this.data.length;
  }

  /** A tensor sharing this one's memory under another shape of the same size. */
  reshape(shape: readonly number[]): Tensor {
    return new Tensor(shape, this.data);
  }

  /** A copy with its own data. */
  clone(): Tensor {
    return new Tensor(this.shape, new Float32Array(this.data));
  }

  /** View of the first `n` rows (the batch dimension) sharing memory. */
  rows(n: number): Tensor {
    const per = this.data.length / this.shape[0]!;
    return new Tensor([n, ...this.shape.slice(1)], this.data.subarray(0, n * per));
  }
}

export function sizeOf(shape: readonly number[]): number {
  let s = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape.join(', ')}]`);
    s *= d;
  }
  return s;
}

export function shapeToString(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => (d === null ? 'null' : String(d))).join(', ')}]`;
}
