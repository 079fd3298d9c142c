// Tests the BERT embedder on all-MiniLM-L6-v2 (converted here) against float64 numpy reference embeddings.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/test_paths.h"
#include "core/thread_pool.h"
#include "engine/converter.h"
#include "engine/embedder.h"

namespace qrag::engine {
namespace {

namespace fs = std::filesystem;
using testing::make_temp_dir;
using testing::source_dir;
using testing::test_data;

struct Reference {
  std::vector<std::string> texts;
  std::vector<std::vector<std::int32_t>> token_ids;
  std::vector<std::vector<float>> embeddings;
  std::int64_t max_tokens = 0;
};

Reference load_reference() {
  std::ifstream in(test_data("engine/minilm_embeddings.json"));
  const nlohmann::json j = nlohmann::json::parse(in);
  Reference r;
  r.max_tokens = j.at("max_tokens").get<std::int64_t>();
  for (const auto& item : j.at("items")) {
    r.texts.push_back(item.at("text").get<std::string>());
    r.token_ids.push_back(item.at("token_ids").get<std::vector<std::int32_t>>());
    r.embeddings.push_back(item.at("embedding").get<std::vector<float>>());
  }
  return r;
}

double cosine(const float* a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

class MiniLm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const fs::path dir = source_dir() / "models" / "all-MiniLM-L6-v2";
    if (!fs::exists(dir / "model.safetensors")) return;
    hf_dir_ = new fs::path(dir);
    out_dir_ = new fs::path(make_temp_dir());
  }
  static void TearDownTestSuite() {
    delete hf_dir_;
    delete out_dir_;
    hf_dir_ = nullptr;
    out_dir_ = nullptr;
  }
  void SetUp() override {
    if (hf_dir_ == nullptr) GTEST_SKIP() << "needs models/all-MiniLM-L6-v2 (scripts/setup.sh installs it)";
  }

  // Converts the checkpoint at `type` once per suite and returns the GGUF path.
  static fs::path convert(gguf::GgmlType type) {
    const fs::path out = *out_dir_ / fmt::format("minilm-{}.gguf", gguf::type_name(type));
    if (!fs::exists(out)) {
      ConvertOptions options;
      options.type = type;
      convert_hf_to_gguf(*hf_dir_, out, options);
    }
    return out;
  }

  // Per-text cosine between qrag's embeddings at `type` and the reference.
  static std::vector<double> cosines(gguf::GgmlType type, const Reference& ref) {
    core::ThreadPool pool(2);
    EmbedderOptions options;
    options.max_tokens = ref.max_tokens;
    Embedder embedder(convert(type), pool, options);
    const std::vector<float> got = embedder.embed(ref.texts);  // [n][384]
    std::vector<double> out;
    for (std::size_t i = 0; i < ref.texts.size(); ++i) out.push_back(cosine(got.data() + i * 384, ref.embeddings[i]));
    return out;
  }

  static fs::path* hf_dir_;
  static fs::path* out_dir_;
};

fs::path* MiniLm::hf_dir_ = nullptr;
fs::path* MiniLm::out_dir_ = nullptr;

TEST_F(MiniLm, TokenIdsMatchReference) {
  const Reference ref = load_reference();
  core::ThreadPool pool(1);
  Embedder embedder(convert(gguf::GgmlType::F32), pool);
  EXPECT_EQ(embedder.dim(), 384u);
  EXPECT_EQ(embedder.pooling(), model::BertPooling::kMean);
  for (std::size_t i = 0; i < ref.texts.size(); ++i) {
    EXPECT_EQ(embedder.tokenize(ref.texts[i]), ref.token_ids[i]) << "text " << i << ": " << ref.texts[i];
  }
}

TEST_F(MiniLm, F32MatchesReference) {
  const Reference ref = load_reference();
  const std::vector<double> cos = cosines(gguf::GgmlType::F32, ref);
  double worst = 1;
  for (std::size_t i = 0; i < cos.size(); ++i) {
    EXPECT_GE(cos[i], 0.9999) << "text " << i;
    worst = std::min(worst, cos[i]);
  }
  RecordProperty("min_cosine_f32", std::to_string(worst));
  std::printf("min cosine vs reference, f32: %.7f\n", worst);
}

TEST_F(MiniLm, F16AndQ8_0Cosines) {
  const Reference ref = load_reference();
  for (const auto type : {gguf::GgmlType::F16, gguf::GgmlType::Q8_0}) {
    const std::vector<double> cos = cosines(type, ref);
    double worst = 1, sum = 0;
    for (const double c : cos) {
      worst = std::min(worst, c);
      sum += c;
    }
    std::printf("cosine vs reference, %s: min %.7f mean %.7f\n", std::string(gguf::type_name(type)).c_str(), worst,
                sum / static_cast<double>(cos.size()));
    // NOTE: a sanity floor, not a derived bound: 8-bit weights move a unit vector far less than this.
    EXPECT_GE(worst, 0.99) << gguf::type_name(type);
  }
}

TEST_F(MiniLm, BatchMatchesSingle) {
  const Reference ref = load_reference();
  core::ThreadPool pool(2);
  EmbedderOptions options;
  options.batch_tokens = 150;  // forces several batches
  Embedder batched(convert(gguf::GgmlType::F32), pool, options);
  const std::vector<std::string> texts(ref.texts.begin(), ref.texts.begin() + 6);
  const std::vector<float> all = batched.embed(texts);  // [6][384]
  for (std::size_t i = 0; i < texts.size(); i += 2) {
    const std::vector<float> one = batched.embed(std::span<const std::string>(&ref.texts[i], 1));
    const std::vector<float> row(all.begin() + static_cast<std::ptrdiff_t>(i * 384),
                                 all.begin() + static_cast<std::ptrdiff_t>((i + 1) * 384));
    EXPECT_GE(cosine(one.data(), row), 1.0 - 1e-6) << "text " << i;
  }
}

}  // namespace
}  // namespace qrag::engine
