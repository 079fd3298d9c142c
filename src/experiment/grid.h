// Grid expansion: the cells of an experiment in a deterministic order, and shard slices.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "experiment/config.h"

namespace qrag::experiment {

// One configuration that every question of its dataset is generated under. The fields
// are names (not indices) so that cells from different runs and shards compare equal.
struct Cell {
  std::string dataset;
  int task = 0;
  std::string model;
  std::string precision;
  std::string retriever;  // canonical spec string
  KValue k;
  DocumentOrder order = DocumentOrder::kRelevanceFirst;
  std::uint64_t seed = 0;

  // "dataset|model|precision|retriever|k|order|seed": unique within a grid.
  std::string id() const;
  // The id without the precision: cells with equal pair ids differ only in precision.
  std::string pair_id() const;
  bool operator==(const Cell&) const = default;
};

// Expands dataset x model x precision x retriever x k x order x seed, nested in that
// order (the last varies fastest), following the order of each list in the config.
std::vector<Cell> expand_grid(const ExperimentConfig& config);

// Shard `index` of `count` (0-based index): the cells whose position p in the full grid
// has p % count == index. Every cell belongs to exactly one shard.
struct Shard {
  std::size_t index = 0;
  std::size_t count = 1;
};

// Parses "I/N" with 1 <= I <= N (1-based on the command line, as in "--shard 2/4");
// throws qrag::Error naming the text otherwise.
Shard parse_shard(std::string_view text);
std::vector<Cell> select_shard(const std::vector<Cell>& cells, Shard shard);

// The dry-run listing: one line per cell with its number of generations, then a total.
// `questions_per_dataset` maps dataset name to its question count (after any limit).
std::string format_grid(const std::vector<Cell>& cells,
                        const std::vector<std::pair<std::string, std::size_t>>& questions_per_dataset);

}  // namespace qrag::experiment
