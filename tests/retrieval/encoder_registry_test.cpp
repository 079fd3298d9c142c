// EncoderRegistry without a real model: NAME=PATH bindings, name and path resolution, load errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "common/test_paths.h"
#include "core/error.h"
#include "retrieval/encoder_registry.h"

namespace qrag::retrieval {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Runs fn, which must throw qrag::Error, and returns the message.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& error) {
    return error.message();
  }
  ADD_FAILURE() << "expected qrag::Error";
  return {};
}

TEST(EncoderBinding, SplitsAtFirstEquals) {
  const auto [name, path] = parse_encoder_binding("minilm=models/minilm.gguf");
  EXPECT_EQ(name, "minilm");
  EXPECT_EQ(path, fs::path("models/minilm.gguf"));
  const auto [name2, path2] = parse_encoder_binding("e5=dir/a=b.gguf");
  EXPECT_EQ(name2, "e5");
  EXPECT_EQ(path2, fs::path("dir/a=b.gguf"));
}

TEST(EncoderBinding, RejectsMissingParts) {
  for (const char* binding : {"minilm", "=models/minilm.gguf", "minilm=", ""}) {
    EXPECT_THAT(error_of([&] { parse_encoder_binding(binding); }), HasSubstr("expected NAME=PATH")) << binding;
  }
}

TEST(EncoderRegistry, RejectsZeroThreads) {
  EncoderRegistryOptions options;
  options.threads = 0;
  EXPECT_THAT(error_of([&] { EncoderRegistry(std::map<std::string, fs::path>{}, options); }), HasSubstr("threads must be >= 1, got 0"));
}

TEST(EncoderRegistry, ResolvesNamesBeforePaths) {
  const fs::path dir = qrag::testing::make_temp_dir();
  const fs::path file = dir / "model.gguf";
  std::ofstream(file) << "x";
  EncoderRegistry registry({{"minilm", dir / "named.gguf"}, {file.string(), dir / "shadow.gguf"}});
  EXPECT_EQ(registry.resolve("minilm"), dir / "named.gguf");
  // A registered name wins over an existing file of the same spelling.
  EXPECT_EQ(registry.resolve(file.string()), dir / "shadow.gguf");
  EncoderRegistry plain({{"minilm", dir / "named.gguf"}});
  EXPECT_EQ(plain.resolve(file.string()), file);
  fs::remove_all(dir);
}

TEST(EncoderRegistry, UnknownNameListsRegistered) {
  EncoderRegistry registry({{"minilm", "a.gguf"}, {"e5", "b.gguf"}});
  const std::string message = error_of([&] { registry.resolve("contriever"); });
  EXPECT_THAT(message, HasSubstr("encoder 'contriever' is neither a registered name"));
  EXPECT_THAT(message, HasSubstr("registered names: e5 minilm"));
  EncoderRegistry empty(std::map<std::string, fs::path>{});
  EXPECT_THAT(error_of([&] { empty.resolve("minilm"); }), HasSubstr("no names are registered"));
}

TEST(EncoderRegistry, RejectsNonGgufFile) {
  const fs::path dir = qrag::testing::make_temp_dir();
  const fs::path bogus = dir / "bogus.gguf";
  std::ofstream(bogus) << "not a model";
  EncoderRegistry registry({{"bogus", bogus}});
  const std::string message = error_of([&] { registry.load("bogus"); });
  EXPECT_THAT(message, HasSubstr("loading encoder 'bogus' from " + bogus.string()));
  EXPECT_EQ(registry.n_loaded(), 0u);
  // The factory reports the spec around the same error.
  EXPECT_THAT(error_of([&] { make_retriever("dense:bogus", registry.context()); }),
              HasSubstr("retriever spec 'dense:bogus': loading encoder 'bogus'"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace qrag::retrieval
