// Deterministic grid expansion, shard selection and the dry-run grid listing.
#include "experiment/grid.h"

#include <charconv>

#include <fmt/core.h>

#include "core/error.h"

namespace qrag::experiment {

std::string Cell::id() const {
  return fmt::format("{}|{}|{}|{}|{}|{}|{}", dataset, model, precision, retriever, k.to_string(), to_string(order),
                     seed);
}

std::string Cell::pair_id() const {
  return fmt::format("{}|{}|{}|{}|{}|{}", dataset, model, retriever, k.to_string(), to_string(order), seed);
}

std::vector<Cell> expand_grid(const ExperimentConfig& config) {
  std::vector<Cell> cells;
  for (const DatasetConfig& dataset : config.datasets) {
    for (const ModelConfig& model : config.models) {
      for (const std::string& precision : model.precisions) {
        for (const RetrieverSpec& retriever : config.retrievers) {
          for (const KValue& k : config.k_values) {
            for (const DocumentOrder order : config.orders) {
              for (const std::uint64_t seed : config.seeds) {
                cells.push_back(Cell{dataset.name, dataset.task, model.name, precision, retriever.canonical(), k,
                                     order, seed});
              }
            }
          }
        }
      }
    }
  }
  return cells;
}

Shard parse_shard(std::string_view text) {
  const std::size_t slash = text.find('/');
  std::size_t index = 0;
  std::size_t count = 0;
  const auto parse = [](std::string_view part, std::size_t& value) {
    const auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), value);
    return error == std::errc() && end == part.data() + part.size() && !part.empty();
  };
  if (slash == std::string_view::npos || !parse(text.substr(0, slash), index) ||
      !parse(text.substr(slash + 1), count) || count == 0 || index == 0 || index > count) {
    throw Error(fmt::format("invalid shard '{}': expected I/N with 1 <= I <= N, e.g. 2/4", text));
  }
  return Shard{index - 1, count};
}

std::vector<Cell> select_shard(const std::vector<Cell>& cells, Shard shard) {
  std::vector<Cell> selected;
  for (std::size_t i = shard.index; i < cells.size(); i += shard.count) selected.push_back(cells[i]);
  return selected;
}

std::string format_grid(const std::vector<Cell>& cells,
                        const std::vector<std::pair<std::string, std::size_t>>& questions_per_dataset) {
  std::string text = fmt::format("{:<5} {:<16} {:<16} {:<8} {:<20} {:>4} {:<16} {:>6} {:>11}\n", "cell",
                                 "dataset", "model", "precision", "retriever", "k", "order", "seed", "generations");
  std::size_t total = 0;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const Cell& cell = cells[i];
    std::size_t questions = 0;
    for (const auto& [name, count] : questions_per_dataset) {
      if (name == cell.dataset) questions = count;
    }
    total += questions;
    text += fmt::format("{:<5} {:<16} {:<16} {:<8} {:<20} {:>4} {:<16} {:>6} {:>11}\n", i + 1, cell.dataset,
                        cell.model, cell.precision, cell.retriever, cell.k.to_string(), to_string(cell.order),
                        cell.seed, questions);
  }
  text += fmt::format("{} cells, {} generations in total\n", cells.size(), total);
  return text;
}

}  // namespace qrag::experiment
