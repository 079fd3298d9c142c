// Always-on internal invariant checks (kept in release builds).
#pragma once

#include <string_view>

namespace qrag::core {

// Where a check sits. Filled from __FILE__/__LINE__ rather than
// std::source_location, which clang 14 with libstdc++ 12 (the `fuzz` preset)
// does not provide.
struct SourceLocation {
  const char* file;
  unsigned line;
};

// Logs the failed condition with its source location and aborts. A failed check
// is a bug in qrag, never a user mistake: user mistakes throw qrag::Error.
[[noreturn]] void check_failed(std::string_view condition, std::string_view message,
                               const SourceLocation& where);

}  // namespace qrag::core

// QRAG_CHECK(cond, "message"): aborts with file and line when cond is false.
#define QRAG_CHECK(cond, message)                                                 \
  do {                                                                            \
    if (!(cond)) [[unlikely]] {                                                   \
      ::qrag::core::check_failed(#cond, (message), ::qrag::core::SourceLocation{__FILE__, __LINE__}); \
    }                                                                             \
  } while (false)
