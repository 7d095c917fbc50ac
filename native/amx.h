// bfloat16 precision for the convolution kernels ("mixed precision"): each conv kernel with its two
// multiplied operands rounded to bfloat16 (round to nearest even, denormals to zero; the exact
// rounding of VCVTNEPS2BF16), the products summed in float32. Biases, bias gradients and
// everything outside the convolutions stay float32. The reference twin is the reference backend
// with precision 'bf16' (src/engine/reference.ts), which rounds the same operands the same way.
//
// On a CPU with AMX-BF16 tiles (and an OS that grants them), stride-1 convolutions whose input has
// at least 8 channels run on the tiles (amx.cc). Elsewhere, a build with AVX512_BF16 runs the pair
// kernels of kernels.cc (VDPBF16PS: two bfloat16 products added to a float32 sum per lane), except for
// the shapes the fused conv + pool kernels own (one input channel; 8 or 12 channels under a 2x2 pool;
// 24k filters under one). Those, and every CPU without either, round the operands into scratch copies
// and run the float32 kernels on them. The float32 products of two bfloat16 numbers are exact, so all
// give the same sums up to their order.
//
// Shape legend as kernels.h: N batch, H/W input, C channels in, K channels out, kh/kw kernel,
// OH/OW output; NHWC; conv kernel [kh, kw, C, K].
#pragma once

#include <cstddef>

#include "kernels.h"

namespace digits {

// True when the CPU has AMX-BF16 and the OS granted this process the tile state (asked once).
bool amx_available();

// dst[i] = src[i] rounded to bfloat16, as a float (dst may alias src)
void round_bf16(const float* src, float* dst, size_t len);

// The conv kernels of kernels.h in bfloat16 precision; same shapes and contracts.
void conv2d_forward_bf16(const float* x, const float* w, const float* b, float* y, const ConvGeom& g, bool relu);
void conv2d_backward_input_bf16(const float* dy, const float* w, float* dx, const ConvGeom& g);
void conv2d_backward_filter_bf16(const float* x, const float* dy, float* dw, float* db, const ConvGeom& g);
void conv2d_maxpool_forward_bf16(const float* x, const float* w, const float* b, float* y, int32_t* argmax,
                                 const ConvGeom& g, const PoolGeom& p, bool relu);
void conv2d_maxpool_backward_filter_bf16(const float* x, const float* dy, const int32_t* argmax, float* dw,
                                         float* db, const ConvGeom& g, const PoolGeom& p);
void conv2d_maxpool_backward_input_bf16(const float* dy, const int32_t* argmax, const float* w, float* dx,
                                        const ConvGeom& g, const PoolGeom& p);

}  // namespace digits
