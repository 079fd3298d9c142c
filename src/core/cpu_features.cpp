// CPUID probe for x86-64; other architectures report no extensions.
#include "core/cpu_features.h"

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define QRAG_X86 1
#endif

namespace qrag::core {
namespace {

#ifdef QRAG_X86
struct Registers {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Registers cpuid(unsigned leaf, unsigned subleaf) {
  Registers r;
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}

std::uint64_t read_xcr0() {
  std::uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

std::string brand_string() {
  if (cpuid(0x80000000u, 0).eax < 0x80000004u) return "unknown";
  char brand[49] = {};
  for (unsigned i = 0; i < 3; ++i) {
    const Registers r = cpuid(0x80000002u + i, 0);
    std::memcpy(brand + 16 * i + 0, &r.eax, 4);
    std::memcpy(brand + 16 * i + 4, &r.ebx, 4);
    std::memcpy(brand + 16 * i + 8, &r.ecx, 4);
    std::memcpy(brand + 16 * i + 12, &r.edx, 4);
  }
  std::string name(brand);
  const auto first = name.find_first_not_of(' ');
  const auto last = name.find_last_not_of(' ');
  return first == std::string::npos ? "unknown" : name.substr(first, last - first + 1);
}
#endif

bool bit(unsigned value, int index) { return ((value >> index) & 1u) != 0; }

}  // namespace

CpuFeatures detect_cpu_features() {
  CpuFeatures f;
#ifdef QRAG_X86
  f.model_name = brand_string();
  const unsigned max_leaf = cpuid(0, 0).eax;
  const Registers l1 = cpuid(1, 0);
  f.sse42 = bit(l1.ecx, 20);
  const bool osxsave = bit(l1.ecx, 27);
  const std::uint64_t xcr0 = osxsave ? read_xcr0() : 0;
  const bool os_ymm = (xcr0 & 0x6) == 0x6;    // XMM and YMM state
  const bool os_zmm = (xcr0 & 0xe6) == 0xe6;  // plus opmask, ZMM_Hi256, Hi16_ZMM
  f.avx = os_ymm && bit(l1.ecx, 28);
  f.fma = f.avx && bit(l1.ecx, 12);
  f.f16c = f.avx && bit(l1.ecx, 29);
  if (max_leaf >= 7) {
    const Registers l7 = cpuid(7, 0);
    f.avx2 = f.avx && bit(l7.ebx, 5);
    f.avx512f = os_zmm && bit(l7.ebx, 16);
    f.avx512dq = f.avx512f && bit(l7.ebx, 17);
    f.avx512bw = f.avx512f && bit(l7.ebx, 30);
    f.avx512vl = f.avx512f && bit(l7.ebx, 31);
    f.avx512vnni = f.avx512f && bit(l7.ecx, 11);
    const Registers l7s1 = cpuid(7, 1);
    f.avx512bf16 = f.avx512f && bit(l7s1.eax, 5);
  }
#else
  f.model_name = "unknown";
#endif
  return f;
}

std::string CpuFeatures::summary() const {
  struct Flag {
    bool present;
    const char* name;
  };
  const Flag flags[] = {{sse42, "SSE4.2"},       {avx, "AVX"},          {avx2, "AVX2"},
                        {fma, "FMA"},            {f16c, "F16C"},        {avx512f, "AVX512F"},
                        {avx512bw, "AVX512BW"},  {avx512vl, "AVX512VL"}, {avx512dq, "AVX512DQ"},
                        {avx512vnni, "AVX512_VNNI"}, {avx512bf16, "AVX512_BF16"}};
  std::string out;
  for (const Flag& flag : flags) {
    if (!flag.present) continue;
    if (!out.empty()) out += ' ';
    out += flag.name;
  }
  return out.empty() ? "none" : out;
}

}  // namespace qrag::core
