// Table of supported architectures.
#include "model/arch.h"

#include <array>

namespace qrag::model {
namespace {

constexpr std::array kArchs = {
    ArchSpec{"llama", kernels::RopeMode::kNormal, true},
};

}  // namespace

std::span<const ArchSpec> supported_archs() { return kArchs; }

const ArchSpec* find_arch(std::string_view name) {
  for (const ArchSpec& spec : kArchs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

}  // namespace qrag::model
