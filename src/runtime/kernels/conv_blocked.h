// Convolution on the blocked nChw8c layout (blocked.h) with the fused epilogue of conv.h:
//   y = act(conv(x, w) + bias + residual)
// 3x3 / stride 1 / dilation 1 / groups 1 convolutions run as Winograd F(4x4, 3x3) (36
// instead of 144 multiplies per 4x4 output tile and channel pair) with AVX2 kernels; every
// other geometry runs oneDNN's direct convolution on the same layout. Both split the batch
// (tiles, images) over the dfmpc thread pool. Tests compare it with conv2d_ref.
#pragma once
#include <cstdint>
#include <memory>

#include "runtime/kernels/conv.h"

namespace dfmpc {

namespace detail {
struct BlockedConvImpl {
  virtual ~BlockedConvImpl() = default;
  virtual void run(int64_t n, const float* x, const float* residual, float* y) = 0;
};
// nullptr when the geometry or the CPU does not suit the Winograd kernel.
std::unique_ptr<BlockedConvImpl> make_winograd_conv(const ConvGeom& g, const float* w,
                                                    const float* bias, const Epilogue& ep);
std::unique_ptr<BlockedConvImpl> make_dnnl_blocked_conv(const ConvGeom& g, const float* w,
                                                        const float* bias, const Epilogue& ep);
}  // namespace detail

class BlockedConvKernel {
 public:
  enum class Algo { automatic, winograd, direct };
  // Weights OIHW and bias are copied; `algo` forces an implementation (tests).
  BlockedConvKernel(const ConvGeom& g, const float* w, const float* bias, const Epilogue& ep,
                    Algo algo = Algo::automatic);
  ~BlockedConvKernel();
  BlockedConvKernel(const BlockedConvKernel&) = delete;
  BlockedConvKernel& operator=(const BlockedConvKernel&) = delete;
  // x: [n, ceil(c_in/8), h, w, 8] with zero padded channels; residual and y:
  // [n, ceil(c_out/8), out_h, out_w, 8]; y's padded channels are written as zeros.
  // residual may equal y (in place); x must not overlap y.
  void run(int64_t n, const float* x, const float* residual, float* y);
  const ConvGeom& geom() const { return g_; }
  bool winograd() const { return winograd_; }

 private:
  ConvGeom g_;
  Epilogue ep_;
  bool winograd_ = false;
  std::unique_ptr<detail::BlockedConvImpl> impl_;
};

}  // namespace dfmpc
