// The bfloat16 conv kernels (see amx.h for the contract), on AMX tiles where the CPU has them.
//
// Layout (AMX): a tile is up to 16 rows of 64 bytes; TDPBF16PS C[16x16 f32] += A[16x32 bf16] B[16x32 bf16]
// with B in "VNNI" order: B row p holds the pairs (B[2p][j], B[2p+1][j]) for j = 0..15.
//
// Forward (and backward input, which is the same correlation over the padded dy with the kernel
// flipped and transposed): every image is copied once, as bfloat16, into a zero-padded frame of
// hs x ws pixels (hs = OH + kh - 1, ws = OW + kw - 1) with its channels padded to cp (a multiple
// of 32). Output pixel (oy, ox) becomes the linear position m = oy * ws + ox, and its input for tap
// (i, j) is frame pixel m + i * ws + j: 16 consecutive m read 16 consecutive frame pixels, so an A
// tile is loaded straight from the frame (row stride cp * 2 bytes) and im2col is never made. The
// positions with ox >= OW (kw - 1 per row) are computed and dropped. A tile step is
// 2 row tiles x 2 column tiles (32 pixels x 32 filters) accumulated over taps and channel blocks.
//
// Filter gradient: dw[t, c, k] = sum over images and m of frame[m + off(t), c] * dy[m, k], with dy
// zero at the dropped positions. A = the frame transposed (rows: 16 channels, columns: 32
// consecutive pixels from any offset), B = dy in VNNI pairs of pixels. Work is split over
// (channel pair of blocks, filter pair of blocks), every tap inside, and over a fixed number of
// image chunks (set by the thread count), whose partial sums are added in chunk order:
// deterministic for a given thread count, as the float32 kernels.
#include "amx.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "pool.h"

// GCC 12's AVX-512 intrinsic headers warn that their own placeholder vectors "may be used
// uninitialized" wherever they are inlined (GCC bug 105593, fixed in GCC 13): pages of false
// warnings that make a good build look like a failed one.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#if defined(__AVX512BF16__)
#include <immintrin.h>
#endif

#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AVX512BF16__) && defined(__linux__)
#define DIGITS_AMX 1
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace digits {

namespace {

inline int ceil_div(int a, int b) { return (a + b - 1) / b; }
[[maybe_unused]] inline int round_up(int a, int b) { return ceil_div(a, b) * b; }

// The bfloat16 bits of f: round to nearest even; denormals (and zero) to a signed zero; NaN stays NaN.
inline uint16_t bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0) return uint16_t((u >> 16) & 0x8000u);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0) return uint16_t((u >> 16) | 0x0040u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

inline float bf16_float(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

ThreadPool& pool() { return ThreadPool::instance(); }

// Scratch of the bf16 paths (calls are serialised by the addon's mutex).
struct Bf16Scratch {
  Buffer x, w, dy, part, z;
};
Bf16Scratch& scratch() {
  static Bf16Scratch s;
  return s;
}

// A buffer of at least n uint16 values.
[[maybe_unused]] uint16_t* u16(Buffer& b, size_t n) { return reinterpret_cast<uint16_t*>(b.get(n / 2 + 16)); }

}  // namespace

namespace {
void round_bf16_range(const float* src, float* dst, size_t len) {
  size_t i = 0;
#if defined(__AVX512BF16__)
  for (; i + 16 <= len; i += 16) {
    const __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
    const __m512i wide = _mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)h), 16);
    _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(wide));
  }
#endif
  for (; i < len; i++) dst[i] = bf16_float(bf16_bits(src[i]));
}
}  // namespace

void round_bf16(const float* src, float* dst, size_t len) {
  constexpr size_t kChunk = size_t(1) << 16;
  if (len <= kChunk) return round_bf16_range(src, dst, len);
  pool().run(int((len + kChunk - 1) / kChunk), [&](int task, int) {
    const size_t b = size_t(task) * kChunk, e = std::min(len, b + kChunk);
    round_bf16_range(src + b, dst + b, e - b);
  });
}

#ifdef DIGITS_AMX

namespace {

struct TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// Eight tiles of 16 rows x 64 bytes; loaded at the start of every task (the config is per thread).
void load_tiles() {
  alignas(64) TileConfig cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int i = 0; i < 8; i++) {
    cfg.rows[i] = 16;
    cfg.colsb[i] = 64;
  }
  _tile_loadconfig(&cfg);
}

// The first n of 16 lanes (n clamped to 0..16).
inline __mmask16 first_lanes(int n) {
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// Converts 'count' floats to bfloat16 (zeros from count to width, width a multiple of 16).
inline void convert_row(const float* s, uint16_t* d, int count, int width) {
  for (int j = 0; j < width; j += 16) {
    const __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(first_lanes(count - j), s + std::max(0, std::min(j, count))));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + j), (__m256i)h);
  }
}

// In-register transpose of a 16 x 16 float block: r[i][j] becomes r[j][i].
inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; i++) {  // per 128-bit lane L: (r2i[4L], r2i+1[4L], r2i[4L+1], r2i+1[4L+1]) and the next two
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {  // u[4i + j], lane L: column 4L + j of rows 4i .. 4i + 3
    u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int j = 0; j < 4; j++) {  // gather lane L of u[j], u[4 + j], u[8 + j], u[12 + j]: column 4L + j
    const __m512 a = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), b = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
    const __m512 c = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88), d = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
    r[j] = _mm512_shuffle_f32x4(a, c, 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(a, c, 0xDD);
    r[4 + j] = _mm512_shuffle_f32x4(b, d, 0x88);
    r[12 + j] = _mm512_shuffle_f32x4(b, d, 0xDD);
  }
}

// The pixel frames of the correlation: image i of src[n, h, w, c] placed at (top, left) in a zero frame
// of hs x ws pixels, pixel-major, cp channels (multiple of 32), S pixels per image (>= hs * ws).
void make_frames(const float* src, int n, int h, int w, int c, int top, int left, int hs, int ws, int S, int cp,
                 uint16_t* out) {
  const int rows_per_image = hs + 1;  // the last "row" is the slack after the frame
  pool().run(n * rows_per_image, [&](int task, int) {
    const int img = task / rows_per_image, yp = task % rows_per_image;
    uint16_t* base = out + size_t(img) * S * cp;
    if (yp == hs) {
      std::memset(base + size_t(hs) * ws * cp, 0, size_t(S - hs * ws) * cp * 2);
      return;
    }
    uint16_t* dst = base + size_t(yp) * ws * cp;
    const int iy = yp - top;
    if (iy < 0 || iy >= h) {
      std::memset(dst, 0, size_t(ws) * cp * 2);
      return;
    }
    for (int xp = 0; xp < ws; xp++) {
      const int ix = xp - left;
      uint16_t* d = dst + size_t(xp) * cp;
      if (ix < 0 || ix >= w) {
        std::memset(d, 0, size_t(cp) * 2);
      } else {
        convert_row(src + ((size_t(img) * h + iy) * w + ix) * c, d, c, cp);
      }
    }
  });
}

// Packs the correlation kernel get(t, ci, co) (t = i * kw + j) as B tiles:
// [t][ci / 32][co / 16][16 pairs][16][2], zero beyond cin / cout.
template <class Get>
uint16_t* pack_kernel(Buffer& buf, int taps, int cin, int cout, int cp, int kp, Get get) {
  const int CB = cp / 32, KB = kp / 16;
  uint16_t* out = u16(buf, size_t(taps) * cp * kp);
  for (int t = 0; t < taps; t++)
    for (int cb = 0; cb < CB; cb++)
      for (int kb = 0; kb < KB; kb++) {
        uint16_t* tile = out + ((size_t(t) * CB + cb) * KB + kb) * 512;
        for (int p = 0; p < 16; p++)
          for (int j = 0; j < 16; j++)
            for (int e = 0; e < 2; e++) {
              const int ci = cb * 32 + 2 * p + e, co = kb * 16 + j;
              tile[(p * 16 + j) * 2 + e] = ci < cin && co < cout ? bf16_bits(get(t, ci, co)) : uint16_t(0);
            }
      }
  return out;
}

// y[n, oh, ow, cout] = act(corr(frames, kernel) + bias): the frames from make_frames (cp channels,
// S pixels per image, rows of ws pixels), the kernel from pack_kernel (kp = cout rounded up to 32).
// Only frame rows lo..hi-1 hold the image; the rest are zero padding, so a tap whose rows, for every
// output row of a tile step, fall outside them adds nothing and is skipped (the sums are unchanged). The
// input gradient of a 'valid' conv is where this pays: its frame is dy with kh - 1 zero rows on each side,
// so a third of the taps of best's last conv read nothing but zeros.
void corr_frames(const uint16_t* frames, int n, int S, int cp, int ws, int lo, int hi, int oh, int ow, int kh, int kw,
                 const uint16_t* kernel, int cout, int kp, float* y, const float* bias, bool relu) {
  const int M = oh * ws, MT = ceil_div(M, 32), CB = cp / 32, KB = kp / 16, taps = kh * kw;
  const int T = pool().threads();
  const int units = n * MT;
  const int per = std::max(1, units / (8 * T));
  const int ntasks = ceil_div(units, per);
  pool().run(ntasks, [&](int task, int) {
    load_tiles();
    alignas(64) float acc[32 * 32];
    for (int u = task * per; u < std::min(units, (task + 1) * per); u++) {
      const int img = u / MT, m0 = (u % MT) * 32;
      const int y0 = m0 / ws, y1 = std::min(M - 1, m0 + 31) / ws;  // the output rows of this tile step
      const uint16_t* fr = frames + size_t(img) * S * cp;
      for (int kb = 0; kb < KB; kb += 2) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int t = 0; t < taps; t++) {
          const int ti = t / kw;
          if (y0 + ti >= hi || y1 + ti < lo) continue;  // frame rows y0 + ti .. y1 + ti are all padding
          const int off = ti * ws + (t % kw);
          for (int cb = 0; cb < CB; cb++) {
            const uint16_t* a = fr + size_t(m0 + off) * cp + cb * 32;
            const uint16_t* b = kernel + ((size_t(t) * CB + cb) * KB + kb) * 512;
            _tile_loadd(4, a, cp * 2);
            _tile_loadd(5, a + size_t(16) * cp, cp * 2);
            _tile_loadd(6, b, 64);
            _tile_loadd(7, b + 512, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
          }
        }
        _tile_stored(0, acc, 128);
        _tile_stored(1, acc + 16, 128);
        _tile_stored(2, acc + 16 * 32, 128);
        _tile_stored(3, acc + 16 * 32 + 16, 128);
        const int k0 = kb * 16, nk = std::min(32, cout - k0);
        if (nk <= 0) continue;
        const __mmask16 m_lo = first_lanes(nk), m_hi = first_lanes(nk - 16);
        const __m512 b_lo = bias != nullptr ? _mm512_maskz_loadu_ps(m_lo, bias + k0) : _mm512_setzero_ps();
        const __m512 b_hi = bias != nullptr && m_hi != 0 ? _mm512_maskz_loadu_ps(m_hi, bias + k0 + 16) : _mm512_setzero_ps();
        const __m512 zero = _mm512_setzero_ps();
        for (int r = 0; r < 32; r++) {
          const int m = m0 + r;
          if (m >= M) break;
          const int oy = m / ws, ox = m - oy * ws;
          if (ox >= ow) continue;
          float* dst = y + ((size_t(img) * oh + oy) * ow + ox) * cout + k0;
          __m512 lo = _mm512_add_ps(_mm512_load_ps(acc + r * 32), b_lo);
          __m512 hi = _mm512_add_ps(_mm512_load_ps(acc + r * 32 + 16), b_hi);
          if (relu) {
            lo = _mm512_max_ps(lo, zero);
            hi = _mm512_max_ps(hi, zero);
          }
          _mm512_mask_storeu_ps(dst, m_lo, lo);
          if (m_hi != 0) _mm512_mask_storeu_ps(dst + 16, m_hi, hi);
        }
      }
    }
    _tile_release();
  });
}

// Frame pixels per image: the frame plus the slack the last tile step reads past it.
int frame_pixels(int oh, int ws, int hs, int kh, int kw) {
  const int M = oh * ws;
  return std::max(hs * ws, round_up(M, 32) + (kh - 1) * ws + (kw - 1)) + 1;
}

bool amx_ok(const ConvGeom& g, int cin) { return amx_available() && g.sh == 1 && g.sw == 1 && cin >= 8; }

// y = act(conv(x, w) + b) on the tiles (stride 1)
void amx_forward(const float* x, const float* w, const float* b, float* y, const ConvGeom& g, bool relu) {
  Bf16Scratch& s = scratch();
  const int hs = g.oh + g.kh - 1, ws = g.ow + g.kw - 1, cp = round_up(g.c, 32), kp = round_up(g.k, 32);
  const int S = frame_pixels(g.oh, ws, hs, g.kh, g.kw);
  uint16_t* frames = u16(s.x, size_t(g.n) * S * cp);
  make_frames(x, g.n, g.h, g.w, g.c, g.pt, g.pl, hs, ws, S, cp, frames);
  const int C = g.c, K = g.k;
  const uint16_t* kernel = pack_kernel(s.w, g.kh * g.kw, C, K, cp, kp,
                                       [&](int t, int c, int k) { return w[(size_t(t) * C + c) * K + k]; });
  corr_frames(frames, g.n, S, cp, ws, g.pt, g.pt + g.h, g.oh, g.ow, g.kh, g.kw, kernel, K, kp, y, b, relu);
}

// dx = the full correlation of dy with the flipped, transposed kernel (stride 1)
void amx_backward_input(const float* dy, const float* w, float* dx, const ConvGeom& g) {
  Bf16Scratch& s = scratch();
  const int hs = g.h + g.kh - 1, ws = g.w + g.kw - 1, cp = round_up(g.k, 32), kp = round_up(g.c, 32);
  const int S = frame_pixels(g.h, ws, hs, g.kh, g.kw);
  uint16_t* frames = u16(s.dy, size_t(g.n) * S * cp);
  const int top = g.kh - 1 - g.pt;  // dy's first row in the frame; rows top .. top + OH - 1 hold it
  make_frames(dy, g.n, g.oh, g.ow, g.k, top, g.kw - 1 - g.pl, hs, ws, S, cp, frames);
  const int C = g.c, K = g.k, kh = g.kh, kw = g.kw;
  const uint16_t* kernel = pack_kernel(s.w, kh * kw, K, C, cp, kp, [&](int t, int k, int c) {
    const int i = kh - 1 - t / kw, j = kw - 1 - t % kw;
    return w[((size_t(i) * kw + j) * C + c) * K + k];
  });
  corr_frames(frames, g.n, S, cp, ws, top, top + g.oh, g.h, g.w, kh, kw, kernel, C, kp, dx, nullptr, false);
}

// dw from x and dy on the tiles (stride 1); db in float32 from dy
void amx_backward_filter(const float* x, const float* dy, float* dw, float* db, const ConvGeom& g) {
  Bf16Scratch& s = scratch();
  const int N = g.n, C = g.c, K = g.k, kh = g.kh, kw = g.kw, taps = kh * kw;
  const int hs = g.oh + kh - 1, ws = g.ow + kw - 1, cp = round_up(C, 32), kp = round_up(K, 32);
  const int M = g.oh * ws, Mp = round_up(M, 32);
  const int S = round_up(frame_pixels(g.oh, ws, hs, kh, kw), 32);
  // xt[n][cp][S]: the frame transposed, channel-major
  uint16_t* xt = u16(s.x, size_t(N) * cp * S);
  const int rows_per_image = hs + 1;
  pool().run(N * rows_per_image, [&](int task, int) {
    const int img = task / rows_per_image, yp = task % rows_per_image;
    uint16_t* base = xt + size_t(img) * cp * S;
    if (yp == hs) {  // slack after the frame, and the padding channels
      for (int c = 0; c < cp; c++) {
        uint16_t* row = base + size_t(c) * S;
        if (c >= C) std::memset(row, 0, size_t(S) * 2);
        else std::memset(row + size_t(hs) * ws, 0, size_t(S - hs * ws) * 2);
      }
      return;
    }
    // Blocks of 16 frame pixels x 16 channels: loaded as 16 pixel vectors, transposed in registers into
    // 16 channel vectors, converted and stored as runs of the channels' rows. (A scalar transpose, 2 bytes
    // per cache line touched, was slower than the float32 kernel; per-channel gathers cost a third of it.)
    const int iy = yp - g.pt;
    const bool row_in = iy >= 0 && iy < g.h;
    const float* rowp = row_in ? x + (size_t(img) * g.h + iy) * size_t(g.w) * C : nullptr;
    for (int x0 = 0; x0 < ws; x0 += 16) {
      const int count = std::min(16, ws - x0);
      const __mmask16 store = first_lanes(count);
      uint16_t* dst = base + size_t(yp) * ws + x0;
      for (int c0 = 0; c0 < C; c0 += 16) {
        const int nc = std::min(16, C - c0);
        const __mmask16 chans = first_lanes(nc);
        __m512 r[16];
        for (int p = 0; p < 16; p++) {
          const int ix = x0 + p - g.pl;
          r[p] = row_in && p < count && ix >= 0 && ix < g.w ? _mm512_maskz_loadu_ps(chans, rowp + size_t(ix) * C + c0)
                                                            : _mm512_setzero_ps();
        }
        transpose16(r);
        for (int c = 0; c < nc; c++)
          _mm256_mask_storeu_epi16(dst + size_t(c0 + c) * S, store, (__m256i)_mm512_cvtneps_pbh(r[c]));
      }
    }
  });
  // dyv[n][Mp / 2][kp][2]: dy at linear positions in pixel pairs, zero where ox >= OW or m >= M
  uint16_t* dyv = u16(s.dy, size_t(N) * Mp * kp);
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                                              6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  pool().run(N * (Mp / 32), [&](int task, int) {
    const int img = task / (Mp / 32), q0 = (task % (Mp / 32)) * 16;
    for (int q = q0; q < q0 + 16; q++) {
      uint16_t* d = dyv + (size_t(img) * (Mp / 2) + q) * kp * 2;
      const float* rows[2] = {nullptr, nullptr};
      for (int e = 0; e < 2; e++) {
        const int m = 2 * q + e, oy = m / ws, ox = m - oy * ws;
        if (m < M && ox < g.ow) rows[e] = dy + ((size_t(img) * g.oh + oy) * g.ow + ox) * K;
      }
      for (int k0 = 0; k0 < kp; k0 += 16) {
        const __mmask16 mk = first_lanes(K - k0);
        const __m512 a = rows[0] != nullptr && mk != 0 ? _mm512_maskz_loadu_ps(mk, rows[0] + k0) : _mm512_setzero_ps();
        const __m512 b = rows[1] != nullptr && mk != 0 ? _mm512_maskz_loadu_ps(mk, rows[1] + k0) : _mm512_setzero_ps();
        // cvtne2ps(b, a): lanes 0-15 = a, 16-31 = b; then (a0, b0, a1, b1, ...)
        const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(b, a);
        _mm512_storeu_si512(d + k0 * 2, _mm512_permutexvar_epi16(interleave, both));
      }
    }
  });
  // Partial sums per (image chunk, channel pair of blocks, filter pair of blocks), for every tap. A task
  // walks its images in blocks of MB tile steps (MB * 32 pixels; several small images make one block)
  // and, per block, every tap: the block's x and dy stay near the core across the taps, and each tap's
  // four accumulator tiles are loaded and stored around its block. (Taps outermost streamed every image
  // once per tap from L2: 3x slower; blocks of 4 steps spent 20% more on accumulator traffic than 8.)
  // On best's shapes this loop runs at about half the forward kernel's rate for the same products. Neither
  // the A rows split over two cache lines nor the accumulator traffic is why: loading A aligned (wrong sums,
  // as a bound) made the kernel 6-8% faster, and blocks of 16 steps 3% (2 threads, machine otherwise idle).
  // Swapping the operands, so that every load is aligned (dy transposed as A, the frame in pixel pairs as B,
  // from a second copy one pixel later for odd offsets), gave the same sums and was no faster (1 thread,
  // beside two training runs), its two copies of the frame costing more than the transpose they replace.
  const int T = pool().threads();
  const int chunks = std::max(1, std::min(N, 2 * T));
  const int CB2 = cp / 32, KB2 = kp / 32;
  const int units = CB2 * KB2;
  const size_t per_chunk = size_t(taps) * cp * kp;
  float* part = s.part.get(size_t(chunks) * per_chunk);
  constexpr int MB = 8;
  pool().run(chunks * units, [&](int task, int) {
    const int chunk = task / units, unit = task % units;
    const int cb = unit / KB2, kb = unit % KB2;
    const int i0 = int(int64_t(N) * chunk / chunks), i1 = int(int64_t(N) * (chunk + 1) / chunks);
    float* out = part + size_t(chunk) * per_chunk;
    for (int t = 0; t < taps; t++)
      for (int r = 0; r < 32; r++)
        std::memset(out + (size_t(t) * cp + cb * 32 + r) * kp + kb * 32, 0, 32 * sizeof(float));
    load_tiles();
    // a block: MB tile steps of one image, or several whole images when an image has fewer steps
    const int G = std::max(1, (MB * 32) / Mp);
    for (int ib = i0; ib < i1; ib += G) {
      const int ie = std::min(i1, ib + G);
      for (int mb = 0; mb < Mp; mb += MB * 32) {
        const int me = std::min(Mp, mb + MB * 32);
        for (int t = 0; t < taps; t++) {
          const int off = (t / kw) * ws + (t % kw);
          float* acc = out + (size_t(t) * cp + cb * 32) * kp + kb * 32;
          _tile_loadd(0, acc, kp * 4);
          _tile_loadd(1, acc + 16, kp * 4);
          _tile_loadd(2, acc + size_t(16) * kp, kp * 4);
          _tile_loadd(3, acc + size_t(16) * kp + 16, kp * 4);
          for (int img = ib; img < ie; img++) {
            const uint16_t* a0 = xt + (size_t(img) * cp + cb * 32) * S + off;
            const uint16_t* b_img = dyv + size_t(img) * (Mp / 2) * kp * 2 + kb * 64;
            for (int m0 = mb; m0 < me; m0 += 32) {
              _tile_loadd(4, a0 + m0, S * 2);
              _tile_loadd(5, a0 + size_t(16) * S + m0, S * 2);
              _tile_loadd(6, b_img + size_t(m0 / 2) * kp * 2, kp * 4);
              _tile_loadd(7, b_img + size_t(m0 / 2) * kp * 2 + 32, kp * 4);
              _tile_dpbf16ps(0, 4, 6);
              _tile_dpbf16ps(1, 4, 7);
              _tile_dpbf16ps(2, 5, 6);
              _tile_dpbf16ps(3, 5, 7);
            }
          }
          _tile_stored(0, acc, kp * 4);
          _tile_stored(1, acc + 16, kp * 4);
          _tile_stored(2, acc + size_t(16) * kp, kp * 4);
          _tile_stored(3, acc + size_t(16) * kp + 16, kp * 4);
        }
      }
    }
    _tile_release();
  });
  // dw[t, c, k] = the chunks' partials in chunk order
  pool().run(taps, [&](int t, int) {
    for (int c = 0; c < C; c++)
      for (int k = 0; k < K; k++) {
        float sum = 0.0f;
        for (int ch = 0; ch < chunks; ch++) sum += part[size_t(ch) * per_chunk + (size_t(t) * cp + c) * kp + k];
        dw[(size_t(t) * C + c) * K + k] = sum;
      }
  });
  bias_grad(dy, db, N * g.oh * g.ow, K);
}

}  // namespace

bool amx_available() {
  static const bool ok = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return false;
    const bool tiles = (d >> 22 & 1) != 0 && (d >> 24 & 1) != 0;  // AMX-BF16, AMX-TILE
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d) == 0) return false;
    if (!tiles || (a >> 5 & 1) == 0) return false;  // AVX512_BF16
    // Linux gives a process the AMX tile state only when asked (ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
  }();
  return ok;
}

#else

namespace {
bool amx_ok(const ConvGeom&, int) { return false; }
void amx_forward(const float*, const float*, const float*, float*, const ConvGeom&, bool) {}
void amx_backward_input(const float*, const float*, float*, const ConvGeom&) {}
void amx_backward_filter(const float*, const float*, float*, float*, const ConvGeom&) {}
}  // namespace

bool amx_available() { return false; }

#endif

namespace {
// A rounded copy of src (len floats) in buf.
const float* rounded(Buffer& buf, const float* src, size_t len) {
  float* out = buf.get(len);
  round_bf16(src, out, len);
  return out;
}
size_t input_len(const ConvGeom& g) { return size_t(g.n) * g.h * g.w * g.c; }
size_t output_len(const ConvGeom& g) { return size_t(g.n) * g.oh * g.ow * g.k; }
size_t kernel_len(const ConvGeom& g) { return size_t(g.kh) * g.kw * g.c * g.k; }
}  // namespace

void conv2d_forward_bf16(const float* x, const float* w, const float* b, float* y, const ConvGeom& g, bool relu) {
  if (amx_ok(g, g.c)) return amx_forward(x, w, b, y, g, relu);
  if (dpbf16_available()) return conv2d_forward_dpbf16(x, w, b, y, g, relu);
  Bf16Scratch& s = scratch();
  conv2d_forward(rounded(s.x, x, input_len(g)), rounded(s.w, w, kernel_len(g)), b, y, g, relu);
}

void conv2d_backward_input_bf16(const float* dy, const float* w, float* dx, const ConvGeom& g) {
  if (amx_ok(g, g.k)) return amx_backward_input(dy, w, dx, g);
  if (dpbf16_available()) return conv2d_backward_input_dpbf16(dy, w, dx, g);
  Bf16Scratch& s = scratch();
  conv2d_backward_input(rounded(s.dy, dy, output_len(g)), rounded(s.w, w, kernel_len(g)), dx, g);
}

void conv2d_backward_filter_bf16(const float* x, const float* dy, float* dw, float* db, const ConvGeom& g) {
  if (amx_ok(g, g.c)) return amx_backward_filter(x, dy, dw, db, g);
  if (dpbf16_available()) return conv2d_backward_filter_dpbf16(x, dy, dw, db, g);
  Bf16Scratch& s = scratch();
  conv2d_backward_filter(rounded(s.x, x, input_len(g)), rounded(s.dy, dy, output_len(g)), dw, db, g);
  bias_grad(dy, db, g.n * g.oh * g.ow, g.k);  // the bias gradient stays float32
}

void conv2d_maxpool_forward_bf16(const float* x, const float* w, const float* b, float* y, int32_t* argmax,
                                 const ConvGeom& g, const PoolGeom& p, bool relu) {
  Bf16Scratch& s = scratch();
  if (amx_ok(g, g.c)) {
    float* z = s.z.get(output_len(g));
    amx_forward(x, w, b, z, g, relu);
    maxpool2d_forward(z, y, argmax, p);
    return;
  }
  if (dpbf16_available() && !conv2d_maxpool_forward_fused(g, p))
    return conv2d_maxpool_forward_dpbf16(x, w, b, y, argmax, g, p, relu);
  conv2d_maxpool_forward(rounded(s.x, x, input_len(g)), rounded(s.w, w, kernel_len(g)), b, y, argmax, g, p, relu);
}

// A pooled value reaches one conv output (its argmax), so rounding the pooled gradient rounds the
// scattered one, and the pooled gradient's sums are the bias gradient.
void conv2d_maxpool_backward_filter_bf16(const float* x, const float* dy, const int32_t* argmax, float* dw,
                                         float* db, const ConvGeom& g, const PoolGeom& p) {
  Bf16Scratch& s = scratch();
  const size_t pooled = size_t(p.n) * p.oh * p.ow * p.c;
  if (amx_ok(g, g.c)) {
    float* dz = s.z.get(output_len(g));
    maxpool2d_backward(dy, argmax, dz, p);
    amx_backward_filter(x, dz, dw, db, g);
    return;
  }
  if (dpbf16_available() && !conv2d_maxpool_backward_fused(g, p))
    return conv2d_maxpool_backward_filter_dpbf16(x, dy, argmax, dw, db, g, p);
  if (dpbf16_available() && g.c == 1)  // (fused, one channel: the direct kernel, which rounds dy as it reads it)
    return conv2d_maxpool_backward_filter_dpbf16(rounded(s.x, x, input_len(g)), dy, argmax, dw, db, g, p);
  conv2d_maxpool_backward_filter(rounded(s.x, x, input_len(g)), rounded(s.dy, dy, pooled), argmax, dw, db, g, p);
  bias_grad(dy, db, p.n * p.oh * p.ow, g.k);
}

void conv2d_maxpool_backward_input_bf16(const float* dy, const int32_t* argmax, const float* w, float* dx,
                                        const ConvGeom& g, const PoolGeom& p) {
  Bf16Scratch& s = scratch();
  if (amx_ok(g, g.k)) {
    float* dz = s.z.get(output_len(g));
    maxpool2d_backward(dy, argmax, dz, p);
    amx_backward_input(dz, w, dx, g);
    return;
  }
  if (dpbf16_available() && !conv2d_maxpool_backward_fused(g, p))
    return conv2d_maxpool_backward_input_dpbf16(dy, argmax, w, dx, g, p);
  const size_t pooled = size_t(p.n) * p.oh * p.ow * p.c;
  conv2d_maxpool_backward_input(rounded(s.dy, dy, pooled), argmax, rounded(s.w, w, kernel_len(g)), dx, g, p);
}

}  // namespace digits
