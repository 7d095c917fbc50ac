// Generated from src/engine/kernels.ts by `npm run kernels`: do not edit by hand.
// For each kernel, where its binding (native/addon.cc) finds each argument: arrays by position
// (arg::), integers at offsets in the Int32Array after them (dim::), reals in the Float64Array after
// that (real::). A conv geometry is 13 integers (n, h, w, c, kh, kw, k, strideH, strideW, padTop, padLeft, outH, outW),
// a pool geometry 10 (n, h, w, c, poolH, poolW, strideH, strideW, outH, outW); adam is lr, beta1, beta2,
// epsilon, step; sgd is nesterov (dim) then lr, momentum (real); flags and activations are 0 or 1 (relu).
#pragma once

namespace digits::kernel {
namespace conv2dForward {
namespace arg { constexpr int x = 0; constexpr int w = 1; constexpr int b = 2; constexpr int y = 3; }
constexpr int arrays = 4;
namespace dim { constexpr int g = 0; constexpr int act = 13; constexpr int bf16 = 14; }
}  // namespace conv2dForward
namespace conv2dBackwardInput {
namespace arg { constexpr int dy = 0; constexpr int w = 1; constexpr int dx = 2; }
constexpr int arrays = 3;
namespace dim { constexpr int g = 0; constexpr int bf16 = 13; }
}  // namespace conv2dBackwardInput
namespace conv2dBackwardFilter {
namespace arg { constexpr int x = 0; constexpr int dy = 1; constexpr int dw = 2; constexpr int db = 3; }
constexpr int arrays = 4;
namespace dim { constexpr int g = 0; constexpr int bf16 = 13; }
}  // namespace conv2dBackwardFilter
namespace matmul {
namespace arg { constexpr int a = 0; constexpr int b = 1; constexpr int c = 2; }
constexpr int arrays = 3;
namespace dim { constexpr int m = 0; constexpr int n = 1; constexpr int k = 2; constexpr int transA = 3; constexpr int transB = 4; constexpr int accumulate = 5; }
}  // namespace matmul
namespace biasActivation {
namespace arg { constexpr int y = 0; constexpr int b = 1; }
constexpr int arrays = 2;
namespace dim { constexpr int rows = 0; constexpr int cols = 1; constexpr int act = 2; }
}  // namespace biasActivation
namespace biasGrad {
namespace arg { constexpr int dy = 0; constexpr int db = 1; }
constexpr int arrays = 2;
namespace dim { constexpr int rows = 0; constexpr int cols = 1; }
}  // namespace biasGrad
namespace activationBackward {
namespace arg { constexpr int dy = 0; constexpr int y = 1; constexpr int dx = 2; }
constexpr int arrays = 3;
namespace dim { constexpr int act = 0; }
}  // namespace activationBackward
namespace maxPool2dForward {
namespace arg { constexpr int x = 0; constexpr int y = 1; constexpr int argmax = 2; }
constexpr int arrays = 3;
namespace dim { constexpr int g = 0; }
}  // namespace maxPool2dForward
namespace maxPool2dBackward {
namespace arg { constexpr int dy = 0; constexpr int argmax = 1; constexpr int dx = 2; }
constexpr int arrays = 3;
namespace dim { constexpr int g = 0; }
}  // namespace maxPool2dBackward
namespace conv2dMaxPoolForward {
namespace arg { constexpr int x = 0; constexpr int w = 1; constexpr int b = 2; constexpr int y = 3; constexpr int argmax = 4; }
constexpr int arrays = 5;
namespace dim { constexpr int g = 0; constexpr int p = 13; constexpr int act = 23; constexpr int bf16 = 24; }
}  // namespace conv2dMaxPoolForward
namespace conv2dMaxPoolBackwardFilter {
namespace arg { constexpr int x = 0; constexpr int dy = 1; constexpr int argmax = 2; constexpr int dw = 3; constexpr int db = 4; }
constexpr int arrays = 5;
namespace dim { constexpr int g = 0; constexpr int p = 13; constexpr int bf16 = 23; }
}  // namespace conv2dMaxPoolBackwardFilter
namespace conv2dMaxPoolBackwardInput {
namespace arg { constexpr int dy = 0; constexpr int argmax = 1; constexpr int w = 2; constexpr int dx = 3; }
constexpr int arrays = 4;
namespace dim { constexpr int g = 0; constexpr int p = 13; constexpr int bf16 = 23; }
}  // namespace conv2dMaxPoolBackwardInput
namespace mul {
namespace arg { constexpr int a = 0; constexpr int b = 1; constexpr int out = 2; }
constexpr int arrays = 3;
}  // namespace mul
namespace softmax {
namespace arg { constexpr int logits = 0; constexpr int probs = 1; }
constexpr int arrays = 2;
namespace dim { constexpr int rows = 0; constexpr int cols = 1; }
}  // namespace softmax
namespace softmaxCrossEntropy {
namespace arg { constexpr int logits = 0; constexpr int targets = 1; constexpr int probs = 2; constexpr int dlogits = 3; }
constexpr int arrays = 4;
namespace dim { constexpr int rows = 0; constexpr int cols = 1; }
}  // namespace softmaxCrossEntropy
namespace adamUpdate {
namespace arg { constexpr int p = 0; constexpr int g = 1; constexpr int m = 2; constexpr int v = 3; }
constexpr int arrays = 4;
namespace real { constexpr int o = 0; }
}  // namespace adamUpdate
namespace sgdUpdate {
namespace arg { constexpr int p = 0; constexpr int g = 1; constexpr int vel = 2; }
constexpr int arrays = 3;
namespace dim { constexpr int o = 0; }
namespace real { constexpr int o = 0; }
}  // namespace sgdUpdate
namespace emaUpdate {
namespace arg { constexpr int avg = 0; constexpr int x = 1; }
constexpr int arrays = 2;
namespace real { constexpr int keep = 0; }
}  // namespace emaUpdate
namespace batchNormStats {
namespace arg { constexpr int x = 0; constexpr int mean = 1; constexpr int variance = 2; }
constexpr int arrays = 3;
namespace dim { constexpr int rows = 0; constexpr int cols = 1; }
}  // namespace batchNormStats
namespace batchNormForward {
namespace arg { constexpr int x = 0; constexpr int mean = 1; constexpr int variance = 2; constexpr int gamma = 3; constexpr int beta = 4; constexpr int y = 5; }
constexpr int arrays = 6;
namespace dim { constexpr int rows = 0; constexpr int cols = 1; constexpr int act = 2; }
namespace real { constexpr int epsilon = 0; }
}  // namespace batchNormForward
namespace batchNormBackward {
namespace arg { constexpr int x = 0; constexpr int dy = 1; constexpr int mean = 2; constexpr int variance = 3; constexpr int gamma = 4; constexpr int dx = 5; constexpr int dgamma = 6; constexpr int dbeta = 7; constexpr int reluY = 8; }
constexpr int arrays = 9;
namespace dim { constexpr int rows = 0; constexpr int cols = 1; }
namespace real { constexpr int epsilon = 0; }
}  // namespace batchNormBackward
namespace affineResample {
namespace arg { constexpr int x = 0; constexpr int params = 1; constexpr int y = 2; constexpr int disp = 3; }
constexpr int arrays = 4;
namespace dim { constexpr int n = 0; constexpr int h = 1; constexpr int w = 2; constexpr int c = 3; }
}  // namespace affineResample
namespace elasticField {
namespace arg { constexpr int noise = 0; constexpr int field = 1; }
constexpr int arrays = 2;
namespace dim { constexpr int n = 0; constexpr int h = 1; constexpr int w = 2; }
namespace real { constexpr int sigma = 0; constexpr int alpha = 1; }
}  // namespace elasticField
}  // namespace digits::kernel

// Every kernel, for the export table: X(name)
#define DIGITS_KERNELS(X) \
  X(conv2dForward) \
  X(conv2dBackwardInput) \
  X(conv2dBackwardFilter) \
  X(matmul) \
  X(biasActivation) \
  X(biasGrad) \
  X(activationBackward) \
  X(maxPool2dForward) \
  X(maxPool2dBackward) \
  X(conv2dMaxPoolForward) \
  X(conv2dMaxPoolBackwardFilter) \
  X(conv2dMaxPoolBackwardInput) \
  X(mul) \
  X(softmax) \
  X(softmaxCrossEntropy) \
  X(adamUpdate) \
  X(sgdUpdate) \
  X(emaUpdate) \
  X(batchNormStats) \
  X(batchNormForward) \
  X(batchNormBackward) \
  X(affineResample) \
  X(elasticField)
