// The native kernels. See kernels.h for the contract (identical to the
// reference backend) and microkernel.h for the register-tiled inner loops.
//
// Design, per kernel:
//   conv2dForward        implicit-im2col GEMM: M = N*OH*OW output pixels, N = K, depth = kh*kw*C.
//                        Tile rows point straight into the input (a zero-padded copy when the
//                        conv pads), so im2col is never materialised; B = kernel packed in
//                        16-column panels; bias + ReLU fused into the tile store.
//   conv2dBackwardInput  stride 1 and input not much larger than the output ('same'): the same
//                        implicit GEMM over dy zero-padded by kh-1-padTop, ..., with the kernel
//                        flipped and transposed ("full" correlation): dx written once, no
//                        scatter. Otherwise (strides, small 'valid' convs where the full form
//                        would multiply mostly padding): per group of images,
//                        dcol = dy @ w^T, then col2im.
//   conv2dBackwardFilter dw[kh*kw*C, K] = col^T @ dy: the reduction over pixels is split into
//                        chunks (a count fixed by the thread count), each accumulating a
//                        private partial dw (+ db); partials are summed in chunk order
//                        (deterministic for a given thread count).
//                        K a multiple of 24: MR24 x 24 tiles instead (no padding to 32 columns),
//                        in forward and filter gradient.
//   conv2dMaxPool*       a conv whose output only feeds a non-overlapping max pool (Sequential
//                        fuses the pair). Forward: for one input channel, 3x3, stride 1, 2x2
//                        pool a direct kernel (8 filters per vector, the 4 window outputs in
//                        registers); for K a multiple of 24 the 4 x 24 GEMM tile takes one
//                        window's 4 conv outputs as rows and pools in its epilogue; else conv
//                        then pool through scratch. Backward from the pooled gradient: each
//                        pooled value reaches one conv output (its argmax), so the filter and
//                        input gradients of 3x3 stride-1 convs under 2x2 pools take a quarter
//                        of the dense work and no scatter pass; other shapes scatter, then run
//                        the dense kernels.
//   matmul               packed-B GEMM over row blocks x column panels; transA transposes the
//                        block's rows first.
//   *_dpbf16             the bf16 conv kernels on AVX512_BF16 (amx.h): the operands as bfloat16 pairs
//                        (channels padded to even) and VDPBF16PS tiles. Forward and input gradient
//                        are the implicit GEMM and col2im forms above over pairs of channels; the
//                        filter gradient pairs pixels, computed transposed (dy broadcast, the windows
//                        as 16-column panels). Under a max pool the forward pools in the tiles'
//                        epilogue (rows: three windows of four) and the gradients read the pooled
//                        gradient through argmax a row at a time instead of scattering it first.
//   pooling              channel-vectorised max with first-wins argmax; backward for
//                        non-overlapping windows writes dx in one pass (no zeroing + scatter).
//   batchnorm            loops over blocks of 8 rows with the per-channel values tiled (whole
//                        vectors for any channel count); an optional ReLU fused after it
//                        (forward clamps, backward masks dy by the ReLU's output).
//   the rest             vectorised loops; large elementwise ones split across threads.
//
// Parallel work is split into tasks that each write their own outputs in a
// fixed order, so results do not depend on which thread ran which task.
//
// The register tiles (microkernel.h) are 12 x 16 in AVX-512 builds (one 16-float register a row) and
// 6 x 16 in AVX2 ones.
//
// Compiled with -O3 -march=native -ffp-contract=fast (FMA), not -ffast-math:
// sums are reordered only where written so (blocking, partials).
#include "kernels.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "microkernel.h"
#include "pool.h"

namespace digits {

namespace {

ThreadPool& pool() { return ThreadPool::instance(); }

inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

// Runs fn(begin, end) over [0, len) in chunks (a few per thread, claimed
// dynamically), or inline when len * cost (a rough count of operations per
// item) is too small to be worth waking the workers (~10 us of work).
// Chunk boundaries are multiples of `align` (keeps SIMD loops whole).
template <class F>
void parallel_chunks(size_t len, size_t cost, F&& fn, size_t align = 16) {
  ThreadPool& p = pool();
  const int T = p.threads();
  if (T <= 1 || len * cost < (size_t(1) << 15)) {
    fn(size_t(0), len);
    return;
  }
  const size_t want = size_t(4) * T;
  size_t chunk = (len + want - 1) / want;
  chunk = (chunk + align - 1) / align * align;
  const int nchunks = int((len + chunk - 1) / chunk);
  p.run(nchunks, [&](int task, int) {
    const size_t b = size_t(task) * chunk, e = std::min(len, b + chunk);
    if (b < e) fn(b, e);
  });
}

// Packs B (depth x n) into 16-column panels [ceil(n/16)][depth][16], zero-padded.
// pack_b_rows: B(p, j) = src[p * ld + j] (row-major), 16-float row copies.
// pw: panel width, NR or 24 (the MR24 x 24 kernels).
float* pack_b_rows(Buffer& buf, const float* src, size_t ld, int depth, int n, int pw = NR) {
  const int np = ceil_div(n, pw);
  float* out = buf.get(size_t(np) * depth * pw + pw);
  for (int jp = 0; jp < np; jp++) {
    float* panel = out + size_t(jp) * depth * pw;
    const int j0 = jp * pw, nr = std::min(pw, n - j0);
    for (int p = 0; p < depth; p++) {
      float* row = panel + size_t(p) * pw;
      const float* s = src + size_t(p) * ld + j0;
      if (nr == pw) {
        std::memcpy(row, s, size_t(pw) * sizeof(float));
      } else {
        for (int j = 0; j < nr; j++) row[j] = s[j];
        for (int j = nr; j < pw; j++) row[j] = 0.0f;
      }
    }
  }
  return out;
}

// pack_b_cols: B(p, j) = src[j * ld + p] (transposed); reads run along p.
float* pack_b_cols(Buffer& buf, const float* src, size_t ld, int depth, int n) {
  const int np = ceil_div(n, NR);
  float* out = buf.get(size_t(np) * depth * NR + NR);
  for (int jp = 0; jp < np; jp++) {
    float* panel = out + size_t(jp) * depth * NR;
    const int j0 = jp * NR, nr = std::min(NR, n - j0);
    for (int j = 0; j < NR; j++) {
      if (j < nr) {
        const float* s = src + size_t(j0 + j) * ld;
        for (int p = 0; p < depth; p++) panel[size_t(p) * NR + j] = s[p];
      } else {
        for (int p = 0; p < depth; p++) panel[size_t(p) * NR + j] = 0.0f;
      }
    }
  }
  return out;
}

// The input of a convolution as the implicit GEMM reads it: x itself when
// every window lies inside it, else a zero-padded copy [N, hs, ws, C] whose
// (0, 0) is input position (-pt, -pl). hs x ws covers every window.
template <class E>
struct BasicSource {
  const E* data;
  int hs, ws;
};
using Source = BasicSource<float>;

Source conv_source(const float* x, int n, int h, int w, int c, int pt, int pl, int hs, int ws, Buffer& buf) {
  if (pt == 0 && pl == 0 && hs <= h && ws <= w) return {x, h, w};
  float* out = buf.get(size_t(n) * hs * ws * c);
  const size_t rowlen = size_t(ws) * c;
  auto fill = [&](size_t b, size_t e) {
    for (size_t r = b; r < e; r++) {  // r = image * hs + padded row
      const int img = int(r / hs), yp = int(r % hs);
      float* dst = out + r * rowlen;
      const int iy = yp - pt;
      if (iy < 0 || iy >= h) {
        std::memset(dst, 0, rowlen * sizeof(float));
        continue;
      }
      const int x0 = std::max(0, pl), x1 = std::min(ws, w + pl);  // padded columns backed by input
      if (x0 > 0) std::memset(dst, 0, size_t(x0) * c * sizeof(float));
      if (x1 > x0)
        std::memcpy(dst + size_t(x0) * c, x + ((size_t(img) * h + iy) * w + (x0 - pl)) * c,
                    size_t(x1 - x0) * c * sizeof(float));
      if (x1 < ws) std::memset(dst + size_t(std::max(x1, x0)) * c, 0, size_t(ws - std::max(x1, x0)) * c * sizeof(float));
    }
  };
  parallel_chunks(size_t(n) * hs, rowlen, fill, 1);
  return {out, hs, ws};
}

// Implicit-im2col GEMM: y[M = n*oh*ow, kout] = rows(src) @ B (+bias, relu), overwrite.
// Row r = pixel (img, oy, ox) reads src[img, oy*sh + i, ox*sw .. ox*sw + kw, :] for i < kh.
// pw = 24: B is packed in 24-column panels and kout is a multiple of 24 (MR24 x 24 tiles); else pw = NR.
// Tiles per task of conv_gemm: up to 16, fewer so that there are >= 8 tasks
// per thread when the layer is small (load balance on a busy machine).
constexpr int TBMAX = 16;
static_assert((TBMAX * MR) % (MR * MR24) == 0, "row pointers padded to whole tiles");

// E = uint32_t: src and B hold bfloat16 pairs (conv_source_pairs, pack_pairs) and cs counts pairs.
template <class E>
void conv_gemm(BasicSource<E> src, int cs, int n, int oh, int ow, int sh, int sw, int kh, int kw, const E* packed_b,
               int kout, float* y, const float* bias, bool relu, int pw = NR) {
  const int m = n * oh * ow;
  if (m == 0 || kout == 0) return;
  const int depth = kh * kw * cs;
  const int np = ceil_div(kout, NR);
  const int T = pool().threads();
  const int TB = std::max(1, std::min(TBMAX, ceil_div(m, MR * 8 * T)));
  const int nblocks = ceil_div(ceil_div(m, MR), TB);
  const int per = ceil_div(nblocks, 1 << 16);  // blocks per task (1 unless huge)
  const int ntasks = ceil_div(nblocks, per);
  const ptrdiff_t segstride = ptrdiff_t(src.ws) * cs;
  auto body = [&](int task, int) {
    const E* rp[TBMAX * MR];
    for (int blk = task * per; blk < std::min(nblocks, (task + 1) * per); blk++) {
      const int r0 = blk * TB * MR, r1 = std::min(m, r0 + TB * MR);
      for (int r = r0; r < r1; r++) {
        const int img = r / (oh * ow), rem = r - img * (oh * ow);
        const int oy = rem / ow, ox = rem - oy * ow;
        rp[r - r0] = src.data + ((size_t(img) * src.hs + size_t(oy) * sh) * src.ws + size_t(ox) * sw) * cs;
      }
      const int rows = r1 - r0;
      // pad to whole tiles of MR and of MR24 rows (TBMAX * MR is a multiple of both)
      for (int r = rows; r < ceil_div(rows, MR * MR24) * MR * MR24; r++) rp[r] = rp[rows - 1];
      if constexpr (std::is_same_v<E, float>) {
        if (pw == 24) {
          for (int jp = 0; jp < kout / 24; jp++) {
            const int j0 = jp * 24;
            const float* bp = packed_b + size_t(jp) * depth * 24;
            for (int t = r0; t < r1; t += MR24) {
              ukernel_rows24(rp + (t - r0), kh, segstride, kw * cs, bp, y + size_t(t) * kout + j0, kout,
                             std::min(MR24, r1 - t), bias != nullptr ? bias + j0 : nullptr, relu);
            }
          }
          continue;
        }
      }
      for (int jp = 0; jp < np; jp++) {
        const int j0 = jp * NR, nr = std::min(NR, kout - j0);
        const E* bp = packed_b + size_t(jp) * depth * NR;
        for (int t = r0; t < r1; t += MR) {
          ukernel_rows(rp + (t - r0), kh, segstride, kw * cs, bp, y + size_t(t) * kout + j0, kout,
                       std::min(MR, r1 - t), nr, false, bias != nullptr ? bias + j0 : nullptr, relu);
        }
      }
    }
  };
  pool().run(ntasks, body);
}

// Row `row` (= image * H + iy) of maxpool2d_backward's dx when windows do not overlap: dy where argmax
// points at the element, else zero (W * C floats to dxr).
void unpool_row(const float* dy, const int32_t* argmax, const PoolGeom& g, size_t row, float* dxr) {
  const int C = g.c;
  const int covered_h = g.oh * g.sh, covered_w = g.ow * g.sw;
  const int img = int(row / g.h), iy = int(row % g.h);
  if (iy >= covered_h) {
    std::memset(dxr, 0, size_t(g.w) * C * sizeof(float));
    return;
  }
  const int oy = iy / g.sh;
  for (int ox = 0; ox < g.ow; ox++) {
    const size_t yo = ((size_t(img) * g.oh + oy) * g.ow + ox) * C;
    for (int j = 0; j < g.pw; j++) {
      const int ix = ox * g.sw + j;
      const int32_t pos = int32_t((row * g.w + ix) * C);
      float* d = dxr + size_t(ix) * C;
      int c = 0;
#ifdef DIGITS_AVX2
      const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      for (; c + 8 <= C; c += 8) {
        const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(argmax + yo + c));
        const __m256i at = _mm256_add_epi32(_mm256_set1_epi32(pos + c), lane);
        const __m256 hit = _mm256_castsi256_ps(_mm256_cmpeq_epi32(a, at));
        _mm256_storeu_ps(d + c, _mm256_and_ps(hit, _mm256_loadu_ps(dy + yo + c)));
      }
      for (; c + 4 <= C; c += 4) {  // 4 more channels at once (C = 12, 20, ...)
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(argmax + yo + c));
        const __m128i at = _mm_add_epi32(_mm_set1_epi32(pos + c), _mm_setr_epi32(0, 1, 2, 3));
        const __m128 hit = _mm_castsi128_ps(_mm_cmpeq_epi32(a, at));
        _mm_storeu_ps(d + c, _mm_and_ps(hit, _mm_loadu_ps(dy + yo + c)));
      }
#elif defined(__wasm_simd128__)
      for (; c + 4 <= C; c += 4) {  // the same, in WebAssembly SIMD
        const v128_t at = wasm_i32x4_add(wasm_i32x4_splat(pos + c), wasm_i32x4_make(0, 1, 2, 3));
        const v128_t hit = wasm_i32x4_eq(wasm_v128_load(argmax + yo + c), at);
        wasm_v128_store(d + c, wasm_v128_and(hit, wasm_v128_load(dy + yo + c)));
      }
#endif
      for (; c < C; c++) d[c] = argmax[yo + c] == pos + c ? dy[yo + c] : 0.0f;
    }
  }
  if (covered_w < g.w) std::memset(dxr + size_t(covered_w) * C, 0, size_t(g.w - covered_w) * C * sizeof(float));
}

// conv2d_backward_input's general form: per group of images, dcol[pixels, kh*kw*C] = dy @ w^T (dy's rows of
// kd values, B packed in NR-column panels of depth kd; with E = uint32_t both hold bfloat16 pairs of
// channels), then col2im.
template <class E>
void col2im_backward_input(const E* dy, int kd, const E* pb, float* dx, const ConvGeom& g) {
  const int C = g.c, kh = g.kh, kw = g.kw;
  const int depth = kh * kw * C;
  const int np = ceil_div(depth, NR);
  const int pix = g.oh * g.ow;
  // images per task: ~96 rows, but >= 8 tasks per thread when possible
  const int group = std::max(1, std::min(96 / pix, ceil_div(g.n, 8 * pool().threads())));
  const int ntasks = ceil_div(g.n, group);
  auto body = [&](int task, int tid) {
    Scratch& s = pool().scratch(tid);
    const int img0 = task * group, img1 = std::min(g.n, img0 + group);
    const int rows = (img1 - img0) * pix;
    float* dcol = s.c.get(size_t(rows) * depth);
    const E* dyi = dy + size_t(img0) * pix * kd;
    for (int t = 0; t < rows; t += MR) {
      const E* rp[MR];
      const int mr = std::min(MR, rows - t);
      for (int r = 0; r < MR; r++) rp[r] = dyi + size_t(t + std::min(r, mr - 1)) * kd;
      for (int jp = 0; jp < np; jp++) {
        const int j0 = jp * NR;
        ukernel_rows(rp, 1, 0, kd, pb + size_t(jp) * kd * NR, dcol + size_t(t) * depth + j0, depth, mr,
                     std::min(NR, depth - j0), false, nullptr, false);
      }
    }
    for (int img = img0; img < img1; img++) {
      float* dxi = dx + size_t(img) * g.h * g.w * C;
      std::memset(dxi, 0, size_t(g.h) * g.w * C * sizeof(float));
      const float* dcoli = dcol + size_t(img - img0) * pix * depth;
      for (int oy = 0; oy < g.oh; oy++) {
        for (int ox = 0; ox < g.ow; ox++) {
          const float* col = dcoli + (size_t(oy) * g.ow + ox) * depth;
          for (int i = 0; i < kh; i++) {
            const int iy = oy * g.sh + i - g.pt;
            if (iy < 0 || iy >= g.h) continue;
            for (int j = 0; j < kw; j++) {
              const int ix = ox * g.sw + j - g.pl;
              if (ix < 0 || ix >= g.w) continue;
              float* d = dxi + (size_t(iy) * g.w + ix) * C;
              const float* s2 = col + (size_t(i) * kw + j) * C;
              for (int c = 0; c < C; c++) d[c] += s2[c];
            }
          }
        }
      }
    }
  };
  pool().run(ntasks, body);
}

// dw (depth x K) and db (K) of a conv with no output pixels: zero.
void zero_filter_grads(float* dw, float* db, int depth, int K) {
  std::memset(dw, 0, size_t(depth) * K * sizeof(float));
  std::memset(db, 0, size_t(K) * sizeof(float));
}

// The full-correlation form of conv2d_backward_input (see there): stride 1, padding at most kh-1 / kw-1,
// and an input not much larger than the output.
bool full_correlation(const ConvGeom& g) {
  return g.sh == 1 && g.sw == 1 && g.kh - 1 - g.pt >= 0 && g.kw - 1 - g.pl >= 0 &&
         size_t(g.h) * g.w * 10 <= size_t(g.oh) * g.ow * 13;
}

#ifdef DIGITS_DPBF16
// bfloat16 pairs for VDPBF16PS. Rounding is VCVTNEPS2BF16's: to nearest even, denormals to zero.
inline uint32_t bf16_pair(float lo, float hi) {
  const __m128bh h = _mm_cvtneps_pbh(_mm_setr_ps(lo, hi, 0.0f, 0.0f));
  return uint32_t(_mm_cvtsi128_si32((__m128i)h));
}

// dst[0 .. len) = src rounded to bfloat16
void to_bf16(const float* src, uint16_t* dst, size_t len) {
  size_t i = 0;
  for (; i + 16 <= len; i += 16) _mm256_storeu_si256((__m256i*)(dst + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
  if (i < len) {
    const __mmask16 m = __mmask16((1u << (len - i)) - 1u);
    _mm256_mask_storeu_epi16(dst + i, m, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i)));
  }
}

// dst[(j / 16) * stride + j % 16] = bf16_pair(a[j], b[j]) for j < len (b may be null: zeros): 16 pairs at a
// time, each 16 at its own place (stride in pairs; the last 16's unused pairs are zeros).
inline void to_bf16_pairs(const float* a, const float* b, uint32_t* dst, int len, ptrdiff_t stride = 16) {
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                                              6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  for (int j = 0; j < len; j += 16, dst += stride) {
    const __mmask16 m = len - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (len - j)) - 1u);
    const __m512 lo = _mm512_maskz_loadu_ps(m, a + j);
    const __m512 hi = b != nullptr ? _mm512_maskz_loadu_ps(m, b + j) : _mm512_setzero_ps();
    const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);  // lo's 16 values, then hi's
    _mm512_storeu_si512(dst, _mm512_permutexvar_epi16(interleave, both));
  }
}

// conv_source as bfloat16 pairs: always a copy [N, hs, ws, cp] of bfloat16 (cp = c rounded up to even,
// the extra channel zero), read as cp / 2 uint32 pairs per pixel. The input comes a row at a time from
// row(r, stage): the w * c floats of row r (= image * h + y), in place or written to stage (w * c floats).
template <class Row>
BasicSource<uint32_t> conv_source_pairs(Row row, int n, int h, int w, int c, int pt, int pl, int hs, int ws,
                                        Buffer& buf) {
  const int cp = c + (c & 1);
  const size_t rowlen = size_t(ws) * cp;  // bfloat16 values in a padded row
  uint16_t* out = reinterpret_cast<uint16_t*>(buf.get(size_t(n) * hs * rowlen / 2 + 1));
  const int x0 = std::max(0, pl), x1 = std::min(ws, w + pl);  // padded columns backed by input
  auto fill = [&](size_t b, size_t e) {
    std::vector<float> stage(size_t(w) * c), padded(c == cp ? 0 : size_t(std::max(0, x1 - x0)) * cp);
    for (size_t r = b; r < e; r++) {  // r = image * hs + padded row
      const int img = int(r / hs), iy = int(r % hs) - pt;
      uint16_t* dst = out + r * rowlen;
      if (iy < 0 || iy >= h || x1 <= x0) {
        std::memset(dst, 0, rowlen * sizeof(uint16_t));
        continue;
      }
      std::memset(dst, 0, size_t(x0) * cp * sizeof(uint16_t));
      const float* src = row(size_t(img) * h + iy, stage.data()) + size_t(x0 - pl) * c;
      if (c == cp) {
        to_bf16(src, dst + size_t(x0) * cp, size_t(x1 - x0) * c);
      } else {
        for (int px = 0; px < x1 - x0; px++) {
          std::memcpy(padded.data() + size_t(px) * cp, src + size_t(px) * c, size_t(c) * sizeof(float));
          padded[size_t(px) * cp + c] = 0.0f;
        }
        to_bf16(padded.data(), dst + size_t(x0) * cp, padded.size());
      }
      std::memset(dst + size_t(x1) * cp, 0, size_t(ws - x1) * cp * sizeof(uint16_t));
    }
  };
  parallel_chunks(size_t(n) * hs, rowlen, fill, 1);
  return {reinterpret_cast<const uint32_t*>(out), hs, ws};
}

// Rows of a tensor [rows, len] in place, for conv_source_pairs.
struct PlainRows {
  const float* x;
  size_t len;
  const float* operator()(size_t r, float*) const { return x + r * len; }
};

// Rows of the gradient of a conv output under a non-overlapping max pool (p), made from the pooled
// gradient and its argmax as they are read (unpool_row), for conv_source_pairs.
struct UnpooledRows {
  const float* dy;
  const int32_t* argmax;
  const PoolGeom& p;
  const float* operator()(size_t r, float* stage) const {
    unpool_row(dy, argmax, p, r, stage);
    return stage;
  }
};

// The same gradient a pixel at a time (K floats of conv output pixel r = row * W + x), from a cache of
// two unpooled rows: a pixel's values stay valid until pixels of two other rows are asked for.
class UnpooledPixels {
 public:
  UnpooledPixels(const float* dy, const int32_t* argmax, const PoolGeom& p) : rows_{dy, argmax, p} {}
  const float* operator()(size_t r) {
    const size_t row = r / rows_.p.w, at = (r % rows_.p.w) * rows_.p.c;
    for (int s = 0; s < 2; s++)
      if (row_[s] == row) return buf_[s].data() + at;
    const int s = next_;
    next_ ^= 1;
    buf_[s].resize(size_t(rows_.p.w) * rows_.p.c);
    rows_(row, buf_[s].data());
    row_[s] = row;
    return buf_[s].data() + at;
  }

 private:
  UnpooledRows rows_;
  std::vector<float> buf_[2];
  size_t row_[2] = {SIZE_MAX, SIZE_MAX};
  int next_ = 0;
};

// B for the pair kernels: taps blocks of d depth rows (d rounded up to even, the extra row zero) by n
// columns, B(t, e, j) = get(t, e, j), packed [ceil(n / NR)][taps * dp / 2][NR] pairs (rows 2q, 2q + 1).
template <class Get>
const uint32_t* pack_pairs(Buffer& buf, int taps, int d, int n, Get get) {
  const int d2 = (d + 1) / 2, np = ceil_div(n, NR);
  const size_t depth2 = size_t(taps) * d2;
  uint32_t* out = reinterpret_cast<uint32_t*>(buf.get(size_t(np) * depth2 * NR + NR));
  for (int jp = 0; jp < np; jp++) {
    uint32_t* panel = out + size_t(jp) * depth2 * NR;
    for (int t = 0; t < taps; t++)
      for (int q = 0; q < d2; q++)
        for (int jj = 0; jj < NR; jj++) {
          const int j = jp * NR + jj;
          const float lo = j < n ? get(t, 2 * q, j) : 0.0f;
          const float hi = j < n && 2 * q + 1 < d ? get(t, 2 * q + 1, j) : 0.0f;
          panel[(size_t(t) * d2 + q) * NR + jj] = bf16_pair(lo, hi);
        }
  }
  return out;
}
#endif

}  // namespace

void set_threads(int n) { pool().set_threads(n); }

// An empty asm that "changes" six values in registers, so the compiler keeps their chains as written
// (x86); elsewhere the chains' float arithmetic, which nothing may reorder without -ffast-math, does.
#if defined(__x86_64__) || defined(__i386__)
#define DIGITS_KEEP(a, b, c, d, e, f) __asm__ volatile("" : "+v"(a), "+v"(b), "+v"(c), "+v"(d), "+v"(e), "+v"(f))
#else
#define DIGITS_KEEP(a, b, c, d, e, f) ((void)0)
#endif
// Each pool thread runs 12 independent multiply-add chains (enough to fill two pipes of latency 6), in
// registers, for kIters rounds; the rates add up.
#define DIGITS_CHAINS(V, OP, INIT)                                                                      \
  {                                                                                                     \
    V a0 = INIT, a1 = INIT, a2 = INIT, a3 = INIT, a4 = INIT, a5 = INIT;                                 \
    V a6 = INIT, a7 = INIT, a8 = INIT, a9 = INIT, a10 = INIT, a11 = INIT;                               \
    for (long i = 0; i < kIters; i++) {                                                                 \
      a0 = OP(a0); a1 = OP(a1); a2 = OP(a2); a3 = OP(a3); a4 = OP(a4); a5 = OP(a5);                     \
      a6 = OP(a6); a7 = OP(a7); a8 = OP(a8); a9 = OP(a9); a10 = OP(a10); a11 = OP(a11);                 \
      DIGITS_KEEP(a0, a1, a2, a3, a4, a5);                                                              \
      DIGITS_KEEP(a6, a7, a8, a9, a10, a11);                                                            \
    }                                                                                                   \
    const V sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;                        \
    std::memcpy(peak_sink, &sum, sizeof sum); /* the chains' results are used (where KEEP is a no-op) */ \
  }
unsigned char peak_sink[64];
double peak_gflops(bool bf16) {
  constexpr long kIters = 3000000;
  ThreadPool& P = pool();
  std::vector<double> rate(size_t(P.threads()), 0.0);
  P.run(P.threads(), [&](int task, int) {
    const auto t0 = std::chrono::steady_clock::now();
    double flop_per_op = 0;  // per chain and round
#if defined(DIGITS_AVX512)
    const __m512 b = _mm512_set1_ps(0.999f), d = _mm512_set1_ps(1e-3f);
#if defined(DIGITS_DPBF16)
    if (bf16) {
      auto op = [&](__m512 a) { return _mm512_dpbf16_ps(a, (__m512bh)b, (__m512bh)d); };
      DIGITS_CHAINS(__m512, op, _mm512_set1_ps(0.5f))
      flop_per_op = 64;
    }
#endif
    if (flop_per_op == 0) {
      auto op = [&](__m512 a) { return _mm512_fmadd_ps(a, b, d); };
      DIGITS_CHAINS(__m512, op, _mm512_set1_ps(0.5f))
      flop_per_op = 32;
    }
#elif defined(DIGITS_AVX2)
    (void)bf16;
    const __m256 b = _mm256_set1_ps(0.999f), d = _mm256_set1_ps(1e-3f);
    auto op = [&](__m256 a) { return _mm256_fmadd_ps(a, b, d); };
    DIGITS_CHAINS(__m256, op, _mm256_set1_ps(0.5f))
    flop_per_op = 16;
#elif defined(__wasm_simd128__)
    (void)bf16;  // a multiply then an add (no FMA in WebAssembly SIMD), as the microkernels compute
    const v128_t b = wasm_f32x4_splat(0.999f), d = wasm_f32x4_splat(1e-3f);
    auto op = [&](v128_t a) { return wasm_f32x4_add(wasm_f32x4_mul(a, b), d); };
    DIGITS_CHAINS(v128_t, op, wasm_f32x4_splat(0.5f))
    flop_per_op = 8;
#else
    (void)bf16;
    auto op = [](float a) { return a * 0.999f + 1e-3f; };
    DIGITS_CHAINS(float, op, 0.5f)
    flop_per_op = 2;
#endif
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rate[size_t(task)] = double(kIters) * 12 * flop_per_op / secs / 1e9;
  });
  double total = 0;
  for (double r : rate) total += r;
  return total;
}
#undef DIGITS_CHAINS
#undef DIGITS_KEEP
int get_threads() { return pool().threads(); }
int hardware_threads() {
#ifdef DIGITS_NO_THREADS
  return 1;
#else
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : int(n);
#endif
}

// x[N,H,W,C] w[kh,kw,C,K] b[K] -> y[N,OH,OW,K]
void conv2d_forward(const float* x, const float* w, const float* b, float* y, const ConvGeom& g, bool relu) {
  Scratch& sh = pool().shared();
  const int hs = (g.oh - 1) * g.sh + g.kh, ws = (g.ow - 1) * g.sw + g.kw;
  if (g.oh <= 0 || g.ow <= 0) return;
  Source src = conv_source(x, g.n, g.h, g.w, g.c, g.pt, g.pl, hs, ws, sh.a);
  const int k = g.k;
  const int pw = k % 24 == 0 ? 24 : NR;  // 24 filters: 24-column tiles, no padding to 32 columns
  const float* pb = pack_b_rows(sh.b, w, size_t(k), g.kh * g.kw * g.c, k, pw);
  conv_gemm(src, g.c, g.n, g.oh, g.ow, g.sh, g.sw, g.kh, g.kw, pb, k, y, b, relu, pw);
}

// dy[N,OH,OW,K] w[kh,kw,C,K] -> dx[N,H,W,C]
void conv2d_backward_input(const float* dy, const float* w, float* dx, const ConvGeom& g) {
  Scratch& sh = pool().shared();
  const int C = g.c, K = g.k, kh = g.kh, kw = g.kw;
  const int ptf = kh - 1 - g.pt, plf = kw - 1 - g.pl;
  const size_t dx_len = size_t(g.n) * g.h * g.w * C;
  if (g.oh <= 0 || g.ow <= 0) {
    std::memset(dx, 0, dx_len * sizeof(float));
    return;
  }
  // The "full correlation" form computes kh*kw taps for every input pixel,
  // including taps that fall on dy's zero padding; when the input is much
  // larger than the output (a small 'valid' conv: 6x6 -> 4x4) that waste
  // exceeds the cost of col2im, so use the general form there.
  if (full_correlation(g)) {
    // dx[n, iy, ix, c] = sum_{i', j', k} dyp[n, iy + i', ix + j', k] * w[kh-1-i', kw-1-j', c, k]
    // where dyp is dy zero-padded by (kh-1-padTop, kw-1-padLeft).
    const int hs = g.h - 1 + kh, ws = g.w - 1 + kw;
    Source src = conv_source(dy, g.n, g.oh, g.ow, K, ptf, plf, hs, ws, sh.a);
    // B[(i', j', k), c] = w[kh-1-i', kw-1-j', c, k]: per tap, the transpose of w's [C, K] block.
    const int taps = kh * kw;
    const int np = ceil_div(C, NR);
    float* pb = sh.b.get(size_t(np) * taps * K * NR + NR);
    for (int tap = 0; tap < taps; tap++) {
      const float* wt = w + size_t(taps - 1 - tap) * C * K;  // (kh-1-i', kw-1-j') is tap index taps-1-tap
      for (int jp = 0; jp < np; jp++) {
        float* panel = pb + (size_t(jp) * taps * K + size_t(tap) * K) * NR;
        const int c0 = jp * NR, nr = std::min(NR, C - c0);
        for (int cc = 0; cc < NR; cc++) {
          if (cc < nr) {
            const float* s = wt + size_t(c0 + cc) * K;
            for (int kk = 0; kk < K; kk++) panel[size_t(kk) * NR + cc] = s[kk];
          } else {
            for (int kk = 0; kk < K; kk++) panel[size_t(kk) * NR + cc] = 0.0f;
          }
        }
      }
    }
    conv_gemm(src, K, g.n, g.h, g.w, 1, 1, kh, kw, pb, C, dx, nullptr, false);
    return;
  }
  // General form: per group of images, dcol[pixels, kh*kw*C] = dy @ w^T, then col2im.
  col2im_backward_input(dy, K, pack_b_cols(sh.b, w, size_t(K), K, kh * kw * C), dx, g);
}

// x[N,H,W,C] dy[N,OH,OW,K] -> dw[kh,kw,C,K], db[K]
#ifdef DIGITS_DPBF16
bool dpbf16_available() { return true; }

// conv2d_forward's implicit GEMM over bfloat16 pairs of channels.
namespace {
// The forward's operands as bfloat16 pairs: the (padded) input, cs pairs a pixel, and the packed kernel.
struct ForwardPairs {
  BasicSource<uint32_t> src;
  int cs;
  const uint32_t* pb;
};
ForwardPairs forward_pairs(const float* x, const float* w, const ConvGeom& g) {
  Scratch& sh = pool().shared();
  const int hs = (g.oh - 1) * g.sh + g.kh, ws = (g.ow - 1) * g.sw + g.kw;
  const int C = g.c, K = g.k;
  const BasicSource<uint32_t> src =
      conv_source_pairs(PlainRows{x, size_t(g.w) * C}, g.n, g.h, g.w, C, g.pt, g.pl, hs, ws, sh.a);
  return {src, (C + 1) / 2,
          pack_pairs(sh.b, g.kh * g.kw, C, K, [&](int t, int c, int k) { return w[(size_t(t) * C + c) * K + k]; })};
}
}  // namespace

void conv2d_forward_dpbf16(const float* x, const float* w, const float* b, float* y, const ConvGeom& g, bool relu) {
  if (g.oh <= 0 || g.ow <= 0) return;
  const ForwardPairs f = forward_pairs(x, w, g);
  conv_gemm(f.src, f.cs, g.n, g.oh, g.ow, g.sh, g.sw, g.kh, g.kw, f.pb, g.k, y, b, relu);
}

namespace {
// conv2d_backward_input's full-correlation form over bfloat16 pairs of dy's channels, dy's rows from
// dy_rows (conv_source_pairs).
template <class Rows>
void backward_input_pairs(Rows dy_rows, const float* w, float* dx, const ConvGeom& g) {
  const int C = g.c, K = g.k, taps = g.kh * g.kw;
  if (g.oh <= 0 || g.ow <= 0) {
    std::memset(dx, 0, size_t(g.n) * g.h * g.w * C * sizeof(float));
    return;
  }
  Scratch& sh = pool().shared();
  if (!full_correlation(g)) {
    const BasicSource<uint32_t> src = conv_source_pairs(dy_rows, g.n, g.oh, g.ow, K, 0, 0, g.oh, g.ow, sh.a);
    const int depth = taps * C;
    const uint32_t* pb = pack_pairs(sh.b, 1, K, depth, [&](int, int k, int j) { return w[size_t(j) * K + k]; });
    return col2im_backward_input(src.data, (K + 1) / 2, pb, dx, g);
  }
  const BasicSource<uint32_t> src = conv_source_pairs(dy_rows, g.n, g.oh, g.ow, K, g.kh - 1 - g.pt, g.kw - 1 - g.pl,
                                                      g.h - 1 + g.kh, g.w - 1 + g.kw, sh.a);
  const uint32_t* pb = pack_pairs(sh.b, taps, K, C,
                                  [&](int t, int k, int c) { return w[(size_t(taps - 1 - t) * C + c) * K + k]; });
  conv_gemm(src, (K + 1) / 2, g.n, g.h, g.w, 1, 1, g.kh, g.kw, pb, C, dx, nullptr, false);
}
}  // namespace

void conv2d_backward_input_dpbf16(const float* dy, const float* w, float* dx, const ConvGeom& g) {
  backward_input_pairs(PlainRows{dy, size_t(g.ow) * g.k}, w, dx, g);
}

void conv2d_maxpool_backward_input_dpbf16(const float* dy, const int32_t* argmax, const float* w, float* dx,
                                          const ConvGeom& g, const PoolGeom& p) {
  backward_input_pairs(UnpooledRows{dy, argmax, p}, w, dx, g);
}

// conv2d_backward_filter over bfloat16 pairs of pixels, computed transposed: dwt[k, r] = sum_p dy[p, k] *
// window(p)[r], r = (i, j, c) with each kernel row's kw * C values padded to whole 16-column panels. Per
// block of PB pixels: B = the windows as pixel pairs [panel][PB / 2][16], A = dy as pixel pairs
// [PB / 2][K]; chunks of pixels and their partials as in the float32 kernel (deterministic per thread
// count). The bias gradient is summed in float32. dy comes a pixel at a time from the chunk's own
// dy_at = make_dy(): dy_at(r) points at pixel r's K values, valid while the next pixel's are read.
namespace {
template <class MakeDy>
void backward_filter_pairs(const float* x, MakeDy make_dy, float* dw, float* db, const ConvGeom& g) {
  ThreadPool& P = pool();
  Scratch& sh = P.shared();
  const int C = g.c, K = g.k, kh = g.kh, kw = g.kw;
  const int depth = kh * kw * C;
  const int m = g.n * g.oh * g.ow;
  if (m <= 0) return zero_filter_grads(dw, db, depth, K);
  const int hs = (g.oh - 1) * g.sh + kh, ws = (g.ow - 1) * g.sw + kw;
  const Source src = conv_source(x, g.n, g.h, g.w, C, g.pt, g.pl, hs, ws, sh.a);
  const int seg = kw * C, segp = ceil_div(seg, NR) * NR, depthp = kh * segp, npan = depthp / NR;
  constexpr int PB = 256, QB = PB / 2;  // pixels, pixel pairs per block (B: up to a few 100 KB, in L2)
  const int T = P.threads();
  const int nchunks = T <= 1 ? 1 : std::max(1, std::min(4 * T, m / 128));
  const size_t part_len = size_t(K) * depthp + K;  // partial dwt, then partial db
  float* parts = sh.b.get(part_len * nchunks);
  auto pixel = [&](int r) {  // the window of output pixel r in src
    const int img = r / (g.oh * g.ow), rem = r - img * (g.oh * g.ow);
    const int oy = rem / g.ow, ox = rem - oy * g.ow;
    return src.data + ((size_t(img) * src.hs + size_t(oy) * g.sh) * src.ws + size_t(ox) * g.sw) * C;
  };
  P.run(nchunks, [&](int chunk, int tid) {
    Scratch& s = P.scratch(tid);
    auto dy_at = make_dy();
    float* part = parts + part_len * chunk;
    std::memset(part, 0, part_len * sizeof(float));
    float* dbp = part + size_t(K) * depthp;
    uint32_t* bx = reinterpret_cast<uint32_t*>(s.a.get(size_t(npan) * QB * NR + NR));
    // (+ 32: a row's conversion writes whole 16s, and the tiles read up to 16 pairs past a row's start)
    uint32_t* ady = reinterpret_cast<uint32_t*>(s.c.get(size_t(QB) * K + 32));
    std::memset(ady + size_t(QB) * K, 0, 32 * sizeof(uint32_t));
    const int pbeg = int((long long)m * chunk / nchunks), pend = int((long long)m * (chunk + 1) / nchunks);
    for (int p0 = pbeg; p0 < pend; p0 += PB) {
      const int kc = std::min(PB, pend - p0), qc = (kc + 1) / 2;
      for (int q = 0; q < qc; q++) {
        const int r0 = p0 + 2 * q;
        const bool two = 2 * q + 1 < kc;
        const float* w0 = pixel(r0);
        const float* w1 = two ? pixel(r0 + 1) : nullptr;
        for (int i = 0; i < kh; i++) {
          const ptrdiff_t rowoff = ptrdiff_t(i) * src.ws * C;
          to_bf16_pairs(w0 + rowoff, two ? w1 + rowoff : nullptr, bx + (size_t(i) * (segp / NR) * QB + q) * NR, seg,
                        ptrdiff_t(QB) * NR);
        }
        const float* d0 = dy_at(size_t(r0));
        const float* d1 = two ? dy_at(size_t(r0) + 1) : nullptr;
        to_bf16_pairs(d0, d1, ady + size_t(q) * K, K);  // (its last 16's zeros run into the next row, written next)
        for (int k = 0; k < K; k++) dbp[k] += d0[k] + (two ? d1[k] : 0.0f);
      }
      auto tiles = [&](auto rows_c) {
        constexpr int ROWS = decltype(rows_c)::value;
        for (int pn = 0; pn < npan; pn++)
          for (int k0 = 0; k0 < K; k0 += ROWS)
            ukernel_cols_bf16<ROWS>(ady + k0, K, qc, bx + size_t(pn) * QB * NR, part + size_t(k0) * depthp + pn * NR,
                                    depthp, std::min(ROWS, K - k0));
      };
      if (K % 16 == 0) tiles(std::integral_constant<int, 16>());
      else tiles(std::integral_constant<int, MR>());
    }
  });
  // dw[(i, j, c), k] = sum of the chunks' dwt[k, i * segp + j * C + c], in chunk order; db likewise.
  parallel_chunks(size_t(depth) + 1, size_t(K) * nchunks, [&](size_t b, size_t e) {
    for (size_t row = b; row < e; row++) {
      if (row == size_t(depth)) {
        for (int k = 0; k < K; k++) {
          float v = 0.0f;
          for (int t = 0; t < nchunks; t++) v += parts[part_len * t + size_t(K) * depthp + k];
          db[k] = v;
        }
        continue;
      }
      const size_t col = row / seg * segp + row % seg;
      for (int k = 0; k < K; k++) {
        float v = 0.0f;
        for (int t = 0; t < nchunks; t++) v += parts[part_len * t + size_t(k) * depthp + col];
        dw[row * K + k] = v;
      }
    }
  }, 1);
}
}  // namespace

void conv2d_backward_filter_dpbf16(const float* x, const float* dy, float* dw, float* db, const ConvGeom& g) {
  backward_filter_pairs(x, [&] { return [&](size_t r) { return dy + r * size_t(g.k); }; }, dw, db, g);
}

#else
bool dpbf16_available() { return false; }
void conv2d_forward_dpbf16(const float*, const float*, const float*, float*, const ConvGeom&, bool) {}
void conv2d_backward_input_dpbf16(const float*, const float*, float*, const ConvGeom&) {}
void conv2d_backward_filter_dpbf16(const float*, const float*, float*, float*, const ConvGeom&) {}
void conv2d_maxpool_forward_dpbf16(const float*, const float*, const float*, float*, int32_t*, const ConvGeom&,
                                   const PoolGeom&, bool) {}
void conv2d_maxpool_backward_input_dpbf16(const float*, const int32_t*, const float*, float*, const ConvGeom&,
                                          const PoolGeom&) {}
void conv2d_maxpool_backward_filter_dpbf16(const float*, const float*, const int32_t*, float*, float*, const ConvGeom&,
                                           const PoolGeom&) {}
#endif

void conv2d_backward_filter(const float* x, const float* dy, float* dw, float* db, const ConvGeom& g) {
  ThreadPool& P = pool();
  Scratch& sh = P.shared();
  const int C = g.c, K = g.k, kh = g.kh, kw = g.kw;
  const int depth = kh * kw * C;
  // K a multiple of 24 (e.g. 24 filters): 24-column tiles read dy in place; else MR x 16 tiles over dy
  // padded to a multiple of 16 columns (K = 24 would waste a quarter of the work on padding).
  const bool w24 = K % 24 == 0;
  const int PW = w24 ? 24 : NR;  // panel width
  const int Kp = ceil_div(K, PW) * PW;
  const int np = Kp / PW;
  const int m = g.n * g.oh * g.ow;
  if (m <= 0) return zero_filter_grads(dw, db, depth, K);
  const int hs = (g.oh - 1) * g.sh + kh, ws = (g.ow - 1) * g.sw + kw;
  Source src = conv_source(x, g.n, g.h, g.w, C, g.pt, g.pl, hs, ws, sh.a);
  // dy with rows padded to a multiple of 16 columns when K is not one (on every thread: for a
  // narrow first layer, e.g. K = 8 over 28x28 images, this copy is a sizeable part of the kernel).
  const float* dyp = dy;
  if (Kp != K) {
    float* t = sh.c.get(size_t(m) * Kp);
    parallel_chunks(size_t(m), size_t(Kp), [&](size_t b, size_t e) {
      for (size_t r = b; r < e; r++) {
        std::memcpy(t + r * Kp, dy + r * K, size_t(K) * sizeof(float));
        std::memset(t + r * Kp + K, 0, size_t(Kp - K) * sizeof(float));
      }
    }, 1);
    dyp = t;
  }
  // Offset of kernel element kk = (i, j, c) from a window's top-left corner in src.
  std::vector<ptrdiff_t>& aoff_all = sh.loffs;
  aoff_all.resize(size_t(depth));
  for (int i = 0; i < kh; i++)
    for (int j = 0; j < kw; j++)
      for (int c = 0; c < C; c++) aoff_all[(size_t(i) * kw + j) * C + c] = (ptrdiff_t(i) * src.ws + j) * C + c;

  // The pixels are split into P contiguous chunks, each summed into its own
  // partial dw (+ db); P depends only on the thread count, and the partials
  // are added in chunk order, so results are deterministic for a thread count.
  const int T = P.threads();
  // Chunks of >= 128 pixels keep the reduction (one add per partial element) under ~10% of the work.
  const int nchunks = T <= 1 ? 1 : std::max(1, std::min(4 * T, m / 128));
  const size_t part_len = size_t(depth) * Kp + Kp;  // partial dw then partial db
  float* parts = sh.b.get(part_len * nchunks);
  constexpr int PB = 64;  // pixels per block
  auto body = [&](int chunk, int tid) {
    Scratch& s = P.scratch(tid);
    float* part = parts + part_len * chunk;
    std::memset(part, 0, part_len * sizeof(float));
    float* dbp = part + size_t(depth) * Kp;
    if (s.offs.size() < size_t(PB)) s.offs.resize(PB);
    int* poff = s.offs.data();
    const int pbeg = int((long long)m * chunk / nchunks), pend = int((long long)m * (chunk + 1) / nchunks);
    for (int p0 = pbeg; p0 < pend; p0 += PB) {
      const int kc = std::min(PB, pend - p0);
      for (int p = 0; p < kc; p++) {
        const int r = p0 + p;
        const int img = r / (g.oh * g.ow), rem = r - img * (g.oh * g.ow);
        const int oy = rem / g.ow, ox = rem - oy * g.ow;
        poff[p] = int(((size_t(img) * src.hs + size_t(oy) * g.sh) * src.ws + size_t(ox) * g.sw) * C);
        const float* d = dyp + size_t(r) * Kp;
        for (int k = 0; k < Kp; k++) dbp[k] += d[k];
      }
      // jp outer: the block's panel of dy stays in L1 across all kernel rows.
      if (w24) {
        for (int jp = 0; jp < np; jp++) {
          for (int i0 = 0; i0 < depth; i0 += MR24) {
            const int mr = std::min(MR24, depth - i0);
            ptrdiff_t aoff[MR24];
            for (int r = 0; r < MR24; r++) aoff[r] = aoff_all[size_t(i0 + std::min(r, mr - 1))];
            ukernel_offs24(src.data, poff, kc, aoff, dyp + size_t(p0) * Kp + jp * 24, Kp,
                           part + size_t(i0) * Kp + jp * 24, Kp, mr);
          }
        }
        continue;
      }
      for (int jp = 0; jp < np; jp++) {
        for (int i0 = 0; i0 < depth; i0 += MR) {
          const int mr = std::min(MR, depth - i0);
          ptrdiff_t aoff[MR];
          for (int r = 0; r < MR; r++) aoff[r] = aoff_all[size_t(i0 + std::min(r, mr - 1))];
          ukernel_offs(src.data, poff, kc, aoff, dyp + size_t(p0) * Kp + jp * NR, Kp,
                       part + size_t(i0) * Kp + jp * NR, Kp, mr);
        }
      }
    }
  };
  P.run(nchunks, body);
  // Sum the partials in chunk order (row `depth` is db).
  auto reduce = [&](size_t b, size_t e) {
    for (size_t row = b; row < e; row++) {
      float* out = row < size_t(depth) ? dw + row * K : db;
      const float* p0 = parts + row * Kp;
      for (int k = 0; k < K; k++) out[k] = p0[k];
      for (int t = 1; t < nchunks; t++) {
        const float* pt = parts + part_len * t + row * Kp;
        for (int k = 0; k < K; k++) out[k] += pt[k];
      }
    }
  };
  parallel_chunks(size_t(depth) + 1, size_t(K) * nchunks, reduce, 1);
}

// c[m,n] = op(a)[m,k] @ op(b)[k,n] (+ c)
void matmul(const float* a, const float* b, float* c, int m, int n, int k, bool trans_a, bool trans_b,
            bool accumulate) {
  if (m <= 0 || n <= 0) return;
  ThreadPool& P = pool();
  const float* pb = trans_b ? pack_b_cols(P.shared().b, b, size_t(k), k, n) : pack_b_rows(P.shared().b, b, size_t(n), k, n);
  const int np = ceil_div(n, NR);
  const int T = P.threads();
  // Row blocks of at most RBMAX rows (whole tiles), as even as tiles allow and a multiple of the
  // thread count when there are several: 128 rows on 2 threads are 72 + 56, not 96 + 32.
  constexpr int RBMAX = 96;
  static_assert(RBMAX % MR == 0, "row blocks of whole tiles");
  int nrb = ceil_div(m, RBMAX);
  if (nrb > 1 || m >= 2 * MR * T) nrb = ceil_div(nrb, T) * T;
  const int RB = std::min(RBMAX, ceil_div(ceil_div(m, nrb), MR) * MR);
  nrb = ceil_div(m, RB);
  int ncb = 1;  // column chunks: split columns too when there are few row blocks
  if (nrb < 2 * T) ncb = std::min(np, ceil_div(2 * T, nrb));
  const int nblocks = nrb * ncb;
  const int per = ceil_div(nblocks, 1 << 16);  // blocks per task (1 unless huge)
  const int ntasks = ceil_div(nblocks, per);
  auto body = [&](int task, int tid) {
    const float* rp[RBMAX];
    for (int blk = task * per; blk < std::min(nblocks, (task + 1) * per); blk++) {
      const int rb = blk / ncb, cb = blk % ncb;
      const int r0 = rb * RB, r1 = std::min(m, r0 + RB), rows = r1 - r0;
      const int jp0 = int((long long)np * cb / ncb), jp1 = int((long long)np * (cb + 1) / ncb);
      if (trans_a) {
        float* t = P.scratch(tid).a.get(size_t(rows) * k + 1);
        for (int p = 0; p < k; p++) {
          const float* ap = a + size_t(p) * m + r0;
          for (int r = 0; r < rows; r++) t[size_t(r) * k + p] = ap[r];
        }
        for (int r = 0; r < rows; r++) rp[r] = t + size_t(r) * k;
      } else {
        for (int r = 0; r < rows; r++) rp[r] = a + size_t(r0 + r) * k;
      }
      for (int r = rows; r < ceil_div(rows, MR) * MR; r++) rp[r] = rp[rows - 1];
      for (int jp = jp0; jp < jp1; jp++) {
        const int j0 = jp * NR, nr = std::min(NR, n - j0);
        const float* bp = pb + size_t(jp) * k * NR;
        for (int t = r0; t < r1; t += MR) {
          ukernel_rows(rp + (t - r0), 1, 0, k, bp, c + size_t(t) * n + j0, n, std::min(MR, r1 - t), nr, accumulate,
                       nullptr, false);
        }
      }
    }
  };
  if ((long long)m * n * k < (1 << 15)) {
    for (int t = 0; t < ntasks; t++) body(t, 0);
  } else {
    P.run(ntasks, body);
  }
}

void bias_activation(float* y, const float* b, int rows, int cols, bool relu) {
  parallel_chunks(size_t(rows), size_t(cols), [&](size_t rb, size_t re) {
    for (size_t r = rb; r < re; r++) {
      float* yr = y + r * cols;
      if (relu) {
        for (int j = 0; j < cols; j++) {
          const float v = yr[j] + b[j];
          yr[j] = v > 0.0f ? v : 0.0f;
        }
      } else {
        for (int j = 0; j < cols; j++) yr[j] += b[j];
      }
    }
  }, 1);
}

void bias_grad(const float* dy, float* db, int rows, int cols) {
  std::memset(db, 0, size_t(cols) * sizeof(float));
  for (int r = 0; r < rows; r++) {
    const float* d = dy + size_t(r) * cols;
    for (int j = 0; j < cols; j++) db[j] += d[j];
  }
}

void activation_backward(const float* dy, const float* y, float* dx, size_t len, bool relu) {
  if (!relu) {
    if (dx != dy) std::memmove(dx, dy, len * sizeof(float));
    return;
  }
  parallel_chunks(len, 1, [&](size_t b, size_t e) {
    size_t i = b;
#ifdef DIGITS_AVX2
    const __m256 zero = _mm256_setzero_ps();
    for (; i + 8 <= e; i += 8) {  // y > 0 is false for NaN, as in the reference
      const __m256 keep = _mm256_cmp_ps(_mm256_loadu_ps(y + i), zero, _CMP_GT_OQ);
      _mm256_storeu_ps(dx + i, _mm256_and_ps(keep, _mm256_loadu_ps(dy + i)));
    }
#elif defined(__wasm_simd128__)
    const v128_t zero = wasm_f32x4_splat(0.0f);
    for (; i + 4 <= e; i += 4) {  // gt is false for NaN, as in the reference
      const v128_t keep = wasm_f32x4_gt(wasm_v128_load(y + i), zero);
      wasm_v128_store(dx + i, wasm_v128_and(keep, wasm_v128_load(dy + i)));
    }
#endif
    for (; i < e; i++) {
      const float d = dy[i];
      dx[i] = y[i] > 0.0f ? d : 0.0f;
    }
  });
}

// x[N,H,W,C] -> y[N,OH,OW,C], argmax[N,OH,OW,C]
void maxpool2d_forward(const float* x, float* y, int32_t* argmax, const PoolGeom& g) {
  const int C = g.c;
  parallel_chunks(size_t(g.n) * g.oh, size_t(g.ow) * C * g.ph * g.pw, [&](size_t rb, size_t re) {
    for (size_t row = rb; row < re; row++) {  // row = image * OH + oy
      const int img = int(row / g.oh), oy = int(row % g.oh);
      for (int ox = 0; ox < g.ow; ox++) {
        const size_t yo = (row * g.ow + ox) * C;
        float* yv = y + yo;
        int32_t* av = argmax + yo;
        for (int i = 0; i < g.ph; i++) {
          const int iy = oy * g.sh + i;
          for (int j = 0; j < g.pw; j++) {
            const int ix = ox * g.sw + j;
            const int32_t idx = int32_t(((size_t(img) * g.h + iy) * g.w + ix) * C);
            const float* xv = x + idx;
            if (i == 0 && j == 0) {
              for (int c = 0; c < C; c++) {
                yv[c] = xv[c];
                av[c] = idx + c;
              }
              continue;
            }
            int c = 0;
#ifdef DIGITS_AVX2
            const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            for (; c + 8 <= C; c += 8) {  // strict >: the first maximum wins ties; NaN never replaces
              const __m256 v = _mm256_loadu_ps(xv + c), best = _mm256_loadu_ps(yv + c);
              const __m256 gt = _mm256_cmp_ps(v, best, _CMP_GT_OQ);
              const __m256i at = _mm256_add_epi32(_mm256_set1_epi32(idx + c), lane);
              _mm256_storeu_ps(yv + c, _mm256_blendv_ps(best, v, gt));
              const __m256i old = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(av + c));
              _mm256_storeu_si256(reinterpret_cast<__m256i*>(av + c),
                                  _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(old),
                                                                       _mm256_castsi256_ps(at), gt)));
            }
            // 4 more channels at once (C = 12, 20, ...): the same, in 128-bit lanes; cmpgt_ps is ordered (NaN: false)
            for (; c + 4 <= C; c += 4) {
              const __m128 v = _mm_loadu_ps(xv + c), best = _mm_loadu_ps(yv + c);
              const __m128 gt = _mm_cmpgt_ps(v, best);
              const __m128i at = _mm_add_epi32(_mm_set1_epi32(idx + c), _mm_setr_epi32(0, 1, 2, 3));
              _mm_storeu_ps(yv + c, _mm_blendv_ps(best, v, gt));
              const __m128i old = _mm_loadu_si128(reinterpret_cast<const __m128i*>(av + c));
              _mm_storeu_si128(reinterpret_cast<__m128i*>(av + c),
                               _mm_castps_si128(_mm_blendv_ps(_mm_castsi128_ps(old), _mm_castsi128_ps(at), gt)));
            }
#elif defined(__wasm_simd128__)
            for (; c + 4 <= C; c += 4) {  // the same, in WebAssembly SIMD: gt is ordered (NaN: false)
              const v128_t v = wasm_v128_load(xv + c), best = wasm_v128_load(yv + c);
              const v128_t gt = wasm_f32x4_gt(v, best);
              const v128_t at = wasm_i32x4_add(wasm_i32x4_splat(idx + c), wasm_i32x4_make(0, 1, 2, 3));
              wasm_v128_store(yv + c, wasm_v128_bitselect(v, best, gt));
              wasm_v128_store(av + c, wasm_v128_bitselect(at, wasm_v128_load(av + c), gt));
            }
#endif
            for (; c < C; c++) {
              const float v = xv[c], best = yv[c];
              const bool gt = v > best;
              yv[c] = gt ? v : best;
              av[c] = gt ? idx + c : av[c];
            }
          }
        }
      }
    }
  }, 1);
}

void maxpool2d_backward(const float* dy, const int32_t* argmax, float* dx, const PoolGeom& g) {
  const int C = g.c;
  const size_t in_img = size_t(g.h) * g.w * C, out_img = size_t(g.oh) * g.ow * C;
  if (g.sh == g.ph && g.sw == g.pw) {
    // Windows do not overlap: every input element lies in at most one window,
    // so dx is written in one pass: dy where argmax points at it, else zero.
    parallel_chunks(size_t(g.n) * g.h, size_t(g.w) * C, [&](size_t rb, size_t re) {
      for (size_t row = rb; row < re; row++) unpool_row(dy, argmax, g, row, dx + row * size_t(g.w) * C);
    }, 1);
    return;
  }
  // Overlapping windows: zero, then scatter-add; images are independent.
  parallel_chunks(size_t(g.n), in_img, [&](size_t b, size_t e) {
    std::memset(dx + b * in_img, 0, (e - b) * in_img * sizeof(float));
    for (size_t i = b * out_img; i < e * out_img; i++) dx[argmax[i]] += dy[i];
  }, 1);
}

// ---------------------------------------------------------------------------------------------
// Convolution + max pooling, fused (a conv whose output only feeds a non-overlapping max pool)

namespace {

// The direct kernels below: one input channel, 3x3 window, stride 1 (any padding), then 2x2/2 pooling
// (the first conv of an MNIST net: K = 12 filters over 28x28x1). A pooled output's four conv outputs
// read a 4x4 patch of the (padded) input; 8 filters per AVX2 vector.
bool conv_pool_direct(const ConvGeom& g, const PoolGeom& p) {
#ifdef DIGITS_AVX2
  return g.c == 1 && g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && p.ph == 2 && p.pw == 2 && p.sh == 2 &&
         p.sw == 2;
#else
  (void)g;
  (void)p;
  return false;
#endif
}

// The unpooled conv output / gradient of the general path (the conv kernels use the shared scratch).
Buffer& conv_pool_scratch() {
  static Buffer buf;
  return buf;
}

#ifdef DIGITS_AVX2
// The widest float vector of this build, for the direct kernels below: load_n / store_n touch the
// first n lanes only.
#ifdef DIGITS_AVX512
struct Vec {
  using t = __m512;
  static constexpr int W = 16;
  static __mmask16 m(int n) { return __mmask16((1u << n) - 1u); }
  static t zero() { return _mm512_setzero_ps(); }
  static t set1(float x) { return _mm512_set1_ps(x); }
  static t load(const float* p) { return _mm512_loadu_ps(p); }
  static t load_n(const float* p, int n) { return _mm512_maskz_loadu_ps(m(n), p); }
  static void store(float* p, t v) { _mm512_storeu_ps(p, v); }
  static void store_n(float* p, t v, int n) { _mm512_mask_storeu_ps(p, m(n), v); }
  static t fma(t a, t b, t c) { return _mm512_fmadd_ps(a, b, c); }
  static t add(t a, t b) { return _mm512_add_ps(a, b); }
};
#else
struct Vec {
  using t = __m256;
  static constexpr int W = 8;
  static __m256i m(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
  static t zero() { return _mm256_setzero_ps(); }
  static t set1(float x) { return _mm256_set1_ps(x); }
  static t load(const float* p) { return _mm256_loadu_ps(p); }
  static t load_n(const float* p, int n) { return _mm256_maskload_ps(p, m(n)); }
  static void store(float* p, t v) { _mm256_storeu_ps(p, v); }
  static void store_n(float* p, t v, int n) { _mm256_maskstore_ps(p, m(n), v); }
  static t fma(t a, t b, t c) { return _mm256_fmadd_ps(a, b, c); }
  static t add(t a, t b) { return _mm256_add_ps(a, b); }
};
#endif

// The input gradient of a 3x3 stride-1 conv (C = 8 or 12 channels) whose output feeds a 2x2/2 max
// pool, straight from the pooled gradient: each dy[q, k] reaches one conv output (its argmax), whose
// 3x3 input window lies in the 4x4-pixel patch of pooled output q. Per q, the patch's rows (4 pixels
// x C floats = NV vectors) are summed in registers over k, two rows at a time, then added into a
// zero-padded dx frame (patches of neighbouring q overlap), which is cropped into dx. A quarter of
// the multiply-adds of the dense kernel over the scattered gradient (3/4 zeros), no scatter pass.
template <int C>
void pooled_dx_3x3(const float* dy, const int32_t* argmax, const float* w, float* dx, const ConvGeom& g,
                   const PoolGeom& p) {
  constexpr int NV = 4 * C / Vec::W;  // a patch row (4 pixels x C floats) is NV vectors
  static_assert(4 * C % Vec::W == 0, "patch rows of whole vectors");
  const int K = g.k;
  ThreadPool& P = pool();
  Scratch& sh = P.shared();
  // wt[b][k][i]: kernel row i of filter k (3 pixels x C) placed at pixel offset b of a patch row
  // (4 pixels, zeros elsewhere), aligned. 2 x 3 x K rows of 4C floats (K = 24, C = 12: 27 KB, in L1).
  constexpr int RL = 4 * C;
  const size_t wt_len = size_t(2) * K * 3 * RL;
  float* wt = sh.b.get(wt_len);
  std::memset(wt, 0, wt_len * sizeof(float));
  for (int b = 0; b < 2; b++)
    for (int k = 0; k < K; k++)
      for (int i = 0; i < 3; i++) {
        float* row = wt + ((size_t(b) * K + k) * 3 + i) * RL;
        for (int j = 0; j < 3; j++)
          for (int c = 0; c < C; c++) row[(b + j) * C + c] = w[((size_t(i) * 3 + j) * C + c) * K + k];
      }
  const int hs = g.oh + 2, ws = g.ow + 2;  // the conv's padded input frame
  const size_t fimg = size_t(hs) * ws * C;
  float* frame = sh.a.get(size_t(g.n) * fimg + 8);
  const int32_t rowK = g.ow * K;
  P.run(g.n, [&](int img, int tid) {
    Scratch& sc = P.scratch(tid);
    sc.rows.resize(size_t(2) * K);
    const float** lst = sc.rows.data();  // per filter: its kernel rows in wt (a = 0 list, then a = 1)
    float* dl = sc.c.get(size_t(2) * K);  // and its gradient
    float* fi = frame + size_t(img) * fimg;
    std::memset(fi, 0, fimg * sizeof(float));
    for (int py = 0; py < p.oh; py++) {
      for (int px = 0; px < p.ow; px++) {
        const size_t q = ((size_t(img) * p.oh + py) * p.ow + px) * K;
        const int32_t base = int32_t(((size_t(img) * g.oh + 2 * py) * g.ow + 2 * px) * K);
        float* f0 = fi + (size_t(2 * py) * ws + 2 * px) * C;
        // first where each filter's gradient lands: its kernel rows (shifted to the window's column b)
        // and the window's row a, filters with a = 0 and a = 1 listed apart (in k order)
        int n0 = 0, n1 = 0;  // (written to both lists, kept by one: no branch on the random a)
        for (int k = 0; k < K; k++) {
          const int32_t diff = argmax[q + k] - base - k;  // a * ow * K + b * K
          const int a = int(diff >= rowK);
          const int b = int(diff - a * rowK >= K);
          const float* rows = wt + (size_t(b) * K + k) * 3 * RL;
          const float d = dy[q + k];
          lst[n0] = rows;
          dl[n0] = d;
          n0 += 1 - a;
          lst[K + n1] = rows;
          dl[K + n1] = d;
          n1 += a;
        }
        // patch rows (0, 1), then (2, 3): a = 0 puts kernel rows 0..2 on patch rows 0..2, a = 1 on 1..3,
        // so only the rows that get something are summed
        auto acc_row = [&](Vec::t* A, float d, const float* row) {
          const Vec::t dv = Vec::set1(d);
          for (int v = 0; v < NV; v++) A[v] = Vec::fma(dv, Vec::load(row + Vec::W * v), A[v]);
        };
        for (int r0 = 0; r0 < 4; r0 += 2) {
          Vec::t A0[NV], A1[NV];
          for (int v = 0; v < NV; v++) A0[v] = A1[v] = Vec::zero();
          if (r0 == 0) {
            for (int t = 0; t < n0; t++) {
              acc_row(A0, dl[t], lst[t]);
              acc_row(A1, dl[t], lst[t] + RL);
            }
            for (int t = K; t < K + n1; t++) acc_row(A1, dl[t], lst[t]);
          } else {
            for (int t = 0; t < n0; t++) acc_row(A0, dl[t], lst[t] + 2 * RL);
            for (int t = K; t < K + n1; t++) {
              acc_row(A0, dl[t], lst[t] + RL);
              acc_row(A1, dl[t], lst[t] + 2 * RL);
            }
          }
          float* fr0 = f0 + size_t(r0) * ws * C;
          float* fr1 = fr0 + size_t(ws) * C;
          for (int v = 0; v < NV; v++) {
            Vec::store(fr0 + Vec::W * v, Vec::add(Vec::load(fr0 + Vec::W * v), A0[v]));
            Vec::store(fr1 + Vec::W * v, Vec::add(Vec::load(fr1 + Vec::W * v), A1[v]));
          }
        }
      }
    }
    float* di = dx + size_t(img) * g.h * g.w * C;
    const int covered_h = std::min(g.h, hs - g.pt), covered_w = std::min(g.w, ws - g.pl);
    for (int y = 0; y < g.h; y++) {
      float* dr = di + size_t(y) * g.w * C;
      int done = 0;
      if (y < covered_h && covered_w > 0) {
        std::memcpy(dr, fi + (size_t(y + g.pt) * ws + g.pl) * C, size_t(covered_w) * C * sizeof(float));
        done = covered_w;
      }
      if (done < g.w) std::memset(dr + size_t(done) * C, 0, size_t(g.w - done) * C * sizeof(float));
    }
  });
}

// The filter gradient of the same conv from the pooled gradient: dw[:, :, :, k] += d * (the 3x3 input
// window of the conv output that dy[q, k] = d came from). Per block of pooled rows (their outputs'
// window pointers and gradients gathered first, by filter), per filter k: the three window rows (3
// pixels x C floats) are summed in registers over the block's outputs, then added to the chunk's
// partial dw (kept transposed, [k][i][j][c]). Chunks of pooled rows are summed in order (fixed by the
// thread count).
template <int C>
void pooled_dw_3x3(const float* x, const float* dy, const int32_t* argmax, float* dw, float* db, const ConvGeom& g,
                   const PoolGeom& p) {
  constexpr int RF = 3 * C, NF = RF / Vec::W, TAIL = RF % Vec::W;  // window row: NF vectors + TAIL floats
  constexpr int NT = NF + (TAIL > 0 ? 1 : 0);
  // window rows summed at once: all three when their sums fit in 12 registers, else two, then one
  constexpr int SPLIT = 3 * NT <= 12 ? 3 : 2;
  const int K = g.k;
  constexpr int depth = 3 * RF;
  ThreadPool& P = pool();
  Scratch& sh = P.shared();
  const int hs = g.oh + 2, ws = g.ow + 2;
  Source src = conv_source(x, g.n, g.h, g.w, C, g.pt, g.pl, hs, ws, sh.a);
  const int nrows = g.n * p.oh;
  const int T = P.threads();
  const int nchunks = T <= 1 ? 1 : std::max(1, std::min(4 * T, nrows / 4));
  const size_t part_len = size_t(K) * depth + K;  // acc, then db
  float* parts = sh.b.get(part_len * nchunks);
  const ptrdiff_t srow = ptrdiff_t(ws) * C;
  const int32_t rowK = g.ow * K;
  const int RB = std::max(1, 64 / p.ow);  // pooled rows a block: ~64 outputs a filter
  P.run(nchunks, [&](int chunk, int tid) {
    float* acc = parts + part_len * chunk;
    std::memset(acc, 0, part_len * sizeof(float));
    float* dbp = acc + size_t(K) * depth;
    Scratch& s = P.scratch(tid);
    const size_t per_k = size_t(RB) * p.ow;
    std::vector<const float*>& wp = s.rows;  // [k][e]: window of the conv output dy[q, k] came from
    wp.resize(per_k * K);
    float* dv = s.c.get(per_k * K);  // [k][e]: the gradients
    const int rb = int((long long)nrows * chunk / nchunks), re = int((long long)nrows * (chunk + 1) / nchunks);
    for (int row0 = rb; row0 < re; row0 += RB) {
      const int ne = std::min(RB, re - row0) * p.ow;  // outputs of the block, per filter
      for (int e = 0; e < ne; e++) {
        const int row = row0 + e / p.ow, px = e % p.ow;
        const int img = row / p.oh, py = row % p.oh;
        const size_t q = (size_t(row) * p.ow + px) * K;
        const int32_t base = int32_t(((size_t(img) * g.oh + 2 * py) * g.ow + 2 * px) * K);
        const float* win = src.data + ((size_t(img) * hs + 2 * py) * ws + 2 * px) * C;  // window (0, 0)
        for (int k = 0; k < K; k++) {
          const int32_t diff = argmax[q + k] - base - k;  // a * ow * K + b * K
          const int a = int(diff >= rowK);
          const int b = int(diff - a * rowK >= K);
          wp[size_t(k) * per_k + e] = win + a * srow + b * C;
          dv[size_t(k) * per_k + e] = dy[q + k];
        }
      }
      for (int k = 0; k < K; k++) {
        float* ak = acc + size_t(k) * depth;
        const float* dk = dv + size_t(k) * per_k;
        const float* const* wk = wp.data() + size_t(k) * per_k;
        float dsum = 0.0f;
        for (int e = 0; e < ne; e++) dsum += dk[e];
        dbp[k] += dsum;
        // window rows i0 .. i1 - 1 at a time
        auto rows_pass = [&](auto i0c, auto i1c) {
          constexpr int i0 = decltype(i0c)::value, i1 = decltype(i1c)::value;
          Vec::t A[i1 - i0][NT];
          for (int i = 0; i < i1 - i0; i++)
            for (int v = 0; v < NT; v++) A[i][v] = Vec::zero();
          for (int e = 0; e < ne; e++) {
            const Vec::t d = Vec::set1(dk[e]);
            const float* w0 = wk[e];
            for (int i = 0; i < i1 - i0; i++) {
              const float* wr = w0 + (i0 + i) * srow;
              for (int v = 0; v < NF; v++) A[i][v] = Vec::fma(d, Vec::load(wr + Vec::W * v), A[i][v]);
              if constexpr (TAIL > 0) A[i][NF] = Vec::fma(d, Vec::load_n(wr + Vec::W * NF, TAIL), A[i][NF]);
            }
          }
          for (int i = 0; i < i1 - i0; i++) {
            float* ar = ak + (i0 + i) * RF;
            for (int v = 0; v < NF; v++) Vec::store(ar + Vec::W * v, Vec::add(Vec::load(ar + Vec::W * v), A[i][v]));
            if constexpr (TAIL > 0)
              Vec::store_n(ar + Vec::W * NF, Vec::add(Vec::load_n(ar + Vec::W * NF, TAIL), A[i][NF]), TAIL);
          }
        };
        rows_pass(std::integral_constant<int, 0>(), std::integral_constant<int, SPLIT>());
        if constexpr (SPLIT < 3) rows_pass(std::integral_constant<int, SPLIT>(), std::integral_constant<int, 3>());
      }
    }
  });
  for (int t = 0; t < depth; t++)
    for (int k = 0; k < K; k++) {
      const size_t at = size_t(k) * depth + t;
      float v = parts[at];
      for (int c = 1; c < nchunks; c++) v += parts[part_len * c + at];
      dw[size_t(t) * K + k] = v;
    }
  for (int k = 0; k < K; k++) {
    const size_t at = size_t(K) * depth + k;
    float v = parts[at];
    for (int c = 1; c < nchunks; c++) v += parts[part_len * c + at];
    db[k] = v;
  }
}
#endif

#ifdef DIGITS_AVX2
inline __m256i tail_mask(int valid) {  // lanes < valid set
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

}  // namespace

namespace {
[[maybe_unused]] bool pool_2x2(const PoolGeom& p) { return p.ph == 2 && p.pw == 2 && p.sh == 2 && p.sw == 2; }
// the 24-column tile whose 4 rows are a pooling window (conv2d_maxpool_forward)
bool conv_pool_tile24(const ConvGeom& g, const PoolGeom& p) {
#ifdef DIGITS_AVX2
  return !conv_pool_direct(g, p) && g.k % 24 == 0 && pool_2x2(p);
#else
  (void)g;
  (void)p;
  return false;
#endif
}
// the pooled-gradient kernels of 3x3 stride-1 convs of 8 or 12 channels (pooled_dx_3x3, pooled_dw_3x3)
bool conv_pool_pooled_3x3(const ConvGeom& g, const PoolGeom& p) {
#ifdef DIGITS_AVX2
  return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && pool_2x2(p) && g.n > 0 && g.k > 0 &&
         (g.c == 12 || g.c == 8);
#else
  (void)g;
  (void)p;
  return false;
#endif
}
}  // namespace

#ifdef DIGITS_AVX512
namespace {
// The implicit GEMM (conv_gemm) with tiles whose rows are MR / 4 2x2 pooling windows, four conv
// outputs each in the pool's scan order, pooled in the epilogue (store_tile_pooled): the conv output
// is never written, and the outputs no window covers are never computed. E = uint32_t: bfloat16 pairs.
template <class E>
void conv_pool_gemm(BasicSource<E> src, int cs, const E* pb, float* y, int32_t* argmax, const ConvGeom& g,
                    const PoolGeom& p, const float* b, bool relu) {
  const int nwin = g.n * p.oh * p.ow;
  const int K = g.k, np = ceil_div(K, NR), depth = g.kh * g.kw * cs;
  const ptrdiff_t segstride = ptrdiff_t(src.ws) * cs;
  constexpr int WPT = MR / 4, WB = 8 * WPT;  // windows a tile, a task
  pool().run(ceil_div(nwin, WB), [&](int task, int) {
    const int wend = std::min(nwin, (task + 1) * WB);
    for (int wq0 = task * WB; wq0 < wend; wq0 += WPT) {
      const int nw = std::min(WPT, wend - wq0);
      const E* rp[MR];
      int32_t idx[MR], idj[MR];
      for (int t = 0; t < MR; t++) {
        const int wq = wq0 + std::min(t / 4, nw - 1), r = t % 4;  // (a missing window repeats the last)
        const int img = wq / (p.oh * p.ow), rem = wq - img * (p.oh * p.ow);
        const int py = rem / p.ow, px = rem - py * p.ow;
        const int oy = 2 * py + (r >> 1), ox = 2 * px + (r & 1);
        rp[t] = src.data + ((size_t(img) * src.hs + size_t(oy) * g.sh) * src.ws + size_t(ox) * g.sw) * cs;
        idx[t] = int32_t(((size_t(img) * g.oh + oy) * g.ow + ox) * K);
      }
      for (int jp = 0; jp < np; jp++) {
        const int j0 = jp * NR;
        __m512 acc[MR];
        accumulate_rows(rp, g.kh, segstride, g.kw * cs, pb + size_t(jp) * depth * NR, acc);
        for (int t = 0; t < MR; t++) idj[t] = idx[t] + j0;
        store_tile_pooled(acc, y + size_t(wq0) * K + j0, argmax + size_t(wq0) * K + j0, K, idj, nw,
                          std::min(NR, K - j0), b != nullptr ? b + j0 : nullptr, relu);
      }
    }
  });
}
}  // namespace
#endif

bool conv2d_maxpool_forward_fused(const ConvGeom& g, const PoolGeom& p) {
  return conv_pool_direct(g, p) || conv_pool_tile24(g, p);
}
bool conv2d_maxpool_backward_fused(const ConvGeom& g, const PoolGeom& p) {
  return conv_pool_direct(g, p) || conv_pool_pooled_3x3(g, p);
}

#if defined(__wasm_simd128__)
namespace {
// The first conv of an MNIST net in WebAssembly SIMD: one input channel, 3x3, stride 1, K a multiple of
// 8, then a 2x2/2 max pool, computed directly (a GEMM of depth 9 spends its time in tile epilogues). A
// pooled output's four conv outputs read a 4x4 patch of the padded input; 8 filters at a time hold the
// four outputs in 8 accumulators. Sums over the taps in order, then + bias, relu, and the pool's
// maximum and argmax in its scan order (first maximum on ties; NaN never replaces), as the reference.
void conv_pool_direct_wasm(const float* x, const float* w, const float* b, float* y, int32_t* argmax,
                           const ConvGeom& g, const PoolGeom& p, bool relu) {
  if (g.n <= 0 || p.oh <= 0 || p.ow <= 0) return;
  Scratch& sh = pool().shared();
  const int hs = g.oh + 2, ws = g.ow + 2;
  const Source src = conv_source(x, g.n, g.h, g.w, 1, g.pt, g.pl, hs, ws, sh.a);
  const int K = g.k;
  const v128_t zero = wasm_f32x4_splat(0.0f), lane = wasm_i32x4_make(0, 1, 2, 3);
  for (int img = 0; img < g.n; img++) {
    for (int py = 0; py < p.oh; py++) {
      for (int px = 0; px < p.ow; px++) {
        const float* s0 = src.data + (size_t(img) * hs + 2 * py) * ws + 2 * px;
        float patch[16];
        for (int r = 0; r < 4; r++)
          for (int c = 0; c < 4; c++) patch[r * 4 + c] = s0[size_t(r) * ws + c];
        const size_t yo = ((size_t(img) * p.oh + py) * p.ow + px) * K;
        const int32_t z00 = int32_t(((size_t(img) * g.oh + 2 * py) * g.ow + 2 * px) * K);
        const int32_t zoff[4] = {0, K, g.ow * K, g.ow * K + K};  // the window's outputs in scan order
        for (int k0 = 0; k0 < K; k0 += 8) {
          v128_t acc[4][2];
          for (int q = 0; q < 4; q++) acc[q][0] = acc[q][1] = zero;
          for (int t = 0; t < 9; t++) {
            const int i = t / 3, j = t % 3;
            const v128_t w0 = wasm_v128_load(w + size_t(t) * K + k0), w1 = wasm_v128_load(w + size_t(t) * K + k0 + 4);
            for (int q = 0; q < 4; q++) {
              const v128_t a = wasm_f32x4_splat(patch[(i + (q >> 1)) * 4 + j + (q & 1)]);
              acc[q][0] = wasm_f32x4_add(acc[q][0], wasm_f32x4_mul(a, w0));
              acc[q][1] = wasm_f32x4_add(acc[q][1], wasm_f32x4_mul(a, w1));
            }
          }
          for (int h = 0; h < 2; h++) {
            const int k = k0 + 4 * h;
            const v128_t bias = wasm_v128_load(b + k);
            v128_t best = zero, at = zero;
            for (int q = 0; q < 4; q++) {
              v128_t z = wasm_f32x4_add(acc[q][h], bias);
              if (relu) z = wasm_v128_and(wasm_f32x4_gt(z, zero), z);  // !(z > 0) ? 0 : z, NaN too
              const v128_t idx = wasm_i32x4_add(wasm_i32x4_splat(z00 + zoff[q] + k), lane);
              if (q == 0) {
                best = z;
                at = idx;
                continue;
              }
              const v128_t gt = wasm_f32x4_gt(z, best);
              best = wasm_v128_bitselect(z, best, gt);
              at = wasm_v128_bitselect(idx, at, gt);
            }
            wasm_v128_store(y + yo + k, best);
            wasm_v128_store(argmax + yo + k, at);
          }
        }
      }
    }
  }
}
}  // namespace
#endif

void conv2d_maxpool_forward(const float* x, const float* w, const float* b, float* y, int32_t* argmax,
                            const ConvGeom& g, const PoolGeom& p, bool relu) {
#ifdef DIGITS_AVX2
  if (conv_pool_tile24(g, p)) {
    // The implicit GEMM with 4 x 24 tiles whose 4 rows are one pooling window: the epilogue pools
    // (conv_gemm reads rows through pointers, so any pixel order is free). The conv output is never
    // written, and the conv outputs the pool does not cover (odd sizes) are not computed.
    const int nwin = g.n * p.oh * p.ow;
    if (nwin <= 0) return;
    Scratch& sh = pool().shared();
    const int hs = (g.oh - 1) * g.sh + g.kh, ws = (g.ow - 1) * g.sw + g.kw;
    Source src = conv_source(x, g.n, g.h, g.w, g.c, g.pt, g.pl, hs, ws, sh.a);
    const int K = g.k, depth = g.kh * g.kw * g.c;
    const float* pb = pack_b_rows(sh.b, w, size_t(K), depth, K, 24);
    const ptrdiff_t segstride = ptrdiff_t(src.ws) * g.c;
    constexpr int WB = 16;  // windows per task (a multiple of POOL_WINDOWS)
    static_assert(WB % POOL_WINDOWS == 0, "whole groups of windows a task");
    const int ntasks = ceil_div(nwin, WB);
    pool().run(ntasks, [&](int task, int) {
      const int wend = std::min(nwin, (task + 1) * WB);
      for (int wq0 = task * WB; wq0 < wend; wq0 += POOL_WINDOWS) {
        const int nw = std::min(POOL_WINDOWS, wend - wq0);
        const float* rp[4 * POOL_WINDOWS];
        int32_t idx[4 * POOL_WINDOWS];
        for (int t = 0; t < 4 * POOL_WINDOWS; t++) {
          const int wq = wq0 + std::min(t / 4, nw - 1), r = t % 4;  // (a missing window repeats the last)
          const int img = wq / (p.oh * p.ow), rem = wq - img * (p.oh * p.ow);
          const int py = rem / p.ow, px = rem - py * p.ow;
          const int oy = 2 * py + (r >> 1), ox = 2 * px + (r & 1);
          rp[t] = src.data + ((size_t(img) * src.hs + size_t(oy) * g.sh) * src.ws + size_t(ox) * g.sw) * g.c;
          idx[t] = int32_t(((size_t(img) * g.oh + oy) * g.ow + ox) * K);
        }
        for (int jp = 0; jp < K / 24; jp++) {
          const int j0 = jp * 24;
          int32_t idj[4 * POOL_WINDOWS];
          for (int t = 0; t < 4 * POOL_WINDOWS; t++) idj[t] = idx[t] + j0;
          ukernel_rows24_pool(rp, g.kh, segstride, g.kw * g.c, pb + size_t(jp) * depth * 24, y + size_t(wq0) * K + j0,
                              argmax + size_t(wq0) * K + j0, K, idj, nw, b + j0, relu);
        }
      }
    });
    return;
  }
#endif
#ifdef DIGITS_AVX512
  if (!conv_pool_direct(g, p) && pool_2x2(p)) {
    if (g.n * p.oh * p.ow <= 0) return;
    Scratch& sh = pool().shared();
    const int hs = (g.oh - 1) * g.sh + g.kh, ws = (g.ow - 1) * g.sw + g.kw;
    const Source src = conv_source(x, g.n, g.h, g.w, g.c, g.pt, g.pl, hs, ws, sh.a);
    const float* pb = pack_b_rows(sh.b, w, size_t(g.k), g.kh * g.kw * g.c, g.k);
    return conv_pool_gemm(src, g.c, pb, y, argmax, g, p, b, relu);
  }
#endif
#if defined(__wasm_simd128__)
  if (g.c == 1 && g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && pool_2x2(p) && g.k % 8 == 0) {
    return conv_pool_direct_wasm(x, w, b, y, argmax, g, p, relu);
  }
#endif
  if (!conv_pool_direct(g, p)) {
    float* z = conv_pool_scratch().get(size_t(g.n) * g.oh * g.ow * g.k);
    conv2d_forward(x, w, b, z, g, relu);
    maxpool2d_forward(z, y, argmax, p);
    return;
  }
#ifdef DIGITS_AVX2
  if (g.n <= 0 || p.oh <= 0 || p.ow <= 0) return;
  Scratch& sh = pool().shared();
  const int hs = g.oh + 2, ws = g.ow + 2;
  Source src = conv_source(x, g.n, g.h, g.w, 1, g.pt, g.pl, hs, ws, sh.a);
  const int K = g.k, K8 = ceil_div(K, 8) * 8;
  float* wp = sh.b.get(size_t(10) * K8);  // 9 taps, then the bias; zero past K
  for (int t = 0; t < 10; t++)
    for (int k = 0; k < K8; k++) wp[size_t(t) * K8 + k] = k < K ? (t < 9 ? w[size_t(t) * K + k] : b[k]) : 0.0f;
  const int32_t off01 = K, off10 = g.ow * K, off11 = g.ow * K + K;
  const int poh = p.oh, pow_ = p.ow, ow = g.ow, oh = g.oh;
  parallel_chunks(size_t(g.n) * poh, size_t(pow_) * K8 * 48, [=](size_t rb, size_t re) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 zero = _mm256_setzero_ps();
    const float* sdata = src.data;
    for (size_t row = rb; row < re; row++) {  // row = image * POH + py
      const int img = int(row / poh), py = int(row % poh);
      const float* s0 = sdata + (size_t(img) * hs + 2 * py) * ws;
      const int32_t rowbase = int32_t(((size_t(img) * oh + 2 * py) * ow) * K);
      // 8 filters at a time, their weights held in registers across the row
      for (int k0 = 0; k0 < K8; k0 += 8) {
        const float* wk = wp + k0;
        const __m256 w0 = _mm256_load_ps(wk), w1 = _mm256_load_ps(wk + K8), w2 = _mm256_load_ps(wk + 2 * K8);
        const __m256 w3 = _mm256_load_ps(wk + 3 * K8), w4 = _mm256_load_ps(wk + 4 * K8), w5 = _mm256_load_ps(wk + 5 * K8);
        const __m256 w6 = _mm256_load_ps(wk + 6 * K8), w7 = _mm256_load_ps(wk + 7 * K8), w8 = _mm256_load_ps(wk + 8 * K8);
        const __m256i m = tail_mask(K - k0);
        const bool full = k0 + 8 <= K;
        for (int px = 0; px < pow_; px++) {
          const float* r0 = s0 + 2 * px;
          __m256 z00 = zero, z01 = zero, z10 = zero, z11 = zero;
          // each patch value R[r][q] once; it meets tap (r - a, q - b) of window (a, b). Per window the
          // taps still come in (i, j) order.
#define DIGITS_PATCH_ROW(r, wa0, wa1, wa2, wb0, wb1, wb2, A, B)                       \
  {                                                                                 \
    const float* rr = r0 + (r) * ws;                                                \
    __m256 v = _mm256_broadcast_ss(rr);                                             \
    if (A) z00 = _mm256_fmadd_ps(v, wa0, z00);                                      \
    if (B) z10 = _mm256_fmadd_ps(v, wb0, z10);                                      \
    v = _mm256_broadcast_ss(rr + 1);                                                \
    if (A) { z00 = _mm256_fmadd_ps(v, wa1, z00); z01 = _mm256_fmadd_ps(v, wa0, z01); } \
    if (B) { z10 = _mm256_fmadd_ps(v, wb1, z10); z11 = _mm256_fmadd_ps(v, wb0, z11); } \
    v = _mm256_broadcast_ss(rr + 2);                                                \
    if (A) { z00 = _mm256_fmadd_ps(v, wa2, z00); z01 = _mm256_fmadd_ps(v, wa1, z01); } \
    if (B) { z10 = _mm256_fmadd_ps(v, wb2, z10); z11 = _mm256_fmadd_ps(v, wb1, z11); } \
    v = _mm256_broadcast_ss(rr + 3);                                                \
    if (A) z01 = _mm256_fmadd_ps(v, wa2, z01);                                      \
    if (B) z11 = _mm256_fmadd_ps(v, wb2, z11);                                      \
  }
          // patch row r: windows a = 0 use kernel row i = r, windows a = 1 use i = r - 1
          DIGITS_PATCH_ROW(0, w0, w1, w2, w0, w1, w2, true, false)
          DIGITS_PATCH_ROW(1, w3, w4, w5, w0, w1, w2, true, true)
          DIGITS_PATCH_ROW(2, w6, w7, w8, w3, w4, w5, true, true)
          DIGITS_PATCH_ROW(3, w6, w7, w8, w6, w7, w8, false, true)
#undef DIGITS_PATCH_ROW
          const __m256 bv = _mm256_load_ps(wk + 9 * K8);
          z00 = _mm256_add_ps(z00, bv);
          z01 = _mm256_add_ps(z01, bv);
          z10 = _mm256_add_ps(z10, bv);
          z11 = _mm256_add_ps(z11, bv);
          if (relu) {  // max(NaN, 0) = 0, as the conv's epilogue
            z00 = _mm256_max_ps(z00, zero);
            z01 = _mm256_max_ps(z01, zero);
            z10 = _mm256_max_ps(z10, zero);
            z11 = _mm256_max_ps(z11, zero);
          }
          // window order (0,0), (0,1), (1,0), (1,1); strict >: the first maximum wins, NaN never replaces
          const __m256i at = _mm256_add_epi32(_mm256_set1_epi32(rowbase + 2 * px * K + k0), lane);
          __m256 best = z00;
          __m256i idx = at;
#define DIGITS_CMP(zv, off)                                                                        \
  {                                                                                                \
    const __m256 gt = _mm256_cmp_ps(zv, best, _CMP_GT_OQ);                                          \
    best = _mm256_blendv_ps(best, zv, gt);                                                         \
    idx = _mm256_castps_si256(_mm256_blendv_ps(                                                    \
        _mm256_castsi256_ps(idx), _mm256_castsi256_ps(_mm256_add_epi32(at, _mm256_set1_epi32(off))), gt)); \
  }
          DIGITS_CMP(z01, off01)
          DIGITS_CMP(z10, off10)
          DIGITS_CMP(z11, off11)
#undef DIGITS_CMP
          const size_t yo = (row * pow_ + px) * K + k0;
          if (full) {
            _mm256_storeu_ps(y + yo, best);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(argmax + yo), idx);
          } else if (K - k0 == 4) {  // (masked stores are slow on AMD: K = 12 ends in half a vector)
            _mm_storeu_ps(y + yo, _mm256_castps256_ps128(best));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(argmax + yo), _mm256_castsi256_si128(idx));
          } else {
            _mm256_maskstore_ps(y + yo, m, best);
            _mm256_maskstore_epi32(reinterpret_cast<int*>(argmax + yo), m, idx);
          }
        }
      }
    }
  }, 1);
#endif
}

#ifdef DIGITS_AVX2
namespace {
// conv2d_maxpool_backward_filter's direct kernel (one input channel, 3x3, stride 1, 2x2 pool): per
// pooled row, the 9 taps' sums for 8 filters in registers. kRoundDy: dy rounded to bfloat16 as it is
// read, for the products only (the bias gradient sums it unrounded), as the bf16 kernels need.
template <bool kRoundDy>
void direct_pool_dw(const float* x, const float* dy, const int32_t* argmax, float* dw, float* db, const ConvGeom& g,
                    const PoolGeom& p) {
  const int K = g.k, K8 = ceil_div(K, 8) * 8;
  const int nrows = g.n * p.oh;
  if (nrows <= 0 || p.ow <= 0) {
    std::memset(dw, 0, size_t(9) * K * sizeof(float));
    std::memset(db, 0, size_t(K) * sizeof(float));
    return;
  }
  ThreadPool& P = pool();
  Scratch& sh = P.shared();
  const int hs = g.oh + 2, ws = g.ow + 2;
  Source src = conv_source(x, g.n, g.h, g.w, 1, g.pt, g.pl, hs, ws, sh.a);
  // Pooled rows split into chunks (a count fixed by the thread count), each with its own partial
  // dw (9 rows) and db (1 row) of K8 columns; the partials are summed in chunk order.
  const int T = P.threads();
  const int nchunks = T <= 1 ? 1 : std::max(1, std::min(4 * T, nrows / 4));
  const size_t part_len = size_t(10) * K8;
  float* parts = sh.b.get(part_len * nchunks);
  const int32_t rowK = g.ow * K;
  P.run(nchunks, [&](int chunk, int) {
    float* part = parts + part_len * chunk;
    std::memset(part, 0, part_len * sizeof(float));
    const int rb = int((long long)nrows * chunk / nchunks), re = int((long long)nrows * (chunk + 1) / nchunks);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int k0 = 0; k0 < K8; k0 += 8) {
      const __m256i m = tail_mask(K - k0);
      const __m256i vrowK = _mm256_set1_epi32(rowK), vK = _mm256_set1_epi32(K), vrowK1 = _mm256_set1_epi32(rowK - 1);
      for (int row = rb; row < re; row++) {  // one pooled row: its sums stay in registers
        const int img = row / p.oh, py = row % p.oh;
        const float* s0 = src.data + (size_t(img) * hs + 2 * py) * ws;
        __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00, a20 = a00,
               a21 = a00, a22 = a00, ab = a00;
        for (int px = 0; px < p.ow; px++) {
          const size_t yo = (size_t(row) * p.ow + px) * K + k0;
          const __m256 d = _mm256_maskload_ps(dy + yo, m);
          __m256 dr = d;  // the multiplied operand
#ifdef DIGITS_DPBF16
          if constexpr (kRoundDy)
            dr = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32((__m128i)_mm256_cvtneps_pbh(d)), 16));
#else
          static_assert(!kRoundDy, "rounding on the fly needs AVX512_BF16");
#endif
          const __m256i am = _mm256_maskload_epi32(reinterpret_cast<const int*>(argmax + yo), m);
          const int32_t base = int32_t(((size_t(img) * g.oh + 2 * py) * g.ow + 2 * px) * K + k0);
          // where in the 2x2 window each filter's maximum was: row a (diff >= rowK), column b
          const __m256i diff = _mm256_sub_epi32(am, _mm256_add_epi32(_mm256_set1_epi32(base), lane));
          const __m256i ai = _mm256_cmpgt_epi32(diff, vrowK1);
          const __m256i bi = _mm256_cmpeq_epi32(_mm256_sub_epi32(diff, _mm256_and_si256(ai, vrowK)), vK);
          const __m256 am_ = _mm256_castsi256_ps(ai), bm = _mm256_castsi256_ps(bi);
          const float* r = s0 + 2 * px;
          // column select on patch row q: c_j = b ? R[q][j+1] : R[q][j]
#define DIGITS_COLS(q, c0, c1, c2)                                                                      \
  const __m256 c0 = _mm256_blendv_ps(_mm256_broadcast_ss(r + (q) * ws), _mm256_broadcast_ss(r + (q) * ws + 1), bm);     \
  const __m256 c1 = _mm256_blendv_ps(_mm256_broadcast_ss(r + (q) * ws + 1), _mm256_broadcast_ss(r + (q) * ws + 2), bm); \
  const __m256 c2 = _mm256_blendv_ps(_mm256_broadcast_ss(r + (q) * ws + 2), _mm256_broadcast_ss(r + (q) * ws + 3), bm);
          DIGITS_COLS(0, c_0, c_1, c_2)
          DIGITS_COLS(1, c_3, c_4, c_5)
          DIGITS_COLS(2, c_6, c_7, c_8)
          DIGITS_COLS(3, c_9, c_10, c_11)
#undef DIGITS_COLS
          // row select: tap (i, j) = a ? c[i+1][j] : c[i][j]
          a00 = _mm256_fmadd_ps(_mm256_blendv_ps(c_0, c_3, am_), dr, a00);
          a01 = _mm256_fmadd_ps(_mm256_blendv_ps(c_1, c_4, am_), dr, a01);
          a02 = _mm256_fmadd_ps(_mm256_blendv_ps(c_2, c_5, am_), dr, a02);
          a10 = _mm256_fmadd_ps(_mm256_blendv_ps(c_3, c_6, am_), dr, a10);
          a11 = _mm256_fmadd_ps(_mm256_blendv_ps(c_4, c_7, am_), dr, a11);
          a12 = _mm256_fmadd_ps(_mm256_blendv_ps(c_5, c_8, am_), dr, a12);
          a20 = _mm256_fmadd_ps(_mm256_blendv_ps(c_6, c_9, am_), dr, a20);
          a21 = _mm256_fmadd_ps(_mm256_blendv_ps(c_7, c_10, am_), dr, a21);
          a22 = _mm256_fmadd_ps(_mm256_blendv_ps(c_8, c_11, am_), dr, a22);
          ab = _mm256_add_ps(ab, d);
        }
        float* pk = part + k0;
#define DIGITS_FLUSH(t, v) _mm256_storeu_ps(pk + (t) * K8, _mm256_add_ps(_mm256_loadu_ps(pk + (t) * K8), v));
        DIGITS_FLUSH(0, a00)
        DIGITS_FLUSH(1, a01)
        DIGITS_FLUSH(2, a02)
        DIGITS_FLUSH(3, a10)
        DIGITS_FLUSH(4, a11)
        DIGITS_FLUSH(5, a12)
        DIGITS_FLUSH(6, a20)
        DIGITS_FLUSH(7, a21)
        DIGITS_FLUSH(8, a22)
        DIGITS_FLUSH(9, ab)
#undef DIGITS_FLUSH
      }
    }
  });
  for (int t = 0; t < 10; t++) {
    float* out = t < 9 ? dw + size_t(t) * K : db;
    for (int k = 0; k < K; k++) {
      float v = parts[size_t(t) * K8 + k];
      for (int c = 1; c < nchunks; c++) v += parts[part_len * c + size_t(t) * K8 + k];
      out[k] = v;
    }
  }
}
}  // namespace
#endif

void conv2d_maxpool_backward_filter(const float* x, const float* dy, const int32_t* argmax, float* dw, float* db,
                                    const ConvGeom& g, const PoolGeom& p) {
#ifdef DIGITS_AVX2
  if (conv_pool_pooled_3x3(g, p) && p.oh > 0 && p.ow > 0)
    return g.c == 12 ? pooled_dw_3x3<12>(x, dy, argmax, dw, db, g, p) : pooled_dw_3x3<8>(x, dy, argmax, dw, db, g, p);
#endif
  if (!conv_pool_direct(g, p)) {
    float* dz = conv_pool_scratch().get(size_t(g.n) * g.oh * g.ow * g.k);
    maxpool2d_backward(dy, argmax, dz, p);
    conv2d_backward_filter(x, dz, dw, db, g);
    return;
  }
#ifdef DIGITS_AVX2
  direct_pool_dw<false>(x, dy, argmax, dw, db, g, p);
#endif
}

#ifdef DIGITS_DPBF16
void conv2d_maxpool_forward_dpbf16(const float* x, const float* w, const float* b, float* y, int32_t* argmax,
                                   const ConvGeom& g, const PoolGeom& p, bool relu) {
  if (!pool_2x2(p)) {
    float* z = conv_pool_scratch().get(size_t(g.n) * g.oh * g.ow * g.k);
    conv2d_forward_dpbf16(x, w, b, z, g, relu);
    return maxpool2d_forward(z, y, argmax, p);
  }
  if (g.n * p.oh * p.ow <= 0) return;
  const ForwardPairs f = forward_pairs(x, w, g);
  conv_pool_gemm(f.src, f.cs, f.pb, y, argmax, g, p, b, relu);
}

void conv2d_maxpool_backward_filter_dpbf16(const float* x, const float* dy, const int32_t* argmax, float* dw,
                                           float* db, const ConvGeom& g, const PoolGeom& p) {
  if (conv_pool_direct(g, p)) return direct_pool_dw<true>(x, dy, argmax, dw, db, g, p);  // x: rounded by the caller
  backward_filter_pairs(x, [&] { return UnpooledPixels(dy, argmax, p); }, dw, db, g);
}
#endif

void conv2d_maxpool_backward_input(const float* dy, const int32_t* argmax, const float* w, float* dx,
                                   const ConvGeom& g, const PoolGeom& p) {
#ifdef DIGITS_AVX2
  if (conv_pool_pooled_3x3(g, p)) return g.c == 12 ? pooled_dx_3x3<12>(dy, argmax, w, dx, g, p)
                                                   : pooled_dx_3x3<8>(dy, argmax, w, dx, g, p);
#endif
  float* dz = conv_pool_scratch().get(size_t(g.n) * g.oh * g.ow * g.k);
  maxpool2d_backward(dy, argmax, dz, p);
  conv2d_backward_input(dz, w, dx, g);
}

void mul(const float* a, const float* b, float* out, size_t len) {
  parallel_chunks(len, 1, [&](size_t s, size_t e) {
    for (size_t i = s; i < e; i++) out[i] = a[i] * b[i];
  });
}

void softmax(const float* logits, float* probs, int rows, int cols) {
  for (int r = 0; r < rows; r++) {
    const float* l = logits + size_t(r) * cols;
    float* p = probs + size_t(r) * cols;
    double mx = -INFINITY;
    for (int j = 0; j < cols; j++)
      if (l[j] > mx) mx = l[j];
    double sum = 0;
    for (int j = 0; j < cols; j++) {
      const double e = std::exp(double(l[j]) - mx);
      p[j] = float(e);
      sum += e;
    }
    for (int j = 0; j < cols; j++) p[j] = float(double(p[j]) / sum);
  }
}

double softmax_cross_entropy(const float* logits, const float* targets, float* probs, float* dlogits, int rows,
                             int cols) {
  double loss = 0;
  for (int r = 0; r < rows; r++) {
    const size_t o = size_t(r) * cols;
    double mx = -INFINITY;
    for (int j = 0; j < cols; j++)
      if (logits[o + j] > mx) mx = logits[o + j];
    double sum = 0;
    for (int j = 0; j < cols; j++) sum += std::exp(double(logits[o + j]) - mx);
    const double lse = mx + std::log(sum);
    for (int j = 0; j < cols; j++) {
      const double t = targets[o + j];
      const double p = std::exp(double(logits[o + j]) - lse);
      probs[o + j] = float(p);
      dlogits[o + j] = float((p - t) / rows);
      if (t != 0) loss += t * (lse - double(logits[o + j]));
    }
  }
  return loss / rows;
}

void adam_update(float* p, const float* g, float* m, float* v, size_t len, double lr, double beta1, double beta2,
                 double epsilon, double step) {
  const float alpha = float(lr * std::sqrt(1 - std::pow(beta2, step)) / (1 - std::pow(beta1, step)));
  const float b1 = float(beta1), b2 = float(beta2), c1 = float(1 - beta1), c2 = float(1 - beta2);
  const float eps = float(epsilon);
  parallel_chunks(len, 8, [&](size_t s, size_t e) {
    size_t i = s;
#ifdef DIGITS_AVX2
    const __m256 vb1 = _mm256_set1_ps(b1), vb2 = _mm256_set1_ps(b2), vc1 = _mm256_set1_ps(c1),
                 vc2 = _mm256_set1_ps(c2), veps = _mm256_set1_ps(eps), valpha = _mm256_set1_ps(alpha);
    for (; i + 8 <= e; i += 8) {
      const __m256 gi = _mm256_loadu_ps(g + i);
      const __m256 mi = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(vc1, gi));
      const __m256 vi =
          _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(vc2, gi), gi));
      _mm256_storeu_ps(m + i, mi);
      _mm256_storeu_ps(v + i, vi);
      const __m256 step = _mm256_div_ps(_mm256_mul_ps(valpha, mi), _mm256_add_ps(_mm256_sqrt_ps(vi), veps));
      _mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_loadu_ps(p + i), step));
    }
#elif defined(__wasm_simd128__)
    const v128_t vb1 = wasm_f32x4_splat(b1), vb2 = wasm_f32x4_splat(b2), vc1 = wasm_f32x4_splat(c1),
                 vc2 = wasm_f32x4_splat(c2), veps = wasm_f32x4_splat(eps), valpha = wasm_f32x4_splat(alpha);
    for (; i + 4 <= e; i += 4) {  // the same arithmetic, 4 lanes
      const v128_t gi = wasm_v128_load(g + i);
      const v128_t mi = wasm_f32x4_add(wasm_f32x4_mul(vb1, wasm_v128_load(m + i)), wasm_f32x4_mul(vc1, gi));
      const v128_t vi = wasm_f32x4_add(wasm_f32x4_mul(vb2, wasm_v128_load(v + i)), wasm_f32x4_mul(wasm_f32x4_mul(vc2, gi), gi));
      wasm_v128_store(m + i, mi);
      wasm_v128_store(v + i, vi);
      const v128_t step = wasm_f32x4_div(wasm_f32x4_mul(valpha, mi), wasm_f32x4_add(wasm_f32x4_sqrt(vi), veps));
      wasm_v128_store(p + i, wasm_f32x4_sub(wasm_v128_load(p + i), step));
    }
#endif
    for (; i < e; i++) {
      const float gi = g[i];
      const float mi = b1 * m[i] + c1 * gi;
      const float vi = b2 * v[i] + c2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = p[i] - alpha * mi / (std::sqrt(vi) + eps);
    }
  });
}

void sgd_update(float* p, const float* g, float* vel, size_t len, double lr, double momentum, bool nesterov) {
  const float l = float(lr), mo = float(momentum);
  parallel_chunks(len, 4, [&](size_t s, size_t e) {
    if (momentum == 0) {
      for (size_t i = s; i < e; i++) p[i] = p[i] - l * g[i];
      return;
    }
    for (size_t i = s; i < e; i++) {
      const float vi = mo * vel[i] - l * g[i];
      vel[i] = vi;
      p[i] = nesterov ? p[i] + mo * vi - l * g[i] : p[i] + vi;
    }
  });
}

void ema_update(float* avg, const float* x, size_t len, double keep) {
  const float k = float(keep), t = float(1 - keep);
  parallel_chunks(len, 4, [&](size_t s, size_t e) {
    for (size_t i = s; i < e; i++) avg[i] = k * avg[i] + t * x[i];
  });
}

// ---------------------------------------------------------------------------------------------
// Batch normalisation (x viewed as [rows, cols], rows = N*H*W, cols = C)

namespace {

// Per-channel sums over row chunks: fn(rb, re, acc) adds its rows into acc[0 .. width).
// Chunk partials are combined in chunk order, so a thread count gives one result.
template <class F>
void channel_reduce(int rows, int width, size_t cost_per_row, double* out, F&& fn) {
  const int T = pool().threads();
  int nchunks = 1;
  if (T > 1 && size_t(rows) * cost_per_row >= (size_t(1) << 15)) nchunks = std::min(4 * T, std::max(1, rows / 64));
  std::vector<double> partial(size_t(nchunks) * width, 0.0);
  const int chunk = (rows + nchunks - 1) / nchunks;
  auto body = [&](int task, int) {
    const int rb = task * chunk, re = std::min(rows, rb + chunk);
    if (rb < re) fn(rb, re, partial.data() + size_t(task) * width);
  };
  if (nchunks == 1) {
    body(0, 0);
  } else {
    pool().run(nchunks, body);
  }
  for (int j = 0; j < width; j++) out[j] = 0.0;
  for (int t = 0; t < nchunks; t++)
    for (int j = 0; j < width; j++) out[j] += partial[size_t(t) * width + j];
}

// x viewed as [rows, cols]: 8 consecutive rows are 8 * cols contiguous values, a multiple of 8, so
// the loops below run over such blocks with the per-channel values repeated 8 times ("tiled"):
// whole SIMD vectors, no per-row remainder loop (cols = 12 or 24 otherwise costs more in loop
// overhead than in arithmetic). Rows that do not fill a block run one by one.
constexpr int BNR = 8;

// y > 0 ? d : 0 (ReLU backward) as a bit mask, so that loops vectorise to compare + and (a ternary
// here became a branch per element: half of them mispredicted on a ReLU's output)
inline float relu_keep(float y, float d) {
  uint32_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  bits &= 0u - uint32_t(y > 0.0f);
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

template <class T, class U>
std::vector<T> tile_rows(const U* v, int cols) {
  std::vector<T> t(size_t(BNR) * cols);
  for (int r = 0; r < BNR; r++)
    for (int j = 0; j < cols; j++) t[size_t(r) * cols + j] = T(v[j]);
  return t;
}

// Per-channel sums over rows [rb, re): fn(off, len, p) adds the values x[off .. off + len) (whole
// rows, starting at a row start) into p[0 .. len) (p has 8 * cols slots); the block partials are then
// folded into acc[0 .. cols) in a fixed order. `width` partial arrays side by side (p, p + B, ...).
// p is float (full-width vectors), added into double sums every kBlocks blocks of 8 rows: a float
// partial holds at most 16 values, so the sums keep double's accuracy to ~1e-6 relative.
template <class F>
void block_sums(int rb, int re, int cols, int width, double* acc, F&& fn) {
  constexpr int kBlocks = 16;
  const size_t B = size_t(BNR) * cols;
  std::vector<float> part(B * width, 0.0f);
  std::vector<double> total(B * width, 0.0);
  auto flush = [&] {
    for (size_t i = 0; i < B * width; i++) {
      total[i] += part[i];
      part[i] = 0.0f;
    }
  };
  int r = rb, blocks = 0;
  for (; r + BNR <= re; r += BNR) {
    fn(size_t(r) * cols, B, part.data());
    if (++blocks == kBlocks) {
      flush();
      blocks = 0;
    }
  }
  for (; r < re; r++) fn(size_t(r) * cols, size_t(cols), part.data());
  flush();
  for (int w = 0; w < width; w++)
    for (size_t i = 0; i < B; i++) acc[size_t(w) * cols + i % cols] += total[size_t(w) * B + i];
}

}  // namespace

void batchnorm_stats(const float* x, float* mean, float* variance, int rows, int cols) {
  std::vector<double> s(cols), m(cols);
  channel_reduce(rows, cols, size_t(cols), s.data(), [&](int rb, int re, double* acc) {
    block_sums(rb, re, cols, 1, acc, [&](size_t off, size_t len, float* __restrict p) {
      const float* __restrict xr = x + off;
      for (size_t i = 0; i < len; i++) p[i] += xr[i];
    });
  });
  for (int j = 0; j < cols; j++) m[j] = s[j] / rows;
  const std::vector<float> mt = tile_rows<float>(m.data(), cols);
  const float* __restrict mp = mt.data();
  channel_reduce(rows, cols, size_t(cols), s.data(), [&](int rb, int re, double* acc) {
    block_sums(rb, re, cols, 1, acc, [&](size_t off, size_t len, float* __restrict p) {
      const float* __restrict xr = x + off;
      for (size_t i = 0; i < len; i++) {
        const float d = xr[i] - mp[i];
        p[i] += d * d;
      }
    });
  });
  for (int j = 0; j < cols; j++) {
    mean[j] = float(m[j]);
    variance[j] = float(s[j] / rows);
  }
}

void batchnorm_forward(const float* x, const float* mean, const float* variance, const float* gamma, const float* beta,
                       double epsilon, float* y, int rows, int cols, bool relu) {
  std::vector<float> scale(cols), shift(cols);
  for (int j = 0; j < cols; j++) {
    const double sc = double(gamma[j]) / std::sqrt(double(variance[j]) + epsilon);
    scale[j] = float(sc);
    shift[j] = float(double(beta[j]) - double(mean[j]) * sc);
  }
  const std::vector<float> sct = tile_rows<float>(scale.data(), cols), sht = tile_rows<float>(shift.data(), cols);
  const float* __restrict sc = sct.data();
  const float* __restrict sf = sht.data();
  auto run = [&](size_t off, size_t len) {
    const float* xr = x + off;  // y may alias x: element i is read before it is written
    float* yr = y + off;
    if (relu) {
      for (size_t i = 0; i < len; i++) {
        const float v = xr[i] * sc[i] + sf[i];
        yr[i] = v > 0.0f ? v : 0.0f;
      }
    } else {
      for (size_t i = 0; i < len; i++) yr[i] = xr[i] * sc[i] + sf[i];
    }
  };
  parallel_chunks(size_t(rows), size_t(cols), [&](size_t rb, size_t re) {
    size_t r = rb;
    for (; r + BNR <= re; r += BNR) run(r * cols, size_t(BNR) * cols);
    for (; r < re; r++) run(r * cols, size_t(cols));
  }, BNR);
}

void batchnorm_backward(const float* x, const float* dy, const float* mean, const float* variance, const float* gamma,
                        double epsilon, float* dx, float* dgamma, float* dbeta, int rows, int cols,
                        const float* relu_y) {
  std::vector<double> acc(size_t(2) * cols);
  std::vector<float> istd(cols);
  for (int j = 0; j < cols; j++) istd[j] = float(1.0 / std::sqrt(double(variance[j]) + epsilon));
  const std::vector<float> mt = tile_rows<float>(mean, cols), it = tile_rows<float>(istd.data(), cols);
  const float* __restrict mfp = mt.data();
  const float* __restrict istdp = it.data();
  const size_t B = size_t(BNR) * cols;
  // dy, masked by the fused ReLU's output when there is one: d(i) = relu_y[i] > 0 ? dy[i] : 0
  channel_reduce(rows, 2 * cols, size_t(cols) * 2, acc.data(), [&](int rb, int re, double* a) {
    block_sums(rb, re, cols, 2, a, [&](size_t off, size_t len, float* __restrict p) {
      const float* __restrict xr = x + off;
      const float* __restrict dr = dy + off;
      float* __restrict q = p + B;
      if (relu_y != nullptr) {
        const float* __restrict yr = relu_y + off;
        for (size_t i = 0; i < len; i++) {
          const float d = relu_keep(yr[i], dr[i]);
          p[i] += d;
          q[i] += d * ((xr[i] - mfp[i]) * istdp[i]);
        }
      } else {
        for (size_t i = 0; i < len; i++) {
          p[i] += dr[i];
          q[i] += dr[i] * ((xr[i] - mfp[i]) * istdp[i]);
        }
      }
    });
  });
  std::vector<float> k(cols), sdy(cols), sdyx(cols);
  for (int j = 0; j < cols; j++) {
    dbeta[j] = float(acc[j]);
    dgamma[j] = float(acc[cols + j]);
    k[j] = float(double(gamma[j]) * istd[j] / rows);
    sdy[j] = float(acc[j]);
    sdyx[j] = float(acc[cols + j]);
  }
  const float fr = float(rows);
  const std::vector<float> kt = tile_rows<float>(k.data(), cols), st = tile_rows<float>(sdy.data(), cols),
                           sxt = tile_rows<float>(sdyx.data(), cols);
  const float* __restrict kp = kt.data();
  const float* __restrict sdyp = st.data();
  const float* __restrict sdyxp = sxt.data();
  auto run = [&](size_t off, size_t len) {
    const float* __restrict xr = x + off;
    const float* __restrict dr = dy + off;
    float* __restrict o = dx + off;
    if (relu_y != nullptr) {
      const float* __restrict yr = relu_y + off;
      for (size_t i = 0; i < len; i++) {
        const float xhat = (xr[i] - mfp[i]) * istdp[i];
        const float d = relu_keep(yr[i], dr[i]);
        o[i] = kp[i] * (fr * d - sdyp[i] - xhat * sdyxp[i]);
      }
    } else {
      for (size_t i = 0; i < len; i++) {
        const float xhat = (xr[i] - mfp[i]) * istdp[i];
        o[i] = kp[i] * (fr * dr[i] - sdyp[i] - xhat * sdyxp[i]);
      }
    }
  };
  parallel_chunks(size_t(rows), size_t(cols) * 2, [&](size_t rb, size_t re) {
    size_t r = rb;
    for (; r + BNR <= re; r += BNR) run(r * cols, B);
    for (; r < re; r++) run(r * cols, size_t(cols));
  }, BNR);
}

// ---------------------------------------------------------------------------------------------
// Augmentation: affine resampling with bilinear interpolation, zero outside, optionally displaced
// per pixel by an elastic field; and the smoothing that makes such a field from noise.

void affine_resample(const float* x, const float* params, float* y, int n, int h, int w, int c, const float* disp) {
  const size_t img = size_t(h) * w * c;
  parallel_chunks(size_t(n), img * 8, [&](size_t b0, size_t b1) {
    for (size_t b = b0; b < b1; b++) {
      const float* p = params + b * 6;
      const double p0 = p[0], p1 = p[1], p2 = p[2], p3 = p[3], p4 = p[4], p5 = p[5];
      const float* src = x + b * img;
      const float* d = disp != nullptr ? disp + b * size_t(h) * w * 2 : nullptr;
      float* dst = y + b * img;
      for (int oy = 0; oy < h; oy++) {
        for (int ox = 0; ox < w; ox++) {
          double sx = p0 * ox + p1 * oy + p2;
          double sy = p3 * ox + p4 * oy + p5;
          if (d != nullptr) {
            const float* dd = d + (size_t(oy) * w + ox) * 2;
            sx += dd[0];
            sy += dd[1];
          }
          const double fx0 = std::floor(sx), fy0 = std::floor(sy);
          const double fx = sx - fx0, fy = sy - fy0;
          float* o = dst + (size_t(oy) * w + ox) * c;
          if (!(fx0 >= -2.0 && fy0 >= -2.0 && fx0 <= w + 1.0 && fy0 <= h + 1.0)) {
            for (int ch = 0; ch < c; ch++) o[ch] = 0.0f;
            continue;
          }
          const int x0 = int(fx0), y0 = int(fy0);
          const bool inx0 = x0 >= 0 && x0 < w, inx1 = x0 + 1 >= 0 && x0 + 1 < w;
          const bool iny0 = y0 >= 0 && y0 < h, iny1 = y0 + 1 >= 0 && y0 + 1 < h;
          for (int ch = 0; ch < c; ch++) {
            const double v00 = iny0 && inx0 ? src[(size_t(y0) * w + x0) * c + ch] : 0.0;
            const double v01 = iny0 && inx1 ? src[(size_t(y0) * w + x0 + 1) * c + ch] : 0.0;
            const double v10 = iny1 && inx0 ? src[(size_t(y0 + 1) * w + x0) * c + ch] : 0.0;
            const double v11 = iny1 && inx1 ? src[(size_t(y0 + 1) * w + x0 + 1) * c + ch] : 0.0;
            const double top = v00 * (1 - fx) + v01 * fx;
            const double bottom = v10 * (1 - fx) + v11 * fx;
            o[ch] = float(top * (1 - fy) + bottom * fy);
          }
        }
      }
    }
  }, 1);
}

// Gaussian taps for elastic_field: radius ceil(3 sigma), normalised to sum 1, in double.
static std::vector<double> gaussian_taps(double sigma) {
  const int r = int(std::ceil(3.0 * sigma));
  std::vector<double> t(size_t(2 * r + 1));
  double sum = 0;
  for (int i = -r; i <= r; i++) sum += (t[size_t(i + r)] = std::exp(-0.5 * (i * i) / (sigma * sigma)));
  for (double& v : t) v /= sum;
  return t;
}

void elastic_field(const float* noise, float* field, int n, int h, int w, double sigma, double alpha) {
  const std::vector<double> taps = gaussian_taps(sigma);
  const int r = int(taps.size() / 2);
  const size_t plane = size_t(h) * w * 2;
  parallel_chunks(size_t(n), plane * taps.size() * 2, [&](size_t b0, size_t b1) {
    std::vector<double> rows(plane);  // the noise blurred along x
    for (size_t b = b0; b < b1; b++) {
      const float* src = noise + b * plane;
      for (int yy = 0; yy < h; yy++) {
        for (int xx = 0; xx < w; xx++) {
          double s0 = 0, s1 = 0;
          for (int k = std::max(-r, -xx); k <= std::min(r, w - 1 - xx); k++) {
            const float* q = src + (size_t(yy) * w + xx + k) * 2;
            s0 += taps[size_t(k + r)] * q[0];
            s1 += taps[size_t(k + r)] * q[1];
          }
          rows[(size_t(yy) * w + xx) * 2] = s0;
          rows[(size_t(yy) * w + xx) * 2 + 1] = s1;
        }
      }
      float* dst = field + b * plane;
      for (int yy = 0; yy < h; yy++) {
        for (int xx = 0; xx < w; xx++) {
          double s0 = 0, s1 = 0;
          for (int k = std::max(-r, -yy); k <= std::min(r, h - 1 - yy); k++) {
            const double* q = rows.data() + (size_t(yy + k) * w + xx) * 2;
            s0 += taps[size_t(k + r)] * q[0];
            s1 += taps[size_t(k + r)] * q[1];
          }
          dst[(size_t(yy) * w + xx) * 2] = float(alpha * s0);
          dst[(size_t(yy) * w + xx) * 2 + 1] = float(alpha * s1);
        }
      }
    }
  }, 1);
}

}  // namespace digits
