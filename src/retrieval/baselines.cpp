// Recency and random retrievers, and CPython's MT19937 seeding and sampling for lamp-compat.
#include "retrieval/baselines.h"

#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"

namespace qrag::retrieval {
namespace {

// Dash-separated integers of a date ("2015-03-07" -> {2015, 3, 7}), as LaMP parses them.
std::vector<long long> parse_date(const Document& doc, std::size_t index) {
  const std::string& text = *doc.date;
  std::vector<long long> fields;
  std::size_t pos = 0;
  while (true) {
    const std::size_t end = std::min(text.find('-', pos), text.size());
    long long value = 0;
    const char* first = text.data() + pos;
    const char* last = text.data() + end;
    const auto [ptr, ec] = std::from_chars(first, last, value);
    if (ec != std::errc() || ptr != last) {
      throw Error("document " + std::to_string(index) + " (id '" + doc.id + "'): date '" + text +
                  "' is invalid: expected dash-separated integers such as 2015-03-07 or 2015");
    }
    fields.push_back(value);
    if (end == text.size()) break;
    pos = end + 1;
  }
  return fields;
}

// Uniform integer in [0, n) from a 64-bit generator, by rejection (no modulo bias).
std::uint64_t uniform_below(std::mt19937_64& rng, std::uint64_t n) {
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % n;
  std::uint64_t value = rng();
  while (value >= limit) value = rng();
  return value % n;
}

RankResult empty_result(std::span<const Document> docs, std::size_t k) {
  RankResult result;
  result.requested_k = k;
  result.n_documents = docs.size();
  for (const Document& doc : docs) {
    if (doc.text.empty()) ++result.n_empty_documents;
  }
  return result;
}

}  // namespace

RankResult RecencyRetriever::rank(std::string_view /*query*/, std::span<const Document> docs, std::size_t k) {
  RankResult result = empty_result(docs, k);
  std::vector<std::vector<long long>> dates(docs.size());
  std::vector<bool> has_date(docs.size(), false);
  for (std::size_t i = 0; i < docs.size(); ++i) {
    // An empty string counts as a missing date.
    if (docs[i].date && !docs[i].date->empty()) {
      dates[i] = parse_date(docs[i], i);
      has_date[i] = true;
    }
  }
  std::vector<std::size_t> order(docs.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (has_date[a] != has_date[b]) return static_cast<bool>(has_date[a]);
    return has_date[a] && dates[a] > dates[b];
  });
  const std::size_t n = std::min(k, docs.size());
  for (std::size_t i = 0; i < n; ++i) {
    result.ranking.push_back({order[i], static_cast<double>(docs.size() - i)});
  }
  return result;
}

PythonRandom::PythonRandom(std::vector<std::uint32_t> words) {
  while (words.size() > 1 && words.back() == 0) words.pop_back();
  if (words.empty()) words.push_back(0);
  // init_genrand(19650218) followed by init_by_array(words), as CPython's _randommodule.c.
  constexpr std::size_t kN = 624;
  state_[0] = 19650218U;
  for (std::size_t i = 1; i < kN; ++i) {
    state_[i] = 1812433253U * (state_[i - 1] ^ (state_[i - 1] >> 30)) + static_cast<std::uint32_t>(i);
  }
  std::size_t i = 1;
  std::size_t j = 0;
  for (std::size_t count = std::max(kN, words.size()); count > 0; --count) {
    state_[i] = (state_[i] ^ ((state_[i - 1] ^ (state_[i - 1] >> 30)) * 1664525U)) + words[j] +
                static_cast<std::uint32_t>(j);
    ++i;
    ++j;
    if (i >= kN) {
      state_[0] = state_[kN - 1];
      i = 1;
    }
    if (j >= words.size()) j = 0;
  }
  for (std::size_t count = kN - 1; count > 0; --count) {
    state_[i] = (state_[i] ^ ((state_[i - 1] ^ (state_[i - 1] >> 30)) * 1566083941U)) - static_cast<std::uint32_t>(i);
    ++i;
    if (i >= kN) {
      state_[0] = state_[kN - 1];
      i = 1;
    }
  }
  state_[0] = 0x80000000U;
  position_ = kN;
}

std::uint32_t PythonRandom::next_u32() {
  constexpr std::size_t kN = 624;
  constexpr std::size_t kM = 397;
  if (position_ >= kN) {
    for (std::size_t k = 0; k < kN; ++k) {
      const std::uint32_t y = (state_[k] & 0x80000000U) | (state_[(k + 1) % kN] & 0x7fffffffU);
      state_[k] = state_[(k + kM) % kN] ^ (y >> 1) ^ ((y & 1U) != 0 ? 0x9908b0dfU : 0U);
    }
    position_ = 0;
  }
  std::uint32_t y = state_[position_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680U;
  y ^= (y << 15) & 0xefc60000U;
  y ^= y >> 18;
  return y;
}

double PythonRandom::random() {
  const std::uint32_t a = next_u32() >> 5;
  const std::uint32_t b = next_u32() >> 6;
  return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

RankResult RandomRetriever::rank(std::string_view query, std::span<const Document> docs, std::size_t k) {
  RankResult result = empty_result(docs, k);
  const std::size_t n = std::min(k, docs.size());
  if (n == 0) return result;
  const std::uint64_t query_hash = XXH3_64bits(query.data(), query.size());
  if (lamp_compat_) {
    // random.seed((seed << 64) | query_hash); random.choices(profile, k=n).
    PythonRandom rng({static_cast<std::uint32_t>(query_hash), static_cast<std::uint32_t>(query_hash >> 32),
                      static_cast<std::uint32_t>(seed_), static_cast<std::uint32_t>(seed_ >> 32)});
    const double size = static_cast<double>(docs.size());
    for (std::size_t i = 0; i < n; ++i) {
      const auto index = static_cast<std::size_t>(std::floor(rng.random() * size));
      result.ranking.push_back({index, static_cast<double>(n - i)});
    }
    return result;
  }
  std::mt19937_64 rng(XXH3_64bits_withSeed(query.data(), query.size(), seed_));
  std::vector<std::size_t> order(docs.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  // Partial Fisher-Yates: the first n slots are a uniform sample in random order.
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t j = i + uniform_below(rng, docs.size() - i);
    std::swap(order[i], order[j]);
    result.ranking.push_back({order[i], static_cast<double>(docs.size() - i)});
  }
  return result;
}

std::string RandomRetriever::spec() const {
  return "random?seed=" + std::to_string(seed_) + (lamp_compat_ ? "&lamp-compat=1" : "");
}

}  // namespace qrag::retrieval
