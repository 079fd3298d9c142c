// Tests that examples/yazan2024.toml parses into the grid of the Yazan et al. (2024) study.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/test_paths.h"
#include "experiment/config.h"
#include "experiment/grid.h"

namespace qrag::experiment {
namespace {

std::vector<std::string> model_names(const ExperimentConfig& config) {
  std::vector<std::string> names;
  for (const ModelConfig& model : config.models) names.push_back(model.name);
  return names;
}

class Yazan2024Example : public ::testing::Test {
 protected:
  // The model, encoder and data files need not exist: load_config checks syntax and values only.
  void SetUp() override { config_ = load_config(testing::source_dir() / "examples/yazan2024.toml"); }
  ExperimentConfig config_;
};

TEST_F(Yazan2024Example, DatasetsAreLamp3And5Dev) {
  ASSERT_EQ(config_.datasets.size(), 2u);
  EXPECT_EQ(config_.datasets[0].task, 3);
  EXPECT_EQ(config_.datasets[0].parser, "first-digit");
  EXPECT_EQ(config_.datasets[0].questions.filename(), "dev_questions.json");
  EXPECT_EQ(config_.datasets[0].questions.parent_path().filename(), "user");
  ASSERT_TRUE(config_.datasets[0].outputs.has_value());
  EXPECT_EQ(config_.datasets[0].outputs->filename(), "dev_outputs.json");
  EXPECT_EQ(config_.datasets[1].task, 5);
  EXPECT_EQ(config_.datasets[1].questions.parent_path().parent_path().filename(), "LaMP_5");
  EXPECT_EQ(config_.datasets[0].limit, 0u);
}

TEST_F(Yazan2024Example, SixModelsAtTwoPrecisions) {
  EXPECT_EQ(model_names(config_),
            (std::vector<std::string>{"llama-2-7b-chat", "llama-3-8b-instruct", "mistral-7b-instruct-v0.1",
                                      "zephyr-7b-beta", "openchat-3.5", "starling-lm-7b-alpha"}));
  for (const ModelConfig& model : config_.models) {
    EXPECT_EQ(model.precisions, (std::vector<std::string>{"stored", "q4_k"})) << model.name;
    EXPECT_NE(model.path.filename().string().find(".F16.gguf"), std::string::npos) << model.name;
  }
}

TEST_F(Yazan2024Example, RetrieversKAndOrders) {
  ASSERT_EQ(config_.retrievers.size(), 3u);
  EXPECT_EQ(config_.retrievers[0].canonical(), "bm25:okapi?analyzer=characters");
  EXPECT_EQ(config_.retrievers[1].canonical(), "dense:contriever");
  EXPECT_EQ(config_.retrievers[2].canonical(), "dense:dpr-ctx?query_model=dpr-question");
  ASSERT_EQ(config_.encoders.size(), 3u);
  EXPECT_TRUE(std::any_of(config_.encoders.begin(), config_.encoders.end(),
                          [](const EncoderConfig& encoder) { return encoder.name == "dpr-question"; }));

  const std::vector<KValue> k = {{false, 0}, {false, 1}, {false, 3}, {false, 5}, {true, 0}};
  EXPECT_EQ(config_.k_values, k);
  EXPECT_EQ(config_.orders,
            (std::vector<DocumentOrder>{DocumentOrder::kRelevanceFirst, DocumentOrder::kRelevanceLast,
                                        DocumentOrder::kShuffled}));
  EXPECT_EQ(config_.prompt_style, PromptStyle::kYazan2024);
  EXPECT_EQ(config_.decoding.temperature, 0.0);
}

// 2 datasets x 6 models x 2 precisions x 3 retrievers x 5 k x 3 orders x 1 seed.
TEST_F(Yazan2024Example, GridHas1080Cells) {
  EXPECT_EQ(expand_grid(config_).size(), 2u * 6u * 2u * 3u * 5u * 3u * 1u);
}

}  // namespace
}  // namespace qrag::experiment
