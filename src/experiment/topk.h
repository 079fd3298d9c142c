// Compact record of a first-step next-token distribution (top-K ids + log-probabilities).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace qrag::experiment {

// Number of entries the runner records per generation.
inline constexpr std::size_t kTopLogprobs = 32;

struct TokenLogprob {
  std::int32_t token = 0;
  float logprob = 0.0f;  // natural log of the probability after softmax at temperature 1

  bool operator==(const TokenLogprob&) const = default;
};

// The K most probable first tokens, sorted by descending log-probability, plus the
// probability mass of all other tokens of the vocabulary.
struct TopKRecord {
  std::vector<TokenLogprob> entries;
  float rest_mass = 0.0f;       // 1 - sum(exp(logprob)) over entries, clamped to [0, 1]
  std::uint32_t vocab_size = 0;  // n_vocab of the model, needed to spread rest_mass

  bool empty() const { return entries.empty(); }
  bool operator==(const TopKRecord&) const = default;
};

// Builds a record from a full logits row (n_vocab floats): softmax in double, keeps the
// top `k` tokens (ties broken by lower token id) and stores the remaining mass.
TopKRecord make_topk_record(std::span<const float> logits, std::size_t k = kTopLogprobs);

// BLOB layout (all little-endian, 12 + 8*n bytes):
//   offset 0  u8   format version, 1
//   offset 1  u8   n, the number of entries (0..255)
//   offset 2  u16  reserved, 0
//   offset 4  u32  vocab_size
//   offset 8  f32  rest_mass
//   offset 12 n x { i32 token id, f32 logprob }, descending logprob
std::vector<std::uint8_t> encode_topk(const TopKRecord& record);

// Parses a BLOB written by encode_topk; throws qrag::Error on a wrong size, version,
// token id outside the vocabulary or a non-finite value. An empty BLOB is an empty record.
TopKRecord decode_topk(std::span<const std::uint8_t> blob);

// KL(ref || quant) in nats between two first-step distributions known only by their
// top-K records. The support is split into S, the tokens in ref's top-K, plus one bucket
// for all other tokens. Over S, q(t) is quant's recorded probability or, when t is not in
// quant's top-K, quant's rest_mass spread uniformly over its vocab_size - K unlisted
// tokens. Each side's bucket gets 1 - (its mass on S). Merging tokens into one bucket can
// only lower KL, so the result is a lower bound of the full-vocabulary KL whenever the
// spread estimate is exact. Throws qrag::Error if either record is empty.
double kl_divergence_topk(const TopKRecord& ref, const TopKRecord& quant);

// True when both records have the same most probable token (throws on empty records).
bool top1_agrees(const TopKRecord& ref, const TopKRecord& quant);

}  // namespace qrag::experiment
