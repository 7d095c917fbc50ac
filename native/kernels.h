// The native kernel set: the same kernels, names and semantics as the
// Backend interface (src/engine/backend.ts) and its reference twin
// (src/engine/reference.ts). Plain pointers and sizes; the caller
// (TypeScript) validated everything, these trust their inputs.
//
// Shape legend: N batch, H/W input height/width, C channels in, K channels
// out, kh/kw kernel size, OH/OW output height/width. NHWC everywhere; conv
// kernel [kh, kw, C, K]; dense kernel [in, out].
#pragma once

#include <cstddef>
#include <cstdint>

namespace digits {

struct ConvGeom {
  int n, h, w, c, kh, kw, k, sh, sw, pt, pl, oh, ow;
};

struct PoolGeom {
  int n, h, w, c, ph, pw, sh, sw, oh, ow;
};

void set_threads(int n);
int get_threads();
int hardware_threads();
// The machine's measured peak on the pool's threads, GFLOP/s (a multiply-add is two): float32 FMA in the
// widest vectors this build uses, or with bf16 bfloat16 pairs (VDPBF16PS) where this build has them.
// About 0.1 s of work; for benchmarks.
double peak_gflops(bool bf16);

// y[N,OH,OW,K] = act(conv(x[N,H,W,C], w[kh,kw,C,K]) + b[K])   (overwrite)
void conv2d_forward(const float* x, const float* w, const float* b, float* y, const ConvGeom& g, bool relu);
// dx[N,H,W,C] from dy[N,OH,OW,K]   (overwrite)
void conv2d_backward_input(const float* dy, const float* w, float* dx, const ConvGeom& g);
// dw[kh,kw,C,K], db[K] from x and dy   (overwrite)
void conv2d_backward_filter(const float* x, const float* dy, float* dw, float* db, const ConvGeom& g);
// bfloat16 twins of the conv kernels on AVX512_BF16 (VDPBF16PS): operands rounded to bfloat16 as amx.h
// states, products summed in float32. dpbf16_available() says whether this build has them (without,
// these do nothing).
bool dpbf16_available();
void conv2d_forward_dpbf16(const float* x, const float* w, const float* b, float* y, const ConvGeom& g, bool relu);
void conv2d_backward_input_dpbf16(const float* dy, const float* w, float* dx, const ConvGeom& g);
void conv2d_backward_filter_dpbf16(const float* x, const float* dy, float* dw, float* db, const ConvGeom& g);
// and of conv2d_maxpool_forward (2x2 pools in the tiles' epilogue) and conv2d_maxpool_backward_input /
// _filter (non-overlapping pools), reading the pooled gradient
// through argmax without writing the conv output's gradient out; for one input channel (the direct
// kernel's shapes) the filter gradient rounds dy as it reads it, and x must come rounded
void conv2d_maxpool_forward_dpbf16(const float* x, const float* w, const float* b, float* y, int32_t* argmax,
                                   const ConvGeom& g, const PoolGeom& p, bool relu);
void conv2d_maxpool_backward_input_dpbf16(const float* dy, const int32_t* argmax, const float* w, float* dx,
                                          const ConvGeom& g, const PoolGeom& p);
void conv2d_maxpool_backward_filter_dpbf16(const float* x, const float* dy, const int32_t* argmax, float* dw,
                                           float* db, const ConvGeom& g, const PoolGeom& p);
// c[m,n] = op(a)[m,k] @ op(b)[k,n] (+ c when accumulate)
void matmul(const float* a, const float* b, float* c, int m, int n, int k, bool trans_a, bool trans_b, bool accumulate);
// y[rows,cols] = act(y + b[cols])   (in place)
void bias_activation(float* y, const float* b, int rows, int cols, bool relu);
// db[cols] = column sums of dy[rows,cols]   (overwrite)
void bias_grad(const float* dy, float* db, int rows, int cols);
// dx = relu ? (y > 0 ? dy : 0) : dy, length len   (dx may alias dy)
void activation_backward(const float* dy, const float* y, float* dx, size_t len, bool relu);
// y, argmax (flat index into x, first on ties)   (overwrite)
void maxpool2d_forward(const float* x, float* y, int32_t* argmax, const PoolGeom& g);
// dx = scatter-add of dy at argmax   (overwrite)
void maxpool2d_backward(const float* dy, const int32_t* argmax, float* dx, const PoolGeom& g);
// conv then max pool with non-overlapping windows, fused: y[N,POH,POW,K] = maxpool(act(conv(x, w) + b)),
// argmax = flat index into the conv output [N,OH,OW,K] (first on ties)   (overwrite)
void conv2d_maxpool_forward(const float* x, const float* w, const float* b, float* y, int32_t* argmax,
                            const ConvGeom& g, const PoolGeom& p, bool relu);
// whether conv2d_maxpool_forward / the conv2d_maxpool_backward pair have kernels of their own for this shape
// (else they are the conv kernel through scratch and the pool)
bool conv2d_maxpool_forward_fused(const ConvGeom& g, const PoolGeom& p);
bool conv2d_maxpool_backward_fused(const ConvGeom& g, const PoolGeom& p);
// dw, db of that conv from dy of the pooled output: conv2d_backward_filter(x, maxpool2d_backward(dy))   (overwrite)
void conv2d_maxpool_backward_filter(const float* x, const float* dy, const int32_t* argmax, float* dw, float* db,
                                    const ConvGeom& g, const PoolGeom& p);
// dx of that conv from dy of the pooled output: conv2d_backward_input(maxpool2d_backward(dy), w)   (overwrite)
void conv2d_maxpool_backward_input(const float* dy, const int32_t* argmax, const float* w, float* dx,
                                   const ConvGeom& g, const PoolGeom& p);
// out = a * b, length len (out may alias a)
void mul(const float* a, const float* b, float* out, size_t len);
void softmax(const float* logits, float* probs, int rows, int cols);
// returns the mean loss; writes probs and dlogits = (probs - targets) / rows
double softmax_cross_entropy(const float* logits, const float* targets, float* probs, float* dlogits, int rows,
                             int cols);
void adam_update(float* p, const float* g, float* m, float* v, size_t len, double lr, double beta1, double beta2,
                 double epsilon, double step);
void sgd_update(float* p, const float* g, float* vel, size_t len, double lr, double momentum, bool nesterov);
// avg = keep avg + (1 - keep) x   (in place on avg)
void ema_update(float* avg, const float* x, size_t len, double keep);


// batch statistics per channel of x[rows,cols]: mean, biased variance (float partials of 16 values at most, summed in double)   (overwrite)
void batchnorm_stats(const float* x, float* mean, float* variance, int rows, int cols);
// y = act(gamma * (x - mean) / sqrt(variance + eps) + beta) per channel, act = relu or identity   (overwrite; y may alias x)
void batchnorm_forward(const float* x, const float* mean, const float* variance, const float* gamma, const float* beta,
                       double epsilon, float* y, int rows, int cols, bool relu = false);
// training-mode backward: dx, dgamma, dbeta   (overwrite); relu_y (may be null): the output of a fused
// ReLU, dy is then masked by relu_y > 0 first
void batchnorm_backward(const float* x, const float* dy, const float* mean, const float* variance, const float* gamma,
                        double epsilon, float* dx, float* dgamma, float* dbeta, int rows, int cols,
                        const float* relu_y = nullptr);
// y[N,H,W,C] = bilinear sample of x at the affine map params[N,6] of each output pixel, plus the displacement
// disp[N,H,W,2] (dx, dy) of that pixel when disp is not null; zero outside   (overwrite)
void affine_resample(const float* x, const float* params, float* y, int n, int h, int w, int c, const float* disp);
// field[N,H,W,2] = alpha * (noise[N,H,W,2] blurred by a Gaussian of std sigma px per plane, radius ceil(3 sigma),
// zero outside the image)   (overwrite)
void elastic_field(const float* noise, float* field, int n, int h, int w, double sigma, double alpha);

}  // namespace digits
