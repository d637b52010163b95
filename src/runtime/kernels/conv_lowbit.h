// Convolution computed straight from b-bit weight codes (runtime/packed_weights.h) on the
// blocked nChw8c layout (blocked.h), with the fused epilogue of conv.h:
//   y = act(conv(x, w * channel_scale) + bias + residual)
// The FP32 weight tensor is never built. The codes are re-ordered once, still at their bit
// width, so that the 8 codes of one weight vector (8 output channels at one input channel
// and tap) are `bits` consecutive bytes; a work item decodes the slice of one 8-channel output
// block for up to kChunkFloats floats of input channels x taps into a per-thread L1 buffer,
// then runs a direct convolution (rows of up to 12 output pixels in registers, AVX2 FMA) over
// all the pixels of its images. conv2d_lowbit_ref is the slow reference the tests compare with.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/kernels/conv.h"
#include "runtime/packed_weights.h"

namespace dfmpc {

class LowBitConvKernel {
 public:
  // Groups 1, 4-D OIHW weights grouped per tensor or per output channel, and a CPU with
  // AVX2, FMA and BMI2 (pdep). Anything else runs the FP32 path.
  static bool supports(const PackedWeight& w, int64_t groups);

  // channel_scale (c_out floats, or null for 1) multiplies each output channel's weights (a
  // folded BatchNormalization); bias may be null. Nothing is kept pointing at the arguments.
  // Throws std::runtime_error if not supports(w, g.groups) or w does not match g.
  LowBitConvKernel(const ConvGeom& g, const PackedWeight& w, const float* channel_scale,
                   const float* bias, const Epilogue& ep);
  // As BlockedConvKernel::run: x [n, ceil(c_in/8), h, w, 8] with zero padded channels;
  // residual and y [n, ceil(c_out/8), out_h, out_w, 8], y's padded channels written as zeros;
  // residual may equal y, x must not overlap y. Safe to call concurrently.
  void run(int64_t n, const float* x, const float* residual, float* y);

  const ConvGeom& geom() const { return g_; }
  // Bytes of parameters held: re-ordered codes, per-channel multiplier / zero, bias.
  int64_t resident_bytes() const;

 private:
  ConvGeom g_;
  Epilogue ep_;
  int bits_ = 0;
  int64_t cbo_ = 0, cbi_ = 0, taps_ = 0;
  std::vector<uint8_t> codes_;  // [cbo][c_in][kh*kw] vectors of 8 codes, `bits` bytes each
  std::vector<float> mul_, zero_, bias_;  // per output channel, padded to 8 (padding: 0)
};

// Reference: dequantize (dequantize_packed), scale the output channels, conv2d_ref. Plain
// NCHW; channel_scale and bias may be null.
void conv2d_lowbit_ref(const ConvGeom& g, int64_t n, const float* x, const PackedWeight& w,
                       const float* channel_scale, const float* bias, const float* residual,
                       const Epilogue& ep, float* y);

}  // namespace dfmpc
