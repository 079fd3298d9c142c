// Token sampling: greedy, temperature, top-k, top-p, min-p with a seeded generator.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace qrag::model {

struct SamplerParams {
  float temperature = 0.0f;  // <= 0: greedy (argmax, lowest id wins ties)
  int top_k = 0;             // keep the k most likely tokens; <= 0 keeps all
  float top_p = 1.0f;        // keep the smallest set whose probability reaches top_p; 1 keeps all
  float min_p = 0.0f;        // drop tokens with probability < min_p * max probability; 0 keeps all
  std::uint64_t seed = 0;    // seed of the random generator (unused when greedy)
};

// Picks the next token from a logits row. Filters apply in the order top-k,
// temperature, min-p, top-p, then one draw from the renormalized distribution.
// Candidates are ordered by (logit desc, id asc), so the draw depends only on
// the logits and the seed. Holds the generator state; not thread-safe.
class Sampler {
 public:
  // Throws qrag::Error for top_p outside (0, 1], min_p outside [0, 1] or a
  // negative or non-finite temperature.
  explicit Sampler(const SamplerParams& params);

  std::int32_t sample(std::span<const float> logits);
  const SamplerParams& params() const { return params_; }

 private:
  SamplerParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, std::int32_t>> candidates_;  // (logit or probability, token id)
};

// Index of the largest logit (the lowest index among equal maxima).
std::int32_t argmax(std::span<const float> logits);

// The n most likely tokens with their log-probabilities (log-softmax of the
// row), most likely first; n is clamped to the row length.
std::vector<std::pair<std::int32_t, float>> top_logprobs(std::span<const float> logits, int n);

// Log-softmax of the whole row (for KL divergence between precisions): out[n_vocab].
void log_softmax(std::span<const float> logits, std::span<float> out);

}  // namespace qrag::model
