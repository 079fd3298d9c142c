// Sampler implementation and log-probability helpers.
#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/core.h>

#include "core/check.h"
#include "core/error.h"

namespace qrag::model {
namespace {

bool more_likely(const std::pair<float, std::int32_t>& a, const std::pair<float, std::int32_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

// A uniform double in [0, 1) from the top 53 bits, the same on every platform
// (std::uniform_real_distribution is not specified bit for bit).
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

}  // namespace

Sampler::Sampler(const SamplerParams& params) : params_(params), rng_(params.seed) {
  if (!(params.temperature >= 0.0f) || !std::isfinite(params.temperature)) {
    throw Error(fmt::format("temperature {} must be a finite number >= 0", params.temperature));
  }
  if (!(params.top_p > 0.0f && params.top_p <= 1.0f)) {
    throw Error(fmt::format("top-p {} must be in (0, 1]", params.top_p));
  }
  if (!(params.min_p >= 0.0f && params.min_p <= 1.0f)) {
    throw Error(fmt::format("min-p {} must be in [0, 1]", params.min_p));
  }
}

std::int32_t Sampler::sample(std::span<const float> logits) {
  QRAG_CHECK(!logits.empty(), "empty logits row");
  if (params_.temperature <= 0.0f) return argmax(logits);

  candidates_.clear();
  for (std::size_t i = 0; i < logits.size(); ++i) candidates_.emplace_back(logits[i], static_cast<std::int32_t>(i));
  std::size_t n = candidates_.size();
  if (params_.top_k > 0 && static_cast<std::size_t>(params_.top_k) < n) {
    n = static_cast<std::size_t>(params_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(n),
                      candidates_.end(), more_likely);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), more_likely);
  }
  candidates_.resize(n);

  // Softmax at the temperature (double accumulation; candidates are sorted, so [0] is the max).
  const double max_logit = candidates_[0].first;
  double sum = 0.0;
  std::vector<double> probs(n);
  for (std::size_t i = 0; i < n; ++i) {
    probs[i] = std::exp((candidates_[i].first - max_logit) / params_.temperature);
    sum += probs[i];
  }
  for (double& p : probs) p /= sum;

  // min-p: relative to the most likely token's probability.
  std::size_t keep = n;
  if (params_.min_p > 0.0f) {
    const double threshold = params_.min_p * probs[0];
    keep = 1;
    while (keep < n && probs[keep] >= threshold) ++keep;
  }
  // top-p: smallest prefix whose mass reaches top_p (of the mass still kept).
  if (params_.top_p < 1.0f) {
    double kept_mass = 0.0;
    for (std::size_t i = 0; i < keep; ++i) kept_mass += probs[i];
    double cumulative = 0.0;
    std::size_t i = 0;
    while (i < keep) {
      cumulative += probs[i++];
      if (cumulative >= params_.top_p * kept_mass) break;
    }
    keep = i;
  }

  double mass = 0.0;
  for (std::size_t i = 0; i < keep; ++i) mass += probs[i];
  const double target = uniform01(rng_) * mass;
  double cumulative = 0.0;
  for (std::size_t i = 0; i < keep; ++i) {
    cumulative += probs[i];
    if (target < cumulative) return candidates_[i].second;
  }
  return candidates_[keep - 1].second;  // rounding left target at the top edge
}

std::int32_t argmax(std::span<const float> logits) {
  QRAG_CHECK(!logits.empty(), "empty logits row");
  std::size_t best = 0;
  for (std::size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return static_cast<std::int32_t>(best);
}

void log_softmax(std::span<const float> logits, std::span<float> out) {
  QRAG_CHECK(out.size() == logits.size() && !logits.empty(), "log_softmax size mismatch");
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (const float value : logits) sum += std::exp(static_cast<double>(value) - max_logit);
  const double log_sum = std::log(sum) + max_logit;
  for (std::size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<float>(logits[i] - log_sum);
}

std::vector<std::pair<std::int32_t, float>> top_logprobs(std::span<const float> logits, int n) {
  std::vector<float> logprobs(logits.size());
  log_softmax(logits, logprobs);
  std::vector<std::pair<float, std::int32_t>> order;
  order.reserve(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) order.emplace_back(logprobs[i], static_cast<std::int32_t>(i));
  const auto count = static_cast<std::size_t>(std::clamp<std::int64_t>(n, 0, static_cast<std::int64_t>(order.size())));
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(count), order.end(), more_likely);
  std::vector<std::pair<std::int32_t, float>> result;
  for (std::size_t i = 0; i < count; ++i) result.emplace_back(order[i].second, order[i].first);
  return result;
}

}  // namespace qrag::model
