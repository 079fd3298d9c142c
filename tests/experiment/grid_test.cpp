// Tests of grid expansion order, shards, keys and the dry-run listing.
#include "experiment/grid.h"

#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "experiment/key.h"

namespace qrag::experiment {
namespace {

ExperimentConfig two_by_two() {
  ExperimentConfig config;
  config.datasets = {DatasetConfig{"a", 3, "a.json", {}, "auto", 0}, DatasetConfig{"b", 5, "b.json", {}, "auto", 0}};
  config.models = {ModelConfig{"m", "m.gguf", {"stored", "q4_0"}}};
  config.retrievers = {parse_retriever_spec("bm25"), parse_retriever_spec("recency")};
  config.k_values = {KValue{false, 1}, KValue{true, 0}};
  config.orders = {DocumentOrder::kRelevanceFirst};
  config.seeds = {0};
  return config;
}

TEST(Grid, ExpansionOrderAndSize) {
  const std::vector<Cell> cells = expand_grid(two_by_two());
  ASSERT_EQ(cells.size(), 2u * 2 * 2 * 2);
  EXPECT_EQ(cells[0].id(), "a|m|stored|bm25|1|relevance-first|0");
  EXPECT_EQ(cells[1].id(), "a|m|stored|bm25|max|relevance-first|0");
  EXPECT_EQ(cells[2].id(), "a|m|stored|recency|1|relevance-first|0");
  EXPECT_EQ(cells[4].id(), "a|m|q4_0|bm25|1|relevance-first|0");
  EXPECT_EQ(cells[8].dataset, "b");
  EXPECT_EQ(cells[8].task, 5);
  std::set<std::string> ids;
  for (const Cell& cell : cells) ids.insert(cell.id());
  EXPECT_EQ(ids.size(), cells.size());
}

TEST(Grid, PairIdIgnoresPrecision) {
  const std::vector<Cell> cells = expand_grid(two_by_two());
  EXPECT_EQ(cells[0].pair_id(), cells[4].pair_id());
  EXPECT_NE(cells[0].pair_id(), cells[1].pair_id());
}

TEST(Grid, ShardsPartitionCells) {
  const std::vector<Cell> cells = expand_grid(two_by_two());
  std::vector<Cell> joined;
  for (std::size_t i = 1; i <= 3; ++i) {
    const std::vector<Cell> part = select_shard(cells, parse_shard(std::to_string(i) + "/3"));
    joined.insert(joined.end(), part.begin(), part.end());
  }
  ASSERT_EQ(joined.size(), cells.size());
  std::set<std::string> ids;
  for (const Cell& cell : joined) ids.insert(cell.id());
  EXPECT_EQ(ids.size(), cells.size());
  EXPECT_EQ(select_shard(cells, parse_shard("2/3"))[0].id(), cells[1].id());
}

TEST(Grid, ShardParseErrors) {
  for (const char* text : {"0/3", "4/3", "1/0", "a/3", "1", "1/3x", "/3"}) {
    EXPECT_THROW(parse_shard(text), Error) << text;
  }
  EXPECT_EQ(parse_shard("3/3").index, 2u);
}

TEST(Grid, DryRunListing) {
  const std::vector<Cell> cells = expand_grid(two_by_two());
  const std::string text = format_grid(cells, {{"a", 10}, {"b", 7}});
  EXPECT_THAT(text, ::testing::HasSubstr("16 cells, 136 generations in total"));
  EXPECT_THAT(text, ::testing::HasSubstr("recency"));
}

TEST(Keys, StableAndSensitive) {
  GenerationInputs inputs{"abc", "q4_0", "prompt", {}, 0, "0.1.0"};
  const Cell cell = expand_grid(two_by_two())[0];
  const std::string base = row_key(inputs, "q1", cell, "lamp", "auto");
  EXPECT_EQ(base.size(), 32u);
  EXPECT_EQ(base, row_key(inputs, "q1", cell, "lamp", "auto"));
  EXPECT_NE(base, row_key(inputs, "q2", cell, "lamp", "auto"));
  EXPECT_NE(base, row_key(inputs, "q1", cell, "yazan2024", "auto"));
  GenerationInputs changed = inputs;
  changed.decoding.top_k = 5;
  EXPECT_NE(generation_key(inputs), generation_key(changed));
  changed = inputs;
  changed.prompt = "prompt ";
  EXPECT_NE(generation_key(inputs), generation_key(changed));
  changed = inputs;
  changed.qrag_version = "0.1.1";
  EXPECT_NE(generation_key(inputs), generation_key(changed));
  // Field boundaries matter: moving text between fields changes the key.
  GenerationInputs shifted{"ab", "cq4_0", "prompt", {}, 0, "0.1.0"};
  EXPECT_NE(generation_key(inputs), generation_key(shifted));
}

TEST(Keys, KnownXxh3Value) {
  // XXH3-128 of the empty input, from the xxHash reference test vectors.
  EXPECT_EQ(xxh3_128_hex(""), "99aa06d3014798d86001c324468d497f");
}

}  // namespace
}  // namespace qrag::experiment
