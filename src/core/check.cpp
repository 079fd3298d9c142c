// Invariant-failure reporting for QRAG_CHECK.
#include "core/check.h"

#include <cstdio>
#include <cstdlib>

namespace qrag::core {

void check_failed(std::string_view condition, std::string_view message,
                  const SourceLocation& where) {
  // stderr directly: the logger itself may be what is broken.
  std::fprintf(stderr, "qrag: internal error at %s:%u: check '%.*s' failed: %.*s\n",
               where.file, where.line,
               static_cast<int>(condition.size()), condition.data(),
               static_cast<int>(message.size()), message.data());
  std::abort();
}

}  // namespace qrag::core
