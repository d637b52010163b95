// Whether dfmpc's own AVX2 kernels (Winograd, low-bit) may run. They follow the same ISA cap
// as oneDNN (ONEDNN_MAX_CPU_ISA), so a test run capped at SSE4.1 exercises every fallback.
#pragma once

namespace dfmpc {

// The CPU has AVX2, FMA and BMI2, and oneDNN's effective ISA (after ONEDNN_MAX_CPU_ISA)
// includes AVX2. Read once.
bool avx2_kernels_enabled();

}  // namespace dfmpc
