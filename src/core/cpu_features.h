// CPU feature probe (CPUID + XGETBV) used for kernel dispatch and `qrag --version`.
#pragma once

#include <string>

namespace qrag::core {

// Instruction-set extensions the CPU and the OS both support (the OS must save
// the YMM/ZMM state for AVX and AVX-512 to count).
struct CpuFeatures {
  bool sse42 = false;
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  std::string model_name;  // CPUID brand string, e.g. "AMD EPYC"

  // Space-separated list of the supported extensions above.
  std::string summary() const;
};

// Probes once per call; cheap enough to call at start-up.
CpuFeatures detect_cpu_features();

}  // namespace qrag::core
