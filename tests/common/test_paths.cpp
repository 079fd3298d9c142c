// Test input locations, fixed at configure time by tests/CMakeLists.txt.
#include "common/test_paths.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <string>

namespace qrag::testing {

std::optional<std::filesystem::path> shared_dir() {
  const std::filesystem::path dir(QRAG_SHARED_DIR);
  if (!std::filesystem::is_directory(dir)) return std::nullopt;
  return dir;
}

std::optional<std::filesystem::path> shared_file(std::string_view relative) {
  const auto dir = shared_dir();
  if (!dir) return std::nullopt;
  auto path = *dir / std::filesystem::path(relative);
  if (!std::filesystem::exists(path)) return std::nullopt;
  return path;
}

std::filesystem::path test_data(std::string_view relative) {
  return std::filesystem::path(QRAG_TEST_DATA_DIR) / std::filesystem::path(relative);
}

std::filesystem::path source_dir() { return std::filesystem::path(QRAG_SOURCE_DIR); }

std::filesystem::path make_temp_dir() {
  static std::atomic<int> counter{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = "qrag-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  if (info != nullptr) name += std::string("-") + info->test_suite_name() + "-" + info->name();
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  const auto dir = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace qrag::testing
