// Tests of the experiment TOML parser: accepted configs, defaults and located errors.
#include "experiment/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/test_paths.h"
#include "core/error.h"

namespace qrag::experiment {
namespace {

using ::testing::HasSubstr;

constexpr const char* kMinimal = R"(
[experiment]
retrievers = ["bm25"]
k = [0, 2, "max"]

[[datasets]]
name = "d"
task = 3
questions = "q.json"

[[models]]
name = "m"
path = "/models/m.gguf"
)";

std::string error_of(const std::string& text) {
  try {
    parse_config(text, "/cfg/exp.toml");
  } catch (const Error& error) {
    return error.message();
  }
  return "no error";
}

TEST(Config, MinimalDefaults) {
  const ExperimentConfig config = parse_config(kMinimal, "/cfg/exp.toml");
  EXPECT_EQ(config.name, "exp");
  ASSERT_EQ(config.datasets.size(), 1u);
  EXPECT_EQ(config.datasets[0].questions, std::filesystem::path("/cfg/q.json"));
  EXPECT_FALSE(config.datasets[0].outputs.has_value());
  EXPECT_EQ(config.datasets[0].parser, "auto");
  ASSERT_EQ(config.models.size(), 1u);
  EXPECT_EQ(config.models[0].precisions, std::vector<std::string>{"stored"});
  ASSERT_EQ(config.k_values.size(), 3u);
  EXPECT_EQ(config.k_values[1].count, 2);
  EXPECT_TRUE(config.k_values[2].is_max);
  EXPECT_EQ(config.orders, std::vector<DocumentOrder>{DocumentOrder::kRelevanceFirst});
  EXPECT_EQ(config.seeds, std::vector<std::uint64_t>{0});
  EXPECT_EQ(config.decoding.max_new_tokens, 64);
  EXPECT_EQ(config.decoding.temperature, 0.0);
}

TEST(Config, DemoExampleParses) {
  const ExperimentConfig config = load_config(testing::source_dir() / "examples/demo.toml");
  EXPECT_EQ(config.name, "demo");
  ASSERT_EQ(config.datasets.size(), 2u);
  EXPECT_EQ(config.datasets[0].task, 3);
  EXPECT_EQ(config.datasets[1].task, 5);
  ASSERT_EQ(config.models.size(), 1u);
  EXPECT_EQ(config.models[0].precisions, (std::vector<std::string>{"stored", "q8_0", "q4_0"}));
  ASSERT_EQ(config.retrievers.size(), 3u);
  EXPECT_EQ(config.retrievers[0].canonical(), "bm25:okapi");
  EXPECT_EQ(config.retrievers[1].canonical(), "dense:minilm");
  ASSERT_EQ(config.encoders.size(), 2u);
  EXPECT_EQ(config.encoders[1].precision, "q4_0");
  EXPECT_EQ(config.k_values.size(), 5u);
  EXPECT_EQ(config.decoding.stop, std::vector<std::string>{"\n"});
}

TEST(Config, EncodersResolveDenseRetrievers) {
  std::string text = kMinimal;
  text.replace(text.find(R"(["bm25"])"), 8, R"(["bm25", "dense:mini", "dense:/m/e5.gguf"])");
  text += R"(
[[encoders]]
name = "mini"
path = "enc/minilm"
precision = "Q4_0"
)";
  const ExperimentConfig config = parse_config(text, "/cfg/exp.toml");
  ASSERT_EQ(config.encoders.size(), 1u);
  EXPECT_EQ(config.encoders[0].path, std::filesystem::path("/cfg/enc/minilm"));
  EXPECT_EQ(config.encoders[0].precision, "q4_0");
}

TEST(Config, DenseRetrieverNeedsEncoder) {
  std::string text = kMinimal;
  text.replace(text.find(R"(["bm25"])"), 8, R"(["dense:nowhere"])");
  const std::string message = error_of(text);
  EXPECT_THAT(message, HasSubstr("nowhere"));
  EXPECT_THAT(message, HasSubstr("[[encoders]]"));
}

TEST(Config, EncoderPrecisionValidated) {
  const std::string encoder = "[[encoders]]\nname = \"e\"\npath = \"p\"\nprecision = \"q9\"\n";
  const std::string message = error_of(std::string(kMinimal) + encoder);
  EXPECT_THAT(message, HasSubstr("precision"));
  EXPECT_THAT(message, HasSubstr("q9"));
}

TEST(Config, FullDecodingSection) {
  const std::string text = std::string(kMinimal) + R"(
[decoding]
max_new_tokens = 16
temperature = 0.7
top_k = 40
top_p = 0.9
min_p = 0.05
seed = 7
stop = ["</s>", "\n\n"]
)";
  const ExperimentConfig config = parse_config(text, "/cfg/exp.toml");
  EXPECT_EQ(config.decoding.max_new_tokens, 16);
  EXPECT_DOUBLE_EQ(config.decoding.temperature, 0.7);
  EXPECT_EQ(config.decoding.top_k, 40);
  EXPECT_DOUBLE_EQ(config.decoding.top_p, 0.9);
  EXPECT_DOUBLE_EQ(config.decoding.min_p, 0.05);
  EXPECT_EQ(config.seeds, std::vector<std::uint64_t>{7});
  EXPECT_EQ(config.decoding.stop.size(), 2u);
}

TEST(Config, UnknownKeyNamesLine) {
  const std::string text = std::string(kMinimal) + "\n[decoding]\ntemprature = 0.5\n";
  const std::string message = error_of(text);
  EXPECT_THAT(message, HasSubstr("decoding.temprature"));
  EXPECT_THAT(message, HasSubstr("exp.toml:16"));
  EXPECT_THAT(message, HasSubstr("unknown key"));
}

TEST(Config, UnknownKeyInDataset) {
  std::string text = kMinimal;
  text.replace(text.find("task = 3"), 8, "task = 3\nquestion = \"x\"");
  const std::string message = error_of(text);
  EXPECT_THAT(message, HasSubstr("datasets[0].question"));
  EXPECT_THAT(message, HasSubstr("exp.toml:9"));
}

TEST(Config, InvalidValues) {
  struct Case {
    std::string from;
    std::string to;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"task = 3", "task = 9", "datasets[0].task"},
      {"task = 3", "task = \"3\"", "expected an integer"},
      {"k = [0, 2, \"max\"]", "k = [0, -1]", "k[1]"},
      {"k = [0, 2, \"max\"]", "k = [2, 2]", "listed twice"},
      {"k = [0, 2, \"max\"]", "k = []", "non-empty"},
      {"retrievers = [\"bm25\"]", "retrievers = [\"bm52\"]", "unknown retriever 'bm52'"},
      {"retrievers = [\"bm25\"]", "retrievers = [\"random?seed\"]", "not key=value"},
      {"path = \"/models/m.gguf\"", "path = \"/m.gguf\"\nbase = \"/b.gguf\"", "exactly one of"},
      {"path = \"/models/m.gguf\"", "base = \"/b.gguf\"\nprecisions = [\"q3_0\"]", "unknown precision 'q3_0'"},
      {"path = \"/models/m.gguf\"", "base = \"/b.gguf\"\nprecisions = [\"q8_0\", \"Q8_0\"]", "listed twice"},
      {"[experiment]", "[experiment]\norders = [\"random\"]", "orders[0]"},
      {"[experiment]", "[experiment]\nprompt_style = \"x\"", "prompt_style"},
      {"name = \"m\"", "name = \"d\"", "no error"},
  };
  for (const Case& c : cases) {
    std::string text = kMinimal;
    const std::size_t at = text.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    text.replace(at, c.from.size(), c.to);
    EXPECT_THAT(error_of(text), HasSubstr(c.expected)) << c.to;
  }
}

TEST(Config, MissingSections) {
  EXPECT_THAT(error_of("[experiment]\nretrievers = [\"bm25\"]\nk = [1]\n"), HasSubstr("missing required key 'datasets'"));
  EXPECT_THAT(error_of("[[datasets]]\nname = \"d\"\n"), HasSubstr("missing required key 'experiment'"));
  std::string no_k = kMinimal;
  no_k.replace(no_k.find("k = [0, 2, \"max\"]"), 17, "");
  EXPECT_THAT(error_of(no_k), HasSubstr("'experiment.k'"));
}

TEST(Config, SyntaxErrorHasLine) {
  const std::string message = error_of("[experiment]\nk = [1,\n");
  EXPECT_THAT(message, HasSubstr("exp.toml:"));
  EXPECT_THAT(message, HasSubstr("invalid TOML"));
}

TEST(Config, SeedTwiceRejected) {
  const std::string text = std::string(kMinimal) + "\n[decoding]\nseed = 1\n";
  std::string both = text;
  both.replace(both.find("[experiment]"), 12, "[experiment]\nseeds = [1, 2]");
  EXPECT_THAT(error_of(both), HasSubstr("not both"));
}

TEST(Config, RetrieverSpecCanonical) {
  const RetrieverSpec spec = parse_retriever_spec("random?seed=1&pool=all");
  EXPECT_EQ(spec.family, "random");
  EXPECT_EQ(spec.variant, "");
  EXPECT_EQ(spec.params.at("seed"), "1");
  EXPECT_EQ(spec.canonical(), "random?pool=all&seed=1");
  EXPECT_EQ(parse_retriever_spec("dense:minilm").variant, "minilm");
  EXPECT_THROW(parse_retriever_spec("bm25:"), Error);
  EXPECT_THROW(parse_retriever_spec("random?seed=1&seed=2"), Error);
}

TEST(Config, MissingFileNamed) {
  try {
    load_config("/nonexistent/exp.toml");
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_THAT(error.message(), HasSubstr("/nonexistent/exp.toml"));
  }
}

}  // namespace
}  // namespace qrag::experiment
