// 2-D convolution (NCHW, weights OIHW, groups) with a fused epilogue:
//   y = act(conv(x, w) + bias + residual)
// conv2d_ref is the slow, obviously-correct reference; ConvKernel is the fast path
// (oneDNN). Tests compare one against the other.
#pragma once
#include <cstdint>
#include <memory>

namespace dfmpc {

struct ConvGeom {
  int64_t c_in = 0, h = 0, w = 0;  // input channels and spatial size
  int64_t c_out = 0, kh = 1, kw = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_t = 0, pad_l = 0, pad_b = 0, pad_r = 0;
  int64_t dil_h = 1, dil_w = 1;
  int64_t groups = 1;
  int64_t out_h() const { return (h + pad_t + pad_b - dil_h * (kh - 1) - 1) / stride_h + 1; }
  int64_t out_w() const { return (w + pad_l + pad_r - dil_w * (kw - 1) - 1) / stride_w + 1; }
  int64_t weight_numel() const { return c_out * (c_in / groups) * kh * kw; }
};

enum class Activation { none, relu, clip };

struct Epilogue {
  Activation act = Activation::none;
  float clip_lo = 0.0f, clip_hi = 6.0f;  // for Activation::clip
  bool add_residual = false;             // residual has the output's shape
};

// bias and residual may be null.
void conv2d_ref(const ConvGeom& g, int64_t n, const float* x, const float* w,
                const float* bias, const float* residual, const Epilogue& ep, float* y);

// Weights and bias are copied (and reordered) at construction; run() may be called with any
// batch size and is safe to call repeatedly; it does not allocate once a batch size was seen.
class ConvKernel {
 public:
  ConvKernel(const ConvGeom& g, const float* w, const float* bias, const Epilogue& ep);
  ~ConvKernel();
  ConvKernel(const ConvKernel&) = delete;
  ConvKernel& operator=(const ConvKernel&) = delete;
  void run(int64_t n, const float* x, const float* residual, float* y);
  const ConvGeom& geom() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Number of threads the fast kernels use: oneDNN's OpenMP threads and the dfmpc thread pool
// (kernels/thread_pool.h). 0 = library default (one per available core).
void set_num_threads(int n);

}  // namespace dfmpc
