// Register-tiled GEMM micro-kernels: a tile of MR x NR outputs held in
// registers, updated with FMA: 12 x 16 in AVX-512 builds (a 16-float register
// a row), 6 x 16 in AVX2 ones (two 8-float registers a row). AVX512_BF16
// builds add the same tile over bfloat16 pairs (VDPBF16PS).
//
// B is always packed in panels of NR columns, [depth][NR], 64-byte aligned,
// zero-padded past the last column. A is never packed: it is read through
// one pointer per tile row, which lets the convolutions read the (padded)
// input image directly ("implicit im2col").
//
//   ukernel_rows:  acc[r][:] = sum_{s<nseg, q<seglen} rp[r][s*segstride + q] * B[s*seglen + q][:]
//                  then the epilogue: (+ C when accumulate) (+ bias) (relu), store the valid mr x nr part.
//   ukernel_offs:  C[r][:] += sum_{p<kc} x[poff[p] + aoff[r]] * dy[p*lddy + :]   (conv backward-filter)
//
// WebAssembly SIMD builds (the wasm module) keep the 6 x 16 tile in 4-float
// vectors, 8 columns a pass. Without any of these (another machine), plain
// loops with the same arithmetic order per output element are used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

// GCC 12's AVX-512 headers warn about their own placeholder vectors (GCC bug 105593; see amx.cc).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define DIGITS_AVX2 1
#if defined(__AVX512F__) && defined(__AVX512VL__)
#define DIGITS_AVX512 1
#endif
#endif

namespace digits {

#ifdef DIGITS_AVX512
constexpr int MR = 12;
#else
constexpr int MR = 6;
#endif
constexpr int NR = 16;

// Epilogue for a partial tile: acc is [MR][ldacc] (ldacc: NR, or 24 for the 24-column tiles).
static inline void store_tile_scalar(const float* acc, float* c, ptrdiff_t ldc, int mr, int nr, bool accumulate,
                                     const float* bias, bool relu, int ldacc = NR) {
  for (int r = 0; r < mr; r++) {
    for (int j = 0; j < nr; j++) {
      float v = acc[r * ldacc + j];
      if (accumulate) v += c[r * ldc + j];
      if (bias != nullptr) v += bias[j];
      if (relu && !(v > 0.0f)) v = 0.0f;
      c[r * ldc + j] = v;
    }
  }
}

#if defined(DIGITS_AVX512)
// AVX-512: a row of a tile is one 16-float register (NR = 16), so a tile of MR rows keeps MR
// accumulators; the rows' pointers are in an array the loops unroll over. On CPUs with two 512-bit
// FMA pipes (Zen 5, Sapphire Rapids) this does twice the arithmetic per cycle of the 6 x 16 AVX2 tile.

#define DIGITS_UNROLL _Pragma("GCC unroll 32")

static inline __mmask16 column_mask(int nr) { return nr >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << nr) - 1u); }

// The epilogue of a tile: (+ C when accumulate) (+ bias) (relu), store the valid mr x nr part.
static inline void store_tile(const __m512* acc, float* c, ptrdiff_t ldc, int mr, int nr, bool accumulate,
                              const float* bias, bool relu) {
  const __mmask16 m = column_mask(nr);
  const __m512 zero = _mm512_setzero_ps();
  const __m512 bv = bias != nullptr ? _mm512_maskz_loadu_ps(m, bias) : zero;
  DIGITS_UNROLL for (int r = 0; r < MR; r++) {
    if (r >= mr) break;
    float* cr = c + r * ldc;
    __m512 x = acc[r];
    if (accumulate) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, cr));
    if (bias != nullptr) x = _mm512_add_ps(x, bv);
    if (relu) x = _mm512_max_ps(x, zero);  // max(NaN, 0) = 0, as !(v > 0) ? 0 : v
    _mm512_mask_storeu_ps(cr, m, x);
  }
}

// One step of a tile row: acc += a * b, a broadcast over the 16 columns of b (a panel row). For
// bfloat16 pairs (E = uint32_t, below) both products of the pair.
static inline __m512 panel_row(const float* b) { return _mm512_load_ps(b); }
static inline __m512 madd(__m512 acc, float a, __m512 b) { return _mm512_fmadd_ps(_mm512_set1_ps(a), b, acc); }
#ifdef __AVX512BF16__
// bfloat16 pairs: A and B hold two consecutive depth steps in a uint32; VDPBF16PS adds both exact
// products to the float32 sums.
static inline __m512 panel_row(const uint32_t* b) { return _mm512_castsi512_ps(_mm512_load_si512(b)); }
static inline __m512 madd(__m512 acc, uint32_t a, __m512 b) {
  return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_set1_epi32(int(a)), (__m512bh)b);
}
#endif

// The sums of a tile: acc[r] = sum over nseg segments of seglen values of row r (rp[r], advanced by
// segstride per segment) times the matching rows of b (packed [depth][NR]). E = uint32_t: bfloat16
// pairs, where seglen and segstride count pairs and b is packed [depth / 2][NR] pairs.
template <class E>
static inline void accumulate_rows(const E* const* rp, int nseg, ptrdiff_t segstride, int seglen, const E* b,
                                   __m512* acc) {
  const E* a[MR];
  DIGITS_UNROLL for (int r = 0; r < MR; r++) {
    acc[r] = _mm512_setzero_ps();
    a[r] = rp[r];
  }
  for (int s = 0; s < nseg; s++) {
    for (int q = 0; q < seglen; q++) {
      const __m512 bv = panel_row(b);
      b += NR;
      DIGITS_UNROLL for (int r = 0; r < MR; r++) acc[r] = madd(acc[r], a[r][q], bv);
    }
    DIGITS_UNROLL for (int r = 0; r < MR; r++) a[r] += segstride;
  }
}

// accumulate_rows, then the epilogue (store_tile); E = uint32_t: over bfloat16 pairs.
template <class E>
static inline void ukernel_rows(const E* const* rp, int nseg, ptrdiff_t segstride, int seglen, const E* b, float* c,
                                ptrdiff_t ldc, int mr, int nr, bool accumulate, const float* bias, bool relu) {
  __m512 acc[MR];
  accumulate_rows(rp, nseg, segstride, seglen, b, acc);
  store_tile(acc, c, ldc, mr, nr, accumulate, bias, relu);
}

// The epilogue of a tile whose rows are MR / 4 2x2 pooling windows, four rows each in the pool's scan
// order: (+ bias) (relu), then window w's maximum per column to y[w * ystride + 0 .. nr) and its flat
// index idx[4w + r] + j (first on ties, strict >; NaN never replaces) to argmax[w * ystride + 0 .. nr),
// for the first nwin windows.
static inline void store_tile_pooled(const __m512* acc, float* y, int32_t* argmax, ptrdiff_t ystride,
                                     const int32_t* idx, int nwin, int nr, const float* bias, bool relu) {
  static_assert(MR % 4 == 0, "whole windows a tile");
  const __mmask16 m = column_mask(nr);
  const __m512 zero = _mm512_setzero_ps();
  const __m512 bv = bias != nullptr ? _mm512_maskz_loadu_ps(m, bias) : zero;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  auto value = [&](int r) {
    const __m512 z = _mm512_add_ps(acc[r], bv);
    return relu ? _mm512_max_ps(z, zero) : z;  // max(NaN, 0) = 0, as store_tile
  };
  for (int w = 0; w < nwin; w++) {
    __m512 best = value(4 * w);
    __m512i at = _mm512_add_epi32(_mm512_set1_epi32(idx[4 * w]), lane);
    for (int r = 1; r < 4; r++) {
      const __m512 z = value(4 * w + r);
      const __mmask16 gt = _mm512_cmp_ps_mask(z, best, _CMP_GT_OQ);
      best = _mm512_mask_blend_ps(gt, best, z);
      at = _mm512_mask_blend_epi32(gt, at, _mm512_add_epi32(_mm512_set1_epi32(idx[4 * w + r]), lane));
    }
    _mm512_mask_storeu_ps(y + w * ystride, m, best);
    _mm512_mask_storeu_epi32(argmax + w * ystride, m, at);
  }
}

#ifdef __AVX512BF16__
#define DIGITS_DPBF16 1

// c[r][0..NR) += sum_{q<kc} a[q * lda + r] . b[q * NR + 0..NR) over bfloat16 pairs, r < mr: the rows of
// A are consecutive pairs of a [kc][lda] matrix (ROWS of them read: pad its last row). ROWS = 16 fits
// filter counts that are multiples of 16 without a partial tile.
template <int ROWS>
static inline void ukernel_cols_bf16(const uint32_t* a, ptrdiff_t lda, int kc, const uint32_t* b, float* c,
                                     ptrdiff_t ldc, int mr) {
  static_assert(ROWS <= 16, "accumulators fit the register file");
  __m512 acc[ROWS];
  DIGITS_UNROLL for (int r = 0; r < ROWS; r++) acc[r] = _mm512_setzero_ps();
  for (int q = 0; q < kc; q++) {
    const __m512bh bv = (__m512bh)_mm512_load_si512(b);
    b += NR;
    DIGITS_UNROLL for (int r = 0; r < ROWS; r++)
      acc[r] = _mm512_dpbf16_ps(acc[r], (__m512bh)_mm512_set1_epi32(int(a[r])), bv);
    a += lda;
  }
  DIGITS_UNROLL for (int r = 0; r < ROWS; r++) {
    if (r >= mr) break;
    float* cr = c + r * ldc;
    _mm512_storeu_ps(cr, _mm512_add_ps(_mm512_loadu_ps(cr), acc[r]));
  }
}
#endif

// c (ld = ldc, NR valid columns, mr valid rows) += sum_p x[poff[p] + aoff[r]] * dy[p*lddy + 0..NR)
static inline void ukernel_offs(const float* x, const int* poff, int kc, const ptrdiff_t* aoff, const float* dy,
                                ptrdiff_t lddy, float* c, ptrdiff_t ldc, int mr) {
  __m512 acc[MR];
  const float* xr[MR];
  DIGITS_UNROLL for (int r = 0; r < MR; r++) {
    acc[r] = _mm512_setzero_ps();
    xr[r] = x + aoff[r];
  }
  for (int p = 0; p < kc; p++) {
    const ptrdiff_t o = poff[p];
    const __m512 bv = _mm512_loadu_ps(dy);
    dy += lddy;
    DIGITS_UNROLL for (int r = 0; r < MR; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(xr[r][o]), bv, acc[r]);
  }
  DIGITS_UNROLL for (int r = 0; r < MR; r++) {
    if (r >= mr) break;
    float* cr = c + r * ldc;
    _mm512_storeu_ps(cr, _mm512_add_ps(_mm512_loadu_ps(cr), acc[r]));
  }
}

// 24-column panels (B packed [depth][24]): a row is a 16-float and an 8-float register.
constexpr int MR24 = 8;

template <int ROWS>
struct Acc24 {
  __m512 lo[ROWS];
  __m256 hi[ROWS];
};

// acc[r] = sum over nseg segments of seglen values of row r (rp[r], advanced by segstride per segment)
// times the matching 24-float row of b.
template <int ROWS>
static inline Acc24<ROWS> accumulate_rows24(const float* const* rp, int nseg, ptrdiff_t segstride, int seglen,
                                            const float* b) {
  Acc24<ROWS> acc;
  const float* a[ROWS];
  DIGITS_UNROLL for (int r = 0; r < ROWS; r++) {
    acc.lo[r] = _mm512_setzero_ps();
    acc.hi[r] = _mm256_setzero_ps();
    a[r] = rp[r];
  }
  for (int s = 0; s < nseg; s++) {
    for (int q = 0; q < seglen; q++) {
      const __m512 b0 = _mm512_loadu_ps(b);  // rows of 96 bytes: 32-byte aligned only
      const __m256 b1 = _mm256_load_ps(b + 16);
      b += 24;
      DIGITS_UNROLL for (int r = 0; r < ROWS; r++) {
        const __m512 av = _mm512_set1_ps(a[r][q]);
        acc.lo[r] = _mm512_fmadd_ps(av, b0, acc.lo[r]);
        acc.hi[r] = _mm256_fmadd_ps(_mm512_castps512_ps256(av), b1, acc.hi[r]);
      }
    }
    DIGITS_UNROLL for (int r = 0; r < ROWS; r++) a[r] += segstride;
  }
  return acc;
}

// ukernel_rows for 24-column panels, tiles of MR24 x 24, all 24 columns valid, mr <= MR24 valid rows;
// epilogue as ukernel_rows (no accumulate).
static inline void ukernel_rows24(const float* const* rp, int nseg, ptrdiff_t segstride, int seglen, const float* b,
                                  float* c, ptrdiff_t ldc, int mr, const float* bias, bool relu) {
  const Acc24<MR24> acc = accumulate_rows24<MR24>(rp, nseg, segstride, seglen, b);
  const __m512 zero = _mm512_setzero_ps();
  const __m512 bias0 = bias != nullptr ? _mm512_loadu_ps(bias) : zero;
  const __m256 bias1 = bias != nullptr ? _mm256_loadu_ps(bias + 16) : _mm256_setzero_ps();
  DIGITS_UNROLL for (int r = 0; r < MR24; r++) {
    if (r >= mr) break;
    float* cr = c + r * ldc;
    __m512 x0 = _mm512_add_ps(acc.lo[r], bias0);
    __m256 x1 = _mm256_add_ps(acc.hi[r], bias1);
    if (relu) {
      x0 = _mm512_max_ps(x0, zero);
      x1 = _mm256_max_ps(x1, _mm256_setzero_ps());
    }
    _mm512_storeu_ps(cr, x0);
    _mm256_storeu_ps(cr + 16, x1);
  }
}

// ukernel_rows24 whose rows are the 4 conv outputs of POOL_WINDOWS 2x2 pooling windows, each window's
// in the pool's scan order: the epilogue (+ bias, relu) stores window w's maximum per column to
// y[w * ystride + 0 .. 24) and its flat index idx[4w + r] + j (first on ties, strict >; NaN never
// replaces) to argmax[w * ystride + 0 .. 24), for the first nwin windows.
constexpr int POOL_WINDOWS = 2;
static inline void ukernel_rows24_pool(const float* const* rp, int nseg, ptrdiff_t segstride, int seglen,
                                       const float* b, float* y, int32_t* argmax, ptrdiff_t ystride,
                                       const int32_t* idx, int nwin, const float* bias, bool relu) {
  const Acc24<4 * POOL_WINDOWS> acc = accumulate_rows24<4 * POOL_WINDOWS>(rp, nseg, segstride, seglen, b);
  const __m512 zero = _mm512_setzero_ps();
  const __m512 lane = _mm512_castsi512_ps(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  const __m512 b0 = bias != nullptr ? _mm512_loadu_ps(bias) : zero;
  const __m512 b1 = bias != nullptr ? _mm512_zextps256_ps512(_mm256_loadu_ps(bias + 16)) : zero;
  for (int win = 0; win < nwin; win++)
  for (int j = 0; j < 2; j++) {
    const __m512 bj = j == 0 ? b0 : b1;
    auto value = [&](int r) {
      __m512 z = _mm512_add_ps(j == 0 ? acc.lo[4 * win + r] : _mm512_zextps256_ps512(acc.hi[4 * win + r]), bj);
      return relu ? _mm512_max_ps(z, zero) : z;
    };
    auto index = [&](int r) {
      return _mm512_add_epi32(_mm512_set1_epi32(idx[4 * win + r] + 16 * j), _mm512_castps_si512(lane));
    };
    __m512 best = value(0);
    __m512i at = index(0);
    for (int r = 1; r < 4; r++) {
      const __m512 z = value(r);
      const __mmask16 gt = _mm512_cmp_ps_mask(z, best, _CMP_GT_OQ);
      best = _mm512_mask_blend_ps(gt, best, z);
      at = _mm512_mask_blend_epi32(gt, at, index(r));
    }
    const __mmask16 m = j == 0 ? __mmask16(0xFFFF) : __mmask16(0x00FF);
    _mm512_mask_storeu_ps(y + win * ystride + 16 * j, m, best);
    _mm512_mask_storeu_epi32(argmax + win * ystride + 16 * j, m, at);
  }
}

// c (ld = ldc, 24 columns, mr <= MR24 valid rows) += sum_p x[poff[p] + aoff[r]] * dy[p*lddy + 0..24)
// (conv backward-filter when K is a multiple of 24: no column padding, dy read in place)
static inline void ukernel_offs24(const float* x, const int* poff, int kc, const ptrdiff_t* aoff, const float* dy,
                                  ptrdiff_t lddy, float* c, ptrdiff_t ldc, int mr) {
  __m512 lo[MR24];
  __m256 hi[MR24];
  const float* xr[MR24];
  DIGITS_UNROLL for (int r = 0; r < MR24; r++) {
    lo[r] = _mm512_setzero_ps();
    hi[r] = _mm256_setzero_ps();
    xr[r] = x + aoff[r];
  }
  for (int p = 0; p < kc; p++) {
    const ptrdiff_t o = poff[p];
    const __m512 b0 = _mm512_loadu_ps(dy);
    const __m256 b1 = _mm256_loadu_ps(dy + 16);
    dy += lddy;
    DIGITS_UNROLL for (int r = 0; r < MR24; r++) {
      const __m512 av = _mm512_set1_ps(xr[r][o]);
      lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
      hi[r] = _mm256_fmadd_ps(_mm512_castps512_ps256(av), b1, hi[r]);
    }
  }
  DIGITS_UNROLL for (int r = 0; r < MR24; r++) {
    if (r >= mr) break;
    float* cr = c + r * ldc;
    _mm512_storeu_ps(cr, _mm512_add_ps(_mm512_loadu_ps(cr), lo[r]));
    _mm256_storeu_ps(cr + 16, _mm256_add_ps(_mm256_loadu_ps(cr + 16), hi[r]));
  }
}

#undef DIGITS_UNROLL
#elif defined(DIGITS_AVX2)

static inline void ukernel_rows(const float* const* rp, int nseg, ptrdiff_t segstride, int seglen, const float* b,
                                float* c, ptrdiff_t ldc, int mr, int nr, bool accumulate, const float* bias,
                                bool relu) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  const float* a0 = rp[0];
  const float* a1 = rp[1];
  const float* a2 = rp[2];
  const float* a3 = rp[3];
  const float* a4 = rp[4];
  const float* a5 = rp[5];
  for (int s = 0; s < nseg; s++) {
    for (int q = 0; q < seglen; q++) {
      const __m256 b0 = _mm256_load_ps(b);
      const __m256 b1 = _mm256_load_ps(b + 8);
      b += NR;
      __m256 a;
      a = _mm256_broadcast_ss(a0 + q);
      c00 = _mm256_fmadd_ps(a, b0, c00);
      c01 = _mm256_fmadd_ps(a, b1, c01);
      a = _mm256_broadcast_ss(a1 + q);
      c10 = _mm256_fmadd_ps(a, b0, c10);
      c11 = _mm256_fmadd_ps(a, b1, c11);
      a = _mm256_broadcast_ss(a2 + q);
      c20 = _mm256_fmadd_ps(a, b0, c20);
      c21 = _mm256_fmadd_ps(a, b1, c21);
      a = _mm256_broadcast_ss(a3 + q);
      c30 = _mm256_fmadd_ps(a, b0, c30);
      c31 = _mm256_fmadd_ps(a, b1, c31);
      a = _mm256_broadcast_ss(a4 + q);
      c40 = _mm256_fmadd_ps(a, b0, c40);
      c41 = _mm256_fmadd_ps(a, b1, c41);
      a = _mm256_broadcast_ss(a5 + q);
      c50 = _mm256_fmadd_ps(a, b0, c50);
      c51 = _mm256_fmadd_ps(a, b1, c51);
    }
    a0 += segstride;
    a1 += segstride;
    a2 += segstride;
    a3 += segstride;
    a4 += segstride;
    a5 += segstride;
  }
  if (mr == MR && nr == NR) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 bias0 = zero, bias1 = zero;
    if (bias != nullptr) {
      bias0 = _mm256_loadu_ps(bias);
      bias1 = _mm256_loadu_ps(bias + 8);
    }
#define DIGITS_STORE_ROW(r, v0, v1)                              \
  {                                                              \
    float* cr = c + (r) * ldc;                                   \
    __m256 x0 = v0, x1 = v1;                                     \
    if (accumulate) {                                            \
      x0 = _mm256_add_ps(x0, _mm256_loadu_ps(cr));               \
      x1 = _mm256_add_ps(x1, _mm256_loadu_ps(cr + 8));           \
    }                                                            \
    if (bias != nullptr) {                                       \
      x0 = _mm256_add_ps(x0, bias0);                             \
      x1 = _mm256_add_ps(x1, bias1);                             \
    }                                                            \
    if (relu) { /* max(NaN, 0) = 0, as !(v > 0) ? 0 : v */      \
      x0 = _mm256_max_ps(x0, zero);                              \
      x1 = _mm256_max_ps(x1, zero);                              \
    }                                                            \
    _mm256_storeu_ps(cr, x0);                                    \
    _mm256_storeu_ps(cr + 8, x1);                                \
  }
    DIGITS_STORE_ROW(0, c00, c01)
    DIGITS_STORE_ROW(1, c10, c11)
    DIGITS_STORE_ROW(2, c20, c21)
    DIGITS_STORE_ROW(3, c30, c31)
    DIGITS_STORE_ROW(4, c40, c41)
    DIGITS_STORE_ROW(5, c50, c51)
#undef DIGITS_STORE_ROW
  } else {
    alignas(64) float acc[MR * NR];
    _mm256_store_ps(acc + 0 * NR, c00);
    _mm256_store_ps(acc + 0 * NR + 8, c01);
    _mm256_store_ps(acc + 1 * NR, c10);
    _mm256_store_ps(acc + 1 * NR + 8, c11);
    _mm256_store_ps(acc + 2 * NR, c20);
    _mm256_store_ps(acc + 2 * NR + 8, c21);
    _mm256_store_ps(acc + 3 * NR, c30);
    _mm256_store_ps(acc + 3 * NR + 8, c31);
    _mm256_store_ps(acc + 4 * NR, c40);
    _mm256_store_ps(acc + 4 * NR + 8, c41);
    _mm256_store_ps(acc + 5 * NR, c50);
    _mm256_store_ps(acc + 5 * NR + 8, c51);
    store_tile_scalar(acc, c, ldc, mr, nr, accumulate, bias, relu);
  }
}

// c (ld = ldc, NR valid columns, mr valid rows) += sum_p x[poff[p] + aoff[r]] * dy[p*lddy + 0..NR)
static inline void ukernel_offs(const float* x, const int* poff, int kc, const ptrdiff_t* aoff, const float* dy,
                                ptrdiff_t lddy, float* c, ptrdiff_t ldc, int mr) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  const float* x0 = x + aoff[0];
  const float* x1 = x + aoff[1];
  const float* x2 = x + aoff[2];
  const float* x3 = x + aoff[3];
  const float* x4 = x + aoff[4];
  const float* x5 = x + aoff[5];
  for (int p = 0; p < kc; p++) {
    const ptrdiff_t o = poff[p];
    const __m256 b0 = _mm256_loadu_ps(dy);
    const __m256 b1 = _mm256_loadu_ps(dy + 8);
    dy += lddy;
    __m256 a;
    a = _mm256_broadcast_ss(x0 + o);
    c00 = _mm256_fmadd_ps(a, b0, c00);
    c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(x1 + o);
    c10 = _mm256_fmadd_ps(a, b0, c10);
    c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(x2 + o);
    c20 = _mm256_fmadd_ps(a, b0, c20);
    c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(x3 + o);
    c30 = _mm256_fmadd_ps(a, b0, c30);
    c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(x4 + o);
    c40 = _mm256_fmadd_ps(a, b0, c40);
    c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(x5 + o);
    c50 = _mm256_fmadd_ps(a, b0, c50);
    c51 = _mm256_fmadd_ps(a, b1, c51);
  }
  alignas(64) float acc[MR * NR];
  _mm256_store_ps(acc + 0 * NR, c00);
  _mm256_store_ps(acc + 0 * NR + 8, c01);
  _mm256_store_ps(acc + 1 * NR, c10);
  _mm256_store_ps(acc + 1 * NR + 8, c11);
  _mm256_store_ps(acc + 2 * NR, c20);
  _mm256_store_ps(acc + 2 * NR + 8, c21);
  _mm256_store_ps(acc + 3 * NR, c30);
  _mm256_store_ps(acc + 3 * NR + 8, c31);
  _mm256_store_ps(acc + 4 * NR, c40);
  _mm256_store_ps(acc + 4 * NR + 8, c41);
  _mm256_store_ps(acc + 5 * NR, c50);
  _mm256_store_ps(acc + 5 * NR + 8, c51);
  for (int r = 0; r < mr; r++) {
    float* cr = c + r * ldc;
    _mm256_storeu_ps(cr, _mm256_add_ps(_mm256_loadu_ps(cr), _mm256_load_ps(acc + r * NR)));
    _mm256_storeu_ps(cr + 8, _mm256_add_ps(_mm256_loadu_ps(cr + 8), _mm256_load_ps(acc + r * NR + 8)));
  }
}

// The 4 x 24 accumulation shared by ukernel_rows24 and ukernel_rows24_pool: c[r][0..3) (8 columns each)
// = sum over nseg segments of seglen values of row r (rp[r], advanced by segstride per segment) times
// the matching 24-float row of b (packed [depth][24]).
struct Acc24 {
  __m256 c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32;
};

static inline Acc24 accumulate_rows24(const float* const* rp, int nseg, ptrdiff_t segstride, int seglen,
                                      const float* b) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c02 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps(), c12 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c22 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c32 = _mm256_setzero_ps();
  const float* a0 = rp[0];
  const float* a1 = rp[1];
  const float* a2 = rp[2];
  const float* a3 = rp[3];
  for (int s = 0; s < nseg; s++) {
    for (int q = 0; q < seglen; q++) {
      const __m256 b0 = _mm256_load_ps(b);
      const __m256 b1 = _mm256_load_ps(b + 8);
      const __m256 b2 = _mm256_load_ps(b + 16);
      b += 24;
      __m256 a;
      a = _mm256_broadcast_ss(a0 + q);
      c00 = _mm256_fmadd_ps(a, b0, c00);
      c01 = _mm256_fmadd_ps(a, b1, c01);
      c02 = _mm256_fmadd_ps(a, b2, c02);
      a = _mm256_broadcast_ss(a1 + q);
      c10 = _mm256_fmadd_ps(a, b0, c10);
      c11 = _mm256_fmadd_ps(a, b1, c11);
      c12 = _mm256_fmadd_ps(a, b2, c12);
      a = _mm256_broadcast_ss(a2 + q);
      c20 = _mm256_fmadd_ps(a, b0, c20);
      c21 = _mm256_fmadd_ps(a, b1, c21);
      c22 = _mm256_fmadd_ps(a, b2, c22);
      a = _mm256_broadcast_ss(a3 + q);
      c30 = _mm256_fmadd_ps(a, b0, c30);
      c31 = _mm256_fmadd_ps(a, b1, c31);
      c32 = _mm256_fmadd_ps(a, b2, c32);
    }
    a0 += segstride;
    a1 += segstride;
    a2 += segstride;
    a3 += segstride;
  }
  return Acc24{c00, c01, c02, c10, c11, c12, c20, c21, c22, c30, c31, c32};
}

// ukernel_rows for 24-column panels (B packed [depth][24]), tiles of MR24 x 24, all 24 columns valid,
// mr <= MR24 valid rows; epilogue as ukernel_rows (no accumulate).
static inline void ukernel_rows24(const float* const* rp, int nseg, ptrdiff_t segstride, int seglen, const float* b,
                                  float* c, ptrdiff_t ldc, int mr, const float* bias, bool relu) {
  const Acc24 acc = accumulate_rows24(rp, nseg, segstride, seglen, b);
  const __m256 zero = _mm256_setzero_ps();
  __m256 bias0 = zero, bias1 = zero, bias2 = zero;
  if (bias != nullptr) {
    bias0 = _mm256_loadu_ps(bias);
    bias1 = _mm256_loadu_ps(bias + 8);
    bias2 = _mm256_loadu_ps(bias + 16);
  }
#define DIGITS_STORE_ROW24(r, v0, v1, v2)                                       \
  if ((r) < mr) {                                                               \
    float* cr = c + (r) * ldc;                                                  \
    __m256 x0 = _mm256_add_ps(v0, bias0), x1 = _mm256_add_ps(v1, bias1),        \
           x2 = _mm256_add_ps(v2, bias2);                                       \
    if (relu) {                                                                 \
      x0 = _mm256_max_ps(x0, zero);                                             \
      x1 = _mm256_max_ps(x1, zero);                                             \
      x2 = _mm256_max_ps(x2, zero);                                             \
    }                                                                           \
    _mm256_storeu_ps(cr, x0);                                                   \
    _mm256_storeu_ps(cr + 8, x1);                                               \
    _mm256_storeu_ps(cr + 16, x2);                                              \
  }
  DIGITS_STORE_ROW24(0, acc.c00, acc.c01, acc.c02)
  DIGITS_STORE_ROW24(1, acc.c10, acc.c11, acc.c12)
  DIGITS_STORE_ROW24(2, acc.c20, acc.c21, acc.c22)
  DIGITS_STORE_ROW24(3, acc.c30, acc.c31, acc.c32)
#undef DIGITS_STORE_ROW24
}

// ukernel_rows24 whose 4 rows are the 4 conv outputs of one 2x2 pooling window (POOL_WINDOWS = 1),
// in the pool's scan order: the epilogue (+ bias, relu) stores their maximum per column to y[0 .. 24)
// and its flat index idx[r] + j (first on ties, strict >; NaN never replaces) to argmax[0 .. 24).
constexpr int POOL_WINDOWS = 1;
static inline void ukernel_rows24_pool(const float* const* rp, int nseg, ptrdiff_t segstride, int seglen,
                                       const float* b, float* y, int32_t* argmax, ptrdiff_t, const int32_t* idx,
                                       int, const float* bias, bool relu) {
  const Acc24 acc = accumulate_rows24(rp, nseg, segstride, seglen, b);
  const __m256 zero = _mm256_setzero_ps();
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256 v[4][3] = {{acc.c00, acc.c01, acc.c02}, {acc.c10, acc.c11, acc.c12}, {acc.c20, acc.c21, acc.c22},
                    {acc.c30, acc.c31, acc.c32}};
  for (int j = 0; j < 3; j++) {
    const __m256 bj = bias != nullptr ? _mm256_loadu_ps(bias + 8 * j) : zero;
    __m256 best = _mm256_add_ps(v[0][j], bj);
    if (relu) best = _mm256_max_ps(best, zero);
    __m256i at = _mm256_add_epi32(_mm256_set1_epi32(idx[0] + 8 * j), lane);
    for (int r = 1; r < 4; r++) {
      __m256 z = _mm256_add_ps(v[r][j], bj);
      if (relu) z = _mm256_max_ps(z, zero);
      const __m256 gt = _mm256_cmp_ps(z, best, _CMP_GT_OQ);
      best = _mm256_blendv_ps(best, z, gt);
      const __m256i ar = _mm256_add_epi32(_mm256_set1_epi32(idx[r] + 8 * j), lane);
      at = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(at), _mm256_castsi256_ps(ar), gt));
    }
    _mm256_storeu_ps(y + 8 * j, best);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(argmax + 8 * j), at);
  }
}

// c (ld = ldc, 24 columns, mr <= 4 valid rows) += sum_p x[poff[p] + aoff[r]] * dy[p*lddy + 0..24)
// (conv backward-filter when K is a multiple of 24: no column padding, dy read in place)
constexpr int MR24 = 4;
static inline void ukernel_offs24(const float* x, const int* poff, int kc, const ptrdiff_t* aoff, const float* dy,
                                  ptrdiff_t lddy, float* c, ptrdiff_t ldc, int mr) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c02 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps(), c12 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c22 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c32 = _mm256_setzero_ps();
  const float* x0 = x + aoff[0];
  const float* x1 = x + aoff[1];
  const float* x2 = x + aoff[2];
  const float* x3 = x + aoff[3];
  for (int p = 0; p < kc; p++) {
    const ptrdiff_t o = poff[p];
    const __m256 b0 = _mm256_loadu_ps(dy);
    const __m256 b1 = _mm256_loadu_ps(dy + 8);
    const __m256 b2 = _mm256_loadu_ps(dy + 16);
    dy += lddy;
    __m256 a;
    a = _mm256_broadcast_ss(x0 + o);
    c00 = _mm256_fmadd_ps(a, b0, c00);
    c01 = _mm256_fmadd_ps(a, b1, c01);
    c02 = _mm256_fmadd_ps(a, b2, c02);
    a = _mm256_broadcast_ss(x1 + o);
    c10 = _mm256_fmadd_ps(a, b0, c10);
    c11 = _mm256_fmadd_ps(a, b1, c11);
    c12 = _mm256_fmadd_ps(a, b2, c12);
    a = _mm256_broadcast_ss(x2 + o);
    c20 = _mm256_fmadd_ps(a, b0, c20);
    c21 = _mm256_fmadd_ps(a, b1, c21);
    c22 = _mm256_fmadd_ps(a, b2, c22);
    a = _mm256_broadcast_ss(x3 + o);
    c30 = _mm256_fmadd_ps(a, b0, c30);
    c31 = _mm256_fmadd_ps(a, b1, c31);
    c32 = _mm256_fmadd_ps(a, b2, c32);
  }
#define DIGITS_ADD_ROW(r, v0, v1, v2)                                  \
  if ((r) < mr) {                                                      \
    float* cr = c + (r) * ldc;                                         \
    _mm256_storeu_ps(cr, _mm256_add_ps(_mm256_loadu_ps(cr), v0));      \
    _mm256_storeu_ps(cr + 8, _mm256_add_ps(_mm256_loadu_ps(cr + 8), v1)); \
    _mm256_storeu_ps(cr + 16, _mm256_add_ps(_mm256_loadu_ps(cr + 16), v2)); \
  }
  DIGITS_ADD_ROW(0, c00, c01, c02)
  DIGITS_ADD_ROW(1, c10, c11, c12)
  DIGITS_ADD_ROW(2, c20, c21, c22)
  DIGITS_ADD_ROW(3, c30, c31, c32)
#undef DIGITS_ADD_ROW
}

#elif defined(__wasm_simd128__)
// WebAssembly SIMD (the wasm build, native/wasm-build.mjs): 4-float vectors, no FMA (a multiply and an add,
// as the portable loops round). V8 gives wasm 15 vector registers on x86-64 and loads every row's broadcast
// A value ahead, so a tile is computed in passes of 2 rows: 2 x 4 vectors (16 columns) are 8 accumulators,
// with the 4 B vectors, 2 broadcasts and a product 15 registers. 6 x 2-vector passes spilled 4 accumulators
// a step and ran at half the speed (28 against 50 GFLOP/s on one Zen 5 core). Each pass reads B again (L1).

// acc[r][col0 .. col0 + 4 VECS) (r < ROWS) = sum_{s, q} rp[r][s*segstride + q] * b[(s*seglen + q)*pw + col0 ..]
template <int ROWS, int VECS>
static inline void wasm_rows_pass(const float* const* rp, int nseg, ptrdiff_t segstride, int seglen, const float* b,
                                  int pw, int col0, float* acc, int ldacc) {
  v128_t c[ROWS][VECS];
  for (int r = 0; r < ROWS; r++)
    for (int v = 0; v < VECS; v++) c[r][v] = wasm_f32x4_splat(0.0f);
  const float* bp = b + col0;
  for (int s = 0; s < nseg; s++) {
    const ptrdiff_t off = s * segstride;
    for (int q = 0; q < seglen; q++) {
      v128_t bv[VECS];
      for (int v = 0; v < VECS; v++) bv[v] = wasm_v128_load(bp + 4 * v);
      bp += pw;
      for (int r = 0; r < ROWS; r++) {
        const v128_t a = wasm_v128_load32_splat(rp[r] + off + q);
        for (int v = 0; v < VECS; v++) c[r][v] = wasm_f32x4_add(c[r][v], wasm_f32x4_mul(a, bv[v]));
      }
    }
  }
  for (int r = 0; r < ROWS; r++)
    for (int v = 0; v < VECS; v++) wasm_v128_store(acc + r * ldacc + col0 + 4 * v, c[r][v]);
}

// acc[r][col0 .. col0 + 4 VECS) (r < ROWS) = sum_p x[poff[p] + aoff[r]] * dy[p*lddy + col0 ..]
template <int ROWS, int VECS>
static inline void wasm_offs_pass(const float* x, const int* poff, int kc, const ptrdiff_t* aoff, const float* dy,
                                  ptrdiff_t lddy, int col0, float* acc, int ldacc) {
  v128_t c[ROWS][VECS];
  for (int r = 0; r < ROWS; r++)
    for (int v = 0; v < VECS; v++) c[r][v] = wasm_f32x4_splat(0.0f);
  const float* xr[ROWS];
  for (int r = 0; r < ROWS; r++) xr[r] = x + aoff[r];
  const float* d = dy + col0;
  for (int p = 0; p < kc; p++) {
    const ptrdiff_t o = poff[p];
    v128_t bv[VECS];
    for (int v = 0; v < VECS; v++) bv[v] = wasm_v128_load(d + 4 * v);
    d += lddy;
    for (int r = 0; r < ROWS; r++) {
      const v128_t a = wasm_v128_load32_splat(xr[r] + o);
      for (int v = 0; v < VECS; v++) c[r][v] = wasm_f32x4_add(c[r][v], wasm_f32x4_mul(a, bv[v]));
    }
  }
  for (int r = 0; r < ROWS; r++)
    for (int v = 0; v < VECS; v++) wasm_v128_store(acc + r * ldacc + col0 + 4 * v, c[r][v]);
}

static inline void ukernel_rows(const float* const* rp, int nseg, ptrdiff_t segstride, int seglen, const float* b,
                                float* c, ptrdiff_t ldc, int mr, int nr, bool accumulate, const float* bias,
                                bool relu) {
  alignas(16) float acc[MR * NR];
  for (int r0 = 0; r0 < MR; r0 += 2) wasm_rows_pass<2, 4>(rp + r0, nseg, segstride, seglen, b, NR, 0, acc + r0 * NR, NR);
  store_tile_scalar(acc, c, ldc, mr, nr, accumulate, bias, relu);
}

static inline void ukernel_offs(const float* x, const int* poff, int kc, const ptrdiff_t* aoff, const float* dy,
                                ptrdiff_t lddy, float* c, ptrdiff_t ldc, int mr) {
  alignas(16) float acc[MR * NR];
  for (int r0 = 0; r0 < MR; r0 += 2) wasm_offs_pass<2, 4>(x, poff, kc, aoff + r0, dy, lddy, 0, acc + r0 * NR, NR);
  for (int r = 0; r < mr; r++)
    for (int j = 0; j < NR; j++) c[r * ldc + j] += acc[r * NR + j];
}

constexpr int MR24 = 4;
static inline void ukernel_rows24(const float* const* rp, int nseg, ptrdiff_t segstride, int seglen, const float* b,
                                  float* c, ptrdiff_t ldc, int mr, const float* bias, bool relu) {
  alignas(16) float acc[MR24 * 24];
  for (int r0 = 0; r0 < MR24; r0 += 2)
    for (int col0 = 0; col0 < 24; col0 += 12) wasm_rows_pass<2, 3>(rp + r0, nseg, segstride, seglen, b, 24, col0, acc + r0 * 24, 24);
  store_tile_scalar(acc, c, ldc, mr, 24, false, bias, relu, 24);
}

static inline void ukernel_offs24(const float* x, const int* poff, int kc, const ptrdiff_t* aoff, const float* dy,
                                  ptrdiff_t lddy, float* c, ptrdiff_t ldc, int mr) {
  alignas(16) float acc[MR24 * 24];
  for (int r0 = 0; r0 < MR24; r0 += 2)
    for (int col0 = 0; col0 < 24; col0 += 12) wasm_offs_pass<2, 3>(x, poff, kc, aoff + r0, dy, lddy, col0, acc + r0 * 24, 24);
  for (int r = 0; r < mr; r++)
    for (int j = 0; j < 24; j++) c[r * ldc + j] += acc[r * 24 + j];
}

#else  // portable fallback

static inline void ukernel_rows(const float* const* rp, int nseg, ptrdiff_t segstride, int seglen, const float* b,
                                float* c, ptrdiff_t ldc, int mr, int nr, bool accumulate, const float* bias,
                                bool relu) {
  float acc[MR * NR] = {};
  for (int s = 0; s < nseg; s++) {
    for (int q = 0; q < seglen; q++) {
      for (int r = 0; r < MR; r++) {
        const float a = rp[r][s * segstride + q];
        for (int j = 0; j < NR; j++) acc[r * NR + j] += a * b[j];
      }
      b += NR;
    }
  }
  store_tile_scalar(acc, c, ldc, mr, nr, accumulate, bias, relu);
}

static inline void ukernel_offs(const float* x, const int* poff, int kc, const ptrdiff_t* aoff, const float* dy,
                                ptrdiff_t lddy, float* c, ptrdiff_t ldc, int mr) {
  float acc[MR * NR] = {};
  for (int p = 0; p < kc; p++) {
    for (int r = 0; r < MR; r++) {
      const float a = x[poff[p] + aoff[r]];
      for (int j = 0; j < NR; j++) acc[r * NR + j] += a * dy[j];
    }
    dy += lddy;
  }
  for (int r = 0; r < mr; r++)
    for (int j = 0; j < NR; j++) c[r * ldc + j] += acc[r * NR + j];
}

static inline void ukernel_rows24(const float* const* rp, int nseg, ptrdiff_t segstride, int seglen, const float* b,
                                  float* c, ptrdiff_t ldc, int mr, const float* bias, bool relu) {
  float acc[4 * 24] = {};
  for (int s = 0; s < nseg; s++) {
    for (int q = 0; q < seglen; q++) {
      for (int r = 0; r < 4; r++) {
        const float a = rp[r][s * segstride + q];
        for (int j = 0; j < 24; j++) acc[r * 24 + j] += a * b[j];
      }
      b += 24;
    }
  }
  store_tile_scalar(acc, c, ldc, mr, 24, false, bias, relu, 24);
}

constexpr int MR24 = 4;
static inline void ukernel_offs24(const float* x, const int* poff, int kc, const ptrdiff_t* aoff, const float* dy,
                                  ptrdiff_t lddy, float* c, ptrdiff_t ldc, int mr) {
  float acc[MR24 * 24] = {};
  for (int p = 0; p < kc; p++) {
    for (int r = 0; r < MR24; r++) {
      const float a = x[poff[p] + aoff[r]];
      for (int j = 0; j < 24; j++) acc[r * 24 + j] += a * dy[j];
    }
    dy += lddy;
  }
  for (int r = 0; r < mr; r++)
    for (int j = 0; j < 24; j++) c[r * ldc + j] += acc[r * 24 + j];
}

#endif

}  // namespace digits
