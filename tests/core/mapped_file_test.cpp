// Tests for MappedFile: mapped and read modes give the same bytes, and the read copy is 2 MiB aligned.
#include "core/mapped_file.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "common/test_paths.h"
#include "core/error.h"

namespace qrag::core {
namespace {

constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;

// A file of `size` bytes with a position-dependent pattern, so that a shifted
// or truncated copy differs.
std::filesystem::path write_pattern(const std::filesystem::path& dir, std::size_t size) {
  std::vector<char> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 131 + i / 4096) & 0xff);
  const auto path = dir / ("pattern-" + std::to_string(size) + ".bin");
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

TEST(MappedFile, ReadCopyEqualsMapping) {
  const auto dir = testing::make_temp_dir();
  // Sizes around the 2 MiB page: below, equal, and one byte past.
  for (std::size_t size : {std::size_t{1}, std::size_t{4097}, std::size_t{kHugePage},
                           std::size_t{kHugePage + 1}, std::size_t{5 * kHugePage / 2}}) {
    const auto path = write_pattern(dir, size);
    const MappedFile mapped = MappedFile::open(path, MappedFile::Mode::kMmap);
    const MappedFile read = MappedFile::open(path, MappedFile::Mode::kRead);
    ASSERT_EQ(read.size(), size);
    ASSERT_EQ(mapped.size(), size);
    EXPECT_TRUE(mapped.is_mapped());
    EXPECT_FALSE(read.is_mapped());
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(read.data()) % kHugePage, 0u) << "size " << size;
    EXPECT_TRUE(std::equal(read.bytes().begin(), read.bytes().end(), mapped.bytes().begin()))
        << "size " << size;
    EXPECT_EQ(mapped.huge_page_bytes(), 0u);
    // The kernel decides whether to grant huge pages, but it cannot grant more
    // than the rounded-up copy.
    EXPECT_LE(read.huge_page_bytes(), (size + kHugePage - 1) / kHugePage * kHugePage);
  }
}

TEST(MappedFile, MovedReadCopyKeepsItsBytes) {
  const auto dir = testing::make_temp_dir();
  const auto path = write_pattern(dir, 3 * 4096 + 5);
  MappedFile first = MappedFile::open(path, MappedFile::Mode::kRead);
  const std::uint8_t* data = first.data();
  const std::vector<std::uint8_t> expected(first.bytes().begin(), first.bytes().end());
  MappedFile second = std::move(first);
  EXPECT_EQ(second.data(), data);
  EXPECT_EQ(std::vector<std::uint8_t>(second.bytes().begin(), second.bytes().end()), expected);
  MappedFile third = MappedFile::from_bytes({1, 2, 3}, "three");
  third = std::move(second);
  EXPECT_EQ(third.data(), data);
  EXPECT_EQ(third.size(), expected.size());
}

TEST(MappedFile, EmptyFileAndMissingFile) {
  const auto dir = testing::make_temp_dir();
  const auto empty = dir / "empty.bin";
  std::ofstream(empty, std::ios::binary).flush();
  for (const auto mode : {MappedFile::Mode::kMmap, MappedFile::Mode::kRead}) {
    const MappedFile file = MappedFile::open(empty, mode);
    EXPECT_EQ(file.size(), 0u);
    EXPECT_TRUE(file.bytes().empty());
    try {
      MappedFile::open(dir / "absent.bin", mode);
      FAIL() << "opening a missing file did not throw";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("absent.bin"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace qrag::core
