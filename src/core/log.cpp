// Logger set-up: one stderr sink so stdout stays free for command output.
#include "core/log.h"

#include <array>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>

#include "core/error.h"

namespace qrag::core {

spdlog::level::level_enum parse_log_level(std::string_view name) {
  struct Entry {
    std::string_view name;
    spdlog::level::level_enum level;
  };
  static constexpr std::array<Entry, 7> kLevels{{{"trace", spdlog::level::trace},
                                                 {"debug", spdlog::level::debug},
                                                 {"info", spdlog::level::info},
                                                 {"warn", spdlog::level::warn},
                                                 {"warning", spdlog::level::warn},
                                                 {"error", spdlog::level::err},
                                                 {"off", spdlog::level::off}}};
  for (const Entry& entry : kLevels) {
    if (entry.name == name) return entry.level;
  }
  throw Error("invalid log level '" + std::string(name) +
              "' (expected trace, debug, info, warn, error or off)");
}

void init_logging(spdlog::level::level_enum level) {
  auto logger = spdlog::stderr_color_mt("qrag");
  logger->set_pattern("%^[%l]%$ %v");
  logger->set_level(level);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace qrag::core
