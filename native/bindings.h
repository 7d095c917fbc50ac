// The kernels' bindings, shared by the Node addon (addon.cc) and the WebAssembly module (wasm.cc): one
// function per kernel of the table, templated on how its arguments arrive. A (the arguments) gives
// f32(i[, &len]), i32(i), f32_or_null(i) for the arrays by position, and ints(arrays) / reals(arrays):
// the kernel's integers and reals, the two arrays after its own (kernel_table.h says where each is).
#pragma once

#include <cstddef>
#include <cstdint>

#include "amx.h"
#include "kernel_table.h"
#include "kernels.h"

namespace digits::bindings {

// A geometry from the integers at d (kernel_table.h gives the fields' order: the structs' own).
ConvGeom conv_at(const int32_t* d) { return ConvGeom{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12]}; }
PoolGeom pool_at(const int32_t* d) { return PoolGeom{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9]}; }

// One binding per kernel: `namespace K` is the kernel's layout in kernel_table.h; the conv kernels'
// integer bf16 picks their bfloat16-precision twins (amx.h).

template <class A>
void conv2dForward(const A& a) {
  namespace K = kernel::conv2dForward;
  const int32_t* d = a.ints(K::arrays);
  (d[K::dim::bf16] ? conv2d_forward_bf16 : conv2d_forward)(a.f32(K::arg::x), a.f32(K::arg::w), a.f32(K::arg::b),
                                                           a.f32(K::arg::y), conv_at(d + K::dim::g), d[K::dim::act]);
}

template <class A>
void conv2dBackwardInput(const A& a) {
  namespace K = kernel::conv2dBackwardInput;
  const int32_t* d = a.ints(K::arrays);
  (d[K::dim::bf16] ? conv2d_backward_input_bf16 : conv2d_backward_input)(a.f32(K::arg::dy), a.f32(K::arg::w),
                                                                         a.f32(K::arg::dx), conv_at(d + K::dim::g));
}

template <class A>
void conv2dBackwardFilter(const A& a) {
  namespace K = kernel::conv2dBackwardFilter;
  const int32_t* d = a.ints(K::arrays);
  (d[K::dim::bf16] ? conv2d_backward_filter_bf16 : conv2d_backward_filter)(
      a.f32(K::arg::x), a.f32(K::arg::dy), a.f32(K::arg::dw), a.f32(K::arg::db), conv_at(d + K::dim::g));
}

template <class A>
void matmul(const A& a) {
  namespace K = kernel::matmul;
  const int32_t* d = a.ints(K::arrays);
  digits::matmul(a.f32(K::arg::a), a.f32(K::arg::b), a.f32(K::arg::c), d[K::dim::m], d[K::dim::n], d[K::dim::k],
                 d[K::dim::transA], d[K::dim::transB], d[K::dim::accumulate]);
}

template <class A>
void biasActivation(const A& a) {
  namespace K = kernel::biasActivation;
  const int32_t* d = a.ints(K::arrays);
  bias_activation(a.f32(K::arg::y), a.f32(K::arg::b), d[K::dim::rows], d[K::dim::cols], d[K::dim::act]);
}

template <class A>
void biasGrad(const A& a) {
  namespace K = kernel::biasGrad;
  const int32_t* d = a.ints(K::arrays);
  bias_grad(a.f32(K::arg::dy), a.f32(K::arg::db), d[K::dim::rows], d[K::dim::cols]);
}

// over dy.length values
template <class A>
void activationBackward(const A& a) {
  namespace K = kernel::activationBackward;
  size_t len = 0;
  float* dy = a.f32(K::arg::dy, &len);
  activation_backward(dy, a.f32(K::arg::y), a.f32(K::arg::dx), len, a.ints(K::arrays)[K::dim::act]);
}

template <class A>
void maxPool2dForward(const A& a) {
  namespace K = kernel::maxPool2dForward;
  maxpool2d_forward(a.f32(K::arg::x), a.f32(K::arg::y), a.i32(K::arg::argmax), pool_at(a.ints(K::arrays) + K::dim::g));
}

template <class A>
void maxPool2dBackward(const A& a) {
  namespace K = kernel::maxPool2dBackward;
  maxpool2d_backward(a.f32(K::arg::dy), a.i32(K::arg::argmax), a.f32(K::arg::dx), pool_at(a.ints(K::arrays) + K::dim::g));
}

template <class A>
void conv2dMaxPoolForward(const A& a) {
  namespace K = kernel::conv2dMaxPoolForward;
  const int32_t* d = a.ints(K::arrays);
  (d[K::dim::bf16] ? conv2d_maxpool_forward_bf16 : conv2d_maxpool_forward)(
      a.f32(K::arg::x), a.f32(K::arg::w), a.f32(K::arg::b), a.f32(K::arg::y), a.i32(K::arg::argmax), conv_at(d + K::dim::g),
      pool_at(d + K::dim::p), d[K::dim::act]);
}

template <class A>
void conv2dMaxPoolBackwardFilter(const A& a) {
  namespace K = kernel::conv2dMaxPoolBackwardFilter;
  const int32_t* d = a.ints(K::arrays);
  (d[K::dim::bf16] ? conv2d_maxpool_backward_filter_bf16 : conv2d_maxpool_backward_filter)(
      a.f32(K::arg::x), a.f32(K::arg::dy), a.i32(K::arg::argmax), a.f32(K::arg::dw), a.f32(K::arg::db),
      conv_at(d + K::dim::g), pool_at(d + K::dim::p));
}

template <class A>
void conv2dMaxPoolBackwardInput(const A& a) {
  namespace K = kernel::conv2dMaxPoolBackwardInput;
  const int32_t* d = a.ints(K::arrays);
  (d[K::dim::bf16] ? conv2d_maxpool_backward_input_bf16 : conv2d_maxpool_backward_input)(
      a.f32(K::arg::dy), a.i32(K::arg::argmax), a.f32(K::arg::w), a.f32(K::arg::dx), conv_at(d + K::dim::g),
      pool_at(d + K::dim::p));
}

// over a.length values
template <class A>
void mul(const A& a) {
  namespace K = kernel::mul;
  size_t len = 0;
  float* x = a.f32(K::arg::a, &len);
  digits::mul(x, a.f32(K::arg::b), a.f32(K::arg::out), len);
}

template <class A>
void softmax(const A& a) {
  namespace K = kernel::softmax;
  const int32_t* d = a.ints(K::arrays);
  digits::softmax(a.f32(K::arg::logits), a.f32(K::arg::probs), d[K::dim::rows], d[K::dim::cols]);
}

// returns the loss
template <class A>
double softmaxCrossEntropy(const A& a) {
  namespace K = kernel::softmaxCrossEntropy;
  const int32_t* d = a.ints(K::arrays);
  return softmax_cross_entropy(a.f32(K::arg::logits), a.f32(K::arg::targets), a.f32(K::arg::probs), a.f32(K::arg::dlogits),
                               d[K::dim::rows], d[K::dim::cols]);
}

// over p.length values; o: lr, beta1, beta2, epsilon, step
template <class A>
void adamUpdate(const A& a) {
  namespace K = kernel::adamUpdate;
  size_t len = 0;
  float* p = a.f32(K::arg::p, &len);
  const double* o = a.reals(K::arrays) + K::real::o;
  adam_update(p, a.f32(K::arg::g), a.f32(K::arg::m), a.f32(K::arg::v), len, o[0], o[1], o[2], o[3], o[4]);
}

// over p.length values; o: nesterov (dim), lr, momentum (real)
template <class A>
void sgdUpdate(const A& a) {
  namespace K = kernel::sgdUpdate;
  size_t len = 0;
  float* p = a.f32(K::arg::p, &len);
  const double* o = a.reals(K::arrays) + K::real::o;
  sgd_update(p, a.f32(K::arg::g), a.f32(K::arg::vel), len, o[0], o[1], a.ints(K::arrays)[K::dim::o]);
}

// over avg.length values
template <class A>
void emaUpdate(const A& a) {
  namespace K = kernel::emaUpdate;
  size_t len = 0;
  float* avg = a.f32(K::arg::avg, &len);
  ema_update(avg, a.f32(K::arg::x), len, a.reals(K::arrays)[K::real::keep]);
}

template <class A>
void batchNormStats(const A& a) {
  namespace K = kernel::batchNormStats;
  const int32_t* d = a.ints(K::arrays);
  batchnorm_stats(a.f32(K::arg::x), a.f32(K::arg::mean), a.f32(K::arg::variance), d[K::dim::rows], d[K::dim::cols]);
}

template <class A>
void batchNormForward(const A& a) {
  namespace K = kernel::batchNormForward;
  const int32_t* d = a.ints(K::arrays);
  batchnorm_forward(a.f32(K::arg::x), a.f32(K::arg::mean), a.f32(K::arg::variance), a.f32(K::arg::gamma), a.f32(K::arg::beta),
                    a.reals(K::arrays)[K::real::epsilon], a.f32(K::arg::y), d[K::dim::rows], d[K::dim::cols], d[K::dim::act]);
}

// reluY may be null
template <class A>
void batchNormBackward(const A& a) {
  namespace K = kernel::batchNormBackward;
  const int32_t* d = a.ints(K::arrays);
  batchnorm_backward(a.f32(K::arg::x), a.f32(K::arg::dy), a.f32(K::arg::mean), a.f32(K::arg::variance), a.f32(K::arg::gamma),
                     a.reals(K::arrays)[K::real::epsilon], a.f32(K::arg::dx), a.f32(K::arg::dgamma), a.f32(K::arg::dbeta),
                     d[K::dim::rows], d[K::dim::cols], a.f32_or_null(K::arg::reluY));
}

// disp may be null
template <class A>
void affineResample(const A& a) {
  namespace K = kernel::affineResample;
  const int32_t* d = a.ints(K::arrays);
  affine_resample(a.f32(K::arg::x), a.f32(K::arg::params), a.f32(K::arg::y), d[K::dim::n], d[K::dim::h], d[K::dim::w],
                  d[K::dim::c], a.f32_or_null(K::arg::disp));
}

template <class A>
void elasticField(const A& a) {
  namespace K = kernel::elasticField;
  const int32_t* d = a.ints(K::arrays);
  const double* r = a.reals(K::arrays);
  elastic_field(a.f32(K::arg::noise), a.f32(K::arg::field), d[K::dim::n], d[K::dim::h], d[K::dim::w], r[K::real::sigma],
                r[K::real::alpha]);
}

// bind<> for a kernel that returns nothing, bind_number<> for one that returns a number.

}  // namespace digits::bindings
