/**
 * The Backend: the kernel set of the engine (declared in kernels.ts) and the
 * arithmetic of its conv kernels. Every kernel exists twice, in the reference
 * backend (plain TypeScript, the specification) and in the native backend
 * (C++), with the same name and the same semantics; a parity suite runs each
 * on both.
 */
import type { Kernels } from './kernels.js';

export type { Activation, AdamParams, SgdParams, Kernels, KernelName } from './kernels.js';
export { KERNELS, KERNEL_NAMES } from './kernels.js';
export type { ConvGeometry, PoolGeometry } from './geometry.js';
export { windowGeometry, convGeometry, poolGeometry } from './geometry.js';

/**
 * The arithmetic of the convolution kernels (conv2d*, the fused conv + pool ones). 'fp32': float32
 * throughout. 'bf16' ("mixed precision"): each conv kernel's two multiplied operands (x and w
 * forward, dy and w for the input gradient, x and dy for the filter gradient) are rounded to
 * bfloat16 (round to nearest even, denormals to zero, as the CPU's VCVTNEPS2BF16), the products summed
 * in float32; biases and the bias gradient stay float32, as does every other kernel. On CPUs with
 * AMX tiles the native backend runs it several times faster than float32, with AVX512_BF16 about twice.
 */
export type Precision = 'fp32' | 'bf16';
export const PRECISIONS: readonly Precision[] = ['fp32', 'bf16'];

/**
 * The bfloat16 value of v (round to nearest even; denormals to a signed zero; NaN stays NaN; values
 * that round past the largest bfloat16 become infinite), as a float32 value.
 */
export function roundBf16(v: number): number {
  scratchF32[0] = v;
  const u = scratchU32[0]!;
  const exp = u & 0x7f800000;
  if (exp === 0) scratchU32[0] = u & 0x80000000;
  else if (exp === 0x7f800000) scratchU32[0] = (u & 0x007fffff) !== 0 ? (u | 0x00400000) & 0xffff0000 : u;
  else scratchU32[0] = ((u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000) >>> 0;
  return scratchF32[0]!;
}
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** A copy of a rounded to bfloat16 (roundBf16 per element). */
export function roundedBf16(a: Float32Array, len = a.length): Float32Array {
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) out[i] = roundBf16(a[i]!);
  return out;
}

/**
 * A backend: the engine's kernels (kernels.ts, each declared once there) and how it runs them. The
 * reference backend (reference.ts) is the specification; the native one (native.ts) must agree with
 * it (test/parity.test.ts).
 */
export interface Backend extends Kernels {
  /** 'reference' or 'native' */
  readonly name: string;
  /** worker threads used by the kernels (1 for reference) */
  readonly threads: number;
  /** the arithmetic of the conv kernels (see Precision) */
  readonly precision: Precision;
}
