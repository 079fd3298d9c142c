// The gguf layer includes only itself and core (docs/architecture.md): the
// linker catches calls into higher layers, this catches header-only includes.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "common/test_paths.h"

namespace qrag::gguf {
namespace {

TEST(Layering, GgufIncludesOnlyCoreAndItself) {
  const auto dir = qrag::testing::source_dir() / "src" / "gguf";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const auto ext = entry.path().extension();
    if (ext != ".h" && ext != ".cpp") continue;
    ++files;
    std::ifstream in(entry.path());
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      // #include "layer/file.h" (project headers are always included with their folder).
      const std::size_t quote = line.find('"');
      if (line.rfind("#include", 0) != 0 || quote == std::string::npos) continue;
      const std::size_t slash = line.find('/', quote);
      if (slash == std::string::npos) continue;
      const std::string layer = line.substr(quote + 1, slash - quote - 1);
      EXPECT_TRUE(layer == "core" || layer == "gguf")
          << entry.path().filename().string() << ":" << number << " includes the higher layer " << layer;
    }
  }
  EXPECT_GE(files, 10);
}

}  // namespace
}  // namespace qrag::gguf
