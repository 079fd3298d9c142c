// Logging set-up on top of spdlog; library code logs through spdlog directly.
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

namespace qrag::core {

// Parses "trace|debug|info|warn|error|off"; throws qrag::Error naming the value otherwise.
spdlog::level::level_enum parse_log_level(std::string_view name);

// Installs the default logger: stderr, "[level] message", at the given level.
// Call once from main before any other thread starts.
void init_logging(spdlog::level::level_enum level);

}  // namespace qrag::core
