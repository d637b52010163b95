#include "runtime/kernels/cpu_features.h"

#include <oneapi/dnnl/dnnl.hpp>

namespace dfmpc {

bool avx2_kernels_enabled() {
  static const bool enabled = [] {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") ||
        !__builtin_cpu_supports("bmi2"))
      return false;
    // oneDNN's ISA values are nested bit masks: a level includes every bit of the ones below.
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto avx2 = static_cast<unsigned>(dnnl::cpu_isa::avx2);
    return (isa & avx2) == avx2;
  }();
  return enabled;
}

}  // namespace dfmpc
