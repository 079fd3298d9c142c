// Top-K first-step records: construction from logits, BLOB encoding, KL and agreement.
#include "experiment/topk.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <unordered_map>

#include <fmt/core.h>

#include "core/error.h"

namespace qrag::experiment {
namespace {

constexpr std::uint8_t kFormatVersion = 1;
constexpr std::size_t kHeaderBytes = 12;
constexpr std::size_t kEntryBytes = 8;
// Probabilities below this are treated as this value so that log(p/q) stays finite.
constexpr double kMinProbability = 1e-12;

void put_u32(std::vector<std::uint8_t>& out, std::uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<std::uint8_t>(value >> shift));
}

std::uint32_t get_u32(std::span<const std::uint8_t> bytes, std::size_t offset) {
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | bytes[offset + static_cast<std::size_t>(i)];
  return value;
}

}  // namespace

TopKRecord make_topk_record(std::span<const float> logits, std::size_t k) {
  TopKRecord record;
  if (logits.empty()) return record;
  record.vocab_size = static_cast<std::uint32_t>(logits.size());

  const double max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float logit : logits) sum += std::exp(static_cast<double>(logit) - max_logit);
  const double log_sum = std::log(sum) + max_logit;

  std::vector<std::int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  const std::size_t keep = std::min(k, logits.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                    [&](std::int32_t a, std::int32_t b) {
                      if (logits[a] != logits[b]) return logits[a] > logits[b];
                      return a < b;
                    });
  double kept_mass = 0.0;
  for (std::size_t i = 0; i < keep; ++i) {
    const double logprob = static_cast<double>(logits[order[i]]) - log_sum;
    kept_mass += std::exp(logprob);
    record.entries.push_back({order[i], static_cast<float>(logprob)});
  }
  record.rest_mass = static_cast<float>(std::clamp(1.0 - kept_mass, 0.0, 1.0));
  return record;
}

std::vector<std::uint8_t> encode_topk(const TopKRecord& record) {
  std::vector<std::uint8_t> out;
  if (record.empty()) return out;
  if (record.entries.size() > 255) {
    throw Error(fmt::format("first-step record has {} entries; the BLOB format holds at most 255",
                            record.entries.size()));
  }
  out.reserve(kHeaderBytes + kEntryBytes * record.entries.size());
  out.push_back(kFormatVersion);
  out.push_back(static_cast<std::uint8_t>(record.entries.size()));
  out.push_back(0);
  out.push_back(0);
  put_u32(out, record.vocab_size);
  put_u32(out, std::bit_cast<std::uint32_t>(record.rest_mass));
  for (const TokenLogprob& entry : record.entries) {
    put_u32(out, static_cast<std::uint32_t>(entry.token));
    put_u32(out, std::bit_cast<std::uint32_t>(entry.logprob));
  }
  return out;
}

TopKRecord decode_topk(std::span<const std::uint8_t> blob) {
  TopKRecord record;
  if (blob.empty()) return record;
  if (blob.size() < kHeaderBytes) {
    throw Error(fmt::format("first-step BLOB is {} bytes, shorter than its {}-byte header", blob.size(),
                            kHeaderBytes));
  }
  if (blob[0] != kFormatVersion) {
    throw Error(fmt::format("first-step BLOB has format version {}, expected {}", blob[0], kFormatVersion));
  }
  const std::size_t count = blob[1];
  if (blob.size() != kHeaderBytes + kEntryBytes * count) {
    throw Error(fmt::format("first-step BLOB is {} bytes, expected {} for {} entries", blob.size(),
                            kHeaderBytes + kEntryBytes * count, count));
  }
  record.vocab_size = get_u32(blob, 4);
  record.rest_mass = std::bit_cast<float>(get_u32(blob, 8));
  if (!std::isfinite(record.rest_mass) || record.rest_mass < 0.0f || record.rest_mass > 1.0f) {
    throw Error(fmt::format("first-step BLOB has rest mass {}, expected a value in [0, 1]", record.rest_mass));
  }
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t offset = kHeaderBytes + kEntryBytes * i;
    TokenLogprob entry{static_cast<std::int32_t>(get_u32(blob, offset)),
                       std::bit_cast<float>(get_u32(blob, offset + 4))};
    if (entry.token < 0 || static_cast<std::uint32_t>(entry.token) >= record.vocab_size) {
      throw Error(fmt::format("first-step BLOB entry {} has token id {} outside the vocabulary of {}", i,
                              entry.token, record.vocab_size));
    }
    if (!std::isfinite(entry.logprob) || entry.logprob > 0.0f) {
      throw Error(fmt::format("first-step BLOB entry {} has log-probability {}, expected a finite value <= 0",
                              i, entry.logprob));
    }
    record.entries.push_back(entry);
  }
  return record;
}

double kl_divergence_topk(const TopKRecord& ref, const TopKRecord& quant) {
  if (ref.empty() || quant.empty()) throw Error("KL divergence needs two non-empty first-step records");

  std::unordered_map<std::int32_t, double> quant_prob;
  for (const TokenLogprob& entry : quant.entries) quant_prob[entry.token] = std::exp(double{entry.logprob});
  const std::size_t unlisted = quant.vocab_size > quant.entries.size() ? quant.vocab_size - quant.entries.size() : 0;
  const double spread = unlisted > 0 ? double{quant.rest_mass} / static_cast<double>(unlisted) : 0.0;

  double kl = 0.0;
  double ref_on_s = 0.0;
  double quant_on_s = 0.0;
  for (const TokenLogprob& entry : ref.entries) {
    const double p = std::exp(double{entry.logprob});
    const auto found = quant_prob.find(entry.token);
    const double q = found != quant_prob.end() ? found->second : spread;
    ref_on_s += p;
    quant_on_s += q;
    kl += p * std::log(std::max(p, kMinProbability) / std::max(q, kMinProbability));
  }
  const double p_bucket = std::max(0.0, 1.0 - ref_on_s);
  const double q_bucket = std::max(0.0, 1.0 - quant_on_s);
  if (p_bucket > 0.0) kl += p_bucket * std::log(std::max(p_bucket, kMinProbability) / std::max(q_bucket, kMinProbability));
  // Rounding of float log-probabilities can leave a tiny negative sum for identical inputs.
  return std::max(0.0, kl);
}

bool top1_agrees(const TopKRecord& ref, const TopKRecord& quant) {
  if (ref.empty() || quant.empty()) throw Error("top-1 agreement needs two non-empty first-step records");
  return ref.entries.front().token == quant.entries.front().token;
}

}  // namespace qrag::experiment
