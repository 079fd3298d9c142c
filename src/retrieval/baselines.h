// Recency and random retrievers, and the Python-compatible random generator behind lamp-compat.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "retrieval/retriever.h"

namespace qrag::retrieval {

// Newest first by Document::date (dash-separated integers compared field by field, so
// "2015" < "2015-01" < "2015-01-02"); equal dates keep profile order; documents without a
// date come last in profile order. An unparsable date throws qrag::Error naming the doc.
class RecencyRetriever : public Retriever {
 public:
  RankResult rank(std::string_view query, std::span<const Document> docs, std::size_t k) override;
  std::string spec() const override { return "recency"; }
};

// Mersenne Twister MT19937 seeded and sampled exactly as CPython's `random` module
// (init_by_array over the seed's 32-bit words; random() from two 32-bit outputs).
class PythonRandom {
 public:
  // Seeds as random.seed(n) for the non-negative integer whose 32-bit words, least
  // significant first, are `words`.
  explicit PythonRandom(std::vector<std::uint32_t> words);
  std::uint32_t next_u32();
  double random();  // [0, 1) with 53 random bits, as random.random()

 private:
  std::array<std::uint32_t, 624> state_{};
  std::size_t position_ = 624;
};

// Seeded random order. Each rank() call seeds a fresh generator from (seed, XXH3-64 of the
// query), so results do not depend on the order in which questions are ranked.
// Default: a permutation (without replacement) drawn by Fisher-Yates; scores are
// n - position. With lamp_compat: LaMP's `random.choices(profile, k=k)` (with replacement,
// so an item may repeat) drawn from PythonRandom seeded as
// random.seed((seed << 64) | xxh3_64(query)); k is clipped to the profile size first.
class RandomRetriever : public Retriever {
 public:
  RandomRetriever(std::uint64_t seed, bool lamp_compat) : seed_(seed), lamp_compat_(lamp_compat) {}
  RankResult rank(std::string_view query, std::span<const Document> docs, std::size_t k) override;
  std::string spec() const override;

 private:
  std::uint64_t seed_;
  bool lamp_compat_;
};

}  // namespace qrag::retrieval
