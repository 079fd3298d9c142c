// Always-on internal invariant checks (kept in release builds).
#pragma once

#include <source_location>
#include <string_view>

namespace qrag::core {

// Logs the failed condition with its source location and aborts. A failed check
// is a bug in qrag, never a user mistake: user mistakes throw qrag::Error.
[[noreturn]] void check_failed(std::string_view condition, std::string_view message,
                               const std::source_location& where);

}  // namespace qrag::core

// QRAG_CHECK(cond, "message"): aborts with file and line when cond is false.
#define QRAG_CHECK(cond, message)                                                 \
  do {                                                                            \
    if (!(cond)) [[unlikely]] {                                                   \
      ::qrag::core::check_failed(#cond, (message), std::source_location::current()); \
    }                                                                             \
  } while (false)
