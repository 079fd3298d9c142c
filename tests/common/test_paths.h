// Locations of test inputs: the shared real-data folder and tests/data.
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>

namespace qrag::testing {

// The folder set by the QRAG_SHARED_DIR CMake cache variable (default ../shared),
// or nullopt when it does not exist on this machine.
std::optional<std::filesystem::path> shared_dir();

// shared_dir() / relative if that file exists, else nullopt. Tests skip with
//   if (!path) GTEST_SKIP() << "needs ../shared/" << relative;
std::optional<std::filesystem::path> shared_file(std::string_view relative);

// tests/data / relative (small fixtures committed with the tests).
std::filesystem::path test_data(std::string_view relative);

// The repository root (for docs and examples used by tests).
std::filesystem::path source_dir();

// A fresh, empty temporary folder unique to the calling test.
std::filesystem::path make_temp_dir();

}  // namespace qrag::testing
