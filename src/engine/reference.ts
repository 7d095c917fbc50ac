/**
 * The reference backend: every kernel in plain, obviously-correct TypeScript.
 * It is the specification that the native backend is checked against, and
 * the fallback when the native addon is not available. Loops are written in
 * the order that keeps the innermost one contiguous in memory, nothing more.
 *
 * Shapes: see the legend in backend.ts.
 */
import type { Activation, AdamParams, Backend, ConvGeometry, PoolGeometry, Precision, SgdParams } from './backend.js';
import { roundedBf16 } from './backend.js';

export class ReferenceBackend implements Backend {
  readonly name = 'reference';
  readonly threads = 1;
  readonly precision: Precision;

  /** precision: the conv kernels' arithmetic (backend.ts, Precision); 'bf16' rounds their operands first. */
  constructor(precision: Precision = 'fp32') {
    this.precision = precision;
  }

  /** The conv operand as the kernels multiply it: itself, or a bfloat16-rounded copy of its first len values. */
  private operand(a: Float32Array, len: number): Float32Array {
    return this.precision === 'bf16' ? roundedBf16(a, len) : a;
  }

  // x[N,H,W,C] w[kh,kw,C,K] b[K] -> y[N,OH,OW,K]
  conv2dForward(xIn: Float32Array, wIn: Float32Array, b: Float32Array, y: Float32Array, g: ConvGeometry, act: Activation): void {
    const { n, h, w: W, c, kh, kw, k, strideH, strideW, padTop, padLeft, outH, outW } = g;
    const x = this.operand(xIn, n * h * W * c);
    const w = this.operand(wIn, kh * kw * c * k);
    for (let b0 = 0; b0 < n; b0++) {
      for (let oy = 0; oy < outH; oy++) {
        for (let ox = 0; ox < outW; ox++) {
          const yo = ((b0 * outH + oy) * outW + ox) * k;
          for (let kk = 0; kk < k; kk++) y[yo + kk] = b[kk]!;
          for (let i = 0; i < kh; i++) {
            const iy = oy * strideH + i - padTop;
            if (iy < 0 || iy >= h) continue;
            for (let j = 0; j < kw; j++) {
              const ix = ox * strideW + j - padLeft;
              if (ix < 0 || ix >= W) continue;
              const xo = ((b0 * h + iy) * W + ix) * c;
              const wo = (i * kw + j) * c * k;
              for (let cc = 0; cc < c; cc++) {
                const xv = x[xo + cc]!;
                if (xv === 0) continue;
                const wr = wo + cc * k;
                for (let kk = 0; kk < k; kk++) y[yo + kk] += xv * w[wr + kk]!;
              }
            }
          }
          if (act === 'relu') {
            for (let kk = 0; kk < k; kk++) if (!(y[yo + kk]! > 0)) y[yo + kk] = 0;
          }
        }
      }
    }
  }

  // dy[N,OH,OW,K] w[kh,kw,C,K] -> dx[N,H,W,C]
  conv2dBackwardInput(dyIn: Float32Array, wIn: Float32Array, dx: Float32Array, g: ConvGeometry): void {
    const { n, h, w: W, c, kh, kw, k, strideH, strideW, padTop, padLeft, outH, outW } = g;
    const dy = this.operand(dyIn, n * outH * outW * k);
    const w = this.operand(wIn, kh * kw * c * k);
    dx.fill(0, 0, n * h * W * c);
    for (let b0 = 0; b0 < n; b0++) {
      for (let oy = 0; oy < outH; oy++) {
        for (let ox = 0; ox < outW; ox++) {
          const dyo = ((b0 * outH + oy) * outW + ox) * k;
          for (let i = 0; i < kh; i++) {
            const iy = oy * strideH + i - padTop;
            if (iy < 0 || iy >= h) continue;
            for (let j = 0; j < kw; j++) {
              const ix = ox * strideW + j - padLeft;
              if (ix < 0 || ix >= W) continue;
              const dxo = ((b0 * h + iy) * W + ix) * c;
              const wo = (i * kw + j) * c * k;
              for (let cc = 0; cc < c; cc++) {
                const wr = wo + cc * k;
                let s = 0;
                for (let kk = 0; kk < k; kk++) s += dy[dyo + kk]! * w[wr + kk]!;
                dx[dxo + cc] += s;
              }
            }
          }
        }
      }
    }
  }

  // x[N,H,W,C] dy[N,OH,OW,K] -> dw[kh,kw,C,K], db[K]
  // (in bf16, db sums the float32 dy: only the products see rounded operands)
  conv2dBackwardFilter(xIn: Float32Array, dyIn: Float32Array, dw: Float32Array, db: Float32Array, g: ConvGeometry): void {
    const { n, h, w: W, c, kh, kw, k, strideH, strideW, padTop, padLeft, outH, outW } = g;
    const x = this.operand(xIn, n * h * W * c);
    const dy = this.operand(dyIn, n * outH * outW * k);
    dw.fill(0, 0, kh * kw * c * k);
    db.fill(0, 0, k);
    for (let b0 = 0; b0 < n; b0++) {
      for (let oy = 0; oy < outH; oy++) {
        for (let ox = 0; ox < outW; ox++) {
          const dyo = ((b0 * outH + oy) * outW + ox) * k;
          for (let kk = 0; kk < k; kk++) db[kk] += dyIn[dyo + kk]!;
          for (let i = 0; i < kh; i++) {
            const iy = oy * strideH + i - padTop;
            if (iy < 0 || iy >= h) continue;
            for (let j = 0; j < kw; j++) {
              const ix = ox * strideW + j - padLeft;
              if (ix < 0 || ix >= W) continue;
              const xo = ((b0 * h + iy) * W + ix) * c;
              const wo = (i * kw + j) * c * k;
              for (let cc = 0; cc < c; cc++) {
                const xv = x[xo + cc]!;
                if (xv === 0) continue;
                const wr = wo + cc * k;
                for (let kk = 0; kk < k; kk++) dw[wr + kk] += xv * dy[dyo + kk]!;
              }
            }
          }
        }
      }
    }
  }

  // c[m,n] = op(a)[m,k] @ op(b)[k,n]
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number,
    transA: boolean, transB: boolean, accumulate: boolean): void {
    if (!accumulate) c.fill(0, 0, m * n);
    for (let i = 0; i < m; i++) {
      const co = i * n;
      for (let p = 0; p < k; p++) {
        const av = transA ? a[p * m + i]! : a[i * k + p]!;
        if (av === 0) continue;
        if (transB) {
          for (let j = 0; j < n; j++) c[co + j] += av * b[j * k + p]!;
        } else {
          const bo = p * n;
          for (let j = 0; j < n; j++) c[co + j] += av * b[bo + j]!;
        }
      }
    }
  }

  biasActivation(y: Float32Array, b: Float32Array, rows: number, cols: number, act: Activation): void {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let j = 0; j < cols; j++) {
        const v = y[o + j]! + b[j]!;
        y[o + j] = act === 'relu' && !(v > 0) ? 0 : v;
      }
    }
  }

  biasGrad(dy: Float32Array, db: Float32Array, rows: number, cols: number): void {
    db.fill(0, 0, cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let j = 0; j < cols; j++) db[j] += dy[o + j]!;
    }
  }

  activationBackward(dy: Float32Array, y: Float32Array, dx: Float32Array, act: Activation): void {
    const len = dy.length;
    if (act === 'relu') {
      for (let i = 0; i < len; i++) dx[i] = y[i]! > 0 ? dy[i]! : 0;
    } else if (dx !== dy) {
      dx.set(dy.subarray(0, len));
    }
  }

  // x[N,H,W,C] -> y[N,OH,OW,C], argmax[N,OH,OW,C] (flat index into x)
  maxPool2dForward(x: Float32Array, y: Float32Array, argmax: Int32Array, g: PoolGeometry): void {
    const { n, h, w, c, poolH, poolW, strideH, strideW, outH, outW } = g;
    for (let b0 = 0; b0 < n; b0++) {
      for (let oy = 0; oy < outH; oy++) {
        for (let ox = 0; ox < outW; ox++) {
          const yo = ((b0 * outH + oy) * outW + ox) * c;
          for (let cc = 0; cc < c; cc++) {
            let best = -Infinity;
            let bestIdx = -1;
            for (let i = 0; i < poolH; i++) {
              const iy = oy * strideH + i;
              for (let j = 0; j < poolW; j++) {
                const ix = ox * strideW + j;
                const idx = ((b0 * h + iy) * w + ix) * c + cc;
                const v = x[idx]!;
                if (v > best || bestIdx < 0) {
                  best = v;
                  bestIdx = idx;
                }
              }
            }
            y[yo + cc] = best;
            argmax[yo + cc] = bestIdx;
          }
        }
      }
    }
  }

  maxPool2dBackward(dy: Float32Array, argmax: Int32Array, dx: Float32Array, g: PoolGeometry): void {
    const { n, h, w, c, outH, outW } = g;
    dx.fill(0, 0, n * h * w * c);
    const len = n * outH * outW * c;
    for (let i = 0; i < len; i++) dx[argmax[i]!] += dy[i]!;
  }

  // The fused conv + max pool, by definition: the two kernels through a temporary conv output.
  conv2dMaxPoolForward(x: Float32Array, w: Float32Array, b: Float32Array, y: Float32Array, argmax: Int32Array,
    g: ConvGeometry, p: PoolGeometry, act: Activation): void {
    const z = new Float32Array(g.n * g.outH * g.outW * g.k);
    this.conv2dForward(x, w, b, z, g, act);
    this.maxPool2dForward(z, y, argmax, p);
  }

  conv2dMaxPoolBackwardFilter(x: Float32Array, dy: Float32Array, argmax: Int32Array, dw: Float32Array, db: Float32Array,
    g: ConvGeometry, p: PoolGeometry): void {
    const dz = new Float32Array(g.n * g.outH * g.outW * g.k);
    this.maxPool2dBackward(dy, argmax, dz, p);
    this.conv2dBackwardFilter(x, dz, dw, db, g);
  }

  conv2dMaxPoolBackwardInput(dy: Float32Array, argmax: Int32Array, w: Float32Array, dx: Float32Array,
    g: ConvGeometry, p: PoolGeometry): void {
    const dz = new Float32Array(g.n * g.outH * g.outW * g.k);
    this.maxPool2dBackward(dy, argmax, dz, p);
    this.conv2dBackwardInput(dz, w, dx, g);
  }

  mul(a: Float32Array, b: Float32Array, out: Float32Array): void {
    const len = a.length;
    for (let i = 0; i < len; i++) out[i] = a[i]! * b[i]!;
  }

  softmax(logits: Float32Array, probs: Float32Array, rows: number, cols: number): void {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let max = -Infinity;
      for (let j = 0; j < cols; j++) if (logits[o + j]! > max) max = logits[o + j]!;
      let sum = 0;
      for (let j = 0; j < cols; j++) {
        const e = Math.exp(logits[o + j]! - max);
        probs[o + j] = e;
        sum += e;
      }
      for (let j = 0; j < cols; j++) probs[o + j] = probs[o + j]! / sum;
    }
  }

  softmaxCrossEntropy(logits: Float32Array, targets: Float32Array, probs: Float32Array, dlogits: Float32Array,
    rows: number, cols: number): number {
    let loss = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let max = -Infinity;
      for (let j = 0; j < cols; j++) if (logits[o + j]! > max) max = logits[o + j]!;
      let sum = 0;
      for (let j = 0; j < cols; j++) sum += Math.exp(logits[o + j]! - max);
      const lse = max + Math.log(sum);
      for (let j = 0; j < cols; j++) {
        const t = targets[o + j]!;
        const p = Math.exp(logits[o + j]! - lse);
        probs[o + j] = p;
        dlogits[o + j] = (p - t) / rows;
        if (t !== 0) loss += t * (lse - logits[o + j]!);
      }
    }
    return loss / rows;
  }

  adamUpdate(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, o: AdamParams): void {
    const { lr, beta1, beta2, epsilon, step } = o;
    const alpha = (lr * Math.sqrt(1 - Math.pow(beta2, step))) / (1 - Math.pow(beta1, step));
    const len = p.length;
    for (let i = 0; i < len; i++) {
      const gi = g[i]!;
      const mi = beta1 * m[i]! + (1 - beta1) * gi;
      const vi = beta2 * v[i]! + (1 - beta2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = p[i]! - (alpha * mi) / (Math.sqrt(vi) + epsilon);
    }
  }

  sgdUpdate(p: Float32Array, g: Float32Array, vel: Float32Array, o: SgdParams): void {
    const { lr, momentum, nesterov } = o;
    const len = p.length;
    if (momentum === 0) {
      for (let i = 0; i < len; i++) p[i] = p[i]! - lr * g[i]!;
      return;
    }
    for (let i = 0; i < len; i++) {
      const vi = momentum * vel[i]! - lr * g[i]!;
      vel[i] = vi;
      p[i] = nesterov ? p[i]! + momentum * vi - lr * g[i]! : p[i]! + vi;
    }
  }
  emaUpdate(avg: Float32Array, x: Float32Array, keep: number): void {
    const take = 1 - keep;
    for (let i = 0; i < avg.length; i++) avg[i] = keep * avg[i]! + take * x[i]!;
  }

  // x[rows,cols] -> mean[cols], variance[cols]
  batchNormStats(x: Float32Array, mean: Float32Array, variance: Float32Array, rows: number, cols: number): void {
    for (let c = 0; c < cols; c++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += x[r * cols + c]!;
      const m = s / rows;
      let v = 0;
      for (let r = 0; r < rows; r++) {
        const d = x[r * cols + c]! - m;
        v += d * d;
      }
      mean[c] = m;
      variance[c] = v / rows;
    }
  }

  // x[rows,cols], per-channel mean/variance/gamma/beta[cols] -> y[rows,cols]
  batchNormForward(x: Float32Array, mean: Float32Array, variance: Float32Array, gamma: Float32Array, beta: Float32Array,
    epsilon: number, y: Float32Array, rows: number, cols: number, act: Activation = 'linear'): void {
    for (let c = 0; c < cols; c++) {
      const scale = gamma[c]! / Math.sqrt(variance[c]! + epsilon);
      const m = mean[c]!;
      const b = beta[c]!;
      for (let r = 0; r < rows; r++) y[r * cols + c] = (x[r * cols + c]! - m) * scale + b;
    }
    if (act === 'relu') this.biasActivation(y, new Float32Array(cols), rows, cols, 'relu');
  }

  // x, dy [rows,cols] -> dx [rows,cols], dgamma, dbeta [cols]
  batchNormBackward(x: Float32Array, dy: Float32Array, mean: Float32Array, variance: Float32Array, gamma: Float32Array,
    epsilon: number, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, rows: number, cols: number,
    reluY?: Float32Array | null): void {
    if (reluY != null) {
      const masked = new Float32Array(rows * cols);
      this.activationBackward(dy.subarray(0, rows * cols), reluY, masked, 'relu');
      dy = masked;
    }
    for (let c = 0; c < cols; c++) {
      const istd = 1 / Math.sqrt(variance[c]! + epsilon);
      const m = mean[c]!;
      let sdy = 0;
      let sdyx = 0;
      for (let r = 0; r < rows; r++) {
        const d = dy[r * cols + c]!;
        sdy += d;
        sdyx += d * (x[r * cols + c]! - m) * istd;
      }
      dbeta[c] = sdy;
      dgamma[c] = sdyx;
      const k = (gamma[c]! * istd) / rows;
      for (let r = 0; r < rows; r++) {
        const xhat = (x[r * cols + c]! - m) * istd;
        dx[r * cols + c] = k * (rows * dy[r * cols + c]! - sdy - xhat * sdyx);
      }
    }
  }

  // x[N,H,W,C], params[N,6] -> y[N,H,W,C]
  affineResample(x: Float32Array, params: Float32Array, y: Float32Array, n: number, h: number, w: number, c: number,
    disp: Float32Array | null = null): void {
    for (let b = 0; b < n; b++) {
      const p0 = params[b * 6]!, p1 = params[b * 6 + 1]!, p2 = params[b * 6 + 2]!;
      const p3 = params[b * 6 + 3]!, p4 = params[b * 6 + 4]!, p5 = params[b * 6 + 5]!;
      const img = b * h * w * c;
      for (let oy = 0; oy < h; oy++) {
        for (let ox = 0; ox < w; ox++) {
          const d = (b * h * w + oy * w + ox) * 2;
          const sx = p0 * ox + p1 * oy + p2 + (disp === null ? 0 : disp[d]!);
          const sy = p3 * ox + p4 * oy + p5 + (disp === null ? 0 : disp[d + 1]!);
          const x0 = Math.floor(sx);
          const y0 = Math.floor(sy);
          const fx = sx - x0;
          const fy = sy - y0;
          const o = img + (oy * w + ox) * c;
          for (let ch = 0; ch < c; ch++) {
            const at = (yy: number, xx: number): number => (yy < 0 || yy >= h || xx < 0 || xx >= w ? 0 : x[img + (yy * w + xx) * c + ch]!);
            const top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx;
            const bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx;
            y[o + ch] = top * (1 - fy) + bottom * fy;
          }
        }
      }
    }
  }

  // noise[N,H,W,2] -> field[N,H,W,2]: separable Gaussian blur (zero outside), times alpha
  elasticField(noise: Float32Array, field: Float32Array, n: number, h: number, w: number, sigma: number, alpha: number): void {
    const r = Math.ceil(3 * sigma);
    const taps = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-0.5 * ((i - r) * (i - r)) / (sigma * sigma)));
    const sum = taps.reduce((a, v) => a + v, 0);
    for (let i = 0; i < taps.length; i++) taps[i]! /= sum;
    const rows = new Float64Array(h * w * 2);
    for (let b = 0; b < n; b++) {
      const base = b * h * w * 2;
      for (let yy = 0; yy < h; yy++) {
        for (let xx = 0; xx < w; xx++) {
          for (let p = 0; p < 2; p++) {
            let s = 0;
            for (let k = Math.max(-r, -xx); k <= Math.min(r, w - 1 - xx); k++) s += taps[k + r]! * noise[base + (yy * w + xx + k) * 2 + p]!;
            rows[(yy * w + xx) * 2 + p] = s;
          }
        }
      }
      for (let yy = 0; yy < h; yy++) {
        for (let xx = 0; xx < w; xx++) {
          for (let p = 0; p < 2; p++) {
            let s = 0;
            for (let k = Math.max(-r, -yy); k <= Math.min(r, h - 1 - yy); k++) s += taps[k + r]! * rows[((yy + k) * w + xx) * 2 + p]!;
            field[base + (yy * w + xx) * 2 + p] = alpha * s;
          }
        }
      }
    }
  }
}
