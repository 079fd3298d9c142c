// KernelContext: ISA selection (CPU probe or QRAG_CPU), function tables and scratch buffers.
#include <cstdlib>
#include <string>

#include <spdlog/spdlog.h>

#include "core/check.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "kernels/dispatch.h"
#include "kernels/kernels.h"

namespace qrag::kernels {
namespace {

KernelTable build_table(IsaLevel level) {
  KernelTable table;
  fill_scalar_table(table);
  if (level == IsaLevel::kAvx2 || level == IsaLevel::kAvx512) {
    fill_avx2_matmul(table);
    fill_avx2_kquant(table);
    fill_avx2_vec(table);
  }
  if (level == IsaLevel::kAvx512) {
    const bool vnni = core::detect_cpu_features().avx512vnni;
    fill_avx512_matmul(table, vnni);
    if (vnni) fill_avx512_kquant(table);
    fill_avx512_vec(table);
    fill_avx512_attention(table);
  }
  table.level = level;
  return table;
}

IsaLevel requested_level() {
  const char* env = std::getenv("QRAG_CPU");
  if (env == nullptr || *env == '\0') return best_isa_level();
  return with_context("environment variable QRAG_CPU", [&] { return parse_isa_level(env); });
}

}  // namespace

std::string_view isa_name(IsaLevel level) {
  switch (level) {
    case IsaLevel::kScalar:
      return "scalar";
    case IsaLevel::kAvx2:
      return "avx2";
    case IsaLevel::kAvx512:
      return "avx512";
  }
  return "unknown";
}

IsaLevel parse_isa_level(std::string_view name) {
  for (IsaLevel level : {IsaLevel::kScalar, IsaLevel::kAvx2, IsaLevel::kAvx512}) {
    if (name == isa_name(level)) return level;
  }
  throw Error("invalid ISA level '" + std::string(name) + "', expected scalar, avx2 or avx512");
}

bool isa_available(IsaLevel level) {
  const core::CpuFeatures f = core::detect_cpu_features();
  const bool avx2 = f.avx2 && f.fma && f.f16c;
  switch (level) {
    case IsaLevel::kScalar:
      return true;
    case IsaLevel::kAvx2:
      return avx2;
    case IsaLevel::kAvx512:
      return avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
  }
  return false;
}

IsaLevel best_isa_level() {
  if (isa_available(IsaLevel::kAvx512)) return IsaLevel::kAvx512;
  if (isa_available(IsaLevel::kAvx2)) return IsaLevel::kAvx2;
  return IsaLevel::kScalar;
}

const KernelTable& kernel_table(IsaLevel level) {
  QRAG_CHECK(level == IsaLevel::kScalar || isa_available(level),
             "kernel table requested for an ISA level the CPU lacks");
  // Immutable after construction; C++ guarantees thread-safe initialization.
  switch (level) {
    case IsaLevel::kScalar: {
      static const KernelTable table = build_table(IsaLevel::kScalar);
      return table;
    }
    case IsaLevel::kAvx2: {
      static const KernelTable table = build_table(IsaLevel::kAvx2);
      return table;
    }
    case IsaLevel::kAvx512: {
      static const KernelTable table = build_table(IsaLevel::kAvx512);
      return table;
    }
  }
  QRAG_CHECK(false, "unknown ISA level");
}

KernelContext::KernelContext(core::ThreadPool& pool) : KernelContext(pool, requested_level()) {}

KernelContext::KernelContext(core::ThreadPool& pool, IsaLevel level)
    : level_(level), pool_(&pool), table_(nullptr) {
  if (!isa_available(level)) {
    throw Error("ISA level " + std::string(isa_name(level)) +
                " is not supported by this CPU (" + core::detect_cpu_features().summary() +
                "); choose a lower level with QRAG_CPU=scalar|avx2|avx512");
  }
  table_ = &kernel_table(level);
  per_thread_.resize(static_cast<std::size_t>(pool.size()));
  spdlog::info("kernels: ISA level {}, {} threads", isa_name(level), pool.size());
}

KernelContext::~KernelContext() = default;

void* KernelContext::scratch(std::size_t bytes) {
  // 64 extra bytes let the caller align the start to a cache line.
  if (scratch_.size() < bytes + 64) scratch_.resize(bytes + 64);
  auto address = reinterpret_cast<std::uintptr_t>(scratch_.data());
  const std::uintptr_t aligned = (address + 63) & ~static_cast<std::uintptr_t>(63);
  return scratch_.data() + (aligned - address);
}

float* KernelContext::thread_scratch(int thread_index, std::size_t n_floats) {
  QRAG_CHECK(thread_index >= 0 && thread_index < static_cast<int>(per_thread_.size()),
             "thread index outside the pool");
  auto& buffer = per_thread_[static_cast<std::size_t>(thread_index)];
  if (buffer.size() < n_floats) buffer.resize(n_floats);
  return buffer.data();
}

}  // namespace qrag::kernels
